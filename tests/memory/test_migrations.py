from __future__ import annotations

import sqlite3

import pytest

from ember.store.records import NewerSchemaError
from ember.store.sqlite.migrations import APPLICATION_ID, MIGRATIONS, gateway_workers
from ember.store.sqlite.opening import applied_migrations, apply_migrations, unknown_migrations
from ember.store.sqlite.store import open_store


def _raw(path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_migrates_from_missing_file(db_path):
    assert not db_path.exists()
    with open_store(db_path) as store:
        assert store.schema_version() == [m.__name__ for m in MIGRATIONS]
        db = store._conn()
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"sessions", "messages", "messages_fts", "summaries", "usage", "allowed_commands", "meta",
                "schema_migrations"} <= tables
        rows = db.execute("SELECT name, applied_at FROM schema_migrations").fetchall()
        assert all(isinstance(applied_at, float) for _, applied_at in rows)


def test_zero_byte_and_empty_sqlite_files_are_new_databases(tmp_path):
    zero = tmp_path / "zero.db"
    zero.write_bytes(b"")
    empty = tmp_path / "empty.db"
    with _raw(empty) as db:
        db.execute("PRAGMA user_version = 0")
        db.execute("VACUUM")  # writes a valid 1-page database with no tables
    for path in (zero, empty):
        with open_store(path) as store:
            assert store.schema_version() == [m.__name__ for m in MIGRATIONS]


def test_reopening_applies_nothing_twice(db_path):
    open_store(db_path).close()
    open_store(db_path).close()
    with _raw(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
        assert apply_migrations(db) == []


def test_appending_a_migration_applies_only_the_new_one(db_path):
    with open_store(db_path) as store:
        sid = store.create_session().id

    def add_lessons(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE example_notes (id INTEGER PRIMARY KEY, rule TEXT NOT NULL)")

    newer = [*MIGRATIONS, add_lessons]
    with _raw(db_path) as db:
        assert apply_migrations(db, newer) == ["add_lessons"]
        assert apply_migrations(db, newer) == []
        assert applied_migrations(db)[-1] == "add_lessons"
        assert unknown_migrations(db) == ["add_lessons"]
        assert db.execute("SELECT id FROM sessions").fetchone()[0] == sid  # data kept
    # This (older) code now refuses the database rather than guessing.
    with pytest.raises(NewerSchemaError, match="add_lessons"):
        open_store(db_path)


def test_a_failing_migration_leaves_the_schema_as_it_was(db_path):
    open_store(db_path).close()

    def half_done(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half (x)")
        raise RuntimeError("boom")

    with _raw(db_path) as db:
        with pytest.raises(RuntimeError):
            apply_migrations(db, [*MIGRATIONS, half_done])
        assert not db.in_transaction
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
        assert "half_done" not in applied_migrations(db)


def test_duplicate_migration_names_are_rejected(tmp_path):
    with _raw(tmp_path / "x.db") as db, pytest.raises(ValueError, match="duplicate"):
        apply_migrations(db, [*MIGRATIONS, MIGRATIONS[0]])


def test_the_single_gateway_heartbeat_gives_way_to_one_per_worker(db_path):
    previous = MIGRATIONS[:MIGRATIONS.index(gateway_workers)]
    db_path.parent.mkdir(parents=True)
    with _raw(db_path) as db:
        apply_migrations(db, previous)
        db.execute("INSERT INTO meta (key, value) VALUES ('gateway:status', '{\"pid\": 4242}'), ('telegram:offset', '7')")
    with open_store(db_path) as store:
        assert store.get_meta("gateway:status") is None and store.get_meta("telegram:offset") == "7"
        assert store.gateway.workers(0) == []
