"""Every test gets a fresh store in its own tmp_path, once per backend (a real SQLite file for
SQLite); nothing is mocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.store.ports import Store
from tests.store_backends import StoreBackend


@pytest.fixture
def store_home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def db_path(store_home: Path) -> Path:
    """The SQLite backend's file (tests marked ``sqlite_only`` look at it)."""
    return store_home / "ember.db"


@pytest.fixture
def store(store_backend: StoreBackend, store_home: Path) -> Iterator[Store]:
    s = store_backend.open(store_home)
    yield s
    s.close()
