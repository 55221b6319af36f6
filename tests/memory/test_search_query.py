"""search(query, k, scope): speakers as a field, time, sessions, scopes and registered sources (lexical)."""

from __future__ import annotations

import json

import pytest

from ember.memory.importer import ImportReport, import_messages, read_jsonl
from ember.memory.search import federated as search_module
from ember.memory.search import messages as message_search
from ember.memory.search.federated import MemorySearch, register_source
from ember.memory.search.hits import Hit


def load(store, lines: list[tuple[str, str, str, str, str]]) -> None:
    """(id, session, speaker, date, content) tuples -> imported messages."""
    raw = [json.dumps({"id": i, "session": s, "role": "user", "speaker": who, "content": text,
                       "timestamp": f"{day}T12:00:00"}) for i, s, who, day, text in lines]
    report = ImportReport()
    import_messages(store, read_jsonl(raw, report), report)
    assert not report.problems


CHAT = [
    ("D1:1", "S1", "Ana", "2023-05-08", "Hi Ben! Yesterday I painted a lighthouse at dawn."),
    ("D1:2", "S1", "Ben", "2023-05-08", "Wow Ana, a lighthouse! I only painted my fence this week."),
    ("D1:3", "S1", "Ana", "2023-05-08", "Ha. Are you still training for the marathon?"),
    ("D1:4", "S1", "Ben", "2023-05-08", "Yes, I run forty kilometres a week now."),
    ("D2:1", "S2", "Ana", "2023-07-20", "Ben, I adopted a grey kitten named Pixel!"),
    ("D2:2", "S2", "Ben", "2023-07-20", "A kitten! Ana, you will love her. My dog Rex says hi."),
    ("D2:3", "S2", "Ana", "2023-07-20", "Pixel already chewed my headphones, sadly."),
    ("D3:1", "S3", "Ben", "2024-01-10", "Ana, I finished the marathon in four hours!"),
    ("D3:2", "S3", "Ana", "2024-01-10", "Congratulations! I started pottery classes in December."),
]


@pytest.fixture
def searcher(store):
    load(store, CHAT)
    found = MemorySearch(store, embedder=None)
    found.refresh()
    return found


def top(searcher, query: str, k: int = 3, **kw) -> list[str]:
    return [h.id for h in searcher.search(query, k, **kw)]


def test_topic_words_find_the_turn(searcher):
    assert top(searcher, "Who has a kitten called Pixel?")[0] in ("D2:1", "D2:3")
    assert top(searcher, "headphones", 1) == ["D2:3"]


def test_the_named_speaker_is_a_field_not_a_word(searcher):
    # "Ana" appears in Ben's turns as a greeting; the question is about what Ana did.
    assert top(searcher, "What did Ana paint?", 1) == ["D1:1"]
    assert top(searcher, "What did Ben paint?", 1) == ["D1:2"]
    assert top(searcher, "What is Ben training for?", 1) == ["D1:4"]


def test_a_period_in_the_query_favours_what_was_said_then(searcher):
    assert set(top(searcher, "What happened in January 2024?", 2)) == {"D3:1", "D3:2"}
    # "Yesterday" said on 8 May is 7 May: the message talks about that day.
    assert top(searcher, "What did Ana do on 7 May 2023?", 1) == ["D1:1"]


def test_relative_periods_are_resolved_against_the_latest_message(searcher):
    # The latest message is from 10 January 2024, so "last month" is December 2023 ... January 2024.
    assert top(searcher, "what class did Ana start last month", 1) == ["D3:2"]


@pytest.mark.sqlite_only
def test_session_filter_and_k(searcher, store):
    s2 = store._read("SELECT id FROM sessions WHERE title = 'S2'")[0][0]
    hits = searcher.search("kitten marathon lighthouse", 10, session=s2)
    assert hits and {h.session_id for h in hits} == {s2}
    assert len(searcher.search("kitten marathon lighthouse", 2)) == 2


def test_hits_carry_what_a_reader_needs(searcher):
    hit = searcher.search("grey kitten", 1)[0]
    assert hit.id == "D2:1" and hit.speaker == "Ana" and hit.source == "messages"
    assert "kitten" in hit.text and hit.created_at and hit.session_id and hit.message_id
    assert hit.score > 0


def test_queries_that_find_nothing_or_nothing_stored(store, store_backend, tmp_path, searcher):
    assert searcher.search("the of and what", 5) == []  # stopwords only: nothing to look for
    assert searcher.search('"OR NEAR( * zebra', 5) == []  # FTS5 syntax in a query is plain text, never an error
    with store_backend.open(tmp_path / "empty") as empty:
        assert MemorySearch(empty, embedder=None).search("anything", 5) == []


def test_unknown_scope_is_an_error(searcher):
    with pytest.raises(ValueError, match="unknown scope"):
        searcher.search("x", 3, scope="nope")


def test_registered_sources_are_searched_and_fused(searcher, monkeypatch):
    monkeypatch.setattr(search_module, "_SOURCES", {})
    calls = []

    def lessons(store, query, k):
        calls.append((query, k))
        return [Hit(id="lesson:1", score=9.0, source="lessons", text="run the tests before pushing")]

    def broken(store, query, k):
        raise RuntimeError("boom")

    register_source("lessons", lessons, count=lambda store: 1)
    register_source("episodes", broken)
    only = searcher.search("tests", 5, scope="lessons")
    assert [h.id for h in only] == ["lesson:1"] and calls == [("tests", 5)]
    fused = searcher.search("kitten", 5, scope="all")
    assert {"lesson:1", "D2:1"} <= {h.id for h in fused}
    assert [h.id for h in searcher.search("kitten", 5, scope="messages")][0] in ("D2:1", "D2:2")
    with pytest.raises(ValueError):
        register_source("messages", lessons)


def test_very_common_words_are_dropped_to_bound_cost(store, monkeypatch):
    lines = [(f"D{i}:1", f"S{i}", "Ana", "2023-01-01", f"weather today is fine number {i}") for i in range(1, 40)]
    lines.append(("D99:1", "S99", "Ana", "2023-01-02", "weather report mentions a rare aurora"))
    load(store, lines)
    monkeypatch.setattr(message_search, "POSTINGS_BUDGET", 10)
    found = MemorySearch(store, embedder=None)
    assert top(found, "weather aurora", 1) == ["D99:1"]  # "weather" is everywhere: only "aurora" is searched
    assert len(found.search("weather", 5)) == 5  # a lone common word still answers, from recent messages
