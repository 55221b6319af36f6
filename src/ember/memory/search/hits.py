"""``Hit``: one memory search result, whatever it came from (a message, an episode, a lesson...)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Hit:
    """A search result, best first in a list. ``id`` is what ``ember memory forget`` takes back:
    a message's external id (or its row id), or ``<source>:<id>`` for other sources."""

    id: str
    score: float
    source: str = "messages"
    text: str = ""
    session_id: str | None = None
    speaker: str | None = None
    role: str | None = None
    created_at: float | None = None
    message_id: int | None = None
