"""The door of a chat turn: approvals and questions asked in the chat the person is in.

An approval goes out as a message with buttons (inline buttons on Telegram, Block Kit on
Slack). Only the person whose turn it is can answer: a press by anyone else is ignored and
logged. No answer within ``[gateway] approval_timeout`` (default 5 minutes) counts as refused,
and the model is told. A question (the ``clarify`` tool) is answered by that person's next
message in the same chat. Notices ("Noted for next time: ...") go to the chat too.

With several gateway workers the answer may reach another worker than the one whose turn waits:
a waiting turn says so in the store, and looks there about once a second for the answer that
worker relays (``relay``).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ember.gateway import relay
from ember.gateway.channel import Button

if TYPE_CHECKING:
    from ember.gateway.ledger import InboxItem
    from ember.gateway.service import Gateway
    from ember.security.approval import ApprovalRequest

log = logging.getLogger(__name__)

CHOICES = [Button("Allow once", "once"), Button("This session", "session"), Button("Always", "always"),
           Button("Deny", "deny")]
RELAY_EVERY = 1.0  # seconds between looks in the store for an answer another worker received


@dataclass
class Waiting:
    """A question a turn is waiting on: answered by one sender, or by the timeout."""

    kind: str  # "approval" or "question"
    platform: str
    chat: str
    thread: str | None
    user: str  # who may answer
    answer: str | None = None
    event: threading.Event = field(default_factory=threading.Event)


class ChatDoor:
    """``agent.door.Door`` for one gateway turn."""

    present = True
    auto_approve = False

    def __init__(self, gateway: Gateway, item: InboxItem, cancel: threading.Event) -> None:
        self.gateway = gateway
        self.item = item
        self.cancel = cancel
        self.lock = threading.Lock()
        self.reply_to = f"{item.platform}:{item.chat}"  # where a job set up in this chat delivers

    def _wait(self, waiting: Waiting, request_id: str) -> str | None:
        gateway = self.gateway
        store = gateway.runtime.store
        timeout = gateway.config.approval_timeout
        gateway.waiting[request_id] = waiting
        try:
            relay.waiting(store, request_id, kind=waiting.kind, platform=waiting.platform, chat=waiting.chat,
                          thread=waiting.thread, user=waiting.user)
            deadline = gateway.clock() + timeout
            looked = time.monotonic()
            while not waiting.event.wait(0.2):
                if self.cancel.is_set() or gateway.stopping.is_set() or gateway.clock() >= deadline:
                    return None
                if time.monotonic() - looked >= RELAY_EVERY:  # answered on another worker?
                    looked = time.monotonic()
                    relayed = relay.answer(store, request_id)
                    if relayed:
                        return relayed
            return waiting.answer
        finally:
            gateway.waiting.pop(request_id, None)
            relay.done_waiting(store, request_id, waiting.platform, waiting.chat, waiting.user)

    def approve(self, request: ApprovalRequest) -> str:
        item = self.item
        request_id = secrets.token_hex(4)
        text = f"Approval needed: {request.reason}\n\n`{request.action}`"
        self.gateway.outbox.queue(item.platform, item.chat, text, kind="approval", thread=item.thread,
                                  inbox_id=item.id, buttons=CHOICES, request_id=request_id)
        answer = self._wait(Waiting("approval", item.platform, item.chat, item.thread, item.user_id), request_id)
        if answer is None:
            if not self.cancel.is_set():
                minutes = self.gateway.config.approval_timeout / 60
                self.notify(f"No answer within {minutes:g} minutes: refused.")
            return "deny"
        return answer

    def ask(self, question: str, options: list[str]) -> str | None:
        item = self.item
        lines = [question, *(f"{n}. {option}" for n, option in enumerate(options, 1))]
        self.gateway.outbox.queue(item.platform, item.chat, "\n".join(lines), kind="question", thread=item.thread,
                                  inbox_id=item.id)
        key = self.gateway.question_key(item.platform, item.chat, item.thread, item.user_id)
        return self._wait(Waiting("question", item.platform, item.chat, item.thread, item.user_id), key)

    def notify(self, text: str) -> None:
        item = self.item
        self.gateway.outbox.queue(item.platform, item.chat, text, kind="notice", thread=item.thread, inbox_id=item.id)
