"""Lessons on PostgreSQL (``lessons`` with its generated ``fts``): the ``LessonStore`` port.

Counting an outcome reads a lesson and writes it back: the row is locked first (``FOR UPDATE``),
so two workers recording outcomes of one lesson at once both count."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ember.store.learning_records import Lesson
from ember.store.postgres.queries import prefixes, words_query

if TYPE_CHECKING:
    from ember.store.postgres.database import Database

_COLUMNS = ("id, rule, keywords, kind, episode_id, uses, successes, recent, confirmations, retired_at,"
            " retired_reason, created_at, updated_at, person")


def _lesson(row: Any) -> Lesson:
    return Lesson(
        id=row["id"], rule=row["rule"], keywords=row["keywords"], kind=row["kind"], episode_id=row["episode_id"],
        uses=row["uses"], successes=row["successes"], recent=row["recent"], confirmations=row["confirmations"],
        retired_at=row["retired_at"], retired_reason=row["retired_reason"], created_at=row["created_at"],
    )


def _retire(db: Any, lesson_id: int, reason: str, now: float) -> None:
    db.execute("UPDATE lessons SET retired_at = %s, retired_reason = %s WHERE id = %s", (now, reason, lesson_id))


class PostgresLessons:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, lesson_id: int) -> Lesson | None:
        rows = self._db._read(f"SELECT {_COLUMNS} FROM lessons WHERE id = %s", (lesson_id,))
        return _lesson(rows[0]) if rows else None

    def all(self, *, include_retired: bool = False) -> list[Lesson]:
        where = "" if include_retired else "WHERE retired_at IS NULL"
        return [_lesson(r) for r in self._db._read(f"SELECT {_COLUMNS} FROM lessons {where} ORDER BY id")]

    def any_active(self) -> bool:
        return bool(self._db._read("SELECT 1 FROM lessons WHERE retired_at IS NULL LIMIT 1"))

    def candidates(self, words: list[str], *, include_retired: bool, limit: int, person: str | None) -> list[Lesson]:
        if not words:
            return []
        rows = self._db._read(
            f"""SELECT {', '.join('l.' + c.strip() for c in _COLUMNS.split(','))}
                FROM lessons l, (SELECT {words_query('ember_plain', '|')} AS query) q
                WHERE l.fts @@ q.query AND (%(retired)s OR l.retired_at IS NULL)
                  AND (%(person)s::text IS NULL OR l.person = %(person)s)
                ORDER BY ts_rank_cd(l.fts, q.query, 1) DESC, l.id LIMIT %(limit)s""",
            {**prefixes(words), "retired": include_retired, "person": person, "limit": limit},
        )
        return [_lesson(r) for r in rows]

    def add(self, rule: str, keywords: str, *, kind: str, episode_id: int | None, person: str) -> int:
        now = time.time()
        with self._db._write() as db:
            row = db.execute(
                """INSERT INTO lessons (rule, keywords, kind, episode_id, created_at, updated_at, person)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (rule, keywords, kind, episode_id, now, now, person),
            ).fetchone()
            return int(row["id"])

    def reinforce(self, lesson_id: int, rule: str, keywords: str, episode_id: int | None) -> None:
        with self._db._write() as db:
            db.execute(
                """UPDATE lessons SET rule = %s, keywords = %s, confirmations = confirmations + 1,
                   episode_id = COALESCE(%s, episode_id), retired_at = NULL, retired_reason = NULL,
                   recent = CASE WHEN retired_at IS NULL THEN recent ELSE '' END, updated_at = %s
                   WHERE id = %s""",
                (rule, keywords, episode_id, time.time(), lesson_id),
            )

    def _locked(self, db: Any, lesson_id: int) -> Any:
        return db.execute("SELECT recent, retired_at FROM lessons WHERE id = %s FOR UPDATE", (lesson_id,)).fetchone()

    def record_outcome(self, lesson_ids: Iterable[int], helped: bool, *, window: int,
                       retire: Callable[[str], str | None]) -> list[int]:
        retired = []
        now = time.time()
        with self._db._write() as db:
            for lesson_id in sorted(dict.fromkeys(lesson_ids)):  # one order: no deadlock between workers
                row = self._locked(db, lesson_id)
                if row is None:
                    continue
                recent = (row["recent"] + ("1" if helped else "0"))[-max(window, 1):]
                db.execute(
                    "UPDATE lessons SET uses = uses + 1, successes = successes + %s, recent = %s, updated_at = %s"
                    " WHERE id = %s",
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
            for lesson_id in sorted(dict.fromkeys(lesson_ids)):
                row = self._locked(db, lesson_id)
                if row is None or not row["recent"].endswith("1"):
                    continue
                recent = row["recent"][:-1] + "0"
                db.execute(
                    "UPDATE lessons SET successes = GREATEST(successes - 1, 0), recent = %s, updated_at = %s"
                    " WHERE id = %s",
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
                cursor = db.execute("UPDATE lessons SET retired_at = %s, retired_reason = %s WHERE id = %s",
                                    (time.time(), reason, lesson_id))
            else:
                cursor = db.execute(
                    "UPDATE lessons SET retired_at = NULL, retired_reason = NULL, recent = '' WHERE id = %s",
                    (lesson_id,))
            return cursor.rowcount > 0

    def delete(self, lesson_id: int) -> bool:
        with self._db._write() as db:
            return db.execute("DELETE FROM lessons WHERE id = %s", (lesson_id,)).rowcount > 0

    def counts(self) -> dict[str, int]:
        row = self._db._read("SELECT count(*) AS total, count(*) FILTER (WHERE retired_at IS NULL) AS active"
                             " FROM lessons")[0]
        total, active = int(row["total"] or 0), int(row["active"] or 0)
        return {"active": active, "retired": total - active}
