"""Opening an Ember database on PostgreSQL: connect, refuse a database that is not Ember's, migrate.

``connect`` is the one place psycopg is imported for a connection; without it, or without a
server at the URL, the error says what to do. Every message shows the URL with its password
masked (``Location.shown``), and psycopg's own messages have it taken out too.

``apply_migrations`` applies the migrations not yet recorded in ``schema_migrations`` in one
transaction under an advisory lock, so several workers starting at once apply them once; a
database holding a migration this Ember does not know came from a newer Ember and is left alone.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ember.store.locations import location_secrets, shown_location
from ember.store.postgres.migrations import MIGRATIONS, TABLES, Migration
from ember.store.records import ForeignDatabaseError, NewerSchemaError, StoreError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import psycopg

INSTALL = "pip install 'ember-agent[postgres]'"
MIGRATE_LOCK = 0x456D_0000  # LOCKS["migrate"] of database.py


class Location:
    """A PostgreSQL URL, as given (``postgresql://user:password@host:port/db?sslmode=...``), and as
    shown to people (password masked)."""

    def __init__(self, location: str):
        text = str(location)
        if "://" not in text:  # the part after the scheme, as open_backend passes it
            text = "postgresql://" + text
        scheme, _, rest = text.partition("://")
        self.url = ("postgresql" if scheme.lower() in ("postgres", "postgresql") else scheme) + "://" + rest
        self.shown = shown_location(self.url)
        self.secrets = location_secrets(self.url)

    def mask(self, text: str) -> str:
        """``text`` with the URL's password taken out."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError(f"the store is PostgreSQL, but its driver (psycopg) is not installed: {INSTALL}") from None
    return psycopg


def _register_text_dumpers(conn: psycopg.Connection[Any]) -> None:
    """Text as PostgreSQL can keep it: a NUL (which SQLite keeps and PostgreSQL refuses) and lone
    surrogates (undecodable tool output) become U+FFFD, rather than failing the write."""
    from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

    def clean(text: str) -> str:
        if "\x00" in text:
            text = text.replace("\x00", "\ufffd")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return text

    class CleanBinary(StrBinaryDumper):
        def dump(self, obj: str) -> Any:
            return super().dump(clean(obj))

    class CleanText(StrDumperUnknown):
        def dump(self, obj: str) -> Any:
            return super().dump(clean(obj))

    conn.adapters.register_dumper(str, CleanBinary)
    conn.adapters.register_dumper(str, CleanText)  # last: the one used for %s


def store_error(location: Location, error: Exception) -> StoreError:
    """The ``StoreError`` to raise for a psycopg error: what the server said, password masked."""
    message = location.mask(str(error).strip() or type(error).__name__)
    if "permission denied for schema" in message:
        message += (" (Ember creates its tables in the database's first schema: make the URL's user the"
                    " database's owner, or grant it CREATE on the schema)")
    return StoreError(f"{location.shown}: {message}")


def connect(location: Location) -> psycopg.Connection[Any]:
    """An autocommit connection with dict rows; ``StoreError`` saying what to do when it fails."""
    psycopg = _import_psycopg()
    from psycopg.rows import dict_row

    try:
        # prepare_threshold=None: every statement is planned with its values. Search's plans
        # hang on them (a word in most messages wants another plan than a rare one), and a
        # prepared statement's generic plan would fit neither; it also keeps Ember usable
        # behind a transaction-pooling PgBouncer.
        conn = psycopg.connect(location.url, autocommit=True, row_factory=dict_row, connect_timeout=10,
                               application_name="ember", prepare_threshold=None)
    except psycopg.Error as e:
        reason = location.mask(str(e).strip()).rstrip(".")
        if "does not exist" in reason and "database" in reason:
            advice = "Create it first (createdb, or CREATE DATABASE ... OWNER ...), then run the command again"
        elif "authentication failed" in reason or "password" in reason:
            advice = "Check the user and password in the URL (EMBER_DATABASE_URL, or [store] url in config.toml)"
        else:
            advice = ("Check that the server is running and reachable, and the URL (EMBER_DATABASE_URL, or "
                      "[store] url in config.toml)")
        raise StoreError(f"cannot connect to PostgreSQL at {location.shown}: {reason}. {advice}") from None
    _register_text_dumpers(conn)
    try:  # Ember's queries are short: compiling one (JIT) would cost more than running it
        conn.execute("SET jit = off")
    except psycopg.Error:
        pass
    return conn


def applied_migrations(db: psycopg.Connection[Any]) -> list[str]:
    """Names recorded in ``schema_migrations``, in the order applied; empty for a new database."""
    found = db.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS present").fetchone()
    if not found or not found["present"]:
        return []
    return [row["name"] for row in db.execute("SELECT name FROM schema_migrations ORDER BY seq")]


def _ember_tables(db: psycopg.Connection[Any]) -> list[str]:
    rows = db.execute("SELECT name FROM unnest(%s::text[]) AS t(name) WHERE to_regclass(name) IS NOT NULL",
                      (list(TABLES),)).fetchall()
    return [r["name"] for r in rows]


def check(db: psycopg.Connection[Any], location: Location, migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Refuse a database that holds tables of Ember's names without Ember's record of its schema,
    or one migrated by a newer Ember."""
    applied = applied_migrations(db)
    if not applied:
        taken = _ember_tables(db)
        if taken:
            raise ForeignDatabaseError(
                f"{location.shown}: holds tables Ember would create ({', '.join(taken[:5])}) but no "
                "schema_migrations table: it is another program's database. Ember will not touch it; give "
                "Ember a database of its own (createdb ember), or a schema of its own "
                "(?options=-csearch_path%3Dember in the URL)")
        return
    known = {m.__name__ for m in migrations}
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise NewerSchemaError(
            f"{location.shown}: was upgraded by a newer Ember (unknown migrations: {', '.join(unknown)}). "
            "Upgrade Ember to open it; this version will not modify it.")


def apply_migrations(db: psycopg.Connection[Any], location: Location,
                     migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet recorded, in one transaction; the names applied."""
    names = [m.__name__ for m in migrations]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate migration names in {names}")
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        check(db, location, migrations)  # again, under the lock: another worker may have migrated meanwhile
        db.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                          name TEXT PRIMARY KEY,
                          applied_at DOUBLE PRECISION NOT NULL,
                          seq BIGINT GENERATED ALWAYS AS IDENTITY)""")
        applied = set(applied_migrations(db))
        done = []
        for migration in migrations:
            if migration.__name__ in applied:
                continue
            migration(db)
            db.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (%s, %s)",
                       (migration.__name__, time.time()))
            done.append(migration.__name__)
    return done


def open_database(location: Location, *, migrate: bool = True) -> psycopg.Connection[Any]:
    """Connect, check and (unless ``migrate`` is False) migrate the database at ``location``."""
    psycopg = _import_psycopg()
    conn = connect(location)
    try:
        check(conn, location)
        if migrate:
            apply_migrations(conn, location)
    except psycopg.Error as e:
        conn.close()
        raise store_error(location, e) from e
    except BaseException:
        conn.close()
        raise
    return conn


def pgvector(db: psycopg.Connection[Any]) -> str:
    """Whether the server has pgvector: "installed" (in this database), "available" (can be
    created), or "absent"."""
    row = db.execute("SELECT installed_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    if row is None:
        return "absent"
    return "installed" if row["installed_version"] else "available"
