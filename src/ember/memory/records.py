"""The old import path of the store's records: ``ember.store.records`` now."""

from ember.store.records import (
    TITLE_CHARS,
    AmbiguousSessionError,
    CorruptDatabaseError,
    ForeignDatabaseError,
    NewerSchemaError,
    SearchHit,
    SessionInfo,
    StoredMessage,
    StoreError,
    UsageTotals,
    redact_message,
    redact_value,
    session_title,
)

__all__ = [
    "TITLE_CHARS", "AmbiguousSessionError", "CorruptDatabaseError", "ForeignDatabaseError", "NewerSchemaError",
    "SearchHit", "SessionInfo", "StoreError", "StoredMessage", "UsageTotals", "redact_message", "redact_value",
    "session_title",
]
