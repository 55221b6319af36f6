"""Ember's durable state on PostgreSQL: sessions, messages (+ full-text search), summaries, usage,
settings; the other domains' ports are the modules beside this one, made on first use.

The guarantees are the SQLite store's (``sqlite/store.py``): every write is committed before the
method returns, every text the store keeps passes through its ``redact`` on the way in, and a
database that is not Ember's, or was migrated by a newer Ember, is refused. What differs is that
many processes write at once: a message takes the ``messages`` advisory lock, so message ids
become visible in the order they were handed out (the search index follows them by "everything
after id N", and must never skip one committed late).
"""

from __future__ import annotations

import secrets
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ember.models.base import Message, Usage
from ember.store.columns import message_columns, reasoning_blocks_column, session_from_row, stored
from ember.store.postgres.database import Database
from ember.store.postgres.queries import SNIPPET_MARKS, text_query, words_query
from ember.store.records import (
    AmbiguousSessionError,
    SearchHit,
    SessionInfo,
    StoredMessage,
    StoreError,
    UsageTotals,
    redact_message,
)

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

__all__ = ["PostgresStore"]

_SESSION_SELECT = """SELECT s.*, (SELECT count(*) FROM messages m WHERE m.session_id = s.id) AS message_count
    FROM sessions s"""
_MESSAGE_COLUMNS = ("id, session_id, role, content, tool_calls, tool_call_id, name, reasoning, is_error, images, model,"
                    " input_tokens, output_tokens, created_at, external_id, speaker, reasoning_blocks")


class PostgresStore(Database):
    """The ``Store`` on one PostgreSQL database; see the module docstring for the guarantees."""

    def _require_session(self, db: Any, session_id: str | None) -> None:
        if session_id is not None and not db.execute("SELECT 1 FROM sessions WHERE id = %s", (session_id,)).fetchone():
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
                added = db.execute(
                    "INSERT INTO sessions (id, title, source, model, created_at, updated_at, person)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    (sid, title, source, model, now, now, person),
                )
                if added.rowcount:
                    break
        return SessionInfo(sid, title, source, model, now, now, 0, person)

    def person_of(self, session_id: str | None) -> str:
        """Whose ``session_id`` is ("" for the owner, and for an unknown session)."""
        if not session_id:
            return ""
        return self._value("SELECT person FROM sessions WHERE id = %s", (session_id,)) or ""

    def get_session(self, id_or_prefix: str) -> SessionInfo | None:
        """The session with this id, or the only one whose id starts with it (else
        ``AmbiguousSessionError`` listing the candidates)."""
        key = id_or_prefix.strip()
        if not key:
            return None
        rows = self._read(_SESSION_SELECT + " WHERE s.id = %s", (key,))
        if not rows:
            rows = self._read(_SESSION_SELECT + " WHERE left(s.id, %s) = %s ORDER BY s.id LIMIT 11", (len(key), key))
        if len(rows) > 1:
            ids = [r["id"] for r in rows[:10]]
            more = ", ..." if len(rows) > 10 else ""
            raise AmbiguousSessionError(f"{key!r} matches several sessions: {', '.join(ids)}{more}", ids)
        return session_from_row(rows[0]) if rows else None

    def latest_session(self, source: str | None = None) -> SessionInfo | None:
        found = self.list_sessions(limit=1, source=source)
        return found[0] if found else None

    def list_sessions(self, *, limit: int = 50, source: str | None = None) -> list[SessionInfo]:
        rows = self._read(
            _SESSION_SELECT + " WHERE (%(source)s::text IS NULL OR s.source = %(source)s)"
            " ORDER BY s.updated_at DESC, s.id DESC LIMIT %(limit)s",
            {"source": source, "limit": limit},
        )
        return [session_from_row(r) for r in rows]

    def delete_session(self, session_id: str) -> bool:
        """Delete a session; ON DELETE CASCADE removes everything hanging off it (its search index
        rows too: under the ``search`` lock, as every change of the index's statistics)."""
        with self._write("search") as db:
            return db.execute("DELETE FROM sessions WHERE id = %s", (session_id,)).rowcount > 0

    def _set_session(self, session_id: str, column: str, value: str) -> None:
        with self._write() as db:
            if db.execute(f"UPDATE sessions SET {column} = %s WHERE id = %s", (value, session_id)).rowcount == 0:
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
        """Persist ``message`` and commit before returning its id (see the SQLite store's)."""
        message = redact_message(message, self.redactor.redact)
        title = self.redact(title) if title else title
        cols = message_columns(message)
        cols["reasoning_blocks"] = reasoning_blocks_column(message)
        cols.update(
            session_id=session_id, model=model, created_at=time.time(),
            input_tokens=usage.input_tokens if usage else None, output_tokens=usage.output_tokens if usage else None,
        )
        with self._write("messages") as db:
            touched = db.execute(
                "UPDATE sessions SET updated_at = %s, title = CASE WHEN %s::text IS NOT NULL"
                " AND (title IS NULL OR title = '') THEN %s ELSE title END WHERE id = %s",
                (cols["created_at"], title or None, title or None, session_id),
            )
            if touched.rowcount == 0:
                raise StoreError(f"no session {session_id!r}")
            names = ", ".join(cols)
            marks = ", ".join(["%s"] * len(cols))
            row = db.execute(f"INSERT INTO messages ({names}) VALUES ({marks}) RETURNING id",
                             tuple(cols.values())).fetchone()
            return int(row["id"])

    def get_messages(self, session_id: str, *, after_id: int | None = None) -> list[StoredMessage]:
        rows = self._read(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE session_id = %s AND id > %s ORDER BY id",
                          (session_id, after_id or 0))
        return [stored(r) for r in rows]

    def search_messages(
        self, query: str, *, limit: int = 20, session_id: str | None = None, any_terms: bool = False
    ) -> list[SearchHit]:
        """Full-text search, best first (``ts_rank_cd``). Any text is a valid query; ``word*`` is a prefix."""
        match = text_query(query)
        if match is None:
            return []
        start, end = SNIPPET_MARKS
        rows = self._read(
            f"""SELECT {', '.join('m.' + c.strip() for c in _MESSAGE_COLUMNS.split(','))},
                       ts_rank_cd(m.fts, q.query) AS score,
                       ts_headline('ember_plain', left(m.content, 100000), q.query, %(options)s) AS snip
                FROM messages m, (SELECT {words_query('ember_plain', '|' if any_terms else '&')} AS query) q
                WHERE m.fts @@ q.query AND (%(session)s::text IS NULL OR m.session_id = %(session)s)
                ORDER BY score DESC, m.id DESC LIMIT %(limit)s""",
            {**match, "session": session_id, "limit": limit,
             "options": f'StartSel="{start}", StopSel="{end}", MaxWords=16, MinWords=6, ShortWord=0,'
                        ' FragmentDelimiter="…", MaxFragments=1'},
        )
        return [SearchHit(stored(r), float(r["score"]), r["snip"]) for r in rows]

    # summaries and usage

    def add_summary(self, session_id: str, summary: str, upto_message_id: int) -> int:
        summary = self.redact(summary)
        with self._write() as db:
            self._require_session(db, session_id)
            row = db.execute(
                "INSERT INTO summaries (session_id, summary, upto_message_id, created_at) VALUES (%s, %s, %s, %s)"
                " RETURNING id", (session_id, summary, upto_message_id, time.time()),
            ).fetchone()
            return int(row["id"])

    def latest_summary(self, session_id: str) -> tuple[str, int] | None:
        rows = self._read(
            "SELECT summary, upto_message_id FROM summaries WHERE session_id = %s ORDER BY id DESC LIMIT 1",
            (session_id,),
        )
        return (rows[0]["summary"], int(rows[0]["upto_message_id"])) if rows else None

    def record_usage(
        self, session_id: str | None, *, model: str, usage: Usage, cost: float = 0.0, kind: str = "chat"
    ) -> None:
        with self._write() as db:
            self._require_session(db, session_id)
            db.execute(
                """INSERT INTO usage (session_id, model, kind, input_tokens, output_tokens, cost, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                (session_id, model, kind, usage.input_tokens, usage.output_tokens, cost, time.time()),
            )

    def usage_totals(self, session_id: str | None = None, *, kind: str | None = None) -> UsageTotals:
        rows = self._read(
            """SELECT model, count(*) AS calls, sum(input_tokens) AS input_tokens,
                      sum(output_tokens) AS output_tokens, sum(cost) AS cost
               FROM usage WHERE (%(session)s::text IS NULL OR session_id = %(session)s)
                 AND (%(kind)s::text IS NULL OR kind = %(kind)s)
               GROUP BY model ORDER BY model""",
            {"session": session_id, "kind": kind},
        )
        totals = UsageTotals()
        for r in rows:
            entry: dict[str, Any] = {"calls": int(r["calls"]), "input_tokens": int(r["input_tokens"]),
                     "output_tokens": int(r["output_tokens"]), "cost": float(r["cost"])}
            totals.by_model[r["model"]] = entry
            totals.calls += entry["calls"]
            totals.input_tokens += entry["input_tokens"]
            totals.output_tokens += entry["output_tokens"]
            totals.cost += entry["cost"]
        return totals

    # settings the user granted, and small key/value state

    def add_allowed_command(self, pattern: str) -> None:
        pattern = self.redact(pattern)
        with self._write() as db:
            db.execute("INSERT INTO allowed_commands VALUES (%s, %s) ON CONFLICT DO NOTHING", (pattern, time.time()))

    def remove_allowed_command(self, pattern: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM allowed_commands WHERE pattern = %s", (pattern,)).rowcount > 0

    def allowed_commands(self) -> list[str]:
        return [r["pattern"] for r in self._read("SELECT pattern FROM allowed_commands ORDER BY created_at, pattern")]

    def get_meta(self, key: str) -> str | None:
        value = self._value("SELECT value FROM meta WHERE key = %s", (key,))
        return str(value) if value is not None else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       (key, value))

    # the other domains' ports, each made on first use (its module too)

    @cached_property
    def episodes(self) -> EpisodeStore:
        from ember.store.postgres.episodes import PostgresEpisodes

        return PostgresEpisodes(self)

    @cached_property
    def lessons(self) -> LessonStore:
        from ember.store.postgres.lessons import PostgresLessons

        return PostgresLessons(self)

    @cached_property
    def skill_stats(self) -> SkillStatsStore:
        from ember.store.postgres.skill_stats import PostgresSkillStats

        return PostgresSkillStats(self)

    @cached_property
    def learning(self) -> LearningLog:
        from ember.store.postgres.learning import PostgresLearningLog

        return PostgresLearningLog(self)

    @cached_property
    def index(self) -> SearchIndex:
        from ember.store.postgres.text_index import PostgresSearchIndex

        return PostgresSearchIndex(self)

    @cached_property
    def vectors(self) -> VectorIndex:
        from ember.store.postgres.vectors import PostgresVectorIndex

        return PostgresVectorIndex(self)

    @cached_property
    def archive(self) -> MessageArchive:
        from ember.store.postgres.archive import PostgresArchive

        return PostgresArchive(self)

    @cached_property
    def gateway(self) -> GatewayStore:
        from ember.store.postgres.gateway import PostgresGateway

        return PostgresGateway(self)

    @cached_property
    def inbox_files(self) -> InboxFileStore:
        from ember.store.postgres.inbox_files import PostgresInboxFiles

        return PostgresInboxFiles(self)

    @cached_property
    def cron(self) -> CronStore:
        from ember.store.postgres.cron import PostgresCron

        return PostgresCron(self)

    @cached_property
    def tables(self) -> TableTransfer:
        from ember.store.postgres.tables import PostgresTables

        return PostgresTables(self)


if TYPE_CHECKING:
    def _is_a_store(store: PostgresStore) -> Store:  # mypy checks that PostgresStore implements every port
        return store
