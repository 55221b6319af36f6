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
Everything here is derived from the messages and can be rebuilt with ``rebuild(store)``; the
store keeps it (``store.index``, the ``SearchIndex`` port).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ember.memory.search import textproc, timeref
from ember.store.search_records import IndexedMessage, IndexEntry, TimeMention

if TYPE_CHECKING:
    from ember.store.ports import Store

SEARCHABLE_ROLES = ("user", "assistant")
CONTEXT_NEIGHBOURS = 2
CHUNK = 2000  # messages per write transaction: progress stays visible and the lock is held briefly

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage is "import", "index" (text) or "embed" (vectors)."""


@dataclass
class RefreshReport:
    indexed: int = 0  # messages whose text was indexed
    embedded: int = 0  # messages given vectors (by ``embedding_index``)
    words: int = 0  # new words given vectors


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


def _mentions(row: IndexedMessage) -> list[TimeMention]:
    """The periods a message talks about; none when its own time is unusable."""
    when = local_time(row.created_at)
    if when is None:
        return []
    try:
        return [TimeMention(row.id, start, end) for start, end in timeref.mention_ranges(row.content, when)]
    except (OverflowError, ValueError):
        return []


def session_names(store: Store, session_id: str) -> list[str]:
    """Who speaks in a session (imported messages name their speaker; agent sessions have none)."""
    return store.index.speakers(session_id)


def _context_rows(store: Store, new: list[IndexedMessage]) -> dict[str, list[IndexedMessage]]:
    """Per session: the new messages plus the neighbours whose context they change, in order."""
    by_session: dict[str, list[IndexedMessage]] = {}
    for row in new:
        by_session.setdefault(row.session_id, []).append(row)
    for session_id, rows in by_session.items():
        rows[:0] = store.index.messages_before(session_id, rows[0].id, CONTEXT_NEIGHBOURS * 2, SEARCHABLE_ROLES)
    return by_session


def _entries(rows: list[IndexedMessage], redo_from: int, names: re.Pattern[str] | None) -> list[IndexEntry]:
    """Entries for rows[redo_from:], context from up to two neighbours each side."""
    texts = [textproc.strip_names(r.content, names) for r in rows]
    out = []
    for i in range(redo_from, len(rows)):
        around = texts[max(0, i - CONTEXT_NEIGHBOURS):i] + texts[i + 1:i + 1 + CONTEXT_NEIGHBOURS]
        out.append(IndexEntry(rows[i].id, texts[i], " ".join(around)))
    return out


def _index_text(store: Store, new: list[IndexedMessage], upto: int | None = None) -> None:
    """Entries for ``new`` (and the neighbours whose context changes), and their time mentions;
    the indexed-up-to mark moves to ``upto`` in the same transaction."""
    new_ids = {r.id for r in new}
    writes: list[IndexEntry] = []
    for session_id, rows in _context_rows(store, new).items():
        names = textproc.name_pattern(session_names(store, session_id))
        first_new = next(i for i, r in enumerate(rows) if r.id in new_ids)
        writes += _entries(rows, max(0, first_new - CONTEXT_NEIGHBOURS), names)
    times = [t for r in new for t in _mentions(r)]
    store.index.write(writes, times, retimed=[r.id for r in new], upto=upto)


def refresh(store: Store, progress: Progress | None = None) -> RefreshReport:
    """Index the text of the messages added since the last refresh (fast: no embedding).

    Vectors are added apart from this, in batches that survive an interruption: see
    ``ember.memory.search.embedding_index``.
    """
    report = RefreshReport()
    upto = store.index.indexed_upto()
    new = store.index.messages_after(upto, SEARCHABLE_ROLES)
    top = store.index.last_message_id()
    for start in range(0, len(new), CHUNK):
        chunk = new[start:start + CHUNK]
        _index_text(store, chunk, upto=chunk[-1].id)
        report.indexed += len(chunk)
        if progress:
            progress("index", report.indexed, len(new))
    if top > upto and not new:
        store.index.advance(top)
    return report


def reindex_around(store: Store, session_id: str, message_id: int) -> None:
    """Redo the context of the neighbours of a deleted message, so its text leaves their context too."""
    rows = store.index.indexed_messages(session_id, SEARCHABLE_ROLES)
    position = next((i for i, r in enumerate(rows) if r.id > message_id), len(rows))
    lo, hi = max(0, position - CONTEXT_NEIGHBOURS), min(len(rows), position + CONTEXT_NEIGHBOURS)
    names = textproc.name_pattern(session_names(store, session_id))
    window = rows[max(0, lo - CONTEXT_NEIGHBOURS):hi + CONTEXT_NEIGHBOURS]
    offset = lo - max(0, lo - CONTEXT_NEIGHBOURS)
    writes = [w for w in _entries(window, offset, names)
              if rows[lo:hi] and rows[lo].id <= w.message_id <= rows[hi - 1].id]
    store.index.write(writes, [])


def rebuild(store: Store, progress: Progress | None = None) -> RefreshReport:
    """Drop the whole search index, vectors included, and index the text again from the messages.

    The vectors come back through ``embedding_index.embed_missing`` (``ember memory index``).
    """
    store.index.clear()
    return refresh(store, progress)
