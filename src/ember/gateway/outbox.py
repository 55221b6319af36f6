"""Delivery that never loses or repeats a message: queue durably, send, mark on the platform's ack.

``Outbox.queue`` splits a text to the channel's limit and records the parts before anything is
sent. One worker per platform sends what is due, each chat's messages in order, and marks each
one delivered the moment the platform acknowledges it (a message id, a ``ts``); with no
idempotency key on the platform, only the messages in flight when the process dies between
the ack and that record can repeat: one per chat being sent to, ``parallel_sends`` per platform. A failed send is retried with exponential backoff
(honouring ``retry_after``) while the platform might still take it; a permanent failure (chat not
found, bot blocked), or one that keeps failing for ``max_attempts`` tries, is recorded as
undeliverable with its error, shown by ``ember gateway status``, and never retried forever.
Undelivered items are picked up again after a restart.

Several outboxes may send from one store (gateway workers, ``ember send``): each takes what it
sends with a claim (``Ledger.claim_due``) that the send's outcome ends, so an item goes out from
one of them, and each chat's items one after another.

Where the platform deduplicates by a client key, the repeat is closed too: each send carries
``send_key(item)``, the same on every try, which Discord takes as the message's nonce and email
as its Message-ID (a mail client shows one message for one Message-ID). The claim of a sender that died lapses
after ``lease`` seconds, and another sends the item (the one send that may repeat, as above).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from ember.gateway.channel import Button, Channel, Outbound, SendError, split_text
from ember.gateway.ledger import Ledger, OutboxItem, OutboxPart

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12  # about an hour of backoff at most, then the item is recorded as undeliverable
LEASE = 60.0  # seconds a send's claim holds without being renewed


def send_key(item: OutboxItem) -> str:
    """A key of this item that every try of it shares and no other item has: derived, not
    stored, so a worker that takes over a dead one's send makes the same key."""
    import hashlib

    digest = hashlib.sha256(f"{item.platform}\0{item.chat}\0{item.id}\0{item.text}".encode()).hexdigest()
    return digest[:20]  # Discord's nonce holds 25 characters


class Outbox:
    """Queues messages for every channel and delivers them."""

    def __init__(
        self, ledger: Ledger, channels: dict[str, Channel], *, base_delay: float = 1.0, max_delay: float = 600.0,
        max_attempts: int = MAX_ATTEMPTS, redact: Callable[[str], str] | None = None, parallel_sends: int = 4,
        owner: str | None = None, lease: float = LEASE,
    ) -> None:
        from ember.owners import new_owner

        self.ledger = ledger
        self.owner = owner or new_owner()  # whose claims this outbox's sends are
        self.lease = lease
        self.channels = channels
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.redact = redact or (lambda text: text)
        self.parallel_sends = parallel_sends  # chats of one platform sent to at once (each chat in order)
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        # Called with each item the platform acknowledged, and its ack (the scheduler ties a job's
        # posted result to the run's session); a listener that fails is logged, never retried.
        self.delivered_listeners: list[Callable[[OutboxItem, str], None]] = []

    # --- queueing -------------------------------------------------------------------------------

    def parts(self, platform: str, text: str, *, buttons: list[Button] | None = None,
              request_id: str | None = None, file: str | None = None) -> list[OutboxPart]:
        """``text`` as the parts the platform takes (buttons and file ride on the last part)."""
        channel = self.channels.get(platform)
        limit = channel.max_text if channel is not None else 4000
        pieces = split_text(self.redact(text), limit) or [""]
        parts = [OutboxPart(piece) for piece in pieces]
        parts[-1].buttons, parts[-1].request_id, parts[-1].file = list(buttons or []), request_id, file
        return parts

    def queue(self, platform: str, chat: str, text: str, *, kind: str, thread: str | None = None,
              inbox_id: int | None = None, buttons: list[Button] | None = None, request_id: str | None = None,
              file: str | None = None) -> list[int]:
        """Record a message for delivery (split as needed); its outbox ids."""
        parts = self.parts(platform, text, buttons=buttons, request_id=request_id, file=file)
        ids = self.ledger.enqueue(platform, chat, parts, kind=kind, thread=thread, inbox_id=inbox_id)
        self.wake()
        return ids

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    # --- delivering -----------------------------------------------------------------------------

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        delay = min(self.max_delay, self.base_delay * 2 ** max(attempts - 1, 0))
        delay *= random.uniform(0.8, 1.2)
        return max(delay, retry_after or 0.0)

    def deliver(self, item: OutboxItem) -> bool:
        """Send one item and record the outcome; True when the platform acknowledged it."""
        channel = self.channels.get(item.platform)
        if channel is None:
            self.ledger.undeliverable(item.id, f"no {item.platform} channel is configured")
            return False
        outbound = Outbound(chat=item.chat, text=item.text, thread=item.thread, buttons=item.buttons,
                            request_id=item.request_id, file=item.file, key=send_key(item))
        try:
            ack = channel.send(outbound)
        except SendError as exc:
            error = self.redact(str(exc))
            if exc.permanent or item.attempts + 1 >= self.max_attempts:
                why = error if exc.permanent else f"{error} (gave up after {item.attempts + 1} attempts)"
                log.warning("outbox %s: undeliverable to %s:%s: %s", item.id, item.platform, item.chat, why)
                self.ledger.undeliverable(item.id, why)
            else:
                self.ledger.retry_later(item.id, error, time.time() + self.backoff(item.attempts + 1, exc.retry_after))
            return False
        except Exception as exc:  # a bug in a channel: retried like a transient failure, and logged
            log.exception("outbox %s: %s channel failed", item.id, item.platform)
            error = self.redact(f"{type(exc).__name__}: {exc}")
            if item.attempts + 1 >= self.max_attempts:
                self.ledger.undeliverable(item.id, error)
            else:
                self.ledger.retry_later(item.id, error, time.time() + self.backoff(item.attempts + 1, None))
            return False
        self.ledger.delivered(item.id, str(ack))
        for listener in self.delivered_listeners:
            try:
                listener(item, str(ack))
            except Exception:
                log.exception("outbox %s: a delivery listener failed", item.id)
        return True

    def deliver_due(self, platform: str) -> int:
        """One pass over what is due for ``platform``; how many items were tried.

        ``due`` gives at most one item per chat (its oldest), so items of different chats can go
        out side by side while each chat's stay in order.
        """
        items = self.ledger.claim_due(platform, self.owner, self.lease)
        if len(items) <= 1 or self.parallel_sends <= 1:
            for item in items:
                if not self._stop.is_set():
                    self.deliver(item)
            return len(items)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(self.parallel_sends, len(items)),
                                thread_name_prefix=f"send-{platform}") as pool:
            list(pool.map(lambda item: None if self._stop.is_set() else self.deliver(item), items))
        return len(items)

    def _run(self, platform: str) -> None:
        while not self._stop.is_set():
            try:
                tried = self.deliver_due(platform)
            except Exception:  # the store is closing, or a bug: wait, then try again
                log.exception("outbox worker for %s", platform)
                tried = 0
            if tried:
                continue
            next_at = self.ledger.next_due_at(platform) if not self._stop.is_set() else None
            # at least a moment: what is due may be another worker's to send right now
            wait = 1.0 if next_at is None else min(max(next_at - time.time(), 0.05), 1.0)
            with self._wake:
                if not self._stop.is_set():
                    self._wake.wait(wait)

    def start(self) -> None:
        for platform in self.channels:
            thread = threading.Thread(target=self._run, args=(platform,), name=f"outbox-{platform}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        try:  # what this outbox claimed and did not send goes to the other workers at once
            self.ledger.release(self.owner)
        except Exception:
            log.debug("could not give back the outbox's claims", exc_info=True)
