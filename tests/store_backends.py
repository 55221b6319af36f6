"""The store backends the behavioural tests run against: one more name here per backend.

A test asks for the ``store`` fixture (tests/memory, tests/learning) or for ``store_backend`` and
gets one run per backend, each with a fresh, empty store. Tests that look inside SQLite itself
(its tables, files, pragmas) are marked ``@pytest.mark.sqlite_only`` and run once, on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ember.store.backends import open_backend

if TYPE_CHECKING:
    from ember.security.redact import Redactor
    from ember.store.ports import Store

STORE_BACKENDS = ["sqlite"]


@dataclass
class StoreBackend:
    name: str

    def location(self, home: Path) -> str:
        """Where this backend keeps the store of ``home`` (for SQLite, ``home/ember.db``)."""
        if self.name == "sqlite":
            return str(home / "ember.db")
        raise ValueError(f"no test location for the store backend {self.name!r}")

    def open(self, home: Path, *, redactor: Redactor | None = None) -> Store:
        """The store of ``home``: new and empty the first time, the same one when opened again."""
        return open_backend(self.location(home), redactor=redactor)

    def stored_bytes(self, home: Path) -> bytes:
        """Everything the backend wrote for ``home``, as bytes (SQLite: the database file, its WAL
        and shared memory), for tests that look for what must never be stored."""
        if self.name == "sqlite":
            path = Path(self.location(home))
            return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
        raise ValueError(f"no raw view of the store backend {self.name!r}")
