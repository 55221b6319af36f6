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
from urllib.parse import parse_qsl, unquote, urlsplit

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

DEFAULT = "sqlite"


def split_location(location: str | Path) -> tuple[str, str]:
    """(scheme, the rest): ``sqlite:///a/b.db`` -> ("sqlite", "/a/b.db"); a plain path is SQLite's."""
    text = str(location)
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme.isidentifier():
        return DEFAULT, text
    return scheme.lower(), rest


def location_secrets(location: str | Path) -> list[str]:
    """The secrets a location holds: the password of ``scheme://user:password@host``, and of a
    ``password=`` in its query (both as written and decoded)."""
    text = str(location)
    if "://" not in text:
        return []
    try:
        parts = urlsplit(text)
        found = [parts.password] if parts.password else []
        found += [value for key, value in parse_qsl(parts.query) if key.lower() == "password" and value]
    except ValueError:
        return []
    secrets = {variant for secret in found for variant in (secret, unquote(secret))
               if variant}
    raw = parts.netloc.rpartition("@")[0].partition(":")[2] if "@" in parts.netloc else ""
    if raw:
        secrets.add(raw)
    return sorted(secrets, key=len, reverse=True)


def shown_location(location: str | Path) -> str:
    """``location`` as messages, logs and ``ember doctor`` show it: any password replaced by ``***``."""
    text = str(location)
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return text.split("://", 1)[0] + "://***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{host}"
    query = "&".join(f"{key}=***" if key.lower() == "password" else (f"{key}={value}" if value else key)
                     for key, value in parse_qsl(parts.query, keep_blank_values=True))
    shown = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    for secret in location_secrets(text):  # whatever the parsing above missed
        shown = shown.replace(secret, "***")
    return shown


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
