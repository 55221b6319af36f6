"""The gateway's durable records: inbox, outbox, which session a chat is, who may talk, pairing codes,
which workers run.

Every inbound message is recorded before any work starts (a repeat of an ``event_id`` is
dropped); every outbound one is recorded before it is sent and marked delivered only with the
platform's acknowledgement. A turn's replies are queued in the same transaction that marks its
inbox item done, so a crash leaves either the work to redo or the replies to send, never
neither. All of it lives in the store (``store.gateway``, the ``GatewayStore`` port); what is
kept is masked here first (``store.redact``), whatever the backend.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from ember.gateway.channel import Inbound
from ember.store.gateway_records import (
    ANSWER,
    DELIVERED,
    DONE,
    FAILED,
    PENDING,
    QUEUED,
    REFUSED,
    RUNNING,
    UNDELIVERABLE,
    ChannelState,
    GatewayWorker,
    InboxFile,
    InboxItem,
    OutboxItem,
    OutboxPart,
)

if TYPE_CHECKING:
    from ember.store.ports import Store

__all__ = ["ANSWER", "DELIVERED", "DONE", "FAILED", "PENDING", "QUEUED", "REFUSED", "RUNNING", "UNDELIVERABLE",
           "ChannelState", "GatewayWorker", "InboxFile", "InboxItem", "Ledger", "OutboxItem", "OutboxPart"]


class Ledger:
    """The gateway's records in one store; thread-safe (the store serializes its writes)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- inbox ----------------------------------------------------------------------------------

    def record(self, message: Inbound, status: str = QUEUED, payload: dict[str, Any] | None = None) -> int | None:
        """Record ``message``; its inbox id, or None when its ``event_id`` was recorded before."""
        return self.store.gateway.record_inbound(
            event_id=message.event_id, platform=message.platform, chat=message.chat, thread=message.thread,
            user_id=message.user, user_name=message.user_name, text=self.store.redact(message.text),
            payload=self.store.redact(json.dumps(payload or {})), status=status,
        )

    def inbox_item(self, inbox_id: int) -> InboxItem | None:
        return self.store.gateway.inbox_item(inbox_id)

    def start(self, inbox_id: int, session_id: str) -> None:
        """The item's turn begins (its attempts are counted: a crash mid-turn is seen after restart)."""
        self.store.gateway.start(inbox_id, session_id)

    def set_status(self, inbox_id: int, status: str, error: str | None = None) -> None:
        self.store.gateway.set_status(inbox_id, status, error)

    def unfinished(self) -> list[InboxItem]:
        """Items not done yet (queued, or running when the gateway stopped), oldest first."""
        return self.store.gateway.unfinished()

    def claim_next(self, owner: str, lease: float) -> InboxItem | None:
        """The next item that may run (the first unfinished one of its chat, claimed by no live
        worker), claimed for ``owner`` for ``lease`` seconds; None when there is none."""
        now = time.time()
        return self.store.gateway.claim_inbound(owner, now, now + lease)

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting or running per ``platform:chat``."""
        return self.store.gateway.queue_depths()

    # --- files that came with inbox items ------------------------------------------------------

    def keep_file(self, inbox_id: int, number: int, name: str, data: bytes | None, problem: str | None = None) -> None:
        """Keep a message's file for whichever worker runs its turn: its bytes, or (``data`` None) the
        problem that kept them away. Its name and problem are masked; its bytes are kept as they are."""
        self.store.inbox_files.put_file(InboxFile(inbox_id, number, self.store.redact(name), data,
                                                  self.store.redact(problem) if problem else None), time.time())

    def files_settled(self, inbox_id: int) -> int:
        """How many of the item's files are kept, with their bytes or without."""
        return self.store.inbox_files.settled(inbox_id)

    def files(self, inbox_id: int) -> list[InboxFile]:
        return self.store.inbox_files.files(inbox_id)

    def drop_files(self, inbox_id: int) -> None:
        self.store.inbox_files.drop_files(inbox_id)

    def prune_files(self, max_age: float) -> int:
        """Drop the files of items whose turn is over (or will never run), and any older than ``max_age``."""
        return self.store.inbox_files.prune_files(time.time() - max_age)

    # --- outbox ---------------------------------------------------------------------------------

    def _masked(self, parts: Iterable[OutboxPart]) -> list[OutboxPart]:
        """What is stored is what is sent: secrets masked."""
        return [replace(part, text=self.store.redact(part.text)) for part in parts]

    def enqueue(self, platform: str, chat: str, parts: Iterable[OutboxPart], *, kind: str,
                thread: str | None = None, inbox_id: int | None = None) -> list[int]:
        """Queue ``parts`` (in order) for ``platform:chat``; their outbox ids."""
        return self.store.gateway.enqueue(platform, chat, thread, self._masked(parts), kind=kind, inbox_id=inbox_id)

    def finish(self, inbox_id: int, platform: str, chat: str, thread: str | None, parts: Iterable[OutboxPart],
               *, status: str = DONE, kind: str = "reply", error: str | None = None) -> list[int]:
        """Queue a turn's replies and close its inbox item, in one transaction."""
        return self.store.gateway.enqueue(platform, chat, thread, self._masked(parts), kind=kind, inbox_id=inbox_id,
                                          close=(status, error))

    def due(self, platform: str, now: float | None = None, limit: int = 50) -> list[OutboxItem]:
        """For each chat of ``platform``, its oldest pending item, when it is due: a chat's messages go
        out in order, and one waiting for a retry holds back the ones after it."""
        return self.store.gateway.due(platform, time.time() if now is None else now, limit)

    def claim_due(self, platform: str, owner: str, lease: float, limit: int = 50) -> list[OutboxItem]:
        """``due``, less what other workers are sending, claimed for ``owner`` for ``lease`` seconds."""
        now = time.time()
        return self.store.gateway.claim_due(platform, owner, now, now + lease, limit)

    def next_due_at(self, platform: str) -> float | None:
        """When the next item of ``platform`` that no other worker is sending is due."""
        return self.store.gateway.next_due_at(platform)

    # --- claims of several workers ---------------------------------------------------------------

    def renew(self, owner: str, lease: float) -> int:
        """Hold ``owner``'s claims for another ``lease`` seconds; how many it holds."""
        return self.store.gateway.renew_claims(owner, time.time() + lease)

    def release(self, owner: str) -> None:
        """Give back ``owner``'s claims: other workers take those items at once."""
        self.store.gateway.release_claims(owner)

    def release_gone(self, gone: Callable[[str], bool]) -> list[str]:
        """Give back the claims of every owner ``gone`` says is dead; those owners."""
        dead = [owner for owner in self.store.gateway.claimants() if gone(owner)]
        for owner in dead:
            self.store.gateway.release_claims(owner)
        return dead

    def delivered(self, outbox_id: int, ack: str) -> None:
        """The platform acknowledged it: recorded the moment the ack arrives."""
        self.store.gateway.delivered(outbox_id, ack)

    def retry_later(self, outbox_id: int, error: str, at: float) -> None:
        self.store.gateway.retry_later(outbox_id, error, at)

    def undeliverable(self, outbox_id: int, error: str) -> None:
        self.store.gateway.undeliverable(outbox_id, error)

    def outbox_item(self, outbox_id: int) -> OutboxItem | None:
        return self.store.gateway.outbox_item(outbox_id)

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """``{platform: {"pending": n, "failed": n, "delivered": n}}``."""
        return self.store.gateway.outbox_counts()

    def last_errors(self) -> dict[str, str]:
        """The latest send error per platform (of an item not delivered since)."""
        return self.store.gateway.last_errors()

    # --- chats and sessions ----------------------------------------------------------------------

    def session_for(self, platform: str, chat: str, thread: str | None) -> str | None:
        return self.store.gateway.session_for(platform, chat, thread)

    def set_session(self, platform: str, chat: str, thread: str | None, session_id: str, person: str = "") -> None:
        self.store.gateway.set_session(platform, chat, thread, session_id, person)

    # --- senders and pairing ----------------------------------------------------------------------

    def sender(self, platform: str, user_id: str) -> str | None:
        """The person a sender was allowed as (by pairing or linking), or None."""
        return self.store.gateway.sender(platform, user_id)

    def allow_sender(self, platform: str, user_id: str, person: str, how: str) -> None:
        self.store.gateway.allow_sender(platform, user_id, person, how)

    def senders(self) -> list[dict[str, Any]]:
        return [asdict(sender) for sender in self.store.gateway.senders()]

    def new_pairing_code(self, ttl: float = 600.0) -> str:
        """A one-time code (8 characters, no look-alikes) valid for ``ttl`` seconds."""
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        code = "".join(secrets.choice(alphabet) for _ in range(8))
        self.store.gateway.add_pairing_code(code, time.time() + ttl)
        return code

    def use_pairing_code(self, code: str, by: str) -> bool:
        """Spend ``code`` (once, before it expires) for the sender ``by``; True when it was valid."""
        return self.store.gateway.use_pairing_code(code.strip().upper(), by)

    # --- workers' heartbeats ----------------------------------------------------------------------

    def beat(self, worker: GatewayWorker, forget_after: float) -> None:
        """Keep ``worker``'s heartbeat (its channels' errors masked), and forget every worker silent
        for more than ``forget_after`` seconds."""
        channels = {name: ChannelState(state.connected, self.store.redact(state.last_error) if state.last_error
                                       else None) for name, state in worker.channels.items()}
        self.store.gateway.beat(replace(worker, channels=channels), forget_before=worker.beat_at - forget_after)

    def workers(self, since: float) -> list[GatewayWorker]:
        """The workers that beat at ``since`` or later, the latest first."""
        return self.store.gateway.workers(since)

    def forget_worker(self, worker_id: str) -> None:
        """The worker stopped cleanly: it is no longer listed."""
        self.store.gateway.forget_worker(worker_id)
