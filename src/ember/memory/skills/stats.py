"""What is counted about skills (``store.skill_stats``): uses, successes, recent outcomes, archiving.

The skills themselves are files (``ember.memory.skills.library``); their counts live in the store, keyed by
name, so a hand-edited SKILL.md keeps its record. ``recent`` holds the latest outcomes, oldest
first ("1" the task went well, "0" it did not), which is what archiving a failing skill looks at.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ember.store.learning_records import SkillStats

if TYPE_CHECKING:
    from ember.store.ports import Store

ORIGINS = ("learned", "agent", "installed", "local")


def ensure(store: Store, name: str, origin: str) -> None:
    """Give ``name`` a record (kept if it has one) and mark it active."""
    store.skill_stats.ensure(name, origin)


def set_archived(store: Store, name: str, archived: bool) -> None:
    """Archived now; or restored, with a clean slate: fresh recent outcomes, and the unused-clock
    restarted through ``updated_at`` (see ``idle_since``). A restore is not a use: ``uses`` and
    ``last_used`` stay as they were."""
    ensure(store, name, "local")
    store.skill_stats.set_archived(name, archived)


def idle_since(record: SkillStats) -> float:
    """When the unused-clock of an active skill started: its last use, or (when later) its first
    sighting, or its restore from the archive (``updated_at``, which archiving, restoring and uses set)."""
    return max(record.last_used or 0.0, record.created_at, record.updated_at)


def delete(store: Store, name: str) -> None:
    store.skill_stats.delete(name)


def stats(store: Store) -> dict[str, SkillStats]:
    return store.skill_stats.all()


def record_outcome(store: Store, names: Iterable[str], helped: bool, *, window: int = 5) -> None:
    """Count one use of each skill and whether the task then went well."""
    for name in dict.fromkeys(names):
        ensure(store, name, "local")
        store.skill_stats.record_outcome(name, helped, window=window)


def record_correction(store: Store, names: Iterable[str]) -> None:
    """The task that used these skills was corrected afterwards: its success did not count."""
    for name in dict.fromkeys(names):
        store.skill_stats.record_correction(name)
