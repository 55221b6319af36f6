"""Which backend keeps a store: a location's URL scheme names it, through ``ember.plugins``.

    open_backend("/home/me/.ember/ember.db")          # a path: SQLite
    open_backend("sqlite:///home/me/.ember/ember.db")
    open_backend("postgresql://ember:secret@db.internal/ember")

A backend is a class (or function) under a name in ``BACKENDS`` or in the ``ember.stores``
entry-point group, called with the rest of the location and ``redactor=``, ``home=`` (the
EMBER_HOME whose files go with it) and ``migrate=`` (False: open without applying pending
migrations, for ``ember db migrate``); it returns a ``Store`` (``ember.store.ports``).

A location may hold a password (``postgresql://user:password@host/db``): ``shown_location`` is
the one to put in messages, and ``location_secrets`` what a redactor must also mask.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ember.store.locations import DEFAULT, location_secrets, shown_location, split_location

if TYPE_CHECKING:
    from ember.security.redact import Redactor
    from ember.store.ports import Store

GROUP = "ember.stores"
BACKENDS = {
    "sqlite": "ember.store.sqlite:SQLiteStore",
    "postgresql": "ember.store.postgres:PostgresStore",
    "postgres": "ember.store.postgres:PostgresStore",
}
"""Built-in backends by URL scheme."""

__all__ = ["BACKENDS", "DEFAULT", "GROUP", "location_secrets", "open_backend", "shown_location", "split_location"]


def open_backend(location: str | Path, *, redactor: Redactor | None = None, home: Path | str | None = None,
                 migrate: bool = True) -> Store:
    """Open (creating if needed) the store at ``location``; ``StoreError`` for an unknown scheme.

    ``home`` is the EMBER_HOME whose files (skills, USER.md) go with the store (SQLite: the
    database file's folder when not given); with ``migrate`` False, pending migrations are left
    for ``store.migrate()``."""
    from ember import plugins
    from ember.store.records import StoreError

    scheme, rest = split_location(location)
    backend = plugins.find(GROUP, scheme, BACKENDS)
    if backend is None:
        known = ", ".join(plugins.names(GROUP, BACKENDS))
        raise StoreError(f"no store backend for {scheme!r} in {shown_location(location)} (known: {known})")
    store: Store = backend(rest, redactor=redactor, home=home, migrate=migrate)
    return store
