"""One SQLite file, opened safely: the connection, its lock, and its transactions.

``Database`` is what every part of the SQLite backend builds on: ``_read`` runs one query,
``_write`` one committed ``BEGIN IMMEDIATE`` transaction, both under one lock so that a process's
threads share the connection, and both turn SQLite's errors into ``StoreError``. The file is
created private (0600), and checked and migrated on open (``opening.open_database``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from ember.store.records import StoreError, redact_value
from ember.store.sqlite.opening import applied_migrations, open_database, store_error

if TYPE_CHECKING:
    from ember.security.redact import Redactor


def _create_private(path: Path) -> bool:
    """Create a missing database file readable by its owner only (0600): it holds the user's
    conversations. True when this call created it; an existing file keeps the mode it has."""
    if str(path) == ":memory:" or path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: theirs
        return False
    os.close(fd)
    _make_private(path)  # the umask may have taken the owner's own bits away too
    return True


def _make_private(path: Path) -> None:
    try:
        os.chmod(path, 0o600)
    except OSError:  # gone already, or a filesystem without Unix modes
        pass


class Database:
    """A checked, migrated SQLite file; ``redactor`` masks secrets in every text the store keeps."""

    def __init__(self, path: Path | str, *, redactor: Redactor | None = None, home: Path | str | None = None,
                 migrate: bool = True):
        if redactor is None:
            from ember.security.redact import Redactor

            redactor = Redactor(placeholders=False)
        self.redactor = redactor
        self.path = Path(path)
        self._home = Path(home) if home is not None else self.path.parent
        self._lock = threading.RLock()
        created = _create_private(self.path)
        self._db: sqlite3.Connection | None = open_database(self.path, migrate=migrate)
        if created:  # SQLite gives -wal and -shm the mode of the database; make sure of it
            for suffix in ("-wal", "-shm"):
                _make_private(self.path.with_name(self.path.name + suffix))

    @property
    def home(self) -> Path:
        """The EMBER_HOME whose files (USER.md, skills) go with this database: the database file's
        folder unless told otherwise."""
        return self._home

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction; IMMEDIATE so waiting for another process honours busy_timeout."""
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise store_error(self.path, e) from e

    def _read(self, sql: str, params: tuple[Any, ...] = (), *, plain: bool = False) -> list[Any]:
        """The rows of one query: ``sqlite3.Row``s, or with ``plain`` tuples (cheaper, for bulk reads)."""
        with self._lock:
            try:
                cursor = self._conn().cursor()
                if plain:
                    cursor.row_factory = None
                return cursor.execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise store_error(self.path, e) from e

    def redact(self, text: str) -> str:
        """``text`` as the store would keep it: known secrets and real-looking keys masked."""
        return self.redactor.redact(text)

    def redact_value(self, value: Any) -> Any:
        """``value`` (JSON-like) with every string in it as the store would keep it."""
        return redact_value(value, self.redactor.redact)

    # health

    def integrity_problems(self) -> list[str]:
        """Everything ``ember doctor`` should report; empty when the database is healthy."""
        problems: list[str] = []
        with self._lock:
            db = self._conn()
            try:
                problems += [r[0] for r in db.execute("PRAGMA integrity_check") if r[0] != "ok"]
                problems += [f"{r[0]} row {r[1]} points to a missing {r[2]} row"
                             for r in db.execute("PRAGMA foreign_key_check")]
            except sqlite3.DatabaseError as e:
                problems.append(f"the SQLite integrity check failed: {e}")
            try:
                db.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
            except sqlite3.DatabaseError as e:
                if (getattr(e, "sqlite_errorname", "") or "").startswith("SQLITE_CORRUPT"):
                    problems.append("the message search index is out of step with the messages; rebuild it")
                else:
                    problems.append(f"the message search index could not be checked: {e}")
        return problems

    def rebuild_search_index(self) -> None:
        """Rebuild the FTS index from the messages (the repair for an inconsistent index)."""
        with self._write() as db:
            db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")

    def schema_version(self) -> list[str]:
        """The names of the applied migrations, oldest first."""
        with self._lock:
            try:
                return applied_migrations(self._conn())
            except sqlite3.Error as e:
                raise store_error(self.path, e) from e

    def describe(self) -> dict[str, str]:
        """The engine and its version, and the file."""
        return {"engine": f"SQLite {sqlite3.sqlite_version}", "file": str(self.path)}

    def pending_migrations(self) -> list[str]:
        """The migrations this Ember knows that the database has not had yet, in order."""
        from ember.store.sqlite.migrations import MIGRATIONS

        applied = set(self.schema_version())
        return [m.__name__ for m in MIGRATIONS if m.__name__ not in applied]

    def migrate(self) -> list[str]:
        """Apply the pending migrations (one transaction); the names applied."""
        from ember.store.sqlite.opening import apply_migrations

        with self._lock:
            try:
                return apply_migrations(self._conn())
            except sqlite3.Error as e:
                raise store_error(self.path, e) from e

    def close(self) -> None:
        """Close the connection; the last one out checkpoints the WAL into the main file."""
        with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                try:
                    db.close()
                except sqlite3.Error as e:
                    raise store_error(self.path, e) from e
