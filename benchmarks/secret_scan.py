"""How well the secret scan tells real credentials from documentation placeholders.

    python benchmarks/secret_scan.py [--json] [--no-cli] [--show-misses] [--seeds N]

Two corpora written by the project (benchmarks/data/): a benign one (READMEs, .env.example files,
docker-compose and CI configs, code samples, vendor docs with their published example keys) and a
hostile one (real-format keys for OpenAI, Anthropic, GitHub, AWS, Slack, Stripe, Google, Hugging
Face, JWTs, private keys, URLs with passwords, random assigned secrets, bearer tokens, drawn at
random with a fixed seed). Each item is scanned as ``ember skills install`` scans a file:

- a false positive: a benign item that install would stop at (a secret it calls real, or a refusal);
- a false negative: a hostile item with no real secret found.

Then the same corpora are installed with the real ``ember`` executable (skipped with --no-cli):
the benign skill must install without a question; the hostile one must be refused, listing every
item. ``--seeds N`` also draws the hostile corpus with N other seeds and counts what is missed.
Targets: 0 false positives, 0 false negatives.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks" / "data"))

from secret_corpus_benign import benign_items  # noqa: E402
from secret_corpus_hostile import SEED, hostile_items  # noqa: E402

from ember.security.scan import scan  # noqa: E402

EMBER = str(Path(sys.executable).parent / "ember")
_CODE_SUFFIXES = (".py", ".sh", ".js", ".ts")


def _is_code(file: str) -> bool:
    return file.startswith("scripts/") or file.endswith(_CODE_SUFFIXES)


def classify(items: list[tuple[str, str, str]]) -> list[dict]:
    """Scan each item as install would; what it would stop at, and what memory would mask."""
    rows = []
    for category, file, text in items:
        result = scan(text, code=_is_code(file))
        rows.append({"category": category, "file": file, "refused": result.problems,
                     "secrets": [f"{hit.line}: {hit.description}" for hit in result.secrets],
                     "masked_in_memory": bool(result.redacted)})
    return rows


def _write_skill(root: Path, name: str, items: list[tuple[str, str, str]]) -> None:
    root.mkdir(parents=True)
    (root / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Corpus {name}. Use when benchmarking.\n---\n"
                                   "# Corpus\nOne file per item under items/.\n")
    for i, (_category, file, text) in enumerate(items):
        path = root / "items" / f"{i:03d}" / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def through_the_cli(benign: list, hostile: list) -> dict:
    """Install both corpora with the real ``ember`` (no terminal, no --yes)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "EMBER_HOME": str(Path(tmp) / "home"), "NO_COLOR": "1"}
        _write_skill(Path(tmp) / "benign", "benign-corpus", benign)
        _write_skill(Path(tmp) / "hostile", "hostile-corpus", hostile)
        run = [EMBER, "skills", "install"]
        good = subprocess.run([*run, str(Path(tmp) / "benign")], env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)
        bad = subprocess.run([*run, str(Path(tmp) / "hostile")], env=env, capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=120)
    listed = {int(m) for m in re.findall(r"^  items/(\d{3})/", bad.stderr, re.M)}
    return {"benign_exit_code": good.returncode, "benign_installed": good.returncode == 0,
            "hostile_exit_code": bad.returncode, "hostile_refused": bad.returncode != 0,
            "hostile_items_listed": len(listed), "hostile_items": len(hostile),
            "benign_error": good.stderr.strip()[-500:] if good.returncode else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument("--no-cli", action="store_true", help="Skip the install through the `ember` executable.")
    parser.add_argument("--show-misses", action="store_true", help="Print each false positive and negative.")
    parser.add_argument("--seeds", type=int, default=0, help="Also draw the hostile corpus with N other seeds.")
    args = parser.parse_args()

    benign, hostile = benign_items(), hostile_items()
    started = time.perf_counter()
    good, bad = classify(benign), classify(hostile)
    seconds = time.perf_counter() - started
    size = sum(len(text) for _c, _f, text in benign + hostile)
    false_pos = [row for row in good if row["refused"] or row["secrets"]]
    false_neg = [row for row in bad if not row["secrets"]]
    report = {
        "seed": SEED,
        "benign": {"items": len(good), "false_positives": len(false_pos),
                   "false_positive_rate": len(false_pos) / len(good),
                   "categories": dict(Counter(row["category"] for row in good)),
                   "masked_in_memory": sum(row["masked_in_memory"] for row in good)},
        "hostile": {"items": len(bad), "false_negatives": len(false_neg),
                    "false_negative_rate": len(false_neg) / len(bad),
                    "categories": dict(Counter(row["category"] for row in bad)),
                    "misses_by_category": dict(Counter(row["category"] for row in false_neg)),
                    "masked_in_memory": sum(row["masked_in_memory"] for row in bad)},
        "scan": {"seconds": round(seconds, 4), "bytes": size, "mb_per_s": round(size / seconds / 1e6, 2)},
    }
    if args.seeds:
        drawn = [row for seed in range(1, args.seeds + 1) for row in classify(hostile_items(SEED + seed))]
        report["other_seeds"] = {"seeds": args.seeds, "items": len(drawn),
                                 "false_negatives": sum(1 for row in drawn if not row["secrets"])}
    if not args.no_cli:
        report["cli"] = through_the_cli(benign, hostile)
    if args.show_misses:
        report["misses"] = {"false_positives": false_pos, "false_negatives": false_neg}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    b, h = report["benign"], report["hostile"]
    print(f"benign corpus:  {b['items']} items, false positives {b['false_positives']} "
          f"({b['false_positive_rate']:.1%})  [memory writes still mask a made-up value "
          f"such as password=postgres in {b['masked_in_memory']}]")
    print(f"hostile corpus: {h['items']} items, false negatives {h['false_negatives']} "
          f"({h['false_negative_rate']:.1%})  [memory masks {h['masked_in_memory']}]")
    print("  per category (missed/items): " + ", ".join(
        f"{c} {h['misses_by_category'].get(c, 0)}/{n}" for c, n in h["categories"].items()))
    print(f"scan: {report['scan']['bytes']:,} bytes in {report['scan']['seconds'] * 1000:.1f} ms "
          f"({report['scan']['mb_per_s']} MB/s)")
    if "other_seeds" in report:
        o = report["other_seeds"]
        print(f"hostile corpus drawn with {o['seeds']} other seeds: {o['items']} items, "
              f"false negatives {o['false_negatives']}")
    if "cli" in report:
        c = report["cli"]
        print(f"ember skills install: benign corpus {'installed' if c['benign_installed'] else 'REFUSED'} "
              f"(exit {c['benign_exit_code']}); hostile corpus {'refused' if c['hostile_refused'] else 'INSTALLED'} "
              f"(exit {c['hostile_exit_code']}), {c['hostile_items_listed']}/{c['hostile_items']} items listed")
        if c["benign_error"]:
            print(c["benign_error"])
    for kind, rows in report.get("misses", {}).items():
        for row in rows:
            print(f"{kind}: {row['category']} {row['file']}: {row['refused'] or row['secrets'] or 'nothing found'}")


if __name__ == "__main__":
    main()
