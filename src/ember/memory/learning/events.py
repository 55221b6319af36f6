"""The learning events: what the learning loop did (a lesson, a skill, a refusal, an undo), as
``ember memory show`` lists them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.store.ports import Store


def log_event(store: Store, kind: str, subject: str, detail: str = "", episode_id: int | None = None) -> None:
    store.learning.log(kind, subject[:300], detail[:1000], episode_id)


def recent_events(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    return [event.as_dict() for event in store.learning.recent(limit)]
