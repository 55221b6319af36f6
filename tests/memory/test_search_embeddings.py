"""Dense search with the embedding extra (skipped, with the reason, when it is not installed)."""

from __future__ import annotations

import json

import pytest

from ember.memory import embeddings
from ember.memory.importer import ImportReport, import_messages, read_jsonl
from ember.memory.search import MemorySearch

pytestmark = pytest.mark.skipif(
    not embeddings.embeddings_available(),
    reason='the embedding extra is not installed (pip install "ember-agent[embed]")',
)


@pytest.fixture(scope="module")
def embedder():
    return embeddings.load_embedder()


def load(store, texts: list[tuple[str, str]]) -> None:
    raw = [json.dumps({"id": f"D1:{i}", "session": "S1", "speaker": who, "content": text,
                       "timestamp": "2023-03-01T09:00:00"}) for i, (who, text) in enumerate(texts, 1)]
    report = ImportReport()
    import_messages(store, read_jsonl(raw, report), report)


def test_vectors_are_unit_length_and_meaningful(embedder):
    import numpy as np

    v = embedder.embed(["I bought a new car", "I purchased an automobile", "The soup was too salty"])
    assert v.shape == (3, embedder.dim)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_int8_storage_keeps_directions(embedder):
    import numpy as np

    from ember.memory.vectors import decode_many, encode

    v = embedder.embed(["a sentence to store", "another one"])
    back = decode_many([encode(x) for x in v], embedder.dim)
    assert float(np.min(np.sum(back * v, axis=1))) > 0.999


@pytest.mark.sqlite_only
def test_meaning_is_found_without_shared_words(store, embedder):
    load(store, [
        ("Ana", "The soup at lunch was far too salty."),
        ("Ben", "My sister finally got her driving licence."),
        ("Ana", "I just bought myself a second-hand automobile, a red one!"),
        ("Ben", "The weather has been rainy all week."),
        ("Ana", "Reading a novel about pirates tonight."),
    ])
    searcher = MemorySearch(store, embedder=embedder)
    report = searcher.refresh()
    assert report.embedded == 5 and report.words > 10
    stored = store._read("SELECT COUNT(*) FROM search_vectors WHERE part = 0 AND model = ?", (embedder.name,))
    assert stored[0][0] == 5
    assert searcher.search("Which vehicle did Ana purchase?", 1)[0].id == "D1:3"


@pytest.mark.sqlite_only
def test_forgotten_messages_leave_the_vector_index(store, embedder):
    from ember.memory import inventory

    load(store, [("Ana", "I adopted a kitten named Pixel."), ("Ben", "I repaired the garden fence.")])
    searcher = MemorySearch(store, embedder=embedder)
    searcher.refresh()
    assert inventory.forget(store, "D1:1")
    assert not store._read("SELECT 1 FROM search_vectors WHERE message_id NOT IN (SELECT id FROM messages)")
    assert not store._read("SELECT 1 FROM search_terms WHERE term = 'pixel'")
    assert [h.id for h in searcher.search("kitten pet", 5)] == ["D1:2"]


def test_off_switch_means_lexical_only(monkeypatch):
    monkeypatch.setenv("EMBER_EMBEDDINGS", "off")
    assert not embeddings.embeddings_available()
    assert embeddings.load_embedder() is None


class Recording:
    """The real model, noting every text it is given."""

    def __init__(self, inner, texts: list[str]):
        self.inner, self.texts = inner, texts
        self.name, self.dim = inner.name, inner.dim

    def embed(self, texts, progress=None):
        self.texts.extend(texts)
        return self.inner.embed(texts, progress)


def test_the_query_vector_is_the_named_speakers_own_words(store, embedder):
    load(store, [
        ("Tim", "I finally read Becoming, and The Hobbit again."),
        ("Ana", "Tim read so many books this year, I am jealous of Tim."),
    ])
    texts: list[str] = []
    searcher = MemorySearch(store, embedder=Recording(embedder, texts))
    searcher.refresh()
    texts.clear()
    hits = searcher.search("What books has Tim read?", 2, scope="messages")
    assert texts[0] == "What books have I read?"  # the words searched are the question's own
    assert hits[0].id == "D1:1"
