"""Which backend keeps a store: a location's URL scheme names it, through ``ember.plugins``.

    open_backend("/home/me/.ember/ember.db")          # a path: SQLite
    open_backend("sqlite:///home/me/.ember/ember.db")

A backend is a class (or function) under a name in ``BACKENDS`` or in the ``ember.stores``
entry-point group, called with the rest of the location and ``redactor=``; it returns a
``Store`` (``ember.store.ports``). Adding PostgreSQL is one more entry and one more package.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.security.redact import Redactor
    from ember.store.ports import Store

GROUP = "ember.stores"
BACKENDS = {"sqlite": "ember.store.sqlite:SQLiteStore"}
"""Built-in backends by URL scheme."""

DEFAULT = "sqlite"


def split_location(location: str | Path) -> tuple[str, str]:
    """(scheme, the rest): ``sqlite:///a/b.db`` -> ("sqlite", "/a/b.db"); a plain path is SQLite's."""
    text = str(location)
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme.isidentifier():
        return DEFAULT, text
    return scheme.lower(), rest


def open_backend(location: str | Path, *, redactor: Redactor | None = None) -> Store:
    """Open (creating if needed) the store at ``location``; ``StoreError`` for an unknown scheme."""
    from ember import plugins
    from ember.store.records import StoreError

    scheme, rest = split_location(location)
    backend = plugins.find(GROUP, scheme, BACKENDS)
    if backend is None:
        known = ", ".join(plugins.names(GROUP, BACKENDS))
        raise StoreError(f"no store backend for {scheme!r} (known: {known})")
    store: Store = backend(rest, redactor=redactor)
    return store
