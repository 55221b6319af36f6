"""SQLite rows to the store's records and back: the backend-neutral converters of ``ember.store.columns``."""

from ember.store.columns import (
    message_columns,
    message_from_row,
    reasoning_blocks_column,
    session_from_row,
    stored,
    stored_message_from_row,
)

__all__ = ["message_columns", "message_from_row", "reasoning_blocks_column", "session_from_row", "stored",
           "stored_message_from_row"]
