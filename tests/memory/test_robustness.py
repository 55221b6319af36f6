"""The real `ember memory ...` executable against bad input and awkward stores: no tracebacks, no wrong deletes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ember.memory import inventory
from ember.memory.importer import ImportReport, parse_timestamp, read_jsonl
from ember.memory.search import index
from ember.store.sqlite.store import open_store

EMBER = str(Path(sys.executable).parent / "ember")


def ember(home: Path, *args: str, input: str | bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "EMBER_HOME": str(home), "EMBER_EMBEDDINGS": "off", "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([EMBER, *args], env=env, input=input, capture_output=True, timeout=60,
                          text=not isinstance(input, bytes))


def ok(result: subprocess.CompletedProcess) -> str:
    out, err = (result.stdout, result.stderr) if isinstance(result.stdout, str) else (
        result.stdout.decode(), result.stderr.decode())
    assert result.returncode == 0, err
    assert "Traceback" not in err
    return out


def jsonl(*items: dict) -> str:
    return "".join(json.dumps(i) + "\n" for i in items)


# --- 1. timestamps out of range ------------------------------------------------------------------

@pytest.mark.parametrize("value", [1690000000000, 1e20, -5, "1960-01-01T00:00:00+00:00", float("nan")])
def test_parse_timestamp_refuses_times_outside_1970_to_9999(value):
    with pytest.raises(ValueError, match="out of range"):
        parse_timestamp(value)


def test_parse_timestamp_accepts_seconds_and_iso():
    assert parse_timestamp(1690000000) == 1690000000.0
    assert parse_timestamp("2023-05-08T13:56:00Z") == 1683554160.0


def test_millisecond_timestamp_is_skipped_with_its_line_and_memory_keeps_working(tmp_path):
    home = tmp_path / "home"
    data = jsonl({"id": "m1", "session": "js", "content": "milliseconds", "timestamp": 1690000000000},
                 {"id": "m2", "session": "js", "content": "too far", "timestamp": 1e20},
                 {"id": "m3", "session": "js", "content": "a bicycle ride yesterday", "timestamp": 1690000000})
    result = ember(home, "memory", "import", "-", input=data)
    ok(result)
    assert "-:1: " in result.stderr and "looks like milliseconds" in result.stderr
    assert "-:2: " in result.stderr and "2 bad line(s) skipped" in result.stderr
    hits = json.loads(ok(ember(home, "memory", "search", "bicycle", "--json")))["hits"]
    assert [h["id"] for h in hits] == ["m3"]
    for args in (["memory", "index"], ["memory", "show"], ["memory", "show", "m3"], ["memory", "export"],
                 ["sessions", "list"]):
        ok(ember(home, *args))


def test_a_bad_time_already_in_the_store_breaks_no_reader_and_forget_clears_it(tmp_path):
    home = tmp_path / "home"
    ok(ember(home, "memory", "import", "-", input=jsonl({"id": "g1", "session": "good", "content": "fine words",
                                                         "timestamp": 1690000000})))
    with sqlite3.connect(home / "ember.db") as db:  # as an older Ember could have stored it
        db.execute("INSERT INTO sessions (id, source, title, created_at, updated_at) "
                   "VALUES ('bad1', 'import', 'bad', 1.69e12, 1.69e12)")
        db.execute("INSERT INTO messages (session_id, role, content, external_id, created_at) "
                   "VALUES ('bad1', 'user', 'see you yesterday, fine', 'B1', 1.69e12)")
    ok(ember(home, "memory", "index"))  # time mentions of the bad message are skipped, not a crash
    assert "unknown time" in ok(ember(home, "memory", "show", "B1"))
    exported = [json.loads(line) for line in ok(ember(home, "memory", "export")).splitlines()]
    assert {e["id"]: e["timestamp"] for e in exported}["B1"] is None
    ok(ember(home, "memory", "export", "--format", "markdown"))
    found = json.loads(ok(ember(home, "memory", "search", "fine words last week", "--json")))
    assert {"g1", "B1"} <= {hit["id"] for hit in found["hits"]}  # the bad time anchors nothing
    ok(ember(home, "memory", "forget", "B1", "--yes"))
    ok(ember(home, "sessions", "list"))
    ok(ember(home, "memory", "search", "fine"))
    with sqlite3.connect(home / "ember.db") as db:
        created, updated = db.execute("SELECT created_at, updated_at FROM sessions WHERE id = 'bad1'").fetchone()
    assert created < 1e11 and updated < 1e11


def test_local_time_is_none_for_unusable_values():
    assert index.local_time(1.69e12) is None
    assert index.local_time(None) is None
    assert index.local_time(1690000000).year == 2023


@pytest.mark.sqlite_only
def test_forget_moves_the_sessions_updated_at_back_to_its_newest_message(store):
    report = ImportReport()
    msgs = read_jsonl([jsonl({"id": "a", "session": "s", "content": "first", "timestamp": 1000}),
                       jsonl({"id": "b", "session": "s", "content": "second", "timestamp": 2000})], report)
    from ember.memory.importer import import_messages

    import_messages(store, msgs, report)
    assert inventory.forget(store, "b")
    assert store._read("SELECT updated_at FROM sessions WHERE title = 's'")[0][0] == 1000


# --- 2. one external id in two sessions ------------------------------------------------------------

def test_an_id_two_sessions_share_is_refused_and_session_slash_id_picks_one(tmp_path):
    home = tmp_path / "home"
    ok(ember(home, "memory", "import", "-", input=jsonl({"id": "D1:1", "session": "A", "content": "I rode my bicycle"})))
    ok(ember(home, "memory", "import", "-", input=jsonl({"id": "D1:1", "session": "B", "content": "I baked bread"})))
    hits = json.loads(ok(ember(home, "memory", "search", "bicycle", "--json")))["hits"]
    assert [h["id"] for h in hits] == ["D1:1"] and set(hits[0]) == {"id", "score"}

    refused = ember(home, "memory", "forget", "D1:1", "--yes")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "A/D1:1" in refused.stderr and "B/D1:1" in refused.stderr and "bicycle" in refused.stderr
    shown = ember(home, "memory", "show", "D1:1")
    assert shown.returncode == 1 and "SESSION/ID" in shown.stderr
    assert len(ok(ember(home, "memory", "export")).splitlines()) == 2  # nothing deleted

    ok(ember(home, "memory", "forget", "B/D1:1", "--yes"))
    assert "bicycle" in ok(ember(home, "memory", "show", "D1:1"))
    assert "bicycle" in ok(ember(home, "memory", "show", "A/D1:1"))


def test_hash_row_id_and_session_id_name_a_message(store):
    report = ImportReport()
    from ember.memory.importer import import_messages

    import_messages(store, read_jsonl([jsonl({"id": "x", "session": "A", "content": "one"}),
                                       jsonl({"id": "x", "session": "B", "content": "two"})], report), report)
    with pytest.raises(inventory.AmbiguousMessage) as info:
        inventory.find_message(store, "x")
    assert len(info.value.matches) == 2
    second = info.value.matches[1]
    assert inventory.find_message(store, f"#{second['id']}")["content"] == "two"
    assert inventory.find_message(store, f"{second['session_id']}/x")["content"] == "two"
    assert inventory.find_message(store, "A/x")["content"] == "one"
    assert inventory.find_message(store, "C/x") is None


# --- 4. rich markup in user text --------------------------------------------------------------------

def test_search_table_shows_brackets_verbatim(tmp_path):
    home = tmp_path / "home"
    ok(ember(home, "memory", "import", "-", input=jsonl(
        {"id": "r1", "content": "logs went to [/tmp] and [bold]not bold"},
        {"id": "r2", "content": "[image: a red bicycle] the photo of my bicycle"})))
    out = ok(ember(home, "memory", "search", "[/tmp] logs"))
    assert "[/tmp]" in out and "[bold]not bold" in out
    assert "[image: a red bicycle]" in ok(ember(home, "memory", "search", "bicycle"))
    assert "no match for" in ok(ember(home, "memory", "search", "[/nothing] zzzqqq"))


# --- 6. export -> import round trip -------------------------------------------------------------------

def test_export_imports_back_into_a_fresh_home_with_the_same_messages(tmp_path):
    from ember.models.base import Message

    home = tmp_path / "home"
    with open_store(home / "ember.db") as store:
        sid = store.create_session(title="chat").id
        store.add_message(sid, Message("system", "be brief"))
        store.add_message(sid, Message("user", "list the files"))
        store.add_message(sid, Message("tool", "a.txt b.txt", tool_call_id="c1"))
        store.add_message(sid, Message("assistant", "There are two files [a.txt]."))
    ok(ember(home, "memory", "import", "-", input=jsonl({"id": "D1:1", "session": "S", "speaker": "Ann",
                                                         "content": "hello", "timestamp": "2023-05-08T13:56:00"})))
    exported = ok(ember(home, "memory", "export"))
    assert '"role": "tool"' in exported

    fresh = tmp_path / "fresh"
    result = ember(fresh, "memory", "import", "-", input=exported)
    ok(result)
    assert "bad line" not in result.stderr
    again = ok(ember(fresh, "memory", "export"))
    assert sorted(again.splitlines()) == sorted(exported.splitlines())
    with open_store(fresh / "ember.db") as store:  # tool output is kept, not searched
        tool_id = store._read("SELECT id FROM messages WHERE role = 'tool'")[0][0]
        assert not store._read("SELECT 1 FROM search_fts WHERE rowid = ?", (tool_id,))


# --- 7. files -----------------------------------------------------------------------------------------

def test_export_to_a_missing_folder_is_a_usage_error(tmp_path):
    result = ember(tmp_path / "home", "memory", "export", "-o", str(tmp_path / "nowhere" / "x.md"))
    assert result.returncode == 2
    assert "nowhere" in result.stderr and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_import_of_non_utf8_lines_reports_them_and_keeps_the_rest(tmp_path):
    home = tmp_path / "home"
    data = (jsonl({"id": "u1", "content": "plain text here"}).encode()
            + '{"id": "u2", "content": "caf\u00e9"}\n'.encode("latin-1")
            + jsonl({"id": "u3", "content": "more text"}).encode())
    path = tmp_path / "latin.jsonl"
    path.write_bytes(data)
    result = ember(home, "memory", "import", str(path))
    ok(result)
    err = result.stderr
    assert f"{path}:2: not UTF-8" in err and "imported 2 message(s)" in err


def test_a_byte_order_mark_does_not_cost_the_first_line(tmp_path):
    home = tmp_path / "home"
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + jsonl({"id": "b1", "content": "first"}, {"id": "b2", "content": "second"}).encode())
    result = ember(home, "memory", "import", str(path))
    ok(result)
    assert "imported 2 message(s)" in result.stderr and "bad line" not in result.stderr


# --- 9. usage -----------------------------------------------------------------------------------------

def test_search_k_zero_is_a_usage_error(tmp_path):
    result = ember(tmp_path / "home", "memory", "search", "x", "-k", "0")
    assert result.returncode == 2 and "-k" in result.stderr
