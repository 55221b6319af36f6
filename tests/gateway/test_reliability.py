"""Nothing lost, nothing repeated: the gateway under flaky sends and two SIGKILLs (scaled down;
benchmarks/gateway_load.py runs the full 1,000 messages)."""

from __future__ import annotations

import pytest

pytest.importorskip("websockets", reason="the gateway extra is not installed")

from tests.gateway.load import run_load  # noqa: E402


def test_every_message_is_answered_once_in_order_through_failures_and_kills(tmp_path):
    result = run_load(tmp_path / "home", messages=80, people=8, kills=2, fail_rate=0.1, timeout=180)
    assert result.lost == [], f"lost: {result.lost[:10]}"
    assert result.out_of_order == [], f"out of order in {result.out_of_order}"
    # Slack answers with a ts, but a kill between its ack and our record can repeat one message.
    assert sum(result.duplicated.values()) <= result.kills, result.duplicated
    assert result.answered == 80 and result.injected_failures > 0
