"""Every test gets a real SQLite file in its own tmp_path; nothing is mocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.memory.store import SQLiteStore, open_store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "ember.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteStore]:
    s = open_store(db_path)
    yield s
    s.close()
