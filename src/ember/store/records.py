"""The store's vocabulary for sessions and messages: the records it hands out, and its errors.

These are all the rest of Ember sees of the store: the CLI, the agent and every backend speak
them, never a database row. The other domains' records are beside this module
(``learning_records``, ``search_records``, ``gateway_records``, ``cron_records``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ember.models.base import Message, Usage


@dataclass
class SessionInfo:
    """One conversation. ``source`` says which door opened it (cli, telegram, cron, ...)."""

    id: str
    title: str | None
    source: str
    model: str | None
    created_at: float
    updated_at: float
    message_count: int
    person: str = ""  # whose it is: "" the owner, else a gateway person (memory is scoped by it)


TITLE_CHARS = 60
"""Longest session title, before the ``…`` that marks a cut."""


def session_title(text: str, redact: Callable[[str], str] = lambda line: line, limit: int = TITLE_CHARS) -> str | None:
    """A session's title from its first user message: the first non-blank line, secrets masked by
    ``redact`` before anything is cut (so no half of a key survives), then cut on a word boundary
    to ``limit`` characters. None for a message without text (an image alone)."""
    line = next((part for part in text.splitlines() if part.strip()), "")
    line = " ".join(redact(line[:10_000]).split())
    if len(line) <= limit:
        return line or None
    head = line[: limit + 1]  # a space just after the limit still ends a whole word
    cut = head.rsplit(" ", 1)[0] if " " in head else ""
    if len(cut) < limit // 2:  # a long word: cut inside it
        cut = line[:limit]
    return cut.rstrip(" ,;:-") + "…"


@dataclass
class StoredMessage:
    """A message as persisted: its row id orders the history and anchors summaries."""

    id: int
    session_id: str
    message: Message
    created_at: float
    model: str | None
    usage: Usage | None


@dataclass
class SearchHit:
    """A full-text match. ``score`` is higher for better matches (negated bm25)."""

    message: StoredMessage
    score: float
    snippet: str


@dataclass
class UsageTotals:
    """Summed model usage; ``by_model`` maps a model to {calls, input_tokens, output_tokens, cost}."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    by_model: dict[str, dict] = field(default_factory=dict)


# --- errors ---------------------------------------------------------------------------------------


class StoreError(Exception):
    """The store cannot do what was asked; the message says why and, where it can, what to do."""


class CorruptDatabaseError(StoreError):
    """The file is not a readable SQLite database."""


class ForeignDatabaseError(StoreError):
    """The file is a SQLite database of another program."""


class NewerSchemaError(StoreError):
    """The database was migrated by a newer Ember than this one."""


class AmbiguousSessionError(StoreError):
    """A session id prefix matches several sessions; ``candidates`` holds their ids."""

    def __init__(self, message: str, candidates: list[str]):
        super().__init__(message)
        self.candidates = candidates


# --- secrets out of what is stored ----------------------------------------------------------------


def redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` (JSON-like: tool-call arguments, an episode's steps) with every string in it
    passed through ``redact``; keys are kept, so the shape stays valid JSON."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item, redact) for item in value]
    return value


def redact_message(message: Message, redact: Callable[[str], str]) -> Message:
    """A copy of ``message`` with ``redact`` applied to all a person or a model reads of it: its
    text, reasoning, tool calls (arguments, raw arguments, errors) and image URLs (not data URLs).

    Reasoning blocks that held a secret are dropped: they are signed, a masked copy would be
    refused, and without them the provider's adapter finishes that tool loop without thinking.
    """
    calls = [
        replace(call, arguments=redact_value(call.arguments, redact),
                raw_arguments=redact(call.raw_arguments) if call.raw_arguments else call.raw_arguments,
                error=redact(call.error) if call.error else call.error)
        for call in message.tool_calls
    ]
    blocks = message.reasoning_blocks
    if blocks and redact_value(blocks, redact) != blocks:
        blocks = []
    return replace(
        message,
        content=redact(message.content),
        reasoning=redact(message.reasoning) if message.reasoning else message.reasoning,
        tool_calls=calls,
        images=[url if url.startswith("data:") else redact(url) for url in message.images],
        reasoning_blocks=blocks,
    )
