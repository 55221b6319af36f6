"""The learning events: what the learning loop did (a lesson, a skill, a refusal, an undo), as
``ember memory show`` lists them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.memory.store import SQLiteStore


def log_event(store: SQLiteStore, kind: str, subject: str, detail: str = "", episode_id: int | None = None) -> None:
    with store._write() as db:
        db.execute(
            "INSERT INTO learning_events (kind, subject, detail, episode_id, created_at) VALUES (?, ?, ?, ?, ?)",
            (kind, subject[:300], detail[:1000], episode_id, time.time()),
        )


def recent_events(store: SQLiteStore, limit: int = 20) -> list[dict[str, Any]]:
    rows = store._read("SELECT * FROM learning_events ORDER BY id DESC LIMIT ?", (limit,))
    return [dict(r) for r in rows]
