"""Opening an Ember database: refuse anything that is not a healthy one, then migrate it.

``apply_migrations`` applies the migrations not yet recorded in ``schema_migrations``
(``migrations.MIGRATIONS``, in order) in one ``BEGIN IMMEDIATE`` transaction.

A corrupt, foreign or newer file is never recreated or overwritten: it may hold the only copy of
someone's history. Checks are read-only and run before WAL mode or a migration writes anything.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from ember.store.records import CorruptDatabaseError, ForeignDatabaseError, NewerSchemaError, StoreError
from ember.store.sqlite.migrations import APPLICATION_ID, MIGRATIONS, Migration


def applied_migrations(db: sqlite3.Connection) -> list[str]:
    """Names recorded in ``schema_migrations``, in the order applied; empty for a new database."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return []
    return [row[0] for row in db.execute("SELECT name FROM schema_migrations ORDER BY rowid")]


def unknown_migrations(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Applied names this code does not know: the database comes from a newer Ember."""
    known = {m.__name__ for m in migrations}
    return [name for name in applied_migrations(db) if name not in known]


def apply_migrations(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet recorded, in one transaction; return the names applied.

    ``db`` must be in autocommit mode (``isolation_level=None``). Raises ``ValueError`` if the
    database holds a migration this list does not know (checked again under the write lock, in
    case another process upgraded it meanwhile).
    """
    names = [m.__name__ for m in migrations]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate migration names in {names}")
    db.execute("BEGIN IMMEDIATE")
    try:
        unknown = unknown_migrations(db, migrations)
        if unknown:
            raise ValueError(f"database has migrations this Ember does not know: {unknown}")
        applied = set(applied_migrations(db))
        if not applied:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        done = []
        for migration in migrations:
            if migration.__name__ in applied:
                continue
            migration(db)
            db.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                (migration.__name__, time.time()),
            )
            done.append(migration.__name__)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return done


_SQLITE_MAGIC = b"SQLite format 3\x00"
_RESTORE = (
    "Ember will not open or overwrite it. Restore a backup, or move it away together with its -wal "
    "and -shm files (for example `mkdir {path.parent}/broken && mv {path}* {path.parent}/broken/`) "
    "and Ember will start a new, empty database. See docs/store.md for salvaging its contents."
)


def _refuse(cls: type[StoreError], path: Path, problem: str, advice: str = _RESTORE) -> StoreError:
    return cls(f"{path}: {problem}. " + advice.format(path=path))


def store_error(path: Path, error: sqlite3.Error) -> StoreError:
    """The ``StoreError`` to raise for a SQLite error, so callers never need to know about sqlite3."""
    name = getattr(error, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_CORRUPT") or name == "SQLITE_NOTADB":
        return _refuse(CorruptDatabaseError, path, f"the database is damaged ({error})")
    return StoreError(f"{path}: {error}")


def _check_file(path: Path) -> None:
    """Refuse a non-empty file without the SQLite header before SQLite gets to touch it."""
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a database file")
    if not path.exists() or path.stat().st_size == 0:
        return  # a new database
    with path.open("rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise _refuse(CorruptDatabaseError, path, "is not a SQLite database (its header is wrong)")


def _check_contents(db: sqlite3.Connection, path: Path) -> None:
    """Read-only checks, done before WAL mode or any migration writes to the file."""
    rows = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
    if rows != ["ok"]:
        lines = [line for row in rows for line in row.splitlines() if not line.startswith("***")]
        raise _refuse(CorruptDatabaseError, path, "fails SQLite's integrity check: " + "; ".join(lines[:3]))
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    if app_id != APPLICATION_ID:
        if app_id == 0 and not tables:
            return  # an empty SQLite file: ours to set up
        owner = f"application_id {app_id:#x}" if app_id else "tables " + ", ".join(sorted(tables)[:5])
        raise _refuse(
            ForeignDatabaseError, path, f"is a SQLite database of another program ({owner}), not Ember's",
            "Ember will not touch it. Move it elsewhere, or point EMBER_HOME at another directory.",
        )
    if "schema_migrations" not in tables:
        raise _refuse(CorruptDatabaseError, path, "is an Ember database without its schema_migrations table")
    unknown = unknown_migrations(db)
    if unknown:
        raise _refuse(
            NewerSchemaError, path, f"was upgraded by a newer Ember (unknown migrations: {', '.join(unknown)})",
            "Upgrade Ember to open it; this version will not modify it.",
        )


def open_database(path: Path, *, migrate: bool = True) -> sqlite3.Connection:
    """Open, check and migrate the database at ``path``: an autocommit connection in WAL mode.

    A missing or 0-byte file becomes a new database; with ``migrate`` False, pending migrations
    are left for ``apply_migrations``. Raises ``CorruptDatabaseError``,
    ``ForeignDatabaseError`` or ``NewerSchemaError`` with what to do, leaving the file untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _check_file(path)
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open the database: {e}") from e
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA foreign_keys = ON")
        _check_contents(db, path)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes; fsync at checkpoints
        try:
            if migrate:
                apply_migrations(db)
        except ValueError as e:  # another process upgraded it between our check and our lock
            raise _refuse(NewerSchemaError, path, str(e), "Upgrade Ember to open it.") from e
    except sqlite3.Error as e:
        db.close()
        raise store_error(path, e) from e
    except BaseException:
        db.close()
        raise
    return db
