"""Importing, counting, finding, exporting and forgetting messages on PostgreSQL: the
``MessageArchive`` port. An import takes the ``messages`` advisory lock, as adding one message does."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ember.store.search_records import ArchivedMessage, ExportedMessage, ImportedRow, MemoryCounts

if TYPE_CHECKING:
    from ember.store.postgres.database import Database

_WITH_TITLE = ("SELECT m.id, m.session_id, s.title AS session_title, m.external_id, m.role, m.speaker, m.content,"
               " m.created_at FROM messages m JOIN sessions s ON s.id = m.session_id")


def _archived(row: Any) -> ArchivedMessage:
    return ArchivedMessage(row["id"], row["session_id"], row["session_title"], row["external_id"], row["role"],
                           row["speaker"], row["content"], row["created_at"])


class PostgresArchive:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _count(self, sql: str) -> int:
        return int(self._db._value(sql) or 0)

    def counts(self, speakers: int = 20) -> MemoryCounts:
        return MemoryCounts(
            sessions=self._count("SELECT count(*) FROM sessions"),
            messages=self._count("SELECT count(*) FROM messages"),
            imported_messages=self._count("SELECT count(*) FROM messages WHERE external_id IS NOT NULL"),
            speakers=[r[0] for r in self._db._read(
                "SELECT speaker FROM messages WHERE speaker IS NOT NULL GROUP BY speaker"
                " ORDER BY count(*) DESC, speaker LIMIT %s", (speakers,), plain=True)],
        )

    def session_named(self, source: str, title: str) -> str | None:
        value = self._db._value("SELECT id FROM sessions WHERE source = %s AND title = %s ORDER BY id LIMIT 1",
                                (source, title))
        return str(value) if value is not None else None

    def import_messages(self, rows: list[ImportedRow]) -> tuple[int, int]:
        if not rows:
            return 0, 0
        with self._db._write("messages") as db:
            with db.cursor() as cursor:
                cursor.executemany(
                    """INSERT INTO messages (session_id, role, content, external_id, speaker, created_at)
                       VALUES (%s, %s, %s, %s, %s, %s)
                       ON CONFLICT (session_id, external_id) WHERE external_id IS NOT NULL DO NOTHING""",
                    [(m.session_id, m.role, m.content, m.external_id, m.speaker, m.created_at) for m in rows],
                )
                added = max(cursor.rowcount, 0)
            db.execute(  # a session spans its messages' times
                """UPDATE sessions s SET
                       created_at = COALESCE((SELECT min(created_at) FROM messages WHERE session_id = s.id), s.created_at),
                       updated_at = COALESCE((SELECT max(created_at) FROM messages WHERE session_id = s.id), s.updated_at)
                   WHERE s.id = ANY(%s)""",
                (sorted({m.session_id for m in rows}),),
            )
        return added, len(rows) - added

    def find(self, *, message_id: int | None = None, external_id: str | None = None,
             session: str | None = None) -> list[ArchivedMessage]:
        if message_id is not None:
            rows = self._db._read(f"{_WITH_TITLE} WHERE m.id = %s", (message_id,))
        elif session is None:
            rows = self._db._read(f"{_WITH_TITLE} WHERE m.external_id = %s ORDER BY m.id", (external_id,))
        else:
            rows = self._db._read(
                f"{_WITH_TITLE} WHERE m.external_id = %s AND (s.title = %s OR s.id = %s) ORDER BY m.id",
                (external_id, session, session),
            )
        return [_archived(r) for r in rows]

    def delete_message(self, message_id: int, session_id: str, *, valid_times: tuple[float, float]) -> None:
        earliest, latest = valid_times
        params = {"session": session_id, "earliest": earliest, "latest": latest, "now": time.time()}
        with self._db._write("search") as db:  # ON DELETE CASCADE removes its index row, vectors and times
            db.execute("DELETE FROM messages WHERE id = %s", (message_id,))
            db.execute(
                """UPDATE sessions SET created_at = COALESCE(
                       (SELECT min(created_at) FROM messages WHERE session_id = %(session)s), %(now)s)
                   WHERE id = %(session)s AND NOT created_at BETWEEN %(earliest)s AND %(latest)s""",
                params,
            )
            db.execute(
                """UPDATE sessions SET updated_at = GREATEST(created_at, COALESCE(
                       (SELECT max(created_at) FROM messages WHERE session_id = %(session)s), created_at))
                   WHERE id = %(session)s""",
                params,
            )

    def export(self, session: str | None = None) -> list[ExportedMessage]:
        rows = self._db._read(
            """SELECT m.id, m.external_id, m.session_id, s.title, m.role, m.speaker, m.content, m.created_at
               FROM messages m JOIN sessions s ON s.id = m.session_id
               WHERE (%(session)s::text IS NULL OR m.session_id = %(session)s)
               ORDER BY s.created_at, s.id, m.id""",
            {"session": session}, plain=True,
        )
        return [ExportedMessage(*r) for r in rows]
