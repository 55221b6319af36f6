"""One PostgreSQL database, opened safely: the connection, its lock, its transactions.

``Database`` is what every part of the PostgreSQL backend builds on, as ``sqlite/database.py``
is for SQLite: ``_read`` runs one query, ``_write`` one committed transaction, both under one
lock so that a process's threads share the connection, and both turn psycopg's errors into
``StoreError`` with the password taken out of anything they say. A connection the server dropped
(a restart, a failover) is opened again on the next call.

Unlike SQLite, several processes write at once here (gateway workers on several machines), so
what SQLite got from having one writer at a time is asked for explicitly: row locks
(``SELECT ... FOR UPDATE``) where a method reads then writes, ``SKIP LOCKED`` where workers take
work, and transaction-scoped advisory locks (``LOCKS``) where ids must become visible in the
order they were handed out (messages, vectors: readers follow them by "everything after id N").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from ember.store.postgres.opening import Location, connect, open_database, pgvector, store_error
from ember.store.records import StoreError, redact_value

if TYPE_CHECKING:
    import psycopg

    from ember.security.redact import Redactor

log = logging.getLogger(__name__)

LOCKS = {"messages": 0x456D_0001, "vectors": 0x456D_0002, "search": 0x456D_0003, "migrate": 0x456D_0000}
"""Advisory lock keys (``pg_advisory_xact_lock``): message ids, the vector index, the text index
statistics, migrations."""


class Database:
    """A checked, migrated PostgreSQL database; ``redactor`` masks secrets in every text kept."""

    def __init__(self, location: str, *, redactor: Redactor | None = None, home: Path | str | None = None,
                 migrate: bool = True):
        if redactor is None:
            from ember.security.redact import Redactor

            redactor = Redactor(placeholders=False)
        self.redactor = redactor
        self.location = Location(location)
        if home is None:
            from ember.config.home import ember_home

            home = ember_home()
        self._home = Path(home)
        self._lock = threading.RLock()
        self._db: psycopg.Connection[Any] | None = open_database(self.location, migrate=migrate)
        self._closed = False
        self.pgvector = pgvector(self._db)  # vectors stay bytea either way (docs/postgres.md)
        log.debug("%s: pgvector %s", self.location.shown, self.pgvector)

    @property
    def home(self) -> Path:
        """The EMBER_HOME whose files (USER.md, skills) go with this database."""
        return self._home

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location.shown}>"

    def _conn(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise StoreError(f"{self.location.shown}: the store is closed")
        if self._db is None or self._db.closed or self._db.broken:
            if self._db is not None:
                try:
                    self._db.close()
                except Exception:
                    pass
            self._db = connect(self.location)
        return self._db

    @contextmanager
    def _write(self, *locks: str) -> Iterator[Any]:
        """One committed transaction, holding the advisory ``locks`` (names of ``LOCKS``) until it ends."""
        import psycopg

        with self._lock:
            db = self._conn()
            try:
                with db.transaction():
                    for name in locks:
                        db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCKS[name],))
                    yield db
            except psycopg.Error as e:
                raise store_error(self.location, e) from e

    @contextmanager
    def _snapshot(self) -> Iterator[Any]:
        """A read-only transaction whose queries all see one snapshot (REPEATABLE READ)."""
        import psycopg

        with self._lock:
            db = self._conn()
            try:
                with db.transaction():
                    db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    yield db
            except psycopg.Error as e:
                raise store_error(self.location, e) from e

    def _read(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = (), *, plain: bool = False) -> list[Any]:
        """The rows of one query: dicts by column name, or with ``plain`` tuples (for bulk reads).
        A connection the server dropped is opened again once."""
        import psycopg
        from psycopg.rows import tuple_row

        with self._lock:
            for attempt in (1, 2):
                db = self._conn()
                try:
                    if plain:
                        with db.cursor(row_factory=tuple_row) as cursor:
                            return cursor.execute(sql, params).fetchall()
                    return db.execute(sql, params).fetchall()
                except psycopg.OperationalError as e:
                    if attempt == 1 and (db.broken or db.closed):
                        continue
                    raise store_error(self.location, e) from e
                except psycopg.Error as e:
                    raise store_error(self.location, e) from e
        raise AssertionError("unreachable")

    def _value(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        """The first column of the first row of one query (None without rows)."""
        rows = self._read(sql, params, plain=True)
        return rows[0][0] if rows else None

    def redact(self, text: str) -> str:
        """``text`` as the store would keep it: known secrets and real-looking keys masked."""
        return self.redactor.redact(text)

    def redact_value(self, value: Any) -> Any:
        """``value`` (JSON-like) with every string in it as the store would keep it."""
        return redact_value(value, self.redactor.redact)

    # health

    def integrity_problems(self) -> list[str]:
        """Everything ``ember doctor`` should report: rows of the text index without their message,
        and statistics of the index out of step with it. Empty when healthy."""
        problems: list[str] = []
        stats = self._read("SELECT docs, tokens FROM search_stats")
        actual = self._read("SELECT count(*) AS docs, coalesce(sum(body_len + context_len), 0) AS tokens"
                            " FROM search_docs")
        if not stats or (stats[0]["docs"], stats[0]["tokens"]) != (actual[0]["docs"], actual[0]["tokens"]):
            problems.append("the memory search index's statistics are out of step with it; rebuild it "
                            "(ember memory index --rebuild)")
        return problems

    def rebuild_search_index(self) -> None:
        """Rebuild the full-text indexes (GIN) of messages, episodes and lessons."""
        with self._write() as db:
            for index in ("messages_fts", "episodes_fts", "lessons_fts"):
                db.execute(f"REINDEX INDEX {index}")

    def schema_version(self) -> list[str]:
        """The names of the applied migrations, oldest first."""
        from ember.store.postgres.opening import applied_migrations

        with self._lock:
            try:
                return applied_migrations(self._conn())
            except Exception as e:
                import psycopg

                if isinstance(e, psycopg.Error):
                    raise store_error(self.location, e) from e
                raise

    def describe(self) -> dict[str, str]:
        """The server's version, and whether pgvector is installed here, available, or absent."""
        version = self._value("SHOW server_version")
        return {"engine": f"PostgreSQL {str(version).split()[0]}", "pgvector": self.pgvector}

    def pending_migrations(self) -> list[str]:
        """The migrations this Ember knows that the database has not had yet, in order."""
        from ember.store.postgres.migrations import MIGRATIONS

        applied = set(self.schema_version())
        return [m.__name__ for m in MIGRATIONS if m.__name__ not in applied]

    def migrate(self) -> list[str]:
        """Apply the pending migrations (one transaction, one worker at a time); the names applied."""
        import psycopg

        from ember.store.postgres.opening import apply_migrations

        with self._lock:
            try:
                return apply_migrations(self._conn(), self.location)
            except psycopg.Error as e:
                raise store_error(self.location, e) from e

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._db is not None:
                db, self._db = self._db, None
                try:
                    db.close()
                except Exception:
                    pass
