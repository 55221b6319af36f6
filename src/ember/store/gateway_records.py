"""The gateway's records, as the store keeps them: inbox items, outbox items, allowed senders,
the workers' heartbeats.

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


@dataclass
class ChannelState:
    """A channel as one worker last saw it."""

    connected: bool
    last_error: str | None = None


@dataclass
class GatewayWorker:
    """One ``ember gateway run`` process, as its latest heartbeat described it.

    ``beat_every`` is kept with it because workers may be configured differently
    (``[gateway] claim_seconds``): whether a worker missed its heartbeats is judged by its own pace.
    """

    id: str  # its owner name on claims: host:pid:token
    host: str
    pid: int
    started_at: float
    beat_at: float
    beat_every: float  # seconds between its heartbeats
    channels: dict[str, ChannelState] = field(default_factory=dict)


@dataclass
class InboxFile:
    """A file that came with an inbox item, kept in the store until the item's turn has it, so any
    worker can run the turn, not only the one that received the message (and fetched the file).

    ``data`` is None when the file is settled without its bytes: ``problem`` says why (it could
    not be fetched, it is over the size limit), for the line the model reads instead."""

    inbox_id: int
    number: int  # its place among the message's files, from 0
    name: str
    data: bytes | None
    problem: str | None = None
