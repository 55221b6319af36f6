"""Skill counts on PostgreSQL (``skill_stats``): the ``SkillStatsStore`` port. An outcome is
counted on the locked row, so workers counting at once all count."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ember.store.learning_records import SkillStats

if TYPE_CHECKING:
    from ember.store.postgres.database import Database


class PostgresSkillStats:
    def __init__(self, db: Database) -> None:
        self._db = db

    def ensure(self, name: str, origin: str) -> None:
        now = time.time()
        with self._db._write() as db:
            db.execute(
                "INSERT INTO skill_stats (name, origin, created_at, updated_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (name) DO NOTHING", (name, origin, now, now),
            )
            db.execute("UPDATE skill_stats SET archived_at = NULL WHERE name = %s", (name,))

    def set_archived(self, name: str, archived: bool) -> None:
        now = time.time()
        with self._db._write() as db:
            if archived:
                db.execute("UPDATE skill_stats SET archived_at = %s, updated_at = %s WHERE name = %s", (now, now, name))
            else:
                db.execute("UPDATE skill_stats SET recent = '', updated_at = %s WHERE name = %s", (now, name))

    def delete(self, name: str) -> None:
        with self._db._write() as db:
            db.execute("DELETE FROM skill_stats WHERE name = %s", (name,))

    def all(self) -> dict[str, SkillStats]:
        return {
            r["name"]: SkillStats(r["name"], r["origin"], r["uses"], r["successes"], r["recent"], r["last_used"],
                                  r["archived_at"], r["created_at"], r["updated_at"])
            for r in self._db._read("SELECT * FROM skill_stats")
        }

    def record_outcome(self, name: str, helped: bool, *, window: int) -> None:
        now = time.time()
        with self._db._write() as db:
            row = db.execute("SELECT recent FROM skill_stats WHERE name = %s FOR UPDATE", (name,)).fetchone()
            recent = ((row["recent"] if row else "") + ("1" if helped else "0"))[-max(window, 1):]
            db.execute(
                "UPDATE skill_stats SET uses = uses + 1, successes = successes + %s, recent = %s, last_used = %s,"
                " updated_at = %s WHERE name = %s",
                (1 if helped else 0, recent, now, now, name),
            )

    def record_correction(self, name: str) -> None:
        with self._db._write() as db:
            row = db.execute("SELECT recent FROM skill_stats WHERE name = %s FOR UPDATE", (name,)).fetchone()
            if row is None or not row["recent"].endswith("1"):
                return
            db.execute(
                "UPDATE skill_stats SET successes = GREATEST(successes - 1, 0), recent = %s WHERE name = %s",
                (row["recent"][:-1] + "0", name),
            )
