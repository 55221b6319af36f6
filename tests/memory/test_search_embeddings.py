"""Dense search with the embedding extra (skipped, with the reason, when it is not installed)."""

from __future__ import annotations

import json

import pytest

from ember.memory.importer import ImportReport, import_messages, read_jsonl
from ember.memory.search import embeddings
from ember.memory.search.federated import MemorySearch

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

    from ember.memory.search.vectors import decode_many, encode

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


def test_sentence_feature_is_the_best_sentence_cosine_as_a_z_score(store, embedder):
    import numpy as np

    from ember.memory.search.vectors import to_unit

    load(store, [
        ("Ana", "The weather was grey. I adopted a kitten named Pixel! She sleeps all day."),
        ("Ben", "My sister got her driving licence. We celebrated with cake."),
        ("Ana", "Reading a novel about pirates tonight."),
        ("Ben", "Work was busy. Lots of meetings. Then I went running by the river."),
    ])
    searcher = MemorySearch(store, embedder=embedder)
    searcher.refresh()
    messages = searcher.messages
    rows, features, dense = messages.candidates("a new pet cat")
    assert dense and len(rows) == 4
    qv = embedder.embed(["a new pet cat"])[0]
    vec = messages._vectors
    sample = to_unit(vec.whole) @ qv  # four messages: the sample is all of them
    for mid in rows:
        own = [to_unit(vec.whole[[vec.row_of(mid)]]) @ qv]
        parts = [to_unit(vec.parts[vec.part_ids == mid]) @ qv] if (vec.part_ids == mid).any() else []
        best = max(float(np.max(x)) for x in own + parts)
        assert features[mid]["sentence"] == pytest.approx((best - sample.mean()) / sample.std(), abs=1e-4)


def test_a_search_with_nothing_new_asks_the_store_only_whether_anything_changed(store, embedder, monkeypatch):
    from ember.memory.search import embedding_index

    chat = [("Ana", "I adopted a kitten named Pixel."), ("Ben", "I repaired the garden fence.")]
    load(store, chat)
    searcher = MemorySearch(store, embedder=embedder)
    searcher.refresh()
    asked = []
    real = embedding_index.embedding_state
    monkeypatch.setattr(embedding_index, "embedding_state", lambda *a: asked.append(a) or real(*a))
    for _ in range(3):
        assert searcher.search("kitten", 1, scope="messages")[0].id == "D1:1"
    assert asked == []  # nothing was written since: no counting of vectors per query
    load(store, [*chat, ("Ana", "Pixel now chases the garden birds.")])  # the first two are there already
    assert "D1:3" in [h.id for h in searcher.search("birds in the garden", 3, scope="messages")]
    assert asked  # a new message: the index is brought up to date (and embedded) before searching


def test_numpy_blas_runs_on_one_thread_for_search():
    import ctypes
    import glob
    import os

    import numpy as np

    from ember.memory.search.vectors import single_threaded_blas

    single_threaded_blas()
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*"))
    if not libs:
        pytest.skip("numpy here does not bundle OpenBLAS")
    lib = ctypes.CDLL(libs[0])
    getter = next((getattr(lib, n) for n in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads")
                   if hasattr(lib, n)), None)
    assert getter is not None and getter() == 1
