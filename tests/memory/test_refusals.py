"""A database Ember cannot trust is refused at open, and never modified."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ember.models.base import Message
from ember.store.records import CorruptDatabaseError, ForeignDatabaseError, NewerSchemaError, StoreError
from ember.store.sqlite.migrations import APPLICATION_ID
from ember.store.sqlite.store import open_store


def _ember_db(path: Path, messages: int = 0) -> None:
    with open_store(path) as store:
        sid = store.create_session().id
        for i in range(messages):
            store.add_message(sid, Message("user", f"message {i} " + "x" * 1000))


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def text_file(path: Path) -> None:
    path.write_text("# my notes\n" * 500)


def tiny_file(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00")


def truncated(path: Path) -> None:
    _ember_db(path, messages=300)
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)


def damaged_pages(path: Path) -> None:
    _ember_db(path, messages=300)
    with path.open("r+b") as f:
        f.seek(4096 * 3)
        f.write(os.urandom(4096 * 4))


def other_application(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO users (name) VALUES ('alice')")
    sqlite3.connect(path).close()


def other_application_id(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA application_id = 1234567")
    db.close()


def ember_without_migrations(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.close()


def newer_ember(path: Path) -> None:
    _ember_db(path, messages=3)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("INSERT INTO schema_migrations VALUES ('create_time_machine', 0)")
    db.close()


CASES: list[tuple[Callable[[Path], None], type[StoreError], str]] = [
    (random_bytes, CorruptDatabaseError, "not a SQLite database"),
    (text_file, CorruptDatabaseError, "not a SQLite database"),
    (tiny_file, CorruptDatabaseError, "not a SQLite database"),
    (truncated, CorruptDatabaseError, "integrity check|damaged"),
    (damaged_pages, CorruptDatabaseError, "integrity check|damaged"),
    (other_application, ForeignDatabaseError, "another program.*users"),
    (other_application_id, ForeignDatabaseError, "another program.*application_id"),
    (ember_without_migrations, CorruptDatabaseError, "schema_migrations"),
    (newer_ember, NewerSchemaError, "newer Ember.*create_time_machine"),
]


@pytest.mark.parametrize(("make", "error", "problem"), CASES, ids=[c[0].__name__ for c in CASES])
def test_refused_with_a_clear_error_and_left_untouched(tmp_path, make, error, problem):
    path = tmp_path / "ember.db"
    make(path)
    before = path.read_bytes()
    for _ in range(2):  # refused again: nothing was "repaired" or recreated in between
        with pytest.raises(error, match=problem) as info:
            open_store(path)
        message = str(info.value)
        assert str(path) in message
        assert any(w in message for w in ("backup", "Move it", "Upgrade Ember"))
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists() or error is NewerSchemaError


def test_corrupt_error_suggests_moving_the_file_away(tmp_path):
    path = tmp_path / "ember.db"
    random_bytes(path)
    with pytest.raises(CorruptDatabaseError) as info:
        open_store(path)
    assert f"mv {path}* {tmp_path}/broken/" in str(info.value) and "backup" in str(info.value)


def test_a_directory_is_refused(tmp_path):
    path = tmp_path / "ember.db"
    path.mkdir()
    with pytest.raises(StoreError, match="directory"):
        open_store(path)
