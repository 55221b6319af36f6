"""The gateway's records in SQLite (tables of migrations ``gateway_inbox_outbox``,
``gateway_claims`` and ``gateway_workers``): the ``GatewayStore`` port. A turn's replies are
queued in the same transaction that closes its inbox item.

Workers claim items in a ``BEGIN IMMEDIATE`` transaction (one writer at a time: two workers never
see the same item free); an idle worker only reads, so it takes no write lock."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import TYPE_CHECKING

from ember.store.gateway_records import (
    DELIVERED,
    PENDING,
    QUEUED,
    RUNNING,
    UNDELIVERABLE,
    AllowedSender,
    GatewayWorker,
    InboxItem,
    OutboxItem,
    OutboxPart,
)
from ember.store.gateway_rows import channels_json, gateway_worker, inbox_item, outbox_item

if TYPE_CHECKING:
    from ember.store.sqlite.database import Database


def _set_status(db: sqlite3.Connection, inbox_id: int, status: str, error: str | None, now: float) -> None:
    """A finished item leaves its claim; a queued or running one keeps it."""
    db.execute("UPDATE gateway_inbox SET status = ?, error = ?, updated_at = ?,"
               " claimed_by = CASE WHEN ? IN (?, ?) THEN claimed_by END,"
               " claimed_until = CASE WHEN ? IN (?, ?) THEN claimed_until END WHERE id = ?",
               (status, error, now, status, QUEUED, RUNNING, status, QUEUED, RUNNING, inbox_id))


# The item that may run next: unfinished, no live claim on it, and the first unfinished item of its
# chat (platform, chat, thread); ?1 is now.
_CLAIMABLE = f"""SELECT i.id FROM gateway_inbox i
    WHERE i.id IN (SELECT MIN(e.id) FROM gateway_inbox e WHERE e.status IN ('{QUEUED}', '{RUNNING}')
                   GROUP BY e.platform, e.chat, COALESCE(e.thread, ''))
      AND (i.claimed_by IS NULL OR i.claimed_until < ?1)
    ORDER BY i.id LIMIT 1"""

# The pending items of platform ?2 that may go now (?1): the first pending of their chat, no live claim.
_SENDABLE = f"""FROM gateway_outbox o
    WHERE o.id IN (SELECT MIN(p.id) FROM gateway_outbox p WHERE p.status = '{PENDING}' AND p.platform = ?2
                   GROUP BY p.chat)
      AND (o.claimed_by IS NULL OR o.claimed_until < ?1)"""


class SQLiteGateway:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- inbox -----------------------------------------------------------------------------------------

    def record_inbound(self, *, event_id: str, platform: str, chat: str, thread: str | None, user_id: str,
                       user_name: str, text: str, payload: str, status: str) -> int | None:
        now = time.time()
        with self._db._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO gateway_inbox (event_id, platform, chat, thread, user_id, user_name, text,"
                " payload, status, received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event_id, platform, chat, thread, user_id, user_name, text, payload, status, now, now),
            )
            return cursor.lastrowid if cursor.rowcount else None

    def inbox_item(self, inbox_id: int) -> InboxItem | None:
        rows = self._db._read("SELECT * FROM gateway_inbox WHERE id = ?", (inbox_id,))
        return inbox_item(rows[0]) if rows else None

    def start(self, inbox_id: int, session_id: str) -> None:
        with self._db._write() as db:
            db.execute("UPDATE gateway_inbox SET status = ?, session_id = ?, attempts = attempts + 1, updated_at = ?"
                       " WHERE id = ?", (RUNNING, session_id, time.time(), inbox_id))

    def set_status(self, inbox_id: int, status: str, error: str | None = None) -> None:
        with self._db._write() as db:
            _set_status(db, inbox_id, status, error, time.time())

    def unfinished(self) -> list[InboxItem]:
        rows = self._db._read("SELECT * FROM gateway_inbox WHERE status IN (?, ?) ORDER BY id", (QUEUED, RUNNING))
        return [inbox_item(r) for r in rows]

    def claim_inbound(self, owner: str, now: float, until: float) -> InboxItem | None:
        if not self._db._read(_CLAIMABLE, (now,)):
            return None
        with self._db._write() as db:
            row = db.execute(_CLAIMABLE, (now,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE gateway_inbox SET claimed_by = ?, claimed_until = ? WHERE id = ?", (owner, until, row[0]))
        return self.inbox_item(row[0])

    def queue_depths(self) -> dict[str, int]:
        rows = self._db._read(
            "SELECT platform, chat, COUNT(*) AS n FROM gateway_inbox WHERE status IN (?, ?) GROUP BY platform, chat",
            (QUEUED, RUNNING))
        return {f"{r['platform']}:{r['chat']}": r["n"] for r in rows}

    # --- outbox ----------------------------------------------------------------------------------------

    def enqueue(self, platform: str, chat: str, thread: str | None, parts: list[OutboxPart], *, kind: str,
                inbox_id: int | None = None, close: tuple[str, str | None] | None = None) -> list[int]:
        now = time.time()
        ids = []
        with self._db._write() as db:
            for number, part in enumerate(parts):
                buttons = json.dumps([{"label": b.label, "value": b.value} for b in part.buttons]) if part.buttons \
                    else None
                cursor = db.execute(
                    "INSERT INTO gateway_outbox (platform, chat, thread, text, buttons, request_id, file, kind,"
                    " inbox_id, part, status, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (platform, chat, thread, part.text, buttons, part.request_id, part.file, kind, inbox_id, number,
                     PENDING, now, now),
                )
                ids.append(int(cursor.lastrowid or 0))
            if close is not None and inbox_id is not None:
                _set_status(db, inbox_id, close[0], close[1], now)
        return ids

    def due(self, platform: str, now: float, limit: int) -> list[OutboxItem]:
        rows = self._db._read(
            "SELECT o.* FROM gateway_outbox o JOIN (SELECT MIN(id) AS id FROM gateway_outbox WHERE status = ?"
            " AND platform = ? GROUP BY chat) first ON first.id = o.id WHERE o.next_at <= ? ORDER BY o.id LIMIT ?",
            (PENDING, platform, now, limit))
        return [outbox_item(r) for r in rows]

    def claim_due(self, platform: str, owner: str, now: float, until: float, limit: int) -> list[OutboxItem]:
        query = f"SELECT o.id {_SENDABLE} AND o.next_at <= ?1 ORDER BY o.id LIMIT ?3"
        if not self._db._read(query, (now, platform, limit)):
            return []
        with self._db._write() as db:
            ids = [r[0] for r in db.execute(query, (now, platform, limit))]
            db.executemany("UPDATE gateway_outbox SET claimed_by = ?, claimed_until = ? WHERE id = ?",
                           [(owner, until, i) for i in ids])
            rows = db.execute(f"SELECT * FROM gateway_outbox WHERE id IN ({', '.join('?' * len(ids))}) ORDER BY id",
                              ids).fetchall()
        return [outbox_item(r) for r in rows]

    def next_due_at(self, platform: str, now: float | None = None) -> float | None:
        rows = self._db._read(f"SELECT MIN(o.next_at) AS t {_SENDABLE}",
                              (time.time() if now is None else now, platform))
        return rows[0]["t"] if rows and rows[0]["t"] is not None else None

    def delivered(self, outbox_id: int, ack: str) -> None:
        with self._db._write() as db:
            db.execute("UPDATE gateway_outbox SET status = ?, ack = ?, attempts = attempts + 1, delivered_at = ?,"
                       " last_error = NULL, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                       (DELIVERED, ack, time.time(), outbox_id))

    def retry_later(self, outbox_id: int, error: str, at: float) -> None:
        with self._db._write() as db:
            db.execute("UPDATE gateway_outbox SET attempts = attempts + 1, last_error = ?, next_at = ?,"
                       " claimed_by = NULL, claimed_until = NULL WHERE id = ?", (error, at, outbox_id))

    def undeliverable(self, outbox_id: int, error: str) -> None:
        with self._db._write() as db:
            db.execute("UPDATE gateway_outbox SET status = ?, attempts = attempts + 1, last_error = ?,"
                       " claimed_by = NULL, claimed_until = NULL WHERE id = ?", (UNDELIVERABLE, error, outbox_id))

    # --- claims ----------------------------------------------------------------------------------------

    def renew_claims(self, owner: str, until: float) -> int:
        with self._db._write() as db:
            held = db.execute("UPDATE gateway_inbox SET claimed_until = ? WHERE claimed_by = ? AND status IN (?, ?)",
                              (until, owner, QUEUED, RUNNING)).rowcount
            held += db.execute("UPDATE gateway_outbox SET claimed_until = ? WHERE claimed_by = ? AND status = ?",
                               (until, owner, PENDING)).rowcount
        return held

    def release_claims(self, owner: str) -> None:
        with self._db._write() as db:
            db.execute("UPDATE gateway_inbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?", (owner,))
            db.execute("UPDATE gateway_outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?",
                       (owner,))

    def claimants(self) -> list[str]:
        rows = self._db._read(
            "SELECT claimed_by FROM gateway_inbox WHERE claimed_by IS NOT NULL AND status IN (?, ?)"
            " UNION SELECT claimed_by FROM gateway_outbox WHERE claimed_by IS NOT NULL AND status = ?",
            (QUEUED, RUNNING, PENDING))
        return sorted(r[0] for r in rows)

    def outbox_item(self, outbox_id: int) -> OutboxItem | None:
        rows = self._db._read("SELECT * FROM gateway_outbox WHERE id = ?", (outbox_id,))
        return outbox_item(rows[0]) if rows else None

    def outbox_statuses(self, outbox_ids: list[int]) -> list[str]:
        if not outbox_ids:
            return []
        marks = ",".join("?" * len(outbox_ids))
        return [r["status"] for r in self._db._read(f"SELECT status FROM gateway_outbox WHERE id IN ({marks})",
                                                    tuple(outbox_ids))]

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        rows = self._db._read("SELECT platform, status, COUNT(*) AS n FROM gateway_outbox GROUP BY platform, status")
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["platform"], {PENDING: 0, DELIVERED: 0, UNDELIVERABLE: 0})[row["status"]] = row["n"]
        return counts

    def last_errors(self) -> dict[str, str]:
        rows = self._db._read(
            "SELECT platform, last_error FROM gateway_outbox WHERE last_error IS NOT NULL AND status != ?"
            " ORDER BY id", (DELIVERED,))
        return {r["platform"]: r["last_error"] for r in rows}

    # --- chats and sessions ----------------------------------------------------------------------------

    def session_for(self, platform: str, chat: str, thread: str | None) -> str | None:
        rows = self._db._read("SELECT session_id FROM gateway_chats WHERE platform = ? AND chat = ? AND thread = ?",
                              (platform, chat, thread or ""))
        return rows[0]["session_id"] if rows else None

    def set_session(self, platform: str, chat: str, thread: str | None, session_id: str, person: str = "") -> None:
        with self._db._write() as db:
            db.execute("INSERT OR REPLACE INTO gateway_chats (platform, chat, thread, session_id, person, updated_at)"
                       " VALUES (?, ?, ?, ?, ?, ?)", (platform, chat, thread or "", session_id, person, time.time()))

    # --- senders and pairing ---------------------------------------------------------------------------

    def sender(self, platform: str, user_id: str) -> str | None:
        rows = self._db._read("SELECT person FROM gateway_senders WHERE platform = ? AND user_id = ?",
                              (platform, user_id))
        return rows[0]["person"] if rows else None

    def allow_sender(self, platform: str, user_id: str, person: str, how: str) -> None:
        with self._db._write() as db:
            db.execute("INSERT OR REPLACE INTO gateway_senders (platform, user_id, person, how, created_at)"
                       " VALUES (?, ?, ?, ?, ?)", (platform, user_id, person, how, time.time()))

    def senders(self) -> list[AllowedSender]:
        rows = self._db._read("SELECT platform, user_id, person, how FROM gateway_senders ORDER BY person, platform")
        return [AllowedSender(r["platform"], r["user_id"], r["person"], r["how"]) for r in rows]

    def add_pairing_code(self, code: str, expires_at: float) -> None:
        with self._db._write() as db:
            db.execute("DELETE FROM gateway_pairing WHERE expires_at < ?", (time.time(),))
            db.execute("INSERT INTO gateway_pairing (code, expires_at) VALUES (?, ?)", (code, expires_at))

    def use_pairing_code(self, code: str, by: str) -> bool:
        with self._db._write() as db:
            cursor = db.execute("UPDATE gateway_pairing SET used_by = ? WHERE code = ? AND used_by IS NULL"
                                " AND expires_at >= ?", (by, code, time.time()))
            return cursor.rowcount == 1

    # --- workers' heartbeats ---------------------------------------------------------------------------

    def beat(self, worker: GatewayWorker, *, forget_before: float) -> None:
        with self._db._write() as db:
            db.execute("INSERT OR REPLACE INTO gateway_workers (id, host, pid, started_at, beat_at, beat_every, channels)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)", (worker.id, worker.host, worker.pid, worker.started_at,
                                                         worker.beat_at, worker.beat_every, channels_json(worker)))
            db.execute("DELETE FROM gateway_workers WHERE beat_at < ?", (forget_before,))

    def workers(self, since: float) -> list[GatewayWorker]:
        rows = self._db._read("SELECT * FROM gateway_workers WHERE beat_at >= ? ORDER BY beat_at DESC, id", (since,))
        return [gateway_worker(r) for r in rows]

    def forget_worker(self, worker_id: str) -> None:
        with self._db._write() as db:
            db.execute("DELETE FROM gateway_workers WHERE id = ?", (worker_id,))
