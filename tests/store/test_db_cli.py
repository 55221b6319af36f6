"""``ember db migrate`` and ``ember db copy``: a real SQLite home moved to a real PostgreSQL server
and back, every row kept with its id, nothing added the second time, search working after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ember.cli.main import cli
from ember.gateway.ledger import Ledger, OutboxPart
from ember.memory.episodes import Episode, Step
from ember.memory.importer import ImportReport, import_messages, read_jsonl
from ember.memory.search import index
from ember.models.base import Message, ToolCall, Usage
from ember.scheduler.jobs import JobBook
from ember.scheduler.schedule import parse
from ember.store.backends import open_backend
from ember.store.transfer import DERIVED_META, TABLES

EMBER = str(Path(sys.executable).parent / "ember")
KEY = "sk_live_8dKLzdocJ2isAjIhKtJ0RlgL"
NOW = 1_800_000_000.0


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner: CliRunner, *args: str, url: str | None = None) -> str:
    env = {"EMBER_DATABASE_URL": url} if url else {"EMBER_DATABASE_URL": ""}
    result = runner.invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def every_row(store) -> dict[str, list[tuple]]:
    rows = {}
    for table in TABLES:
        found, after = [], None
        while batch := store.tables.read(table, after, 500):
            found += batch
            after = tuple(batch[-1][table.columns.index(k)] for k in table.key)
        if table.name == "meta":
            found = [r for r in found if r[0] not in DERIVED_META]
        rows[table.name] = found
    return rows


def fill(store) -> None:
    """Something in every table a home keeps."""
    session = store.create_session(source="telegram", title="Garden plans", person="ann").id
    store.add_message(session, Message("user", f"plant the tomatoes in May, key {KEY}"))
    store.add_message(session, Message("assistant", "", tool_calls=[ToolCall("c1", "shell", {"cmd": "ls"})]),
                      model="m", usage=Usage(10, 5))
    store.add_message(session, Message("tool", "garden.txt", tool_call_id="c1", name="shell"))
    last = store.add_message(session, Message("assistant", "Tomatoes go in after the last frost."))
    store.add_summary(session, "planning the garden", last)
    store.record_usage(session, model="m", usage=Usage(10, 5), cost=0.01)
    store.add_allowed_command("git status")
    store.set_meta("telegram:offset", "42")
    report = ImportReport()
    lines = [json.dumps({"id": f"D1:{n}", "session": "Old chat", "speaker": "Bob" if n % 2 else "Ann",
                         "content": f"line {n}: the violin lesson is on Tuesday", "timestamp": "2023-05-08T10:00:00"})
             for n in range(1, 30)]
    import_messages(store, read_jsonl(lines, report), report)
    index.refresh(store)
    episode = store.episodes.add(Episode("plan the garden", session, "tomatoes in May",
                                         [Step("shell", {"cmd": "ls"}, True, "garden.txt")], created_at=NOW))
    lesson = store.lessons.add("When planting tomatoes, wait for the last frost.", "tomatoes frost",
                               kind="correction", episode_id=episode, person="ann")
    store.lessons.record_outcome([lesson], True, window=5, retire=lambda recent: None)
    store.skill_stats.ensure("gardening", "learned")
    store.skill_stats.record_outcome("gardening", True, window=5)
    store.learning.log("lesson", "tomatoes", "learned", episode, undo='{"lesson": 1}')
    store.vectors.use_model("test-model")
    ids = [m.id for m in store.index.messages_after(0, index.SEARCHABLE_ROLES)][:5]
    claimed = store.vectors.claim("me", 0, 5, now=NOW, stale=lambda owner, oldest: False)
    assert claimed == ids
    store.vectors.save("test-model", "me", ids, [(i, 0, bytes([i % 256]) * 8) for i in ids],
                       [("violin", b"\x01" * 8), ("tomato", b"\x02" * 8)])
    ledger = Ledger(store)
    from ember.gateway.channel import Inbound

    inbox = ledger.record(Inbound("telegram", "c1", "u1", "e1", text="hello", user_name="Ann"))
    ledger.finish(inbox, "telegram", "c1", None, [OutboxPart("hi there")])
    ledger.set_session("telegram", "c1", None, session, "ann")
    ledger.allow_sender("telegram", "u1", "ann", "pairing")
    ledger.new_pairing_code()
    book = JobBook(store)
    job = book.add(parse("every day at 9:00 UTC", NOW), "water the garden", "telegram:c1", now=NOW, name="water")
    run = book.claim(job, NOW, 1, NOW)
    book.finish(run.id, "ran", session_id=session, input_tokens=1, output_tokens=2, cost=0.1, outbox_ids=[1], now=NOW)


def test_migrate_applies_what_is_pending_once(runner, store_backend, request):
    url = None
    if store_backend.name == "postgresql":
        server = request.getfixturevalue("postgres_server")
        url = server.url(server.empty_database())
    status = json.loads(invoke(runner, "db", "status", "--json", url=url))
    assert status["applied"] == 0 and status["pending"] and status["backend"] == store_backend.name
    applied = json.loads(invoke(runner, "db", "migrate", "--json", url=url))
    assert applied["applied"] == status["pending"] and applied["migrations"] == len(status["pending"])
    again = invoke(runner, "db", "migrate", url=url)
    assert again.startswith("nothing to apply") and f"all {len(status['pending'])} migration(s)" in again
    assert json.loads(invoke(runner, "db", "--json", url=url))["pending"] == []


def test_copy_moves_everything_keeps_ids_adds_nothing_twice_and_search_works(runner, ember_home, postgres_server,
                                                                              tmp_path):
    with open_backend(ember_home / "ember.db", home=ember_home) as home_store:
        fill(home_store)
        source_rows = every_row(home_store)
    assert all(source_rows[t] for t in ("messages", "lessons", "cron_runs", "search_vectors", "gateway_outbox"))
    url = postgres_server.url(postgres_server.empty_database())

    first = json.loads(invoke(runner, "db", "copy", "--to", url, "--json"))
    assert first["from"] == str(ember_home / "ember.db") and first["indexed"] == 31
    for name, rows in source_rows.items():
        assert first["tables"][name] == {"source": len(rows), "added": len(rows), "already_there": 0}, name
    with open_backend(url, home=ember_home) as copied:
        assert every_row(copied) == source_rows  # every row, every column, every id
        lesson = copied.lessons.all()[0]
        assert copied.episodes.get(lesson.episode_id).task == "plan the garden"
        found = copied.search_messages("violin Tuesday", limit=50)
        assert len(found) == 29 and all("violin" in h.message.message.content for h in found)

    second = json.loads(invoke(runner, "db", "copy", "--to", url, "--json"))
    assert all(t["added"] == 0 for t in second["tables"].values()) and second["indexed"] == 0
    assert sum(t["already_there"] for t in second["tables"].values()) == sum(map(len, source_rows.values()))
    with open_backend(url, home=ember_home) as copied:
        session = copied.list_sessions(source="telegram")[0].id
        newest = max(r[0] for r in source_rows["messages"])
        assert copied.add_message(session, Message("user", "and the beans?")) > newest  # ids go on after the copy

    found = json.loads(invoke(runner, "memory", "search", "violin lesson", "--json", "-k", "3", url=url).splitlines()[0])
    assert [hit["id"][:3] for hit in found["hits"]] == ["D1:"] * 3

    back = tmp_path / "back" / "ember.db"  # and back again, into a new SQLite file
    words = invoke(runner, "db", "copy", "--from", url, "--to", f"sqlite://{back}")
    assert "row(s) added" in words
    with open_backend(back) as returned, open_backend(url, home=ember_home) as copied:
        assert every_row(returned) == every_row(copied)


def test_copy_refuses_to_copy_a_store_onto_itself(runner, ember_home):
    result = runner.invoke(cli, ["db", "copy", "--to", f"sqlite://{ember_home / 'ember.db'}"],
                           env={"EMBER_DATABASE_URL": ""})
    assert result.exit_code == 2 and "the same store" in result.output


def test_every_command_uses_the_configured_store(runner, ember_home, postgres_server, tmp_path):
    url = postgres_server.url(postgres_server.new_database())
    lines = tmp_path / "chat.jsonl"
    lines.write_text(json.dumps({"id": "X:1", "session": "Trip", "content": "the ferry leaves at noon"}) + "\n")
    invoke(runner, "memory", "import", str(lines), url=url)
    assert not (ember_home / "ember.db").exists()  # nothing went to SQLite
    with open_backend(url) as store:
        assert store.archive.counts().messages == 1
    listed = json.loads(invoke(runner, "sessions", "list", "--json", url=url))
    assert [s["title"] for s in listed] == ["Trip"]

    (ember_home / "config.toml").write_text(f'[store]\nurl = "{url}"\n')  # the same, from config.toml
    listed = json.loads(invoke(runner, "sessions", "list", "--json"))
    assert [s["title"] for s in listed] == ["Trip"]
    other = postgres_server.url(postgres_server.new_database())
    assert json.loads(invoke(runner, "sessions", "list", "--json", url=other)) == []  # the variable wins
    status = json.loads(invoke(runner, "db", "status", "--json"))
    assert status["set_by"] == "[store] url in config.toml" and status["messages"] == 1


def ember(*args: str, url: str) -> subprocess.CompletedProcess:
    """The real ``ember`` (its errors as a person sees them), with EMBER_DATABASE_URL."""
    env = {**os.environ, "EMBER_DATABASE_URL": url, "NO_COLOR": "1"}
    return subprocess.run([EMBER, *args], env=env, capture_output=True, text=True, timeout=60)


def test_a_password_in_the_url_is_never_shown_nor_stored(runner, ember_home, postgres_server, tmp_path):
    password = "Tr0ub4dor-and-3"
    closed = f"postgresql://ember:{password}@127.0.0.1:1/ember"
    for args in (["sessions", "list"], ["db", "migrate"], ["db", "copy"]):
        result = ember(*args, url=closed)
        assert result.returncode == 3, (args, result.stderr)
        assert "cannot connect to PostgreSQL at postgresql://ember:***@127.0.0.1:1/ember" in result.stderr
        assert password not in result.stdout + result.stderr
    doctor = ember("doctor", "--offline", "--json", url=closed)
    assert "postgresql://ember:***@127.0.0.1:1/ember" in doctor.stdout and password not in doctor.stdout + doctor.stderr
    shown = ember("config", "show", "--json", url=closed)
    assert json.loads(shown.stdout)["store"] == "postgresql://ember:***@127.0.0.1:1/ember"

    url = postgres_server.url(postgres_server.new_database(), password=password)  # the server trusts loopback
    lines = tmp_path / "chat.jsonl"
    lines.write_text(json.dumps({"content": f"the database password is {password}"}) + "\n")
    invoke(runner, "memory", "import", str(lines), url=url)
    ran = runner.invoke(cli, ["db", "status"], env={"EMBER_DATABASE_URL": url})
    assert ran.exit_code == 0 and password not in ran.output and "ember:***@" in ran.output
    name = url.rsplit("/", 1)[1]
    assert password.encode() not in postgres_server.dump(name)  # import masks the configured secrets


def test_without_psycopg_the_error_says_what_to_install(monkeypatch, ember_home):
    from ember.store.records import StoreError

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(StoreError, match=r"pip install 'ember-agent\[postgres\]'"):
        open_backend("postgresql://x@127.0.0.1/y")


def test_timestamps_and_times_survive_the_copy(ember_home, postgres_server):
    started = time.time()
    with open_backend(ember_home / "ember.db") as home_store:
        session = home_store.create_session(title="t")
    url = postgres_server.url(postgres_server.empty_database())
    CliRunner().invoke(cli, ["db", "copy", "--to", url], env={"EMBER_DATABASE_URL": ""})
    with open_backend(url, home=ember_home) as copied:
        again = copied.get_session(session.id)
    assert again.created_at == session.created_at >= started
