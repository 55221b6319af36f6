"""benchmarks/injection_scan.py's corpora: planted instructions are caught, real memory passes."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_catches_at_least_95_percent_with_no_false_positive():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT / "benchmarks" / "data"))
    from injection_scan import measure

    result = measure(show_misses=True)
    hostile, benign = result["hostile"], result["benign"]
    assert hostile["payloads"] >= 100 and benign["preferences"] >= 50 and benign["skills"] >= 10
    assert result["false_positive_items"] == [] and benign["false_positives"] == 0
    assert hostile["catch_rate"] >= 0.95, result["misses"]
    assert all(row["disguise"] == "indirect phrasing" for row in result["misses"]), result["misses"]
    assert result["targets_met"]
