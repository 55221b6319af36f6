"""The gateway's records on PostgreSQL (tables of migrations ``gateway_inbox_outbox``,
``gateway_claims`` and ``gateway_workers``): the ``GatewayStore`` port, shared by any number of
gateway workers. A turn's replies are queued in the same transaction that closes its inbox item.

Workers take items with ``SELECT ... FOR UPDATE SKIP LOCKED``: a row another worker is claiming
is passed over, never waited for, and the claim is checked again on the row as it was committed.
Items of one chat are written under that chat's advisory lock, so their ids become visible in the
order they were handed out: a worker never finds a chat's later item before its earlier one."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

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
    from ember.store.postgres.database import Database

_INBOX = ("id, event_id, platform, chat, thread, user_id, user_name, text, payload, status, session_id, attempts,"
          " error, received_at, updated_at")
_OUTBOX = ("id, platform, chat, thread, text, buttons, request_id, file, kind, inbox_id, part, status, attempts,"
           " next_at, last_error, ack, created_at, delivered_at")


def _set_status(db: Any, inbox_id: int, status: str, error: str | None, now: float) -> None:
    """A finished item leaves its claim; a queued or running one keeps it."""
    db.execute("UPDATE gateway_inbox SET status = %(status)s, error = %(error)s, updated_at = %(now)s,"
               " claimed_by = CASE WHEN %(status)s IN (%(queued)s, %(running)s) THEN claimed_by END,"
               " claimed_until = CASE WHEN %(status)s IN (%(queued)s, %(running)s) THEN claimed_until END"
               " WHERE id = %(id)s",
               {"status": status, "error": error, "now": now, "queued": QUEUED, "running": RUNNING, "id": inbox_id})


def _lock_chat(db: Any, platform: str, chat: str) -> None:
    db.execute("SELECT pg_advisory_xact_lock(hashtextextended('ember-chat:' || %s || ':' || %s, 0))",
               (platform, chat))


# The item that may run next: the first unfinished item of its chat (platform, chat, thread), as
# the snapshot saw it, that is still unfinished and has no live claim on the row locked. The heads
# are an array computed once, so the plan stays one pass whatever the table's statistics say.
_CLAIMABLE = f"""SELECT i.id FROM gateway_inbox i
    WHERE i.id = ANY(ARRAY(SELECT min(e.id) FROM gateway_inbox e WHERE e.status IN ('{QUEUED}', '{RUNNING}')
                           GROUP BY e.platform, e.chat, COALESCE(e.thread, '')))
      AND i.status IN ('{QUEUED}', '{RUNNING}') AND (i.claimed_by IS NULL OR i.claimed_until < %(now)s)
    ORDER BY i.id LIMIT 1 FOR UPDATE OF i SKIP LOCKED"""

# The pending items of %(platform)s that may go at %(now)s: the first pending of their chat, no live claim.
_SENDABLE = f"""FROM gateway_outbox o
    WHERE o.id = ANY(ARRAY(SELECT min(p.id) FROM gateway_outbox p WHERE p.status = '{PENDING}'
                           AND p.platform = %(platform)s GROUP BY p.chat))
      AND o.status = '{PENDING}' AND (o.claimed_by IS NULL OR o.claimed_until < %(now)s)"""


class PostgresGateway:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- inbox -----------------------------------------------------------------------------------------

    def record_inbound(self, *, event_id: str, platform: str, chat: str, thread: str | None, user_id: str,
                       user_name: str, text: str, payload: str, status: str) -> int | None:
        now = time.time()
        with self._db._write() as db:
            _lock_chat(db, platform, chat)
            row = db.execute(
                "INSERT INTO gateway_inbox (event_id, platform, chat, thread, user_id, user_name, text, payload,"
                " status, received_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (event_id) DO NOTHING RETURNING id",
                (event_id, platform, chat, thread, user_id, user_name, text, payload, status, now, now),
            ).fetchone()
            return int(row["id"]) if row else None

    def inbox_item(self, inbox_id: int) -> InboxItem | None:
        rows = self._db._read(f"SELECT {_INBOX} FROM gateway_inbox WHERE id = %s", (inbox_id,))
        return inbox_item(rows[0]) if rows else None

    def start(self, inbox_id: int, session_id: str) -> None:
        with self._db._write() as db:
            db.execute("UPDATE gateway_inbox SET status = %s, session_id = %s, attempts = attempts + 1,"
                       " updated_at = %s WHERE id = %s", (RUNNING, session_id, time.time(), inbox_id))

    def set_status(self, inbox_id: int, status: str, error: str | None = None) -> None:
        with self._db._write() as db:
            _set_status(db, inbox_id, status, error, time.time())

    def unfinished(self) -> list[InboxItem]:
        rows = self._db._read(f"SELECT {_INBOX} FROM gateway_inbox WHERE status IN (%s, %s) ORDER BY id",
                              (QUEUED, RUNNING))
        return [inbox_item(r) for r in rows]

    def claim_inbound(self, owner: str, now: float, until: float) -> InboxItem | None:
        with self._db._write() as db:
            row = db.execute(_CLAIMABLE, {"now": now}).fetchone()
            if row is None:
                return None
            claimed = db.execute(f"UPDATE gateway_inbox SET claimed_by = %s, claimed_until = %s WHERE id = %s"
                                 f" RETURNING {_INBOX}", (owner, until, row["id"])).fetchone()
        return inbox_item(claimed)

    def queue_depths(self) -> dict[str, int]:
        rows = self._db._read(
            "SELECT platform, chat, count(*) AS n FROM gateway_inbox WHERE status IN (%s, %s) GROUP BY platform, chat",
            (QUEUED, RUNNING))
        return {f"{r['platform']}:{r['chat']}": int(r["n"]) for r in rows}

    # --- outbox ----------------------------------------------------------------------------------------

    def enqueue(self, platform: str, chat: str, thread: str | None, parts: list[OutboxPart], *, kind: str,
                inbox_id: int | None = None, close: tuple[str, str | None] | None = None) -> list[int]:
        now = time.time()
        ids = []
        with self._db._write() as db:
            _lock_chat(db, platform, chat)
            for number, part in enumerate(parts):
                buttons = json.dumps([{"label": b.label, "value": b.value} for b in part.buttons]) if part.buttons \
                    else None
                row = db.execute(
                    "INSERT INTO gateway_outbox (platform, chat, thread, text, buttons, request_id, file, kind,"
                    " inbox_id, part, status, next_at, created_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (platform, chat, thread, part.text, buttons, part.request_id, part.file, kind, inbox_id, number,
                     PENDING, now, now),
                ).fetchone()
                ids.append(int(row["id"]))
            if close is not None and inbox_id is not None:
                _set_status(db, inbox_id, close[0], close[1], now)
        return ids

    def due(self, platform: str, now: float, limit: int) -> list[OutboxItem]:
        rows = self._db._read(
            f"SELECT {', '.join('o.' + c.strip() for c in _OUTBOX.split(','))} FROM gateway_outbox o"
            " JOIN (SELECT min(id) AS id FROM gateway_outbox WHERE status = %s AND platform = %s GROUP BY chat) first"
            " ON first.id = o.id WHERE o.next_at <= %s ORDER BY o.id LIMIT %s",
            (PENDING, platform, now, limit))
        return [outbox_item(r) for r in rows]

    def claim_due(self, platform: str, owner: str, now: float, until: float, limit: int) -> list[OutboxItem]:
        with self._db._write() as db:
            ids = [r["id"] for r in db.execute(
                f"SELECT o.id {_SENDABLE} AND o.next_at <= %(now)s ORDER BY o.id LIMIT %(limit)s"
                " FOR UPDATE OF o SKIP LOCKED", {"platform": platform, "now": now, "limit": limit}).fetchall()]
            if not ids:
                return []
            rows = db.execute(f"UPDATE gateway_outbox SET claimed_by = %s, claimed_until = %s WHERE id = ANY(%s)"
                              f" RETURNING {_OUTBOX}", (owner, until, ids)).fetchall()
        return sorted((outbox_item(r) for r in rows), key=lambda item: item.id)

    def next_due_at(self, platform: str, now: float | None = None) -> float | None:
        return self._db._value(f"SELECT min(o.next_at) {_SENDABLE}",
                               {"platform": platform, "now": time.time() if now is None else now})

    def delivered(self, outbox_id: int, ack: str) -> None:
        with self._db._write() as db:
            db.execute("UPDATE gateway_outbox SET status = %s, ack = %s, attempts = attempts + 1, delivered_at = %s,"
                       " last_error = NULL, claimed_by = NULL, claimed_until = NULL WHERE id = %s",
                       (DELIVERED, ack, time.time(), outbox_id))

    def retry_later(self, outbox_id: int, error: str, at: float) -> None:
        with self._db._write() as db:
            db.execute("UPDATE gateway_outbox SET attempts = attempts + 1, last_error = %s, next_at = %s,"
                       " claimed_by = NULL, claimed_until = NULL WHERE id = %s", (error, at, outbox_id))

    def undeliverable(self, outbox_id: int, error: str) -> None:
        with self._db._write() as db:
            db.execute("UPDATE gateway_outbox SET status = %s, attempts = attempts + 1, last_error = %s,"
                       " claimed_by = NULL, claimed_until = NULL WHERE id = %s", (UNDELIVERABLE, error, outbox_id))

    # --- claims ----------------------------------------------------------------------------------------

    def renew_claims(self, owner: str, until: float) -> int:
        with self._db._write() as db:
            held = db.execute("UPDATE gateway_inbox SET claimed_until = %s WHERE claimed_by = %s"
                              " AND status IN (%s, %s)", (until, owner, QUEUED, RUNNING)).rowcount
            held += db.execute("UPDATE gateway_outbox SET claimed_until = %s WHERE claimed_by = %s AND status = %s",
                               (until, owner, PENDING)).rowcount
        return int(held)

    def release_claims(self, owner: str) -> None:
        with self._db._write() as db:
            db.execute("UPDATE gateway_inbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = %s",
                       (owner,))
            db.execute("UPDATE gateway_outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = %s",
                       (owner,))

    def claimants(self) -> list[str]:
        rows = self._db._read(
            "SELECT claimed_by FROM gateway_inbox WHERE claimed_by IS NOT NULL AND status IN (%s, %s)"
            " UNION SELECT claimed_by FROM gateway_outbox WHERE claimed_by IS NOT NULL AND status = %s",
            (QUEUED, RUNNING, PENDING), plain=True)
        return sorted(r[0] for r in rows)

    def outbox_item(self, outbox_id: int) -> OutboxItem | None:
        rows = self._db._read(f"SELECT {_OUTBOX} FROM gateway_outbox WHERE id = %s", (outbox_id,))
        return outbox_item(rows[0]) if rows else None

    def outbox_statuses(self, outbox_ids: list[int]) -> list[str]:
        if not outbox_ids:
            return []
        rows = self._db._read("SELECT status FROM gateway_outbox WHERE id = ANY(%s) ORDER BY id",
                              ([int(i) for i in outbox_ids],))
        return [r["status"] for r in rows]

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        rows = self._db._read("SELECT platform, status, count(*) AS n FROM gateway_outbox GROUP BY platform, status")
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["platform"], {PENDING: 0, DELIVERED: 0, UNDELIVERABLE: 0})[row["status"]] = \
                int(row["n"])
        return counts

    def last_errors(self) -> dict[str, str]:
        rows = self._db._read(
            "SELECT platform, last_error FROM gateway_outbox WHERE last_error IS NOT NULL AND status <> %s"
            " ORDER BY id", (DELIVERED,))
        return {r["platform"]: r["last_error"] for r in rows}

    # --- chats and sessions ----------------------------------------------------------------------------

    def session_for(self, platform: str, chat: str, thread: str | None) -> str | None:
        value = self._db._value("SELECT session_id FROM gateway_chats WHERE platform = %s AND chat = %s"
                                " AND thread = %s", (platform, chat, thread or ""))
        return str(value) if value is not None else None

    def set_session(self, platform: str, chat: str, thread: str | None, session_id: str, person: str = "") -> None:
        with self._db._write() as db:
            db.execute("INSERT INTO gateway_chats (platform, chat, thread, session_id, person, updated_at)"
                       " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (platform, chat, thread) DO UPDATE SET"
                       " session_id = excluded.session_id, person = excluded.person, updated_at = excluded.updated_at",
                       (platform, chat, thread or "", session_id, person, time.time()))

    # --- senders and pairing ---------------------------------------------------------------------------

    def sender(self, platform: str, user_id: str) -> str | None:
        value = self._db._value("SELECT person FROM gateway_senders WHERE platform = %s AND user_id = %s",
                                (platform, user_id))
        return str(value) if value is not None else None

    def allow_sender(self, platform: str, user_id: str, person: str, how: str) -> None:
        with self._db._write() as db:
            db.execute("INSERT INTO gateway_senders (platform, user_id, person, how, created_at)"
                       " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (platform, user_id) DO UPDATE SET"
                       " person = excluded.person, how = excluded.how, created_at = excluded.created_at",
                       (platform, user_id, person, how, time.time()))

    def senders(self) -> list[AllowedSender]:
        rows = self._db._read("SELECT platform, user_id, person, how FROM gateway_senders"
                              " ORDER BY person, platform, user_id")
        return [AllowedSender(r["platform"], r["user_id"], r["person"], r["how"]) for r in rows]

    def add_pairing_code(self, code: str, expires_at: float) -> None:
        with self._db._write() as db:
            db.execute("DELETE FROM gateway_pairing WHERE expires_at < %s", (time.time(),))
            db.execute("INSERT INTO gateway_pairing (code, expires_at) VALUES (%s, %s)", (code, expires_at))

    def use_pairing_code(self, code: str, by: str) -> bool:
        with self._db._write() as db:
            cursor = db.execute("UPDATE gateway_pairing SET used_by = %s WHERE code = %s AND used_by IS NULL"
                                " AND expires_at >= %s", (by, code, time.time()))
            return cursor.rowcount == 1

    # --- workers' heartbeats ---------------------------------------------------------------------------

    def beat(self, worker: GatewayWorker, *, forget_before: float) -> None:
        with self._db._write() as db:
            db.execute("INSERT INTO gateway_workers (id, host, pid, started_at, beat_at, beat_every, channels)"
                       " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET host = excluded.host,"
                       " pid = excluded.pid, started_at = excluded.started_at, beat_at = excluded.beat_at,"
                       " beat_every = excluded.beat_every, channels = excluded.channels",
                       (worker.id, worker.host, worker.pid, worker.started_at, worker.beat_at, worker.beat_every,
                        channels_json(worker)))
            db.execute("DELETE FROM gateway_workers WHERE beat_at < %s", (forget_before,))

    def workers(self, since: float) -> list[GatewayWorker]:
        rows = self._db._read("SELECT id, host, pid, started_at, beat_at, beat_every, channels FROM gateway_workers"
                              " WHERE beat_at >= %s ORDER BY beat_at DESC, id", (since,))
        return [gateway_worker(r) for r in rows]

    def forget_worker(self, worker_id: str) -> None:
        with self._db._write() as db:
            db.execute("DELETE FROM gateway_workers WHERE id = %s", (worker_id,))
