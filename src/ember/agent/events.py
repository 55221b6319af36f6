"""Typed events the agent loop yields; every door (CLI, gateway, cron) only renders or forwards them."""

from __future__ import annotations

from dataclasses import dataclass, field

from ember.agent.door import TurnApprovals
from ember.models.base import ToolCall, Usage


@dataclass
class TextChunk:
    """Answer text as it streams from the model."""

    text: str


@dataclass
class ReasoningChunk:
    """Model reasoning (``<think>``, thinking blocks); hidden by default in the CLI."""

    text: str


@dataclass
class ModelCalled:
    """One model call finished (a step of the loop)."""

    step: int
    model: str
    usage: Usage
    cost: float = 0.0


@dataclass
class ToolStarted:
    call: ToolCall


@dataclass
class ToolFinished:
    call: ToolCall
    content: str
    is_error: bool
    seconds: float


@dataclass
class Compacted:
    """Older turns were folded into a summary to stay within the context window."""

    summary: str
    folded_messages: int


@dataclass
class Notice:
    """Something the user should know that is not part of the answer (a retry, a fallback)."""

    text: str


@dataclass
class TurnFinished:
    """The final answer of a turn, with what it cost."""

    answer: str
    session_id: str
    model: str
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    tool_calls: list[dict] = field(default_factory=list)
    steps: int = 0
    approvals: TurnApprovals = field(default_factory=TurnApprovals)  # asked, allowed, refused in this turn


@dataclass
class TurnFailed:
    """A turn that ended without an answer, with what it did and cost until then.

    Not yielded: ``Agent.run`` raises the error itself (the door turns it into a message and an
    exit code). ``Agent.failure_listeners`` get this, e.g. so the learning loop records the failure.
    ``reason`` is ``"step-limit"``, ``"provider"`` (the model endpoint and its fallbacks failed),
    ``"cancelled"`` (Ctrl-C, or the consumer stopped the turn) or ``"error"``. ``error`` is the
    exception's text as raised, not redacted: a listener that stores it redacts it.
    """

    session_id: str
    error: str
    reason: str
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    tool_calls: list[dict] = field(default_factory=list)
    steps: int = 0  # model calls that completed
    message_id: int | None = None  # the stored user message that started the turn
    approvals: TurnApprovals = field(default_factory=TurnApprovals)


AgentEvent = TextChunk | ReasoningChunk | ModelCalled | ToolStarted | ToolFinished | Compacted | Notice | TurnFinished
