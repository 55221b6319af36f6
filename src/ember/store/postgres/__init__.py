"""The PostgreSQL backend: every port of ``ember.store.ports`` on one PostgreSQL database, shared
by any number of Ember processes on any number of machines (docs/postgres.md).

Every SQL string of it lives in this package, one module per domain as in ``store/sqlite/``:
``migrations.py`` (the schema), ``opening.py`` (connecting, refusing a database that is not
Ember's, migrating), ``database.py`` (the connection, its lock, transactions and advisory locks),
``store.py`` (sessions, messages, meta, allowed commands; the other ports on first use).
psycopg is imported here only, when a ``postgresql://`` store is opened.
"""

from ember.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
