"""A door: who is on the other side of one turn, and what they can answer.

Every turn is given a door (``Agent.run(session_id, message, door=...)``): the terminal chat,
``ember run``, a Telegram chat, a cron job. The core asks it, never a process-wide callback:

- ``approve(request)``: a tool call needs a person's yes (``security/approval.py`` decides when);
- ``ask(question, options)``: the model's question to the person (the ``clarify`` tool);
- ``notify(text)``: a line the person should see that is not the answer ("Noted for next time").

``present`` says whether anyone can answer now; ``auto_approve`` is ``--yes``. What a turn
asked, and what was allowed or refused, is kept in that turn's ``TurnApprovals`` and comes back
in its ``TurnFinished`` or ``TurnFailed``: nothing about one person's turn lives in shared state,
so a gateway can serve many people at once and one refusal never shows up in another's turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# A turn's record of approvals is the approver's to fill; it is importable from here too.
from ember.security.approval import ApprovalRecord, ApprovalRequest, TurnApprovals

__all__ = ["Answer", "ApprovalRecord", "Attended", "Door", "TurnApprovals", "Unattended"]

# What a person answers an approval with: a Decision (or its string: once, session, always,
# deny), or (decision, pattern) when they edited the suggested pattern.
Answer = Any


@runtime_checkable
class Door(Protocol):
    """What one turn's door offers. ``lock`` serializes its questions (one on a screen at a time)."""

    present: bool
    auto_approve: bool
    lock: threading.Lock

    def approve(self, request: ApprovalRequest) -> Answer: ...

    def ask(self, question: str, options: list[str]) -> str | None: ...

    def notify(self, text: str) -> None: ...


@dataclass
class Unattended:
    """No one to ask: a script, a cron job, a sub-agent. Approvals are refused (or all granted with
    ``auto_approve``, i.e. ``--yes``); questions get no answer; notices go to ``on_notice``."""

    auto_approve: bool = False
    on_notice: Callable[[str], object] | None = None  # what it returns is ignored
    present: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def approve(self, request: ApprovalRequest) -> Answer:
        return "deny"

    def ask(self, question: str, options: list[str]) -> str | None:
        return None

    def notify(self, text: str) -> None:
        if self.on_notice is not None:
            self.on_notice(text)


@dataclass
class Attended:
    """A person who answers through callbacks (the terminal chat, tests, a chat platform)."""

    approver: Callable[[ApprovalRequest], Answer]
    asker: Callable[[str, list[str]], str | None] | None = None
    on_notice: Callable[[str], object] | None = None  # what it returns is ignored
    auto_approve: bool = False
    present: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def approve(self, request: ApprovalRequest) -> Answer:
        return self.approver(request)

    def ask(self, question: str, options: list[str]) -> str | None:
        return self.asker(question, options) if self.asker is not None else None

    def notify(self, text: str) -> None:
        if self.on_notice is not None:
            self.on_notice(text)
