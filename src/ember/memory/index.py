"""Keeping the memory search index in step with the messages.

``refresh(store)`` indexes the text of whatever was added since it last ran, so nothing has to
happen on the hot path of a conversation: import calls it once at the end, search calls it
before each query (a no-op when nothing is new). For every user or assistant message with text
it writes:

- a ``search_fts`` row: the message (``body``) and its two neighbours on each side in the same
  session (``context``), both with the session's speaker names taken out (names are a field:
  see ``textproc``). A new message changes the context of the two before it; they are redone.
- ``search_times`` rows: the periods the message talks about ("yesterday", "last May"),
  resolved against the message's own timestamp (``timeref``).

This is fast (100,000 messages in seconds). The slow part, the vectors of the messages, their
sentences and their words, is filled in afterwards and apart: ``embedding_index``.
Everything here is derived from ``messages`` and can be rebuilt with ``rebuild(store)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ember.memory import textproc, timeref

if TYPE_CHECKING:
    import sqlite3

    from ember.memory.store import SQLiteStore

SEARCHABLE_ROLES = ("user", "assistant")
CONTEXT_NEIGHBOURS = 2
CHUNK = 2000  # messages per write transaction: progress stays visible and the lock is held briefly

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage is "import", "index" (text) or "embed" (vectors)."""

_INDEXED_UPTO = "search.indexed_upto"
_EMBEDDED_UPTO = "search.embedded_upto"  # no longer written: a message is embedded when it has a vector
VECTOR_MODEL = "search.vector_model"


@dataclass
class RefreshReport:
    indexed: int = 0  # messages whose text was indexed
    embedded: int = 0  # messages given vectors (by ``embedding_index``)
    words: int = 0  # new words given vectors


@dataclass
class _Row:
    id: int
    session_id: str
    content: str
    speaker: str | None
    created_at: float


def local_time(timestamp: float | None) -> datetime | None:
    """``timestamp`` as local time, or None when it is missing or out of ``datetime``'s range.

    Import refuses such times, but a store written before that check may hold one; every reader
    goes through here so one bad value never breaks search, export or show.
    """
    if timestamp is None:
        return None
    try:
        return datetime.fromtimestamp(timestamp)
    except (OverflowError, OSError, ValueError, TypeError):
        return None


def _mentions(row: _Row) -> list[tuple[int, float, float]]:
    """(message id, start, end) for the periods a message talks about; none when its own time is unusable."""
    when = local_time(row.created_at)
    if when is None:
        return []
    try:
        return [(row.id, start, end) for start, end in timeref.mention_ranges(row.content, when)]
    except (OverflowError, ValueError):
        return []


def _meta_int(store: SQLiteStore, key: str) -> int:
    value = store.get_meta(key)
    return int(value) if value and value.isdigit() else 0


def _searchable(where: str) -> str:
    roles = ", ".join(f"'{r}'" for r in SEARCHABLE_ROLES)
    return (f"SELECT id, session_id, content, speaker, created_at FROM messages "
            f"WHERE role IN ({roles}) AND content != '' AND {where}")


def _rows(store: SQLiteStore, sql: str, params: tuple = ()) -> list[_Row]:
    return [_Row(r[0], r[1], r[2], r[3], r[4]) for r in store._read(sql, params)]


def session_names(store: SQLiteStore, session_id: str) -> list[str]:
    """Who speaks in a session (imported messages name their speaker; agent sessions have none)."""
    rows = store._read("SELECT DISTINCT speaker FROM messages WHERE session_id = ? AND speaker IS NOT NULL",
                       (session_id,))
    return [r[0] for r in rows if r[0]]


def _context_rows(store: SQLiteStore, new: list[_Row]) -> dict[str, list[_Row]]:
    """Per session: the new messages plus the neighbours whose context they change, in order."""
    by_session: dict[str, list[_Row]] = {}
    for row in new:
        by_session.setdefault(row.session_id, []).append(row)
    for session_id, rows in by_session.items():
        first = rows[0].id
        before = _rows(store, _searchable("session_id = ? AND id < ? ORDER BY id DESC LIMIT ?"),
                       (session_id, first, CONTEXT_NEIGHBOURS * 2))
        rows[:0] = list(reversed(before))
    return by_session


def _fts_rows(rows: list[_Row], redo_from: int, names: re.Pattern[str] | None) -> list[tuple[int, str, str]]:
    """(id, body, context) for rows[redo_from:], context from up to two neighbours each side."""
    texts = [textproc.strip_names(r.content, names) for r in rows]
    out = []
    for i in range(redo_from, len(rows)):
        around = texts[max(0, i - CONTEXT_NEIGHBOURS):i] + texts[i + 1:i + 1 + CONTEXT_NEIGHBOURS]
        out.append((rows[i].id, texts[i], " ".join(around)))
    return out


def _advance(db: sqlite3.Connection, upto: int) -> None:
    """Move the indexed-up-to mark forward, never back (two processes may index at once)."""
    db.execute(
        """INSERT INTO meta (key, value) VALUES (?1, ?2)
           ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(?2 AS INTEGER))""",
        (_INDEXED_UPTO, str(upto)),
    )


def _index_text(store: SQLiteStore, new: list[_Row], upto: int | None = None) -> None:
    """FTS rows for ``new`` (and the neighbours whose context changes), and their time mentions;
    the indexed-up-to mark moves to ``upto`` in the same transaction."""
    new_ids = {r.id for r in new}
    writes: list[tuple[int, str, str]] = []
    for session_id, rows in _context_rows(store, new).items():
        names = textproc.name_pattern(session_names(store, session_id))
        first_new = next(i for i, r in enumerate(rows) if r.id in new_ids)
        writes += _fts_rows(rows, max(0, first_new - CONTEXT_NEIGHBOURS), names)
    times = [t for r in new for t in _mentions(r)]
    with store._write() as db:
        db.executemany("DELETE FROM search_fts WHERE rowid = ?", [(w[0],) for w in writes])
        db.executemany("INSERT INTO search_fts (rowid, body, context) VALUES (?, ?, ?)", writes)
        db.executemany("DELETE FROM search_times WHERE message_id = ?", [(r.id,) for r in new])
        db.executemany("INSERT INTO search_times (message_id, start, end) VALUES (?, ?, ?)", times)
        if upto is not None:
            _advance(db, upto)


def refresh(store: SQLiteStore, progress: Progress | None = None) -> RefreshReport:
    """Index the text of the messages added since the last refresh (fast: no embedding).

    Vectors are added apart from this, in batches that survive an interruption: see
    ``ember.memory.embedding_index``.
    """
    report = RefreshReport()
    upto = _meta_int(store, _INDEXED_UPTO)
    new = _rows(store, _searchable("id > ? ORDER BY id"), (upto,))
    top = store._read("SELECT MAX(id) FROM messages")[0][0] or 0
    for start in range(0, len(new), CHUNK):
        chunk = new[start:start + CHUNK]
        _index_text(store, chunk, upto=chunk[-1].id)
        report.indexed += len(chunk)
        if progress:
            progress("index", report.indexed, len(new))
    if top > upto and not new:
        with store._write() as db:
            _advance(db, top)
    return report


def reindex_around(store: SQLiteStore, session_id: str, message_id: int) -> None:
    """Redo the context of the neighbours of a deleted message, so its text leaves their context too."""
    rows = _rows(store, _searchable("session_id = ? AND id IN (SELECT rowid FROM search_fts) ORDER BY id"),
                 (session_id,))
    position = next((i for i, r in enumerate(rows) if r.id > message_id), len(rows))
    lo, hi = max(0, position - CONTEXT_NEIGHBOURS), min(len(rows), position + CONTEXT_NEIGHBOURS)
    names = textproc.name_pattern(session_names(store, session_id))
    window = rows[max(0, lo - CONTEXT_NEIGHBOURS):hi + CONTEXT_NEIGHBOURS]
    offset = lo - max(0, lo - CONTEXT_NEIGHBOURS)
    writes = [w for w in _fts_rows(window, offset, names) if rows[lo:hi] and rows[lo].id <= w[0] <= rows[hi - 1].id]
    with store._write() as db:
        db.executemany("DELETE FROM search_fts WHERE rowid = ?", [(w[0],) for w in writes])
        db.executemany("INSERT INTO search_fts (rowid, body, context) VALUES (?, ?, ?)", writes)


def rebuild(store: SQLiteStore, progress: Progress | None = None) -> RefreshReport:
    """Drop the whole search index, vectors included, and index the text again from the messages.

    The vectors come back through ``embedding_index.embed_missing`` (``ember memory index``).
    """
    with store._write() as db:
        db.execute("DELETE FROM search_fts")
        db.execute("DELETE FROM search_times")
        db.execute("DELETE FROM search_vectors")
        db.execute("DELETE FROM search_terms")
        db.execute("DELETE FROM meta WHERE key IN (?, ?, ?)", (_INDEXED_UPTO, _EMBEDDED_UPTO, VECTOR_MODEL))
    return refresh(store, progress)
