"""`ember memory import` parsing: every bad line is reported with its number, nothing is silently lost."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ember.memory.importer import ImportReport, import_messages, parse_timestamp, read_jsonl


def test_bad_lines_are_reported_with_their_numbers():
    lines = [
        json.dumps({"id": "a", "content": "fine"}),
        "{not json",
        json.dumps(["a list"]),
        json.dumps({"id": "b"}),
        json.dumps({"content": "x", "role": "robot"}),
        json.dumps({"content": "x", "timestamp": "yesterday-ish"}),
        "",
        json.dumps({"content": "x", "speaker": 3}),
        json.dumps({"content": "last", "timestamp": 1_700_000_000}),
    ]
    report = ImportReport()
    messages = read_jsonl(lines, report)
    assert [m.line for m in messages] == [1, 9]
    assert [n for n, _ in report.problems] == [2, 3, 4, 5, 6, 8]
    assert "not valid JSON" in report.problems[0][1]
    assert '"content"' in report.problems[2][1]
    assert "role" in report.problems[3][1] and "timestamp" in report.problems[4][1]


def test_timestamps_naive_are_local_and_offsets_are_honoured():
    assert parse_timestamp("2023-05-08T13:56:00") == datetime(2023, 5, 8, 13, 56).timestamp()
    assert parse_timestamp("2023-05-08T13:56:00Z") == datetime(2023, 5, 8, 13, 56, tzinfo=UTC).timestamp()
    assert parse_timestamp(12.5) == 12.5


@pytest.mark.sqlite_only
def test_sessions_are_named_reused_and_duplicates_skipped(store):
    lines = [json.dumps({"id": f"D1:{i}", "session": "S1", "content": f"turn {i}", "speaker": "Ana",
                         "timestamp": f"2023-05-0{i}T10:00:00"}) for i in range(1, 4)]
    lines.append(json.dumps({"id": "D2:1", "session": "S2", "content": "other", "timestamp": "2023-06-01T10:00:00"}))
    first = ImportReport()
    import_messages(store, read_jsonl(lines, first), first)
    assert (first.messages, first.sessions_created, first.duplicates) == (4, 2, 0)
    again = ImportReport()
    import_messages(store, read_jsonl(lines, again), again)
    assert (again.messages, again.sessions_created, again.duplicates) == (0, 0, 4)
    sessions = {s.title: s for s in store.list_sessions()}
    assert set(sessions) == {"S1", "S2"} and sessions["S1"].source == "import"
    assert sessions["S1"].created_at == datetime(2023, 5, 1, 10).timestamp()
    assert sessions["S1"].updated_at == datetime(2023, 5, 3, 10).timestamp()
    stored = store.get_messages(sessions["S1"].id)
    assert [m.message.content for m in stored] == ["turn 1", "turn 2", "turn 3"]
    row = store._read("SELECT external_id, speaker, role FROM messages WHERE content = 'turn 2'")[0]
    assert tuple(row) == ("D1:2", "Ana", "user")
