"""Rows to the store's records and back, for every backend: ``Message`` <-> columns, sessions,
messages. A row is anything indexed by column name (``sqlite3.Row``, a psycopg dict row)."""

from __future__ import annotations

import json
from typing import Any

from ember.models.base import Message, ToolCall, Usage
from ember.store.records import SessionInfo, StoredMessage

# JSON is written with ensure_ascii so that lone surrogates (undecodable tool output) survive the
# trip through the database's UTF-8 instead of making add_message fail and lose the message.


def _clean_text(text: str | None) -> str | None:
    """Replace lone surrogates, which no database stores as UTF-8, with U+FFFD."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def message_columns(message: Message) -> dict[str, Any]:
    """The column values that persist ``message`` exactly."""
    tool_calls = [
        {"id": c.id, "name": c.name, "arguments": c.arguments, "raw_arguments": c.raw_arguments, "error": c.error}
        for c in message.tool_calls
    ]
    return {
        "role": message.role,
        "content": _clean_text(message.content) or "",
        "tool_calls": json.dumps(tool_calls) if tool_calls else None,
        "tool_call_id": _clean_text(message.tool_call_id),
        "name": _clean_text(message.name),
        "reasoning": _clean_text(message.reasoning),
        "is_error": 1 if message.is_error else 0,
        "images": json.dumps(message.images) if message.images else None,
    }


def message_from_row(row: Any) -> Message:
    """Rebuild a ``Message`` from a row holding the columns of :func:`message_columns`."""
    calls = [
        ToolCall(
            id=c["id"], name=c["name"], arguments=c.get("arguments") or {},
            raw_arguments=c.get("raw_arguments"), error=c.get("error"),
        )
        for c in (json.loads(row["tool_calls"]) if row["tool_calls"] else [])
    ]
    return Message(
        role=row["role"],
        content=row["content"],
        tool_calls=calls,
        tool_call_id=row["tool_call_id"],
        name=row["name"],
        reasoning=row["reasoning"],
        is_error=bool(row["is_error"]),
        images=json.loads(row["images"]) if row["images"] else [],
    )


def session_from_row(row: Any) -> SessionInfo:
    return SessionInfo(
        id=row["id"], title=row["title"], source=row["source"], model=row["model"],
        created_at=row["created_at"], updated_at=row["updated_at"], message_count=row["message_count"],
        person=row["person"] if "person" in row.keys() else "",
    )


def stored_message_from_row(row: Any) -> StoredMessage:
    usage = None if row["input_tokens"] is None else Usage(row["input_tokens"], row["output_tokens"] or 0)
    return StoredMessage(
        id=row["id"], session_id=row["session_id"], message=message_from_row(row),
        created_at=row["created_at"], model=row["model"], usage=usage,
    )


def reasoning_blocks_column(message: Message) -> str | None:
    """``Message.reasoning_blocks`` as stored: JSON, ASCII-escaped so every character survives."""
    return json.dumps(message.reasoning_blocks) if message.reasoning_blocks else None


def stored(row: Any) -> StoredMessage:
    """A message row as a record, with its reasoning blocks (dropped if unreadable: the adapter
    then finishes that tool loop without thinking rather than fail)."""
    record = stored_message_from_row(row)
    try:
        blocks = json.loads(row["reasoning_blocks"]) if row["reasoning_blocks"] else []
    except ValueError:
        blocks = []
    if isinstance(blocks, list):
        record.message.reasoning_blocks = [b for b in blocks if isinstance(b, dict)]
    return record
