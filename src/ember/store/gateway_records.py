"""The gateway's records, as the store keeps them: inbox items, outbox items, allowed senders.

The gateway decides what they mean (``ember.gateway.ledger``, ``service``); the store keeps them
durable. ``Button`` lives here because an outbox item carries its buttons until it is delivered;
channels import it from ``ember.gateway.channel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Inbox states: queued (waiting for its chat's turn), running, done, failed (told the user),
# answer (a reply to a question a running turn asked), refused (a stranger; never reached the model).
QUEUED, RUNNING, DONE, FAILED, ANSWER, REFUSED = "queued", "running", "done", "failed", "answer", "refused"
# Outbox states.
PENDING, DELIVERED, UNDELIVERABLE = "pending", "delivered", "failed"


@dataclass
class Button:
    label: str
    value: str


@dataclass
class InboxItem:
    id: int
    event_id: str
    platform: str
    chat: str
    thread: str | None
    user_id: str
    user_name: str
    text: str
    status: str
    session_id: str | None
    attempts: int
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class OutboxPart:
    """One platform message to queue (text already within the channel's limit)."""

    text: str
    buttons: list[Button] = field(default_factory=list)
    request_id: str | None = None
    file: str | None = None


@dataclass
class OutboxItem:
    id: int
    platform: str
    chat: str
    thread: str | None
    text: str
    buttons: list[Button]
    request_id: str | None
    file: str | None
    kind: str
    inbox_id: int | None
    status: str
    attempts: int
    next_at: float
    last_error: str | None
    ack: str | None


@dataclass
class AllowedSender:
    """A sender allowed by pairing or linking, and the person they are."""

    platform: str
    user_id: str
    person: str
    how: str
