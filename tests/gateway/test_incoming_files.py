"""A turn does not wait for files that will not come: when the worker fetching them fell silent
(on any host), or stopped before it began their downloads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ember.gateway.channel import Inbound, InboundFile
from ember.gateway.files import FETCHERS, IncomingFiles
from ember.gateway.ledger import Ledger
from ember.gateway.workers import FORGET_AFTER
from ember.store.backends import open_backend
from ember.store.gateway_records import GatewayWorker

ELSEWHERE = "another-host:4242:beef"  # a worker on another machine: its process cannot be looked at


def message(n: int, fetch) -> Inbound:  # noqa: ANN001
    return Inbound(platform="telegram", chat="7", user="7", event_id=f"telegram:{n}", text=f"photo {n}",
                   files=[InboundFile(name=f"p{n}.jpg", mime="image/jpeg", size=None, fetch=fetch)])


def incoming(ledger: Ledger, workspace: Path, wait: float) -> IncomingFiles:
    return IncomingFiles(ledger, workspace, owner="this-host:1:cafe", max_mb=25, wait=wait, stopping=threading.Event())


def test_a_turn_stops_waiting_once_the_fetching_worker_missed_its_heartbeats(tmp_path):
    with open_backend(tmp_path / "ember.db") as store:
        ledger = Ledger(store)
        inbox_id = ledger.record(message(1, lambda: b""), payload={"files_expected": ["p1.jpg"], "files_from": ELSEWHERE})
        assert inbox_id is not None
        now = time.time()
        ledger.beat(GatewayWorker(id=ELSEWHERE, host="another-host", pid=4242, started_at=now - 300,
                                  beat_at=now - 60, beat_every=5.0, channels={}), FORGET_AFTER)
        item = ledger.inbox_item(inbox_id)
        assert item is not None
        begun = time.monotonic()
        lines = incoming(ledger, tmp_path / "workspace", wait=120).for_turn(item)
        assert time.monotonic() - begun < 60  # not the full two minutes
        assert lines == ["[1 file(s) came with this message but could not be fetched; ask the person to send them "
                         "again if they matter]"]


def test_a_turn_waits_for_a_fetching_worker_that_still_beats(tmp_path):
    with open_backend(tmp_path / "ember.db") as store:
        ledger = Ledger(store)
        inbox_id = ledger.record(message(1, lambda: b""), payload={"files_expected": ["p1.jpg"], "files_from": ELSEWHERE})
        assert inbox_id is not None
        ledger.beat(GatewayWorker(id=ELSEWHERE, host="another-host", pid=4242, started_at=time.time() - 300,
                                  beat_at=time.time(), beat_every=5.0, channels={}), FORGET_AFTER)
        item = ledger.inbox_item(inbox_id)
        assert item is not None
        late = threading.Timer(3.0, ledger.keep_file, args=(inbox_id, 0, "p1.jpg", b"\xff\xd8 late"))
        late.start()  # the other worker's download ends after the first look at its heartbeat
        try:
            lines = incoming(ledger, tmp_path / "workspace", wait=60).for_turn(item)
        finally:
            late.join()
        assert lines == ["[file received: incoming/telegram-1-0-p1.jpg]"]
        assert (tmp_path / "workspace" / "incoming" / "telegram-1-0-p1.jpg").read_bytes() == b"\xff\xd8 late"


def test_downloads_not_begun_when_the_gateway_stops_are_kept_as_missing(tmp_path):
    with open_backend(tmp_path / "ember.db") as store:
        ledger = Ledger(store)
        files = incoming(ledger, tmp_path / "workspace", wait=60)
        release = threading.Event()
        started = threading.Semaphore(0)

        def slow() -> bytes:
            started.release()
            release.wait(10)
            return b"slow"

        for n in range(FETCHERS):  # every download thread held by a slow platform
            slow_one = message(n, slow)
            busy = ledger.record(slow_one)
            assert busy is not None
            files.fetch(busy, slow_one)
        for _ in range(FETCHERS):
            assert started.acquire(timeout=10)
        queued = ledger.record(message(99, lambda: b"never asked"))
        assert queued is not None
        files.fetch(queued, message(99, lambda: b"never asked"))
        files.stop()
        release.set()
        assert ledger.files_settled(queued) == 1
        (kept,) = ledger.files(queued)
        assert kept.data is None and kept.problem is not None and "stopped" in kept.problem
