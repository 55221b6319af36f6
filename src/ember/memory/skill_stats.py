"""What is counted about skills (``skill_stats`` table): uses, successes, recent outcomes, archiving.

The skills themselves are files (``ember.memory.skills``); their counts live in SQLite, keyed by
name, so a hand-edited SKILL.md keeps its record. ``recent`` holds the latest outcomes, oldest
first ("1" the task went well, "0" it did not), which is what archiving a failing skill looks at.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.memory.store import SQLiteStore

ORIGINS = ("learned", "agent", "installed", "local")


@dataclass
class SkillStats:
    name: str
    origin: str = "local"
    uses: int = 0
    successes: int = 0
    recent: str = ""
    last_used: float | None = None
    archived_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


def ensure(store: SQLiteStore, name: str, origin: str) -> None:
    """Give ``name`` a record (kept if it has one) and mark it active."""
    now = time.time()
    with store._write() as db:
        db.execute(
            "INSERT OR IGNORE INTO skill_stats (name, origin, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (name, origin, now, now),
        )
        db.execute("UPDATE skill_stats SET archived_at = NULL WHERE name = ?", (name,))


def set_archived(store: SQLiteStore, name: str, archived: bool) -> None:
    """Archived now; or restored, with a clean slate: fresh recent outcomes, and the unused-clock
    restarted through ``updated_at`` (see ``idle_since``). A restore is not a use: ``uses`` and
    ``last_used`` stay as they were."""
    ensure(store, name, "local")
    now = time.time()
    with store._write() as db:
        if archived:
            db.execute("UPDATE skill_stats SET archived_at = ?, updated_at = ? WHERE name = ?", (now, now, name))
        else:
            db.execute("UPDATE skill_stats SET recent = '', updated_at = ? WHERE name = ?", (now, name))


def idle_since(record: SkillStats) -> float:
    """When the unused-clock of an active skill started: its last use, or (when later) its first
    sighting, or its restore from the archive (``updated_at``, which archiving, restoring and uses set)."""
    return max(record.last_used or 0.0, record.created_at, record.updated_at)


def delete(store: SQLiteStore, name: str) -> None:
    with store._write() as db:
        db.execute("DELETE FROM skill_stats WHERE name = ?", (name,))


def stats(store: SQLiteStore) -> dict[str, SkillStats]:
    rows = store._read("SELECT * FROM skill_stats")
    return {
        r["name"]: SkillStats(r["name"], r["origin"], r["uses"], r["successes"], r["recent"], r["last_used"],
                              r["archived_at"], r["created_at"], r["updated_at"])
        for r in rows
    }


def record_outcome(store: SQLiteStore, names: Iterable[str], helped: bool, *, window: int = 5) -> None:
    """Count one use of each skill and whether the task then went well."""
    now = time.time()
    for name in dict.fromkeys(names):
        ensure(store, name, "local")
        with store._write() as db:
            row = db.execute("SELECT recent FROM skill_stats WHERE name = ?", (name,)).fetchone()
            recent = ((row["recent"] if row else "") + ("1" if helped else "0"))[-max(window, 1):]
            db.execute(
                "UPDATE skill_stats SET uses = uses + 1, successes = successes + ?, recent = ?, last_used = ?, "
                "updated_at = ? WHERE name = ?",
                (1 if helped else 0, recent, now, now, name),
            )


def record_correction(store: SQLiteStore, names: Iterable[str]) -> None:
    """The task that used these skills was corrected afterwards: its success did not count."""
    for name in dict.fromkeys(names):
        with store._write() as db:
            row = db.execute("SELECT recent FROM skill_stats WHERE name = ?", (name,)).fetchone()
            if row is None or not row["recent"].endswith("1"):
                continue
            db.execute(
                "UPDATE skill_stats SET successes = MAX(successes - 1, 0), recent = ? WHERE name = ?",
                (row["recent"][:-1] + "0", name),
            )
