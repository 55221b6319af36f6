"""The ports' behaviour, once per store backend (tests/store_backends.py); nothing is mocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.store.ports import Store
from tests.store_backends import StoreBackend


@pytest.fixture
def store(store_backend: StoreBackend, tmp_path: Path) -> Iterator[Store]:
    s = store_backend.open(tmp_path / "home")
    yield s
    s.close()
