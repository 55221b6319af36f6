"""The old import path of the store: ``ember.store.sqlite`` and ``ember.store.ports`` now.

Kept so that existing code and tests go on importing from here; new code imports the ports from
``ember.store.ports`` and opens a store with ``ember.runtime.open_store``.
"""

from ember.store.ports import Store
from ember.store.records import (
    AmbiguousSessionError,
    CorruptDatabaseError,
    ForeignDatabaseError,
    NewerSchemaError,
    SearchHit,
    SessionInfo,
    StoredMessage,
    StoreError,
    UsageTotals,
)
from ember.store.sqlite.fts import fts_query
from ember.store.sqlite.store import SNIPPET_MARKS, SQLiteStore, open_store

__all__ = [
    "SNIPPET_MARKS", "AmbiguousSessionError", "CorruptDatabaseError", "ForeignDatabaseError", "NewerSchemaError",
    "SQLiteStore", "SearchHit", "SessionInfo", "Store", "StoreError", "StoredMessage", "UsageTotals",
    "fts_query", "open_store",
]
