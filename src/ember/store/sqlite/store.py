"""Ember's durable state: sessions, messages (+ full-text search), summaries, usage, settings.

One SQLite file (``EMBER_HOME/ember.db``) in WAL mode, shared by every door: chat and a gateway
may run as two processes on one home, each with one connection guarded by a lock so that its
threads can share it. Every write is its own ``BEGIN IMMEDIATE`` transaction, committed before
the method returns: a ``kill -9`` mid-turn loses nothing that was already added.

A database that is corrupt, belongs to another program or comes from a newer Ember is refused at
open with an error saying what to do; it is never recreated or overwritten, because it may hold
the only copy of someone's history. The rest of Ember sees the ``Store`` protocol only
(``ember.store.ports``), so that a PostgreSQL backend can take this one's place; the other
domains' ports are the modules beside this one, made on first use.

Nothing secret is written: every text the store keeps (messages with their reasoning and tool
calls, titles, summaries, approved command patterns) passes through its ``redact`` on the way in,
so no caller can forget it. It masks the values it was told are secret (``runtime.open_store``
gives it the configured keys) and every secret-shaped string that is not visibly a placeholder.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ember.models.base import Message, Usage
from ember.store.records import (
    AmbiguousSessionError,
    SearchHit,
    SessionInfo,
    StoredMessage,
    StoreError,
    UsageTotals,
    redact_message,
)
from ember.store.sqlite.database import Database
from ember.store.sqlite.fts import fts_query
from ember.store.sqlite.rows import message_columns, reasoning_blocks_column, session_from_row, stored

if TYPE_CHECKING:
    from ember.store.ports import (
        CronStore,
        EpisodeStore,
        GatewayStore,
        InboxFileStore,
        LearningLog,
        LessonStore,
        MessageArchive,
        SearchIndex,
        SkillStatsStore,
        Store,
        TableTransfer,
        VectorIndex,
    )

__all__ = ["SQLiteStore", "open_store"]

SNIPPET_MARKS = ("**", "**")
"""What ``SearchHit.snippet`` puts around matched terms."""

_SESSION_SELECT = """SELECT s.*, (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS message_count
    FROM sessions s"""


class SQLiteStore(Database):
    """The ``Store`` on one SQLite file; see the module docstring for the guarantees.

    ``redactor`` masks secrets in every text written (default: secret shapes only, placeholders
    kept); ``runtime.open_store`` passes one that also knows the configured keys.
    """

    def _require_session(self, db: sqlite3.Connection, session_id: str | None) -> None:
        if session_id is not None and not db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone():
            raise StoreError(f"no session {session_id!r}")

    # sessions

    def create_session(
        self, *, source: str = "cli", title: str | None = None, model: str | None = None, person: str = ""
    ) -> SessionInfo:
        """Start a session whose id (``YYYYMMDD-HHMMSS-xxxxxx``, UTC) sorts by creation time."""
        now = time.time()
        title = self.redact(title) if title else title
        with self._write() as db:
            while True:
                sid = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + secrets.token_hex(3)
                if not db.execute("SELECT 1 FROM sessions WHERE id = ?", (sid,)).fetchone():
                    break
            db.execute(
                "INSERT INTO sessions (id, title, source, model, created_at, updated_at, person)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sid, title, source, model, now, now, person),
            )
        return SessionInfo(sid, title, source, model, now, now, 0, person)

    def person_of(self, session_id: str | None) -> str:
        """Whose ``session_id`` is ("" for the owner, and for an unknown session)."""
        if not session_id:
            return ""
        rows = self._read("SELECT person FROM sessions WHERE id = ?", (session_id,))
        return rows[0][0] if rows else ""

    def get_session(self, id_or_prefix: str) -> SessionInfo | None:
        """The session with this id, or the only one whose id starts with it.

        Raises ``AmbiguousSessionError`` (a ``StoreError``) listing the candidates otherwise.
        """
        key = id_or_prefix.strip()
        if not key:
            return None
        rows = self._read(_SESSION_SELECT + " WHERE s.id = ?", (key,))
        if not rows:
            rows = self._read(_SESSION_SELECT + " WHERE substr(s.id, 1, ?) = ? ORDER BY s.id LIMIT 11", (len(key), key))
        if len(rows) > 1:
            ids = [r["id"] for r in rows[:10]]
            more = ", ..." if len(rows) > 10 else ""
            raise AmbiguousSessionError(f"{key!r} matches several sessions: {', '.join(ids)}{more}", ids)
        return session_from_row(rows[0]) if rows else None

    def latest_session(self, source: str | None = None) -> SessionInfo | None:
        """The most recently active session (of ``source`` if given), for ``--continue``."""
        found = self.list_sessions(limit=1, source=source)
        return found[0] if found else None

    def list_sessions(self, *, limit: int = 50, source: str | None = None) -> list[SessionInfo]:
        rows = self._read(
            _SESSION_SELECT + " WHERE (?1 IS NULL OR s.source = ?1) ORDER BY s.updated_at DESC, s.id DESC LIMIT ?2",
            (source, limit),
        )
        return [session_from_row(r) for r in rows]

    def delete_session(self, session_id: str) -> bool:
        """Delete a session; ON DELETE CASCADE and the FTS triggers remove everything hanging off it."""
        with self._write() as db:
            return db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0

    def _set_session(self, session_id: str, column: str, value: str) -> None:
        with self._write() as db:
            if db.execute(f"UPDATE sessions SET {column} = ? WHERE id = ?", (value, session_id)).rowcount == 0:
                raise StoreError(f"no session {session_id!r}")

    def set_session_title(self, session_id: str, title: str) -> None:
        self._set_session(session_id, "title", self.redact(title))

    def set_session_model(self, session_id: str, model: str) -> None:
        self._set_session(session_id, "model", model)

    # messages

    def add_message(
        self, session_id: str, message: Message, *, model: str | None = None, usage: Usage | None = None,
        title: str | None = None,
    ) -> int:
        """Persist ``message`` and commit before returning its id; raises ``StoreError`` for an unknown session.

        ``usage`` is kept with the message for display; cost accounting goes through ``record_usage``.
        ``title`` becomes the session's title in the same transaction, unless it has one already
        (the agent passes one with a session's first message; see ``records.session_title``).
        Secrets are masked in everything kept (``records.redact_message``).
        """
        message = redact_message(message, self.redactor.redact)
        title = self.redact(title) if title else title
        cols = message_columns(message)
        cols["reasoning_blocks"] = reasoning_blocks_column(message)
        cols.update(
            session_id=session_id, model=model, created_at=time.time(),
            input_tokens=usage.input_tokens if usage else None, output_tokens=usage.output_tokens if usage else None,
        )
        with self._write() as db:
            if title:
                touched = db.execute(
                    "UPDATE sessions SET updated_at = ?, title = CASE WHEN title IS NULL OR title = '' THEN ? "
                    "ELSE title END WHERE id = ?",
                    (cols["created_at"], title, session_id),
                )
            else:
                touched = db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (cols["created_at"], session_id))
            if touched.rowcount == 0:
                raise StoreError(f"no session {session_id!r}")
            names = ", ".join(cols)
            marks = ", ".join("?" * len(cols))
            cursor = db.execute(f"INSERT INTO messages ({names}) VALUES ({marks})", tuple(cols.values()))
            return int(cursor.lastrowid or 0)

    def get_messages(self, session_id: str, *, after_id: int | None = None) -> list[StoredMessage]:
        rows = self._read(
            "SELECT * FROM messages WHERE session_id = ? AND id > ? ORDER BY id", (session_id, after_id or 0)
        )
        return [stored(r) for r in rows]

    def search_messages(
        self, query: str, *, limit: int = 20, session_id: str | None = None, any_terms: bool = False
    ) -> list[SearchHit]:
        """Full-text search, best first (bm25). Any text is a valid query; see ``fts_query``."""
        match = fts_query(query, any_terms=any_terms)
        if not match:
            return []
        start, end = SNIPPET_MARKS
        rows = self._read(
            """SELECT m.*, bm25(messages_fts) AS score, snippet(messages_fts, 0, ?, ?, '…', 16) AS snip
               FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
               WHERE messages_fts MATCH ? AND (? IS NULL OR m.session_id = ?)
               ORDER BY score LIMIT ?""",
            (start, end, match, session_id, session_id, limit),
        )
        return [SearchHit(stored(r), -r["score"], r["snip"]) for r in rows]

    # summaries and usage

    def add_summary(self, session_id: str, summary: str, upto_message_id: int) -> int:
        """Record a compaction summary of the messages up to ``upto_message_id``; they are kept."""
        summary = self.redact(summary)
        with self._write() as db:
            self._require_session(db, session_id)
            cursor = db.execute(
                "INSERT INTO summaries (session_id, summary, upto_message_id, created_at) VALUES (?, ?, ?, ?)",
                (session_id, summary, upto_message_id, time.time()),
            )
            return int(cursor.lastrowid or 0)

    def latest_summary(self, session_id: str) -> tuple[str, int] | None:
        rows = self._read(
            "SELECT summary, upto_message_id FROM summaries WHERE session_id = ? ORDER BY id DESC LIMIT 1",
            (session_id,),
        )
        return (rows[0]["summary"], rows[0]["upto_message_id"]) if rows else None

    def record_usage(
        self, session_id: str | None, *, model: str, usage: Usage, cost: float = 0.0, kind: str = "chat"
    ) -> None:
        """Count one model call; ``session_id`` is None for calls outside a session."""
        with self._write() as db:
            self._require_session(db, session_id)
            db.execute(
                """INSERT INTO usage (session_id, model, kind, input_tokens, output_tokens, cost, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (session_id, model, kind, usage.input_tokens, usage.output_tokens, cost, time.time()),
            )

    def usage_totals(self, session_id: str | None = None, *, kind: str | None = None) -> UsageTotals:
        """Totals over one session, or over everything when ``session_id`` is None; of one kind of
        call ("chat", "learning", ...) when ``kind`` is given."""
        rows = self._read(
            """SELECT model, COUNT(*) AS calls, SUM(input_tokens) AS input_tokens,
                      SUM(output_tokens) AS output_tokens, SUM(cost) AS cost
               FROM usage WHERE (?1 IS NULL OR session_id = ?1) AND (?2 IS NULL OR kind = ?2)
               GROUP BY model ORDER BY model""",
            (session_id, kind),
        )
        totals = UsageTotals()
        for r in rows:
            entry = {k: r[k] for k in ("calls", "input_tokens", "output_tokens", "cost")}
            totals.by_model[r["model"]] = entry
            totals.calls += entry["calls"]
            totals.input_tokens += entry["input_tokens"]
            totals.output_tokens += entry["output_tokens"]
            totals.cost += entry["cost"]
        return totals

    # settings the user granted, and small key/value state

    def add_allowed_command(self, pattern: str) -> None:
        pattern = self.redact(pattern)  # a pattern with a key in it is kept masked, and asks again
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO allowed_commands VALUES (?, ?)", (pattern, time.time()))

    def remove_allowed_command(self, pattern: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM allowed_commands WHERE pattern = ?", (pattern,)).rowcount > 0

    def allowed_commands(self) -> list[str]:
        return [r[0] for r in self._read("SELECT pattern FROM allowed_commands ORDER BY created_at, pattern")]

    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value)
            )

    # the other domains' ports, each made on first use (its module too)

    @cached_property
    def episodes(self) -> EpisodeStore:
        from ember.store.sqlite.episodes import SQLiteEpisodes

        return SQLiteEpisodes(self)

    @cached_property
    def lessons(self) -> LessonStore:
        from ember.store.sqlite.lessons import SQLiteLessons

        return SQLiteLessons(self)

    @cached_property
    def skill_stats(self) -> SkillStatsStore:
        from ember.store.sqlite.skill_stats import SQLiteSkillStats

        return SQLiteSkillStats(self)

    @cached_property
    def learning(self) -> LearningLog:
        from ember.store.sqlite.learning import SQLiteLearningLog

        return SQLiteLearningLog(self)

    @cached_property
    def index(self) -> SearchIndex:
        from ember.store.sqlite.text_index import SQLiteSearchIndex

        return SQLiteSearchIndex(self)

    @cached_property
    def vectors(self) -> VectorIndex:
        from ember.store.sqlite.vectors import SQLiteVectorIndex

        return SQLiteVectorIndex(self)

    @cached_property
    def archive(self) -> MessageArchive:
        from ember.store.sqlite.archive import SQLiteArchive

        return SQLiteArchive(self)

    @cached_property
    def gateway(self) -> GatewayStore:
        from ember.store.sqlite.gateway import SQLiteGateway

        return SQLiteGateway(self)

    @cached_property
    def inbox_files(self) -> InboxFileStore:
        from ember.store.sqlite.inbox_files import SQLiteInboxFiles

        return SQLiteInboxFiles(self)

    @cached_property
    def cron(self) -> CronStore:
        from ember.store.sqlite.cron import SQLiteCron

        return SQLiteCron(self)

    @cached_property
    def tables(self) -> TableTransfer:
        from ember.store.sqlite.tables import SQLiteTables

        return SQLiteTables(self)


def open_store(path: Path | str) -> SQLiteStore:
    """Open (creating if needed) the store at ``path``, typically ``EMBER_HOME / "ember.db"``."""
    return SQLiteStore(path)


if TYPE_CHECKING:
    def _is_a_store(store: SQLiteStore) -> Store:  # mypy checks that SQLiteStore implements every port
        return store
