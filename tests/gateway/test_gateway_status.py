"""`ember gateway status` with several workers on one store, on every store backend: each worker's
heartbeat, the channels merged over the running ones, a silent worker "not seen since", and two
real `ember gateway run` processes, one of them killed."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from ember.gateway.ledger import ChannelState, GatewayWorker, Ledger
from ember.gateway.status import gateway_status, running_gateway
from ember.gateway.workers import FORGET_AFTER, MISSED_BEATS
from ember.owners import HOST
from tests.e2e.conftest import EmberRunner
from tests.fakes.openai_server import FakeOpenAI
from tests.gateway.test_webhook_gateway import free_port, wait_for_port

SECRET = "whsec-0123456789abcdef"


@pytest.fixture
def ledger(store_backend, tmp_path) -> Iterator[Ledger]:
    store = store_backend.open(tmp_path / "home")
    yield Ledger(store)
    store.close()


def test_status_lists_each_worker_and_merges_the_running_ones_channels(ledger):
    now = time.time()
    quick = GatewayWorker("host-a:11:aa", "host-a", 11, now - 60, now, 1.0,
                          {"telegram": ChannelState(False, "409 Conflict"), "slack": ChannelState(True)})
    steady = GatewayWorker("host-b:22:bb", "host-b", 22, now - 600, now - 3, 5.0,
                           {"telegram": ChannelState(True), "webhook": ChannelState(True)})
    for worker in (quick, steady):
        ledger.beat(worker, FORGET_AFTER)
    configured = ["telegram", "slack", "webhook", "email"]

    both = gateway_status(ledger, configured, now=now)
    assert (both["running"], both["pid"]) == (True, 11)  # the running worker that beat last
    assert [(row["name"], row["connected"], row["last_error"]) for row in both["channels"]] == [
        ("telegram", True, "409 Conflict"), ("slack", True, None), ("webhook", True, None), ("email", False, None)]
    assert both["workers"] == [
        {"id": "host-a:11:aa", "host": "host-a", "pid": 11, "started": now - 60, "last_heartbeat": now, "live": True,
         "channels": [{"name": "telegram", "connected": False, "last_error": "409 Conflict"},
                      {"name": "slack", "connected": True, "last_error": None}]},
        {"id": "host-b:22:bb", "host": "host-b", "pid": 22, "started": now - 600, "last_heartbeat": now - 3,
         "live": True, "channels": [{"name": "telegram", "connected": True, "last_error": None},
                                    {"name": "webhook", "connected": True, "last_error": None}]}]
    assert {"queues", "outbox"} <= set(both)

    later = now + MISSED_BEATS * quick.beat_every + 1  # quick missed its beats; steady has not yet
    one = gateway_status(ledger, configured, now=later)
    assert (one["running"], one["pid"]) == (True, 22) and running_gateway(ledger, later).id == steady.id
    assert [w["live"] for w in one["workers"]] == [False, True]
    assert [(row["name"], row["connected"]) for row in one["channels"]] == [
        ("telegram", True), ("slack", False), ("webhook", True), ("email", False)]

    gone = now + FORGET_AFTER - 4  # both silent, and listed until a day after their last heartbeat
    none = gateway_status(ledger, configured, now=gone)
    assert (none["running"], none["pid"]) == (False, None) and running_gateway(ledger, gone) is None
    assert [w["live"] for w in none["workers"]] == [False, False]
    assert not any(row["connected"] for row in none["channels"])
    assert [w["id"] for w in gateway_status(ledger, configured, now=now + FORGET_AFTER + 1)["workers"]] == []
    assert gateway_status(ledger, configured, now=now, forget_after=2)["workers"][0]["id"] == quick.id


def _status(runner: EmberRunner) -> dict:
    return runner.json("gateway", "status", "--json")


def _wait_status(runner: EmberRunner, done, what: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        status = _status(runner)
        if done(status):
            return status
        assert time.monotonic() < deadline, f"{what}: {json.dumps(status)}"
        time.sleep(0.3)


def test_status_shows_two_running_workers_then_one_killed_as_not_seen_since(store_backend, ember_home, tmp_path):
    runner = EmberRunner(ember_home, tmp_path / "cwd")
    (tmp_path / "cwd").mkdir()
    runner.env.pop("EMBER_WORKSPACE", None)
    # claim_seconds 3: each worker beats every second, and is not seen after four missed beats
    runner.config("[gateway]\nclaim_seconds = 3\n[memory]\nlearning = false\n")
    runner.env.update({"EMBER_WEBHOOK_SECRET": SECRET, "EMBER_EMBEDDINGS": "off"})
    procs: list[subprocess.Popen] = []
    with FakeOpenAI() as fake:
        runner.point_at(fake)
        try:
            for _ in range(2):
                port = free_port()
                runner.env["EMBER_WEBHOOK_PORT"] = str(port)
                procs.append(runner.popen("gateway", "run"))
                wait_for_port(port, procs[-1])
            ids = [f"{HOST}:{proc.pid}:" for proc in procs]

            def connected(status: dict) -> list[str]:
                """The workers (by id prefix) that run with their channel connected."""
                return [i for i in ids for w in status["workers"]
                        if w["id"].startswith(i) and w["live"] and all(c["connected"] for c in w["channels"])]

            both = _wait_status(runner, lambda s: connected(s) == ids, "both workers running")
            assert both["running"] is True and both["pid"] in {p.pid for p in procs}
            assert both["channels"][0]["name"] == "webhook" and both["channels"][0]["connected"] is True
            assert {(w["host"], w["pid"]) for w in both["workers"]} == {(HOST, p.pid) for p in procs}
            assert all(w["started"] <= w["last_heartbeat"] for w in both["workers"])
            text = runner("gateway", "status").stdout
            assert "gateway: running, 2 workers" in text
            assert all(f"{i}" in text for i in ids) and text.count("running since") == 2

            killed, kept = procs
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=10)
            after = _wait_status(runner, lambda s: [w["live"] for w in s["workers"] if w["id"].startswith(ids[0])]
                                 == [False], "the killed worker not seen")
            (survivor,) = [w for w in after["workers"] if w["live"]]
            assert survivor["pid"] == kept.pid and (after["running"], after["pid"]) == (True, kept.pid)
            text = runner("gateway", "status").stdout
            assert "gateway: running, pid" in text and "not seen since" in text
            (line,) = [line for line in text.splitlines() if line.strip().startswith(ids[0])]
            assert "not seen since" in line

            kept.send_signal(signal.SIGTERM)  # a clean stop takes the worker off the list
            kept.wait(timeout=20)
            stopped = _status(runner)
            assert stopped["running"] is False and stopped["pid"] is None
            assert [w["id"].startswith(ids[0]) and not w["live"] for w in stopped["workers"]] == [True]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
