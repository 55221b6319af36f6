"""Filling the embedding index: vectors for the messages that have none, in batches that are kept.

Import and search index the text at once (``index.refresh``); embedding is what takes time
(100,000 messages: about 20 minutes on two cores), so it happens apart, and the user does not wait
for it:

- ``ember memory index`` runs ``embed_missing`` in the foreground, with a progress bar;
- a long-running process (chat, gateway) starts a ``BackgroundIndexer``, a low-priority daemon
  thread with its own connection, which embeds whatever has no vector yet;
- search embeds a small backlog itself (a few new chat messages) and otherwise uses the vectors
  that exist, saying how far the index is (``embedding_state``).

A message is embedded when it has a vector of part 0; there is no other mark. The store keeps the
vectors and the claims (``store.vectors``, the ``VectorIndex`` port).
Work is taken in batches: one transaction claims a batch of messages without vectors, the
batch is embedded (``BATCH`` messages, about 5 s of work on two cores),
and one transaction writes its vectors (the message, its sentences, its new words) and drops
the claim. An interruption (Ctrl-C, ``kill -9``) loses at
most the batch being embedded; the next run starts from the messages still without vectors.
Two processes indexing at once take different batches; a claim whose process has died is
taken over, and a vector is written only for a message that still exists and has none.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.memory.search import index, textproc
from ember.owners import new_owner, owner_gone

if TYPE_CHECKING:
    import numpy as np

    from ember.memory.search.embeddings import Embedder
    from ember.store.ports import Store

log = logging.getLogger(__name__)

# Messages per claim and per commit: ~5 s of work on two cores. The model is given each batch's
# texts sorted by length; smaller batches pad more (128: ~20% more CPU), larger ones gain nothing.
BATCH = 512
CLAIM_TTL = 600.0  # seconds after which any claim is taken over, even one of a live process
INLINE_LIMIT = 64  # search embeds a backlog this small itself (well under a second)



@dataclass
class EmbeddingState:
    """How far the embedding index is: ``embedded`` of ``messages`` searchable messages have vectors."""

    embedded: int
    messages: int

    @property
    def missing(self) -> int:
        return max(0, self.messages - self.embedded)

    @property
    def complete(self) -> bool:
        return self.missing == 0

    def line(self) -> str:
        """One line for people: how far the index is, and what finishes it."""
        if self.complete:
            return f"embedding index: complete ({self.embedded:,} messages)"
        return f"embedding index: {self.embedded:,} of {self.messages:,} messages (run `ember memory index` to finish)"

    def as_json(self) -> dict[str, Any]:
        return {"embedded": self.embedded, "messages": self.messages, "complete": self.complete}


@dataclass
class EmbedReport:
    embedded: int = 0  # messages given vectors by this run
    words: int = 0  # new words given vectors
    interrupted: bool = False  # stopped (``stop`` set) before the index was complete


def embedding_state(store: Store, model: str) -> EmbeddingState:
    """How many indexed messages have a vector of ``model`` (cheap: two counts over indexes)."""
    messages = store.index.indexed_count()
    if store.vectors.model() != model:  # vectors of another model do not count
        return EmbeddingState(0, messages)
    return EmbeddingState(min(store.vectors.embedded_count(), messages), messages)


def _use_model(store: Store, model: str) -> None:
    """Another model's vectors are useless to this one: drop them before embedding with ``model``."""
    if store.vectors.model() != model:
        store.vectors.use_model(model)


# --- claims ----------------------------------------------------------------------------------------

def _stale(owner: str, oldest: float, now: float) -> bool:
    """A claim to take over: older than ``CLAIM_TTL``, or of a process of this host that is gone."""
    return now - oldest > CLAIM_TTL or owner_gone(owner)


def _claim(store: Store, owner: str, after: int, size: int) -> list[int]:
    """Claim up to ``size`` indexed messages after id ``after`` that have no vector and no live claim."""
    now = time.time()
    return store.vectors.claim(owner, after, size, now=now, stale=lambda other, oldest: _stale(other, oldest, now))


def _release(store: Store, owner: str) -> None:
    store.vectors.release(owner)


# --- one batch -------------------------------------------------------------------------------------

class _Stopped(Exception):
    """Raised from the progress callback to leave a batch half way when asked to stop."""


def _texts(store: Store, ids: list[int]) -> tuple[list[str], list[tuple[int, int]], list[str]]:
    """(texts, (message id, part) of each, words): each message, its sentences when it has several,
    and the words of the batch that have no vector yet."""
    rows = store.vectors.texts(ids)
    names_of: dict[str, re.Pattern[str] | None] = {}
    texts: list[str] = []
    keys: list[tuple[int, int]] = []
    words: set[str] = set()
    for mid, session_id, content in rows:
        if session_id not in names_of:
            names_of[session_id] = textproc.name_pattern(index.session_names(store, session_id))
        body = textproc.strip_names(content, names_of[session_id]) or content
        texts.append(body)
        keys.append((mid, 0))
        parts = textproc.sentences(body)
        if len(parts) > 1:
            texts += parts
            keys += [(mid, n) for n in range(1, len(parts) + 1)]
        words |= textproc.vocabulary_words(content)
    ordered = sorted(words)
    known = store.vectors.known_words(ordered)
    return texts, keys, [w for w in ordered if w not in known]


def _embed_batch(store: Store, embedder: Embedder, owner: str, ids: list[int],
                 step: Callable[[float], None]) -> tuple[int, int]:
    """Embed the claimed messages ``ids`` and commit their vectors; (messages written, new words)."""
    from ember.memory.search.vectors import encode

    texts, keys, words = _texts(store, ids)
    total = len(texts) + len(words)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        step(done / total if total else 1.0)

    vectors: np.ndarray | list[np.ndarray] = embedder.embed(texts + words, progress=advance) if total else []
    message_vectors, word_vectors = vectors[:len(texts)], vectors[len(texts):]
    saved = store.vectors.save(
        embedder.name, owner, ids,
        [(m, part, encode(v)) for (m, part), v in zip(keys, message_vectors, strict=True)],
        [(w, encode(v)) for w, v in zip(words, word_vectors, strict=True)],
    )
    if saved is None:
        raise _Stopped  # another model took over the index meanwhile: these vectors are useless
    return saved


# --- the loop --------------------------------------------------------------------------------------

def embed_missing(store: Store, embedder: Embedder, *, progress: index.Progress | None = None,
                  stop: threading.Event | None = None, batch: int = BATCH, wait_for_others: bool = False,
                  report: EmbedReport | None = None) -> EmbedReport:
    """Embed every indexed message that has no vector yet, committing each batch as it is done.

    ``progress("embed", done, total)`` counts the messages that had no vector when it started
    and have one now (whoever embedded them). ``stop`` ends the work within one sub-batch of the
    model: the batch under way is given back, the committed ones are kept. Messages another live
    process has claimed are left to it; with ``wait_for_others`` this waits until they are done
    (or until that process dies, and then embeds them), so that the index is complete on return.
    ``report`` (returned) is kept up to date batch by batch, also for a caller that is interrupted.
    """
    _use_model(store, embedder.name)
    report = report if report is not None else EmbedReport()
    total = embedding_state(store, embedder.name).missing
    if total == 0:
        return report
    owner = new_owner()
    done = size = 0  # messages embedded so far (by anyone); size of the batch under way

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    def step(fraction: float) -> None:
        if stopped():
            raise _Stopped
        if progress is not None:
            progress("embed", min(total, done + round(fraction * size)), total)

    after, from_start = 0, True
    try:
        while not stopped():
            ids = _claim(store, owner, after, batch)
            if not ids:
                if not from_start:
                    after, from_start = 0, True  # once more from the start: claims of a process that died
                    continue
                if not (wait_for_others and _claimed_by_others(store, owner)):
                    break
                time.sleep(0.5) if stop is None else stop.wait(0.5)
                continue
            after, from_start, size = ids[-1], False, len(ids)
            written, words = _embed_batch(store, embedder, owner, ids, step)
            report.embedded += written
            report.words += words
            if progress is not None:
                missing = embedding_state(store, embedder.name).missing
                total = max(total, done + missing)  # messages added meanwhile count too
                done = total - missing
                progress("embed", done, total)
    except _Stopped:
        pass
    finally:
        _release(store, owner)
    report.interrupted = stopped() and not embedding_state(store, embedder.name).complete
    return report


def _claimed_by_others(store: Store, owner: str) -> bool:
    return store.vectors.claimed_by_others(owner)


# --- in the background of a long-running process ---------------------------------------------------

class BackgroundIndexer:
    """Fills the embedding index in a daemon thread while chat or the gateway runs.

        indexer = BackgroundIndexer(settings.store_location, home=settings.home).start()
        ...
        indexer.stop()

    The thread opens its own connection, lowers its own priority (and that of the model's
    worker threads when it is the first to load the model), indexes new messages' text, embeds
    whatever has no vector in committed batches, then looks again every ``poll_s`` seconds. It
    does nothing (starts no thread, loads no model) when no embedding backend is installed, and
    loads the model only when something is missing. An error is logged, never raised into the
    host process. ``stop()`` returns within a fraction of a second; the batch under way is
    given back, and the next indexer (or ``ember memory index``) goes on from there.
    """

    def __init__(self, location: Path | str, *, home: Path | str | None = None, poll_s: float = 30.0,
                 nice: int = 10, batch: int = BATCH):
        self.location = location  # the store's path or URL (settings.store_location)
        self.home = home
        self.poll_s = poll_s
        self.nice = nice
        self.batch = batch
        self.embedded = 0  # messages this indexer embedded
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundIndexer:
        from ember.memory.search.embeddings import embeddings_available

        if self._thread is None and embeddings_available():
            self._thread = threading.Thread(target=self._run, name="ember-embedding-index", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait for it (at most ``timeout`` s: it is a daemon anyway)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        from ember.store.backends import open_backend
        from ember.store.records import StoreError

        _lower_thread_priority(self.nice)
        embedder: Embedder | None = None
        try:
            with open_backend(self.location, home=self.home) as store:
                while not self._stop.is_set():
                    try:
                        embedder = self._round(store, embedder)
                    except StoreError as e:  # e.g. the database stayed locked: try again later
                        log.info("embedding index: %s; trying again in %.0f s", e, self.poll_s)
                    self._stop.wait(self.poll_s)
        except Exception:
            log.warning("the background embedding index stopped", exc_info=True)

    def _round(self, store: Store, embedder: Embedder | None) -> Embedder | None:
        from ember.memory.search import embeddings

        index.refresh(store)
        model = embeddings.installed_model_name()
        if model is None or embedding_state(store, model).complete:
            return embedder
        if embedder is None:
            # Loaded here, the process's one model (shared with search) gets worker threads of this
            # thread's low priority; one that search loaded first has normal ones: then a model of
            # its own (~100 MB more), so that indexing never competes with the process on equal terms.
            embedder = embeddings.new_embedder() if embeddings.embedder_loaded() else embeddings.load_embedder()
        if embedder is not None:
            self.embedded += embed_missing(store, embedder, stop=self._stop, batch=self.batch).embedded
        return embedder


def _lower_thread_priority(nice: int) -> None:
    """Make the calling thread (and the threads it starts) yield the CPU to everything else.

    On Linux a thread has its own nice value; elsewhere the priority is left as it is.
    """
    if not sys.platform.startswith("linux") or nice <= 0:
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:
        pass
