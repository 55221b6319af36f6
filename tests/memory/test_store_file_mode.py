"""ember.db holds the user's conversations: a new one is readable by its owner only."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from ember.models.base import Message
from ember.store.sqlite.store import SQLiteStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix file modes")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)  # the usual umask, under which files come out 0644
    yield
    os.umask(old)


def test_a_new_database_and_its_wal_and_shm_are_0600(tmp_path, umask_022):
    path = tmp_path / "home" / "ember.db"
    with SQLiteStore(path) as store:
        session = store.create_session(source="cli").id
        store.add_message(session, Message(role="user", content="my private question"))
        for suffix in ("", "-wal", "-shm"):
            file = path.with_name(path.name + suffix)
            assert file.exists() and mode(file) == 0o600, (suffix, oct(mode(file)))
    assert mode(path) == 0o600
    with SQLiteStore(path) as store:  # reopened: still private, still readable
        assert store.get_messages(session)[0].message.content == "my private question"
        assert mode(path.with_name("ember.db-wal")) == 0o600


def test_a_umask_that_takes_the_owners_bits_still_gives_0600(tmp_path):
    old = os.umask(0o277)
    try:
        SQLiteStore(tmp_path / "ember.db").close()
    finally:
        os.umask(old)
    assert mode(tmp_path / "ember.db") == 0o600


def test_an_existing_database_keeps_its_mode(tmp_path, umask_022):
    path = tmp_path / "ember.db"
    SQLiteStore(path).close()
    os.chmod(path, 0o640)  # the user chose this
    with SQLiteStore(path) as store:
        store.create_session(source="cli")
    assert mode(path) == 0o640
