"""The gateway's durable records: inbox, outbox, which session a chat is, who may talk, pairing codes.

Every inbound message is recorded before any work starts (a repeat of an ``event_id`` is
dropped); every outbound one is recorded before it is sent and marked delivered only with the
platform's acknowledgement. A turn's replies are queued in the same transaction that marks its
inbox item done, so a crash leaves either the work to redo or the replies to send, never
neither. All of it lives in the store's SQLite file (tables from migration
``gateway_inbox_outbox``).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ember.gateway.channel import Button, Inbound

if TYPE_CHECKING:
    from ember.memory.store import SQLiteStore

# Inbox states: queued (waiting for its chat's turn), running, done, failed (told the user),
# answer (a reply to a question a running turn asked), refused (a stranger; never reached the model).
QUEUED, RUNNING, DONE, FAILED, ANSWER, REFUSED = "queued", "running", "done", "failed", "answer", "refused"
# Outbox states.
PENDING, DELIVERED, UNDELIVERABLE = "pending", "delivered", "failed"


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


def _inbox(row: Any) -> InboxItem:
    return InboxItem(
        id=row["id"], event_id=row["event_id"], platform=row["platform"], chat=row["chat"], thread=row["thread"],
        user_id=row["user_id"], user_name=row["user_name"], text=row["text"], status=row["status"],
        session_id=row["session_id"], attempts=row["attempts"], payload=json.loads(row["payload"] or "{}"),
    )


def _outbox(row: Any) -> OutboxItem:
    buttons = [Button(b["label"], b["value"]) for b in json.loads(row["buttons"] or "[]")]
    return OutboxItem(
        id=row["id"], platform=row["platform"], chat=row["chat"], thread=row["thread"], text=row["text"],
        buttons=buttons, request_id=row["request_id"], file=row["file"], kind=row["kind"],
        inbox_id=row["inbox_id"], status=row["status"], attempts=row["attempts"], next_at=row["next_at"],
        last_error=row["last_error"], ack=row["ack"],
    )


class Ledger:
    """The gateway's tables in one store; thread-safe (the store serializes its writes)."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    # --- inbox ----------------------------------------------------------------------------------

    def record(self, message: Inbound, status: str = QUEUED, payload: dict[str, Any] | None = None) -> int | None:
        """Record ``message``; its inbox id, or None when its ``event_id`` was recorded before."""
        now = time.time()
        with self.store._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO gateway_inbox (event_id, platform, chat, thread, user_id, user_name, text,"
                " payload, status, received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (message.event_id, message.platform, message.chat, message.thread, message.user, message.user_name,
                 self.store.redact(message.text), self.store.redact(json.dumps(payload or {})), status, now, now),
            )
            return cursor.lastrowid if cursor.rowcount else None

    def inbox_item(self, inbox_id: int) -> InboxItem | None:
        rows = self.store._read("SELECT * FROM gateway_inbox WHERE id = ?", (inbox_id,))
        return _inbox(rows[0]) if rows else None

    def start(self, inbox_id: int, session_id: str) -> None:
        """The item's turn begins (its attempts are counted: a crash mid-turn is seen after restart)."""
        with self.store._write() as db:
            db.execute("UPDATE gateway_inbox SET status = ?, session_id = ?, attempts = attempts + 1, updated_at = ?"
                       " WHERE id = ?", (RUNNING, session_id, time.time(), inbox_id))

    def set_status(self, inbox_id: int, status: str, error: str | None = None) -> None:
        with self.store._write() as db:
            db.execute("UPDATE gateway_inbox SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                       (status, error, time.time(), inbox_id))

    def unfinished(self) -> list[InboxItem]:
        """Items not done yet (queued, or running when the gateway stopped), oldest first."""
        rows = self.store._read("SELECT * FROM gateway_inbox WHERE status IN (?, ?) ORDER BY id", (QUEUED, RUNNING))
        return [_inbox(r) for r in rows]

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting or running per ``platform:chat``."""
        rows = self.store._read(
            "SELECT platform, chat, COUNT(*) AS n FROM gateway_inbox WHERE status IN (?, ?) GROUP BY platform, chat",
            (QUEUED, RUNNING))
        return {f"{r['platform']}:{r['chat']}": r["n"] for r in rows}

    # --- outbox ---------------------------------------------------------------------------------

    def _insert(self, db: Any, platform: str, chat: str, thread: str | None, parts: Iterable[OutboxPart],
                kind: str, inbox_id: int | None, now: float) -> list[int]:
        ids = []
        for number, part in enumerate(parts):
            buttons = json.dumps([{"label": b.label, "value": b.value} for b in part.buttons]) if part.buttons else None
            text = self.store.redact(part.text)  # what is stored is what is sent: secrets masked
            cursor = db.execute(
                "INSERT INTO gateway_outbox (platform, chat, thread, text, buttons, request_id, file, kind, inbox_id,"
                " part, status, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (platform, chat, thread, text, buttons, part.request_id, part.file, kind, inbox_id, number,
                 PENDING, now, now),
            )
            ids.append(int(cursor.lastrowid or 0))
        return ids

    def enqueue(self, platform: str, chat: str, parts: Iterable[OutboxPart], *, kind: str,
                thread: str | None = None, inbox_id: int | None = None) -> list[int]:
        """Queue ``parts`` (in order) for ``platform:chat``; their outbox ids."""
        with self.store._write() as db:
            return self._insert(db, platform, chat, thread, parts, kind, inbox_id, time.time())

    def finish(self, inbox_id: int, platform: str, chat: str, thread: str | None, parts: Iterable[OutboxPart],
               *, status: str = DONE, kind: str = "reply", error: str | None = None) -> list[int]:
        """Queue a turn's replies and close its inbox item, in one transaction."""
        now = time.time()
        with self.store._write() as db:
            ids = self._insert(db, platform, chat, thread, parts, kind, inbox_id, now)
            db.execute("UPDATE gateway_inbox SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                       (status, error, now, inbox_id))
        return ids

    def due(self, platform: str, now: float | None = None, limit: int = 50) -> list[OutboxItem]:
        """For each chat of ``platform``, its oldest pending item, when it is due: a chat's messages go
        out in order, and one waiting for a retry holds back the ones after it."""
        now = time.time() if now is None else now
        rows = self.store._read(
            "SELECT o.* FROM gateway_outbox o JOIN (SELECT MIN(id) AS id FROM gateway_outbox WHERE status = ?"
            " AND platform = ? GROUP BY chat) first ON first.id = o.id WHERE o.next_at <= ? ORDER BY o.id LIMIT ?",
            (PENDING, platform, now, limit))
        return [_outbox(r) for r in rows]

    def next_due_at(self, platform: str) -> float | None:
        rows = self.store._read("SELECT MIN(next_at) AS t FROM gateway_outbox WHERE status = ? AND platform = ?",
                                (PENDING, platform))
        return rows[0]["t"] if rows and rows[0]["t"] is not None else None

    def delivered(self, outbox_id: int, ack: str) -> None:
        """The platform acknowledged it: recorded the moment the ack arrives."""
        with self.store._write() as db:
            db.execute("UPDATE gateway_outbox SET status = ?, ack = ?, attempts = attempts + 1, delivered_at = ?,"
                       " last_error = NULL WHERE id = ?", (DELIVERED, ack, time.time(), outbox_id))

    def retry_later(self, outbox_id: int, error: str, at: float) -> None:
        with self.store._write() as db:
            db.execute("UPDATE gateway_outbox SET attempts = attempts + 1, last_error = ?, next_at = ? WHERE id = ?",
                       (error, at, outbox_id))

    def undeliverable(self, outbox_id: int, error: str) -> None:
        with self.store._write() as db:
            db.execute("UPDATE gateway_outbox SET status = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
                       (UNDELIVERABLE, error, outbox_id))

    def outbox_item(self, outbox_id: int) -> OutboxItem | None:
        rows = self.store._read("SELECT * FROM gateway_outbox WHERE id = ?", (outbox_id,))
        return _outbox(rows[0]) if rows else None

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """``{platform: {"pending": n, "failed": n, "delivered": n}}``."""
        rows = self.store._read("SELECT platform, status, COUNT(*) AS n FROM gateway_outbox GROUP BY platform, status")
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["platform"], {PENDING: 0, DELIVERED: 0, UNDELIVERABLE: 0})[row["status"]] = row["n"]
        return counts

    def last_errors(self) -> dict[str, str]:
        """The latest send error per platform (of an item not delivered since)."""
        rows = self.store._read(
            "SELECT platform, last_error FROM gateway_outbox WHERE last_error IS NOT NULL AND status != ?"
            " ORDER BY id", (DELIVERED,))
        return {r["platform"]: r["last_error"] for r in rows}

    # --- chats and sessions ----------------------------------------------------------------------

    def session_for(self, platform: str, chat: str, thread: str | None) -> str | None:
        rows = self.store._read("SELECT session_id FROM gateway_chats WHERE platform = ? AND chat = ? AND thread = ?",
                                (platform, chat, thread or ""))
        return rows[0]["session_id"] if rows else None

    def set_session(self, platform: str, chat: str, thread: str | None, session_id: str, person: str = "") -> None:
        with self.store._write() as db:
            db.execute("INSERT OR REPLACE INTO gateway_chats (platform, chat, thread, session_id, person, updated_at)"
                       " VALUES (?, ?, ?, ?, ?, ?)", (platform, chat, thread or "", session_id, person, time.time()))

    # --- senders and pairing ----------------------------------------------------------------------

    def sender(self, platform: str, user_id: str) -> str | None:
        """The person a sender was allowed as (by pairing or linking), or None."""
        rows = self.store._read("SELECT person FROM gateway_senders WHERE platform = ? AND user_id = ?",
                                (platform, user_id))
        return rows[0]["person"] if rows else None

    def allow_sender(self, platform: str, user_id: str, person: str, how: str) -> None:
        with self.store._write() as db:
            db.execute("INSERT OR REPLACE INTO gateway_senders (platform, user_id, person, how, created_at)"
                       " VALUES (?, ?, ?, ?, ?)", (platform, user_id, person, how, time.time()))

    def senders(self) -> list[dict[str, Any]]:
        rows = self.store._read("SELECT platform, user_id, person, how FROM gateway_senders ORDER BY person, platform")
        return [dict(r) for r in rows]

    def new_pairing_code(self, ttl: float = 600.0) -> str:
        """A one-time code (8 characters, no look-alikes) valid for ``ttl`` seconds."""
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        code = "".join(secrets.choice(alphabet) for _ in range(8))
        with self.store._write() as db:
            db.execute("DELETE FROM gateway_pairing WHERE expires_at < ?", (time.time(),))
            db.execute("INSERT INTO gateway_pairing (code, expires_at) VALUES (?, ?)", (code, time.time() + ttl))
        return code

    def use_pairing_code(self, code: str, by: str) -> bool:
        """Spend ``code`` (once, before it expires) for the sender ``by``; True when it was valid."""
        with self.store._write() as db:
            cursor = db.execute("UPDATE gateway_pairing SET used_by = ? WHERE code = ? AND used_by IS NULL"
                                " AND expires_at >= ?", (by, code.strip().upper(), time.time()))
            return cursor.rowcount == 1
