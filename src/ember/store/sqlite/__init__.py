"""The SQLite backend: every port of ``ember.store.ports`` on one SQLite file (WAL, FTS5, vectors).

Every SQL string of Ember lives in this package: ``migrations.py`` (the schema), ``opening.py``
(refusing unhealthy files, migrating), ``database.py`` (connection, lock, transactions),
``store.py`` (sessions, messages, meta, allowed commands; the other ports on first use) and one
module per domain port.
"""

from ember.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
