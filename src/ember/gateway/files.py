"""Files that come with messages (a photo, a document, a voice note), whichever worker runs the turn.

The worker that receives a message fetches its files in the background, right after recording
it (the platform's acknowledgement never waits for a download), and keeps each one in the store
(``Ledger.keep_file``), or keeps why it could not (the fetch failed, it is over
``[gateway] max_file_mb``). The worker that runs the turn, this one or another, waits up to
``[gateway] file_wait_seconds`` for the message's files to be settled, writes them into its own
workspace's ``incoming/`` and names them to the model; the store drops them once the turn is over
(``drop``), and what a turn never took is pruned (``prune``, from the heartbeat).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ember.gateway.channel import Inbound, InboundFile
from ember.gateway.ledger import InboxItem, Ledger
from ember.gateway.workers import FORGET_AFTER, seen_lately
from ember.owners import owner_gone

log = logging.getLogger(__name__)

FETCHERS = 4  # downloads at once, per worker
SETTLED_POLL = 0.2  # seconds between looks at whether a message's files are settled
SILENCE_POLL = 2.0  # seconds between looks at whether the worker fetching them still beats
KEEP_AT_MOST = 86_400.0  # seconds a file waits for its turn before it is pruned anyway
FETCH_FAILED = "could not be fetched"  # the problem kept for a file the platform did not give


class IncomingFiles:
    """One worker's side of incoming files: fetching what it received, taking what its turns need."""

    def __init__(self, ledger: Ledger, workspace: Path, *, owner: str, max_mb: float, wait: float,
                 stopping: threading.Event) -> None:
        self.ledger = ledger
        self.workspace = workspace
        self.dir = workspace / "incoming"
        self.owner = owner
        self.max_mb = max_mb
        self.max_bytes = int(max_mb * 1_048_576)
        self.wait = wait
        self.stopping = stopping
        self._fetchers = ThreadPoolExecutor(FETCHERS, thread_name_prefix="gateway-files")
        self._lock = threading.Lock()
        self._waiting: dict[Future[None], tuple[int, Inbound]] = {}  # downloads not finished

    def stop(self) -> None:
        """Downloads not started are dropped, and kept as missing, so that the worker running their
        turn is told at once instead of waiting for files that will not come."""
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for future, (inbox_id, message) in waiting.items():
            if future.cancel():
                for number, file in enumerate(message.files):
                    try:
                        self.ledger.keep_file(inbox_id, number, file.name, None, f"{FETCH_FAILED}: the gateway stopped")
                    except Exception:
                        log.debug("could not mark %s of inbox item %s missing", file.name, inbox_id, exc_info=True)
        self._fetchers.shutdown(wait=False, cancel_futures=True)

    # --- the receiving worker ---------------------------------------------------------------------

    def fetch(self, inbox_id: int, message: Inbound) -> None:
        """Fetch ``message``'s files in the background and keep them for its turn."""
        future = self._fetchers.submit(self._fetch_all, inbox_id, message)
        with self._lock:
            self._waiting[future] = (inbox_id, message)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._waiting.pop(future, None)

    def _fetch_all(self, inbox_id: int, message: Inbound) -> None:
        for number, file in enumerate(message.files):
            data, problem = self._fetch_one(file, message.platform)
            try:
                self.ledger.keep_file(inbox_id, number, file.name, data, problem)
            except Exception:
                log.exception("could not keep %s of inbox item %s", file.name, inbox_id)

    def _fetch_one(self, file: InboundFile, platform: str) -> tuple[bytes | None, str | None]:
        """The file's bytes, or None and why not."""
        if file.size is not None and file.size > self.max_bytes:  # the platform said: not worth fetching
            return None, self._too_big(file.size)
        try:
            data = file.fetch()
        except Exception as exc:
            log.warning("could not fetch %s from %s: %s", file.name, platform, exc)
            return None, f"{FETCH_FAILED}: {exc}"
        if len(data) > self.max_bytes:
            return None, self._too_big(len(data))
        return data, None

    def _too_big(self, size: int) -> str:
        shown = f"{size / 1_048_576:.1f} MB" if size >= 1_048_576 else f"{-(-size // 1024)} KB"
        return f"it is {shown}, over the {self.max_mb:g} MB limit for files ([gateway] max_file_mb)"

    # --- the worker running the turn ------------------------------------------------------------

    def for_turn(self, item: InboxItem) -> list[str]:
        """The lines that tell the model about ``item``'s files, once they are in ``incoming/``."""
        expected = len(item.payload.get("files_expected") or [])
        if not expected:
            return []
        self._wait_settled(item, expected)
        saved, lines = [], []
        for file in self.ledger.files(item.id):
            if file.data is None:
                if file.problem and not file.problem.startswith(FETCH_FAILED):
                    lines.append(f"[{file.name} came with this message but was not kept: {file.problem}; ask the "
                                 "person for a smaller one if it matters]")
                continue
            name = "".join(c if c.isalnum() or c in "._-" else "_" for c in file.name)[:80] or "file"
            target = self.dir / f"{item.platform}-{item.event_id.rsplit(':', 1)[-1]}-{file.number}-{name}"
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                target.write_bytes(file.data)
            except OSError as exc:
                log.warning("could not write %s into the workspace: %s", target, exc)
                continue
            saved.append(f"[file received: {target.relative_to(self.workspace)}]")
        missing = expected - len(saved) - len(lines)
        if missing > 0:
            lines.append(f"[{missing} file(s) came with this message but could not be fetched; ask the person to "
                         "send them again if they matter]")
        return saved + lines

    def _wait_settled(self, item: InboxItem, expected: int) -> None:
        """Until every file of ``item`` is settled, ``wait`` seconds pass, or the worker fetching them
        is known to be gone (an item recorded without ``files_from`` has no one fetching it)."""
        fetcher = str(item.payload.get("files_from") or "")
        deadline = time.monotonic() + self.wait
        looked = time.monotonic()
        while self.ledger.files_settled(item.id) < expected:
            if not fetcher or owner_gone(fetcher) or time.monotonic() >= deadline or self.stopping.is_set():
                return
            if time.monotonic() - looked >= SILENCE_POLL:
                looked = time.monotonic()
                if self._fell_silent(fetcher):
                    return
            time.sleep(SETTLED_POLL)

    def _fell_silent(self, fetcher: str) -> bool:
        """Whether ``fetcher``, a worker of any host, missed its heartbeats: it died, or lost the
        store, so what it has not fetched yet will not come."""
        now = time.time()
        for worker in self.ledger.workers(now - FORGET_AFTER):
            if worker.id == fetcher:
                return not seen_lately(worker, now)
        return False  # no heartbeat yet (it is starting), or it stopped cleanly after fetching

    def drop(self, inbox_id: int) -> None:
        """The turn is over: its files leave the store (they stay in the workspace)."""
        try:
            self.ledger.drop_files(inbox_id)
        except Exception:
            log.debug("could not drop the files of inbox item %s", inbox_id, exc_info=True)

    def prune(self) -> None:
        """Files of items whose turn is over or will never run, and any kept for a day, leave the store."""
        self.ledger.prune_files(KEEP_AT_MOST)
