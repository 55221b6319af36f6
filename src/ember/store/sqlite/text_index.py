"""The memory search's text index in SQLite: the ``SearchIndex`` port.

``search_fts`` (FTS5, porter stemming) indexes each searchable message (rowid = message id) with
its neighbours' text as a second column; ``search_times`` holds the periods a message talks
about; the mark ``search.indexed_upto`` in ``meta`` says how far the text was indexed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ember.store.search_records import Candidate, IndexedMessage, IndexEntry, Scope, TimeMention
from ember.store.sqlite.fts import fts_any

if TYPE_CHECKING:
    import sqlite3

    from ember.store.sqlite.database import Database

INDEXED_UPTO = "search.indexed_upto"
EMBEDDED_UPTO = "search.embedded_upto"  # no longer written: a message is embedded when it has a vector
VECTOR_MODEL = "search.vector_model"

# Parameters ?1 and ?2 of every query that uses IN_SCOPE: the session and the person (None: any).
IN_SCOPE = ("(?1 IS NULL OR session_id = ?1) AND (?2 IS NULL OR session_id IN "
            "(SELECT s.id FROM sessions s WHERE s.person = ?2))")
_CHUNK = 500  # ids per IN (...) list


def _roles(roles: tuple[str, ...]) -> str:
    return ", ".join(f"'{r}'" for r in roles)


def _searchable(roles: tuple[str, ...], where: str) -> str:
    return (f"SELECT id, session_id, content, speaker, created_at FROM messages "
            f"WHERE role IN ({_roles(roles)}) AND content != '' AND {where}")


def advance(db: sqlite3.Connection, upto: int) -> None:
    """Move the indexed-up-to mark forward, never back (two processes may index at once)."""
    db.execute(
        """INSERT INTO meta (key, value) VALUES (?1, ?2)
           ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(?2 AS INTEGER))""",
        (INDEXED_UPTO, str(upto)),
    )


class SQLiteSearchIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _messages(self, sql: str, params: tuple = ()) -> list[IndexedMessage]:
        return [IndexedMessage(r[0], r[1], r[2], r[3], r[4]) for r in self._db._read(sql, params)]

    # --- keeping it in step ------------------------------------------------------------------------

    def indexed_upto(self) -> int:
        rows = self._db._read("SELECT value FROM meta WHERE key = ?", (INDEXED_UPTO,))
        value = rows[0][0] if rows else None
        return int(value) if value and value.isdigit() else 0

    def messages_after(self, message_id: int, roles: tuple[str, ...]) -> list[IndexedMessage]:
        return self._messages(_searchable(roles, "id > ? ORDER BY id"), (message_id,))

    def messages_before(self, session_id: str, before_id: int, limit: int,
                        roles: tuple[str, ...]) -> list[IndexedMessage]:
        found = self._messages(_searchable(roles, "session_id = ? AND id < ? ORDER BY id DESC LIMIT ?"),
                               (session_id, before_id, limit))
        return list(reversed(found))

    def indexed_messages(self, session_id: str, roles: tuple[str, ...]) -> list[IndexedMessage]:
        return self._messages(_searchable(roles, "session_id = ? AND id IN (SELECT rowid FROM search_fts) ORDER BY id"),
                              (session_id,))

    def last_message_id(self) -> int:
        return self._db._read("SELECT MAX(id) FROM messages")[0][0] or 0

    def speakers(self, session_id: str | None = None) -> list[str]:
        if session_id is None:
            rows = self._db._read("SELECT DISTINCT speaker FROM messages WHERE speaker IS NOT NULL")
        else:
            rows = self._db._read("SELECT DISTINCT speaker FROM messages WHERE session_id = ? AND speaker IS NOT NULL",
                                  (session_id,))
        return [r[0] for r in rows if r[0]]

    def write(self, entries: list[IndexEntry], times: list[TimeMention], *, retimed: Iterable[int] = (),
              upto: int | None = None) -> None:
        rows = [(e.message_id, e.body, e.context) for e in entries]
        with self._db._write() as db:
            db.executemany("DELETE FROM search_fts WHERE rowid = ?", [(r[0],) for r in rows])
            db.executemany("INSERT INTO search_fts (rowid, body, context) VALUES (?, ?, ?)", rows)
            db.executemany("DELETE FROM search_times WHERE message_id = ?", [(m,) for m in retimed])
            db.executemany("INSERT INTO search_times (message_id, start, end) VALUES (?, ?, ?)",
                           [(t.message_id, t.start, t.end) for t in times])
            if upto is not None:
                advance(db, upto)

    def advance(self, upto: int) -> None:
        with self._db._write() as db:
            advance(db, upto)

    def clear(self) -> None:
        with self._db._write() as db:
            db.execute("DELETE FROM search_fts")
            db.execute("DELETE FROM search_times")
            db.execute("DELETE FROM search_vectors")
            db.execute("DELETE FROM search_terms")
            db.execute("DELETE FROM meta WHERE key IN (?, ?, ?)", (INDEXED_UPTO, EMBEDDED_UPTO, VECTOR_MODEL))

    def indexed_count(self) -> int:
        # search_fts_docsize is FTS5's own table of one row per indexed message (rowid = message id):
        # counting it does not read the indexed text.
        return int(self._db._read("SELECT COUNT(*) FROM search_fts_docsize")[0][0])

    def contains_word(self, word: str) -> bool:
        return bool(self._db._read("SELECT 1 FROM search_fts WHERE search_fts MATCH ? LIMIT 1", (fts_any([word]),)))

    # --- candidates of a query -----------------------------------------------------------------------

    def version(self) -> tuple[int, ...]:
        with self._db._lock:
            top = tuple(self._db._read("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM messages")[0])
            changed = self._db._read("PRAGMA data_version")[0][0]  # changes when another connection commits
        return (*top, changed)

    def has_messages(self, scope: Scope) -> bool:
        return bool(self._db._read(f"SELECT 1 FROM messages WHERE {IN_SCOPE} LIMIT 1", scope))

    def latest_time(self, scope: Scope, before: float) -> float | None:
        return self._db._read(f"SELECT MAX(created_at) FROM messages WHERE {IN_SCOPE} AND created_at <= ?3",
                              (*scope, before))[0][0]

    def match_count(self, word: str, cap: int) -> int:
        rows = self._db._read("SELECT COUNT(*) FROM (SELECT rowid FROM search_fts WHERE search_fts MATCH ? LIMIT ?)",
                              (fts_any([word]), cap))
        return int(rows[0][0])

    def lexical(self, words: list[str], scope: Scope, *, limit: int, weights: tuple[float, float],
                newest: int = 0) -> dict[int, float]:
        match = fts_any(words)
        if not match:
            return {}
        since = 0
        if newest:  # FTS5 walks a word's matches newest first cheaply; bm25() runs on those after it
            found = self._db._read("SELECT rowid FROM search_fts WHERE search_fts MATCH ? ORDER BY rowid DESC"
                                   " LIMIT 1 OFFSET ?", (match, newest - 1))
            since = found[0][0] if found else 0
        body, context = weights
        rows = self._db._read(
            f"""SELECT rowid, -rank FROM search_fts
                WHERE search_fts MATCH ?3 AND rank MATCH 'bm25({body}, {context})' AND rowid >= ?5
                  AND (?1 IS NULL AND ?2 IS NULL OR rowid IN (SELECT id FROM messages m
                       WHERE {IN_SCOPE.replace('session_id', 'm.session_id')}))
                ORDER BY rank LIMIT ?4""",
            (*scope, match, limit, since),
        )
        return {r[0]: max(r[1], 0.0) for r in rows}

    def message_ids(self, scope: Scope) -> set[int]:
        return {r[0] for r in self._db._read(f"SELECT id FROM messages WHERE {IN_SCOPE}", scope)}

    def said_between(self, start: float, end: float, scope: Scope, roles: tuple[str, ...], limit: int) -> list[int]:
        rows = self._db._read(
            f"""SELECT id FROM messages WHERE created_at >= ?3 AND created_at < ?4 AND {IN_SCOPE}
                AND role IN ({_roles(roles)}) AND content != '' LIMIT {int(limit)}""",
            (*scope, start, end),
        )
        return [r[0] for r in rows]

    def mentioning(self, start: float, end: float, scope: Scope, limit: int) -> list[int]:
        rows = self._db._read(
            f"""SELECT DISTINCT t.message_id FROM search_times t JOIN messages m ON m.id = t.message_id
                WHERE t.start < ?4 AND t.end > ?3 AND {IN_SCOPE.replace('session_id', 'm.session_id')}
                LIMIT {int(limit)}""",
            (*scope, start, end),
        )
        return [r[0] for r in rows]

    def candidates(self, ids: list[int], roles: tuple[str, ...]) -> dict[int, Candidate]:
        out: dict[int, Candidate] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for r in self._db._read(
                f"""SELECT m.id, m.session_id, m.role, m.speaker, m.created_at, m.external_id, m.content,
                       (SELECT p.content LIKE '%?%' FROM messages p WHERE p.session_id = m.session_id
                        AND p.id < m.id AND p.role IN ({_roles(roles)}) AND p.content != '' ORDER BY p.id DESC LIMIT 1)
                       AS after_question
                    FROM messages m WHERE m.id IN ({marks})""",
                tuple(chunk),
            ):
                out[r["id"]] = Candidate(r["id"], r["session_id"], r["role"], r["speaker"], r["created_at"],
                                         r["external_id"], r["content"], bool(r["after_question"]))
        return out

    def sessions_of(self, ids: Iterable[int]) -> set[str]:
        wanted = [int(m) for m in ids]
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            found |= {r[0] for r in self._db._read(
                f"SELECT DISTINCT session_id FROM messages WHERE id IN ({', '.join('?' * len(chunk))})", tuple(chunk))}
        return found

    def session_message_ids(self, session_id: str) -> list[int]:
        return [r[0] for r in self._db._read("SELECT id FROM messages WHERE session_id = ? ORDER BY id", (session_id,))]
