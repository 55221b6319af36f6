"""The search index follows the messages: import, live messages, neighbours' context, forget, delete."""

from __future__ import annotations

import json

import pytest

from ember.memory import inventory
from ember.memory.importer import ImportReport, import_messages, read_jsonl
from ember.memory.search import index
from ember.memory.search.federated import MemorySearch
from ember.models.base import Message, ToolCall


def load(store, lines: list[dict]) -> ImportReport:
    report = ImportReport()
    import_messages(store, read_jsonl([json.dumps(line) for line in lines], report), report)
    return report


def turn(n: int, speaker: str, content: str, session: str = "S1", day: str = "2023-05-08") -> dict:
    return {"id": f"D1:{n}", "session": session, "role": "user", "speaker": speaker, "content": content,
            "timestamp": f"{day}T13:56:00"}


CHAT = [
    turn(1, "Caroline", "Hey Melanie! I went to a support group yesterday."),
    turn(2, "Melanie", "Wow, Caroline, that sounds powerful. What was it like?"),
    turn(3, "Caroline", "Inspiring. People shared their stories about adoption."),
    turn(4, "Melanie", "I painted a sunrise over the lake last weekend."),
    turn(5, "Caroline", "Beautiful! Send me a picture of the painting."),
]


def fts(store, message_id: int) -> tuple[str, str] | None:
    rows = store._read("SELECT body, context FROM search_fts WHERE rowid = ?", (message_id,))
    return (rows[0][0], rows[0][1]) if rows else None


def ids(store) -> dict[str, int]:
    return {r[0]: r[1] for r in store._read("SELECT external_id, id FROM messages WHERE external_id IS NOT NULL")}


@pytest.mark.sqlite_only
def test_migration_adds_columns_and_tables(store):
    columns = {r[1] for r in store._read("PRAGMA table_info(messages)")}
    assert {"external_id", "speaker"} <= columns
    tables = {r[0] for r in store._read("SELECT name FROM sqlite_master")}
    assert {"search_fts", "search_vectors", "search_times", "search_terms"} <= tables
    assert "search_index" in store.schema_version()


@pytest.mark.sqlite_only  # reads SQLite's search_fts
def test_refresh_indexes_body_and_neighbours_without_speaker_names(store):
    load(store, CHAT)
    report = index.refresh(store)
    assert report.indexed == 5
    by_id = ids(store)
    body, context = fts(store, by_id["D1:2"])
    assert "Caroline" not in body and "sounds powerful" in body
    assert "support group" in context and "sunrise" in context and "adoption" in context
    assert index.refresh(store).indexed == 0  # nothing new, nothing done


@pytest.mark.sqlite_only  # reads SQLite's search_fts
def test_a_new_message_updates_its_predecessors_context(store):
    load(store, CHAT[:3])
    index.refresh(store)
    first = ids(store)["D1:3"]
    assert "sunrise" not in fts(store, first)[1]
    load(store, CHAT[3:])
    index.refresh(store)
    assert "sunrise" in fts(store, first)[1]


@pytest.mark.sqlite_only
def test_time_mentions_are_resolved_against_the_message_time(store):
    load(store, CHAT)
    index.refresh(store)
    rows = store._read("SELECT start, end FROM search_times WHERE message_id = ?", (ids(store)["D1:1"],))
    from datetime import datetime

    assert [(datetime.fromtimestamp(a).date().isoformat(), datetime.fromtimestamp(b).date().isoformat())
            for a, b in rows] == [("2023-05-07", "2023-05-08")]


@pytest.mark.sqlite_only
def test_live_agent_messages_are_indexed_but_tool_output_is_not(store):
    session = store.create_session()
    store.add_message(session.id, Message(role="user", content="remind me about the dentist on friday"))
    store.add_message(session.id, Message(role="assistant", content="", tool_calls=[ToolCall("c1", "shell", {})]))
    store.add_message(session.id, Message(role="tool", content="dentist appointment 10:00", tool_call_id="c1", name="shell"))
    store.add_message(session.id, Message(role="assistant", content="Your dentist appointment is at ten."))
    assert index.refresh(store).indexed == 2
    roles = [r[0] for r in store._read("SELECT m.role FROM search_fts f JOIN messages m ON m.id = f.rowid")]
    assert sorted(roles) == ["assistant", "user"]


@pytest.mark.sqlite_only
def test_forget_removes_the_message_its_index_rows_and_its_text_from_neighbours(store):
    load(store, CHAT)
    index.refresh(store)
    by_id = ids(store)
    assert "sunrise" in fts(store, by_id["D1:5"])[1]
    assert inventory.forget(store, "D1:4").startswith("message D1:4")
    assert fts(store, by_id["D1:4"]) is None
    assert not store._read("SELECT 1 FROM search_times WHERE message_id = ?", (by_id["D1:4"],))
    for neighbour in ("D1:2", "D1:3", "D1:5"):
        assert "sunrise" not in fts(store, by_id[neighbour])[1]
    assert inventory.forget(store, "D1:4") is None


@pytest.mark.sqlite_only
def test_forget_by_row_id_and_session_delete_clean_the_index(store):
    load(store, CHAT)
    index.refresh(store)
    by_id = ids(store)
    assert inventory.forget(store, str(by_id["D1:1"])) is not None
    assert fts(store, by_id["D1:1"]) is None
    session_id = store._read("SELECT session_id FROM messages LIMIT 1")[0][0]
    store.delete_session(session_id)
    assert store._read("SELECT COUNT(*) FROM search_fts")[0][0] == 0
    assert store._read("SELECT COUNT(*) FROM search_times")[0][0] == 0


@pytest.mark.sqlite_only
def test_rebuild_starts_over_from_the_messages(store):
    load(store, CHAT)
    index.refresh(store)
    with store._write() as db:
        db.execute("DELETE FROM search_fts")
    report = index.rebuild(store)
    assert report.indexed == 5
    assert store._read("SELECT COUNT(*) FROM search_fts")[0][0] == 5


def test_counts_describe_the_store(store):
    load(store, CHAT)
    MemorySearch(store, embedder=None).refresh()
    data = inventory.counts(store)
    assert data["messages"] == 5 and data["imported_messages"] == 5 and data["indexed_messages"] == 5
    assert data["sessions"] == 1 and set(data["speakers"]) == {"Caroline", "Melanie"}


@pytest.mark.parametrize("fmt", ["jsonl", "markdown"])
def test_export_round_trips_through_import(store, store_backend, tmp_path, fmt):
    load(store, CHAT)
    items = list(inventory.export_messages(store))
    assert [i["id"] for i in items] == [t["id"] for t in CHAT]
    if fmt == "jsonl":
        with store_backend.open(tmp_path / "copy") as copy:
            report = ImportReport()
            import_messages(copy, read_jsonl(inventory.as_jsonl(iter(items)), report), report)
            assert report.messages == 5 and not report.problems
            assert list(inventory.export_messages(copy)) == items
    else:
        text = "".join(inventory.as_markdown(iter(items)))
        assert text.startswith("# S1\n") and "**Melanie** · 2023-05-08 13:56:00 · `D1:4`" in text
