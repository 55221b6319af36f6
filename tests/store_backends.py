"""The store backends the behavioural tests run against: one more name here per backend.

A test asks for the ``store`` fixture (tests/memory, tests/learning, tests/store) or for
``store_backend`` and gets one run per backend, each with a fresh, empty store. Tests that look
inside SQLite itself (its tables, files, pragmas) are marked ``@pytest.mark.sqlite_only`` and run
once, on SQLite.

PostgreSQL runs against a real server the tests start themselves (``tests/postgres_server.py``);
where its programs or psycopg are missing, its runs are skipped and say why. Each home a test
uses is a database of its own, copied from a migrated template and dropped after the test, and
EMBER_DATABASE_URL names the database of the test's EMBER_HOME, so a runtime or an ``ember``
command the test starts uses the same store as the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ember.store.backends import open_backend

if TYPE_CHECKING:
    from ember.security.redact import Redactor
    from ember.store.ports import Store
    from tests.postgres_server import PostgresServer

STORE_BACKENDS = ["sqlite", "postgresql"]


@dataclass
class StoreBackend:
    name: str
    server: PostgresServer | None = None
    databases: dict[str, str] = field(default_factory=dict)  # home -> database (PostgreSQL)

    def location(self, home: Path) -> str:
        """Where this backend keeps the store of ``home`` (SQLite: ``home/ember.db``; PostgreSQL: a
        database of its own on the test server)."""
        if self.name == "sqlite":
            return str(home / "ember.db")
        if self.name == "postgresql" and self.server is not None:
            key = str(home)
            if key not in self.databases:
                self.databases[key] = self.server.database_for(home)
            return self.server.url(self.databases[key])
        raise ValueError(f"no test location for the store backend {self.name!r}")

    def open(self, home: Path, *, redactor: Redactor | None = None) -> Store:
        """The store of ``home``: new and empty the first time, the same one when opened again."""
        return open_backend(self.location(home), redactor=redactor, home=home)

    def stored_bytes(self, home: Path) -> bytes:
        """Everything the backend wrote for ``home``, as bytes (SQLite: the database file, its WAL
        and shared memory; PostgreSQL: every value of every table), for tests that look for what
        must never be stored."""
        if self.name == "sqlite":
            path = Path(self.location(home))
            return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
        if self.name == "postgresql" and self.server is not None:
            self.location(home)
            return self.server.dump(self.databases[str(home)])
        raise ValueError(f"no raw view of the store backend {self.name!r}")

    def cleanup(self) -> None:
        """Drop the databases the test made."""
        if self.server is not None:
            for name in self.databases.values():
                self.server.drop(name)
        self.databases.clear()
