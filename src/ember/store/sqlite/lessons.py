"""Lessons in SQLite (``lessons``, ``lessons_fts``): the ``LessonStore`` port."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ember.store.learning_records import Lesson
from ember.store.sqlite.fts import fts_prefixes

if TYPE_CHECKING:
    from ember.store.sqlite.database import Database


def _lesson(row: Any) -> Lesson:
    return Lesson(
        id=row["id"], rule=row["rule"], keywords=row["keywords"], kind=row["kind"], episode_id=row["episode_id"],
        uses=row["uses"], successes=row["successes"], recent=row["recent"], confirmations=row["confirmations"],
        retired_at=row["retired_at"], retired_reason=row["retired_reason"], created_at=row["created_at"],
    )


def _retire(db: sqlite3.Connection, lesson_id: int, reason: str, now: float) -> None:
    db.execute("UPDATE lessons SET retired_at = ?, retired_reason = ? WHERE id = ?", (now, reason, lesson_id))


class SQLiteLessons:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, lesson_id: int) -> Lesson | None:
        rows = self._db._read("SELECT * FROM lessons WHERE id = ?", (lesson_id,))
        return _lesson(rows[0]) if rows else None

    def all(self, *, include_retired: bool = False) -> list[Lesson]:
        where = "" if include_retired else "WHERE retired_at IS NULL"
        return [_lesson(r) for r in self._db._read(f"SELECT * FROM lessons {where} ORDER BY id")]

    def any_active(self) -> bool:
        return bool(self._db._read("SELECT 1 FROM lessons WHERE retired_at IS NULL LIMIT 1"))

    def candidates(self, words: list[str], *, include_retired: bool, limit: int, person: str | None) -> list[Lesson]:
        if not words:
            return []
        rows = self._db._read(
            """SELECT l.* FROM lessons_fts JOIN lessons l ON l.id = lessons_fts.rowid
               WHERE lessons_fts MATCH ? AND (? OR l.retired_at IS NULL) AND (? IS NULL OR l.person = ?)
               ORDER BY bm25(lessons_fts) LIMIT ?""",
            (fts_prefixes(words), include_retired, person, person, limit),
        )
        return [_lesson(r) for r in rows]

    def add(self, rule: str, keywords: str, *, kind: str, episode_id: int | None, person: str) -> int:
        now = time.time()
        with self._db._write() as db:
            cursor = db.execute(
                """INSERT INTO lessons (rule, keywords, kind, episode_id, created_at, updated_at, person)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (rule, keywords, kind, episode_id, now, now, person),
            )
            return int(cursor.lastrowid or 0)

    def reinforce(self, lesson_id: int, rule: str, keywords: str, episode_id: int | None) -> None:
        with self._db._write() as db:
            db.execute(
                """UPDATE lessons SET rule = ?, keywords = ?, confirmations = confirmations + 1,
                   episode_id = COALESCE(?, episode_id), retired_at = NULL, retired_reason = NULL,
                   recent = CASE WHEN retired_at IS NULL THEN recent ELSE '' END, updated_at = ?
                   WHERE id = ?""",
                (rule, keywords, episode_id, time.time(), lesson_id),
            )

    def record_outcome(self, lesson_ids: Iterable[int], helped: bool, *, window: int,
                       retire: Callable[[str], str | None]) -> list[int]:
        retired = []
        now = time.time()
        with self._db._write() as db:
            for lesson_id in dict.fromkeys(lesson_ids):
                row = db.execute("SELECT recent, retired_at FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
                if row is None:
                    continue
                recent = (row["recent"] + ("1" if helped else "0"))[-max(window, 1):]
                db.execute(
                    "UPDATE lessons SET uses = uses + 1, successes = successes + ?, recent = ?, updated_at = ?"
                    " WHERE id = ?",
                    (1 if helped else 0, recent, now, lesson_id),
                )
                reason = retire(recent) if row["retired_at"] is None else None
                if reason:
                    _retire(db, lesson_id, reason, now)
                    retired.append(lesson_id)
        return retired

    def record_correction(self, lesson_ids: Iterable[int], *, retire: Callable[[str], str | None]) -> list[int]:
        retired = []
        now = time.time()
        with self._db._write() as db:
            for lesson_id in dict.fromkeys(lesson_ids):
                row = db.execute("SELECT recent, retired_at FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
                if row is None or not row["recent"].endswith("1"):
                    continue
                recent = row["recent"][:-1] + "0"
                db.execute(
                    "UPDATE lessons SET successes = MAX(successes - 1, 0), recent = ?, updated_at = ? WHERE id = ?",
                    (recent, now, lesson_id),
                )
                reason = retire(recent) if row["retired_at"] is None else None
                if reason:
                    _retire(db, lesson_id, reason, now)
                    retired.append(lesson_id)
        return retired

    def set_retired(self, lesson_id: int, retired: bool, reason: str) -> bool:
        with self._db._write() as db:
            if retired:
                cursor = db.execute("UPDATE lessons SET retired_at = ?, retired_reason = ? WHERE id = ?",
                                    (time.time(), reason, lesson_id))
            else:
                cursor = db.execute(
                    "UPDATE lessons SET retired_at = NULL, retired_reason = NULL, recent = '' WHERE id = ?", (lesson_id,)
                )
            return cursor.rowcount > 0

    def delete(self, lesson_id: int) -> bool:
        with self._db._write() as db:
            return db.execute("DELETE FROM lessons WHERE id = ?", (lesson_id,)).rowcount > 0

    def counts(self) -> dict[str, int]:
        row = self._db._read("SELECT COUNT(*) AS total, SUM(retired_at IS NULL) AS active FROM lessons")[0]
        total, active = row["total"] or 0, row["active"] or 0
        return {"active": active, "retired": total - active}
