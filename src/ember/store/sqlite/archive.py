"""Importing, counting, finding, exporting and forgetting messages in SQLite: the
``MessageArchive`` port."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ember.store.search_records import ArchivedMessage, ExportedMessage, ImportedRow, MemoryCounts

if TYPE_CHECKING:
    from ember.store.sqlite.database import Database

_WITH_TITLE = ("SELECT m.id, m.session_id, s.title AS session_title, m.external_id, m.role, m.speaker, m.content,"
               " m.created_at FROM messages m JOIN sessions s ON s.id = m.session_id")


def _archived(row: Any) -> ArchivedMessage:
    return ArchivedMessage(row["id"], row["session_id"], row["session_title"], row["external_id"], row["role"],
                           row["speaker"], row["content"], row["created_at"])


class SQLiteArchive:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _count(self, sql: str) -> int:
        return int(self._db._read(sql)[0][0] or 0)

    def counts(self, speakers: int = 20) -> MemoryCounts:
        return MemoryCounts(
            sessions=self._count("SELECT COUNT(*) FROM sessions"),
            messages=self._count("SELECT COUNT(*) FROM messages"),
            imported_messages=self._count("SELECT COUNT(*) FROM messages WHERE external_id IS NOT NULL"),
            speakers=[r[0] for r in self._db._read(
                "SELECT speaker FROM messages WHERE speaker IS NOT NULL GROUP BY speaker ORDER BY COUNT(*) DESC LIMIT ?",
                (speakers,))],
        )

    def session_named(self, source: str, title: str) -> str | None:
        rows = self._db._read("SELECT id FROM sessions WHERE source = ? AND title = ? ORDER BY id LIMIT 1", (source, title))
        return rows[0][0] if rows else None

    def import_messages(self, rows: list[ImportedRow]) -> tuple[int, int]:
        added = duplicates = 0
        with self._db._write() as db:
            for m in rows:
                if m.external_id is not None and db.execute(
                    "SELECT 1 FROM messages WHERE session_id = ? AND external_id = ?", (m.session_id, m.external_id)
                ).fetchone():
                    duplicates += 1
                    continue
                db.execute(
                    """INSERT INTO messages (session_id, role, content, external_id, speaker, created_at)
                       VALUES (?, ?, ?, ?, ?, ?)""",
                    (m.session_id, m.role, m.content, m.external_id, m.speaker, m.created_at),
                )
                added += 1
            for sid in {m.session_id for m in rows}:  # a session spans its messages' times
                db.execute(
                    """UPDATE sessions SET
                       created_at = COALESCE((SELECT MIN(created_at) FROM messages WHERE session_id = ?1), created_at),
                       updated_at = COALESCE((SELECT MAX(created_at) FROM messages WHERE session_id = ?1), updated_at)
                       WHERE id = ?1""",
                    (sid,),
                )
        return added, duplicates

    def find(self, *, message_id: int | None = None, external_id: str | None = None,
             session: str | None = None) -> list[ArchivedMessage]:
        if message_id is not None:
            rows = self._db._read(f"{_WITH_TITLE} WHERE m.id = ?", (message_id,))
        elif session is None:
            rows = self._db._read(f"{_WITH_TITLE} WHERE m.external_id = ? ORDER BY m.id", (external_id,))
        else:
            rows = self._db._read(
                f"{_WITH_TITLE} WHERE m.external_id = ? AND (s.title = ? OR s.id = ?) ORDER BY m.id",
                (external_id, session, session),
            )
        return [_archived(r) for r in rows]

    def delete_message(self, message_id: int, session_id: str, *, valid_times: tuple[float, float]) -> None:
        earliest, latest = valid_times
        with self._db._write() as db:  # triggers and ON DELETE CASCADE remove its FTS row, vectors and times
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            # the session's times follow its remaining messages (a bad stored time must not outlive its message)
            db.execute(
                """UPDATE sessions SET created_at = COALESCE(
                       (SELECT MIN(created_at) FROM messages WHERE session_id = ?1), ?4)
                   WHERE id = ?1 AND NOT created_at BETWEEN ?2 AND ?3""",
                (session_id, earliest, latest, time.time()),
            )
            db.execute(
                """UPDATE sessions SET updated_at = MAX(created_at, COALESCE(
                       (SELECT MAX(created_at) FROM messages WHERE session_id = ?1), created_at))
                   WHERE id = ?1""",
                (session_id,),
            )

    def export(self, session: str | None = None) -> list[ExportedMessage]:
        rows = self._db._read(
            """SELECT m.id, m.external_id, m.session_id, s.title, m.role, m.speaker, m.content, m.created_at
               FROM messages m JOIN sessions s ON s.id = m.session_id
               WHERE (?1 IS NULL OR m.session_id = ?1) ORDER BY s.created_at, s.id, m.id""",
            (session,),
        )
        return [ExportedMessage(*r) for r in rows]
