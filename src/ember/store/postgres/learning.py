"""The learning log on PostgreSQL (``learning_events``, and undo records in ``meta``): the
``LearningLog`` port. An event's undo record is kept under ``learned:<id>``, and the time it was
undone under ``learned:<id>:undone``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ember.store.learning_records import LearningEvent

if TYPE_CHECKING:
    from ember.store.postgres.database import Database

_UNDO = "learned:{id}"
_UNDONE = "learned:{id}:undone"
_SET_META = "INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
_COLUMNS = "id, kind, subject, detail, episode_id, created_at"


def _event(row: Any) -> LearningEvent:
    return LearningEvent(row["id"], row["kind"], row["subject"], row["detail"], row["episode_id"], row["created_at"])


class PostgresLearningLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def log(self, kind: str, subject: str, detail: str = "", episode_id: int | None = None, *,
            undo: str | None = None) -> int:
        with self._db._write() as db:
            row = db.execute(
                "INSERT INTO learning_events (kind, subject, detail, episode_id, created_at)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (kind, subject, detail, episode_id, time.time()),
            ).fetchone()
            event_id = int(row["id"])
            if undo is not None:
                db.execute(_SET_META, (_UNDO.format(id=event_id), undo))
        return event_id

    def recent(self, limit: int) -> list[LearningEvent]:
        return [_event(r) for r in
                self._db._read(f"SELECT {_COLUMNS} FROM learning_events ORDER BY id DESC LIMIT %s", (limit,))]

    def of_kinds(self, kinds: Iterable[str], limit: int) -> list[LearningEvent]:
        rows = self._db._read(f"SELECT {_COLUMNS} FROM learning_events WHERE kind = ANY(%s) ORDER BY id DESC LIMIT %s",
                              (list(kinds), limit))
        return [_event(r) for r in rows]

    def get(self, event_id: int, kinds: Iterable[str]) -> LearningEvent | None:
        rows = self._db._read(f"SELECT {_COLUMNS} FROM learning_events WHERE id = %s AND kind = ANY(%s)",
                              (event_id, list(kinds)))
        return _event(rows[0]) if rows else None

    def of_episode(self, episode_id: int, kinds: Iterable[str]) -> list[LearningEvent]:
        rows = self._db._read(f"SELECT {_COLUMNS} FROM learning_events WHERE episode_id = %s AND kind = ANY(%s)"
                              " ORDER BY id", (episode_id, list(kinds)))
        return [_event(r) for r in rows]

    def _meta(self, key: str) -> str | None:
        value = self._db._value("SELECT value FROM meta WHERE key = %s", (key,))
        return str(value) if value is not None else None

    def undo_record(self, event_id: int) -> str | None:
        return self._meta(_UNDO.format(id=event_id))

    def undone(self, event_id: int) -> bool:
        return self._meta(_UNDONE.format(id=event_id)) is not None

    def mark_undone(self, event_id: int) -> None:
        with self._db._write() as db:
            db.execute(_SET_META, (_UNDONE.format(id=event_id), str(time.time())))
