"""What the PostgreSQL backend must do beyond the ports' shared behaviour: search scores equal to
SQLite's, databases that are not Ember's refused, text PostgreSQL cannot hold kept, a dropped
connection survived."""

from __future__ import annotations

import json

import psycopg
import pytest

from ember.memory.importer import ImportReport, import_messages, read_jsonl
from ember.memory.search import index
from ember.models.base import Message
from ember.store.backends import open_backend
from ember.store.records import ForeignDatabaseError, NewerSchemaError

TOPICS = ["the support group met yesterday and people shared stories about adoption",
          "I painted a sunrise over the lake last weekend", "the painting of the lake took hours",
          "running a marathon next spring is the plan", "my running shoes wore out in marathon training",
          "we baked sourdough bread with the kids", "the violin lesson moved to Tuesday",
          "a new pottery class starts in May", "the dentist appointment is at ten", "fixing the bike chain again"]


def chat() -> list[str]:
    lines = []
    for n in range(60):
        text = f"{TOPICS[n % len(TOPICS)]}, said for the {n}th time" + (" and the lake again" if n % 7 == 0 else "")
        lines.append(json.dumps({"id": f"D1:{n}", "session": f"S{n // 12}", "speaker": "Ann" if n % 2 else "Bob",
                                 "content": text, "timestamp": "2023-05-08T10:00:00"}))
    return lines


def test_bm25_of_message_and_neighbours_equals_sqlites(postgres_server, tmp_path):
    stores = [open_backend(tmp_path / "ember.db"), open_backend(postgres_server.url(postgres_server.new_database()))]
    try:
        for store in stores:
            report = ImportReport()
            import_messages(store, read_jsonl(chat(), report), report)
            index.refresh(store)
        for words in (["lake"], ["painting", "lake"], ["running", "marathon", "shoes"], ["adoption", "stories"],
                      ["violin"], ["nothing-like-this"]):
            sqlite, postgres = (s.index.lexical(words, (None, None), limit=100, weights=(1.0, 0.4)) for s in stores)
            assert sqlite.keys() == postgres.keys(), words
            for message_id, score in sqlite.items():
                assert postgres[message_id] == pytest.approx(score, rel=1e-9), words
            assert stores[0].index.match_count(words[0], 100) == stores[1].index.match_count(words[0], 100)
    finally:
        for store in stores:
            store.close()


def test_a_database_with_tables_of_ember_s_names_is_refused(postgres_server):
    url = postgres_server.url(postgres_server.empty_database())
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("CREATE TABLE sessions (id serial, name text)")  # another program's
    with pytest.raises(ForeignDatabaseError, match=r"holds tables Ember would create \(sessions\)"):
        open_backend(url)
    with psycopg.connect(url, autocommit=True) as other:
        assert other.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'messages'").fetchone()[0] == 0


def test_a_database_migrated_by_a_newer_ember_is_left_alone(postgres_server):
    url = postgres_server.url(postgres_server.new_database())
    with psycopg.connect(url, autocommit=True) as newer:
        newer.execute("INSERT INTO schema_migrations (name, applied_at) VALUES ('from_the_future', 0)")
    with pytest.raises(NewerSchemaError, match="from_the_future"):
        open_backend(url)


def test_text_postgresql_cannot_hold_is_kept_readable(store_backend, tmp_path):
    with store_backend.open(tmp_path) as store:
        session = store.create_session(title="nul\x00title").id
        store.add_message(session, Message("tool", "binary\x00output \udcff end", tool_call_id="c1", name="shell"))
        (kept,) = store.get_messages(session)
        assert kept.message.content.startswith("binary") and kept.message.content.endswith(" end")
        assert "\x00" not in kept.message.content or store_backend.name == "sqlite"


def test_a_connection_the_server_dropped_is_opened_again(postgres_server):
    url = postgres_server.url(postgres_server.new_database())
    with open_backend(url) as store:
        session = store.create_session(title="before").id
        pid = store._value("SELECT pg_backend_pid()")
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert store.get_session(session).title == "before"  # a read opens it again at once
        store.add_message(session, Message("user", "after"))
        assert [m.message.content for m in store.get_messages(session)] == ["after"]


def test_a_common_words_newest_matches_are_scored_alike(postgres_server, tmp_path):
    lines = [json.dumps({"id": f"D1:{n}", "session": f"S{n // 20}", "speaker": "Ann",
                         "content": f"the garden again, note {n}" + (" with a heron" if n % 50 == 0 else ""),
                         "timestamp": "2023-05-08T10:00:00"}) for n in range(200)]
    stores = [open_backend(tmp_path / "ember.db"), open_backend(postgres_server.url(postgres_server.new_database()))]
    try:
        for store in stores:
            report = ImportReport()
            import_messages(store, read_jsonl(lines, report), report)
            index.refresh(store)
        every = [s.index.lexical(["garden"], (None, None), limit=500, weights=(1.0, 0.4)) for s in stores]
        assert len(every[0]) == len(every[1]) == 200
        newest = sorted(every[0])[-20:]
        sqlite, postgres = (s.index.lexical(["garden"], (None, None), limit=500, weights=(1.0, 0.4), newest=20)
                            for s in stores)
        assert sorted(sqlite) == sorted(postgres) == newest
        for message_id, score in sqlite.items():
            assert postgres[message_id] == pytest.approx(score, rel=1e-9)
        assert stores[1].index.lexical(["heron"], (None, None), limit=500, weights=(1.0, 0.4), newest=20).keys() \
            == stores[0].index.lexical(["heron"], (None, None), limit=500, weights=(1.0, 0.4)).keys()
    finally:
        for store in stores:
            store.close()
