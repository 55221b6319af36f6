"""The embedding index fills in after import: in batches that are kept, shared safely between
indexers, in the background of a long-running process, and used by search while it is partial."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from ember import owners
from ember.memory.importer import ImportReport, import_messages, read_jsonl
from ember.memory.search import embedding_index, embeddings, index
from ember.memory.search.embedding_index import BackgroundIndexer, embed_missing, embedding_state
from ember.memory.search.federated import MemorySearch
from ember.store.sqlite.store import open_store

pytestmark = pytest.mark.skipif(
    not embeddings.embeddings_available(),
    reason='the embedding extra is not installed (pip install "ember-agent[embed]")',
)

TOPICS = ["my garden tomatoes", "the violin lesson", "our trip to the lake", "a new pottery class",
          "the dentist appointment", "fixing the bike", "the chess club", "baking sourdough bread"]


@pytest.fixture(scope="module")
def embedder():
    return embeddings.load_embedder()


def chat_lines(count: int, session: str = "S1", start: int = 1) -> list[str]:
    return [json.dumps({"id": f"{session}:{n}", "session": session, "speaker": "Ana" if n % 2 else "Ben",
                        "content": f"Message {n} is about {TOPICS[n % len(TOPICS)]}. Number {n} indeed.",
                        "timestamp": "2023-03-01T09:00:00"}) for n in range(start, start + count)]


def load(store, lines: list[str]) -> None:
    report = ImportReport()
    import_messages(store, read_jsonl(lines, report), report)
    index.refresh(store)


def vector_rows(store) -> dict[int, int]:
    """message id -> sequence number of its part-0 vector."""
    model = store.vectors.model()
    if model is None:
        return {}
    return {message: seq for seq, message, part, _ in store.vectors.vectors_since(model, 0)[1] if part == 0}


def test_import_indexes_text_only_and_search_answers_at_once(store, embedder):
    load(store, chat_lines(40))
    assert embedding_state(store, embedder.name).as_json() == {"embedded": 0, "messages": 40, "complete": False}
    searcher = MemorySearch(store, embedder=embedder)
    searcher.refresh(embed_limit=10)  # a backlog above the limit is not embedded by search
    assert not vector_rows(store)
    assert searcher.embedding_state().line() == (
        "embedding index: 0 of 40 messages (run `ember memory index` to finish)")
    hits = searcher.search("violin lesson", 40, scope="messages", refresh=False)
    assert hits and all("violin" in h.text for h in hits[:5])


@pytest.mark.sqlite_only
def test_finished_batches_are_kept_and_only_the_rest_is_embedded_again(store, embedder):
    load(store, chat_lines(100))
    stop = threading.Event()

    def progress(stage, done, total):
        if done >= 30:  # the first batch is committed
            stop.set()

    first = embed_missing(store, embedder, progress=progress, stop=stop, batch=30)
    assert first.interrupted and first.embedded == 30
    kept = vector_rows(store)
    assert len(kept) == 30
    assert not store._read("SELECT 1 FROM search_claims")  # the interrupted batch was given back
    second = embed_missing(store, embedder, batch=30)
    assert second.embedded == 70 and not second.interrupted
    after = vector_rows(store)
    assert len(after) == 100 and all(after[m] == rowid for m, rowid in kept.items())  # not redone
    assert embedding_state(store, embedder.name).complete


@pytest.mark.sqlite_only
def test_a_partial_index_uses_vectors_where_they_exist_and_words_everywhere(store, embedder):
    lines = chat_lines(30)
    lines.append(json.dumps({"id": "S1:car", "session": "S1", "speaker": "Ana",
                             "content": "I just bought myself a second-hand automobile, a red one!"}))
    lines.append(json.dumps({"id": "S1:late", "session": "S1", "speaker": "Ben",
                             "content": "The xylophone recital was cancelled."}))
    load(store, lines)
    car = store._read("SELECT id FROM messages WHERE external_id = 'S1:car'")[0][0]
    embed_missing(store, embedder)
    with store._write() as db:  # everything up to the car embedded, the last message not yet
        db.execute("DELETE FROM search_vectors WHERE message_id > ?", (car,))
    searcher = MemorySearch(store, embedder=embedder)
    searcher.refresh(embed_limit=0)
    state = searcher.embedding_state()
    assert (state.embedded, state.messages) == (31, 32)
    assert searcher.search("Which vehicle did Ana purchase?", 1, scope="messages", refresh=False)[0].id == "S1:car"
    assert searcher.search("xylophone", 1, scope="messages", refresh=False)[0].id == "S1:late"


def test_a_searcher_kept_open_follows_the_index_batch_by_batch(db_path, embedder):
    import numpy as np

    with open_store(db_path) as store, open_store(db_path) as indexer:
        load(store, chat_lines(90, "S1") + chat_lines(50, "S2"))
        searcher = MemorySearch(store, embedder=embedder)
        stop = threading.Event()
        embed_missing(indexer, embedder, batch=40, stop=stop, progress=lambda _, done, __: done >= 40 and stop.set())
        searcher.refresh(embed_limit=0)  # 40 vectors, read in full
        assert len(searcher.messages._vectors.whole_ids) == 40
        embed_missing(indexer, embedder, batch=40)  # the rest, committed by another connection
        searcher.search("violin", 3, refresh=True)  # reads only what was added
        fresh = MemorySearch(store, embedder=embedder)
        fresh.refresh(embed_limit=0)
        old, new = searcher.messages, fresh.messages
        assert len(old._vectors.whole_ids) == len(new._vectors.whole_ids) == 140
        by_id = {int(m): i for i, m in enumerate(new._vectors.whole_ids)}
        same_rows = [by_id[int(m)] for m in old._vectors.whole_ids]
        assert np.allclose(old._mixed, new._mixed[same_rows], atol=1e-6)
        assert sorted(old._words.words) == sorted(new._words.words)


def test_search_embeds_a_small_backlog_itself(store, embedder):
    load(store, chat_lines(20))
    searcher = MemorySearch(store, embedder=embedder)
    searcher.refresh()
    load(store, chat_lines(3, start=21))
    searcher.search("pottery", 3)
    assert searcher.embedding_state().complete and len(vector_rows(store)) == 23


def test_claims_keep_indexers_apart_and_a_dead_ones_claims_are_taken_over(db_path, embedder):
    with open_store(db_path) as one, open_store(db_path) as two:
        load(one, chat_lines(50))
        embedding_index._use_model(one, embedder.name)
        mine = embedding_index._claim(one, "elsewhere:1:a", 0, 20)
        theirs = embedding_index._claim(two, owners.new_owner(), 0, 20)
        assert len(mine) == len(theirs) == 20 and not set(mine) & set(theirs)
        # A claim of a process that no longer exists on this host is free again.
        done = _dead_pid()
        with one._write() as db:
            db.execute(f"UPDATE search_claims SET owner = ? WHERE message_id IN ({','.join('?' * 20)})",
                       (f"{owners.HOST}:{done}:x", *theirs))
        again = embedding_index._claim(one, owners.new_owner(), 0, 50)
        assert set(theirs) <= set(again) and not set(mine) & set(again)  # the other host's claim stays


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class Recording:
    """The real model, noting every text it is given."""

    def __init__(self, texts: list[str]):
        self.inner = embeddings.new_embedder(threads=1)
        self.name, self.dim, self.texts = self.inner.name, self.inner.dim, texts

    def embed(self, texts, progress=None):
        self.texts.extend(texts)
        return self.inner.embed(texts, progress)


def test_two_indexers_at_once_split_the_work_without_duplicates(db_path, embedder):
    with open_store(db_path) as store:
        load(store, chat_lines(120))
    reports, texts = [], []

    def run():
        with open_store(db_path) as own:  # each its own connection, as two processes have
            reports.append(embed_missing(own, Recording(texts), batch=16))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    with open_store(db_path) as store:
        assert sum(r.embedded for r in reports) == 120 and all(r.embedded for r in reports)
        bodies = [t for t in texts if t.startswith("Message ")]
        assert len(bodies) == len(set(bodies)) == 240  # each message and its first sentence, once
        rows = store._read("SELECT message_id, COUNT(*) FROM search_vectors WHERE part = 0 GROUP BY message_id")
        assert len(rows) == 120 and all(r[1] == 1 for r in rows)
        assert not store._read("SELECT 1 FROM search_claims")
        assert store.integrity_problems() == []


def test_a_forgotten_message_gets_no_vector(store, embedder):
    from ember.memory import inventory

    load(store, chat_lines(10))
    embedding_index._use_model(store, embedder.name)
    claimed = embedding_index._claim(store, owners.new_owner(), 0, 10)
    assert inventory.forget(store, "S1:3")
    written, _ = embedding_index._embed_batch(store, embedder, "me", claimed, lambda f: None)
    assert written == 9 and len(vector_rows(store)) == 9


def test_background_indexer_fills_the_index_and_follows_new_messages(db_path, embedder):
    with open_store(db_path) as store:
        load(store, chat_lines(60))
        indexer = BackgroundIndexer(db_path, poll_s=0.2).start()
        try:
            assert indexer.running
            _wait_for(lambda: embedding_state(store, embedder.name).complete)
            report = ImportReport()  # a new message, as chat would add one
            import_messages(store, read_jsonl(chat_lines(2, start=61), report), report)
            _wait_for(lambda: len(vector_rows(store)) == 62)  # its text indexed and embedded too
        finally:
            indexer.stop()
        assert not indexer.running and indexer.embedded == 62


def test_background_indexer_stops_promptly_and_keeps_its_batches(db_path, embedder):
    with open_store(db_path) as store:
        load(store, chat_lines(400))
        indexer = BackgroundIndexer(db_path, batch=100).start()
        _wait_for(lambda: len(vector_rows(store)) >= 1)
        started = time.monotonic()
        indexer.stop(timeout=10)
        assert not indexer.running and time.monotonic() - started < 3
        kept = len(vector_rows(store))
        assert 0 < kept < 400 and kept % 100 == 0
        assert not store._read("SELECT 1 FROM search_claims")


def test_background_indexer_is_a_no_op_without_a_backend(db_path, monkeypatch):
    monkeypatch.setenv("EMBER_EMBEDDINGS", "off")
    indexer = BackgroundIndexer(db_path).start()
    assert not indexer.running
    indexer.stop()


def test_background_thread_runs_at_a_lower_priority(db_path):
    if not os.path.exists("/proc/self/task"):
        pytest.skip("per-thread priority is a Linux feature")
    seen = {}

    def probe():
        embedding_index._lower_thread_priority(10)
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    assert seen["nice"] >= min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < seen["nice"]  # this thread untouched


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)
