"""Build one Completion, and the stream events on the way, from pieces of a reply.

Every adapter feeds this builder, whether it holds a whole JSON reply or SSE deltas, so a
streamed reply and the same reply fetched at once give the same Completion. With
``parse_tags`` the text goes through the Hermes tag parser: ``<think>`` becomes reasoning and
``<tool_call>`` blocks become tool calls (the "rescue" for OpenAI-compatible servers whose chat
template left tool calls in the text).

Text and reasoning are trimmed as they stream: leading whitespace is dropped and trailing
whitespace is held until more text follows, so the deltas always add up to the final text.
Provider blocks that must go back verbatim (Anthropic's signed thinking) are kept apart, untrimmed,
with ``keep_block`` / ``extend_block``, and end up in ``Completion.reasoning_blocks``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ember.models.base import (
    Completion,
    ReasoningDelta,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallStarted,
    Usage,
)
from ember.models.hermes_format import Segment, TagStreamParser
from ember.models.toolcall_parse import make_tool_call, parse_hermes_block

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "eos": "stop",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
    "max_tokens": "length",
}


class _Trimmed:
    """Accumulates streamed text, emitting only what survives a final ``strip()``."""

    def __init__(self) -> None:
        self.value = ""
        self._held = ""

    def add(self, chunk: str) -> str:
        if not self.value:
            chunk = chunk.lstrip()
        if not chunk:
            return ""
        combined = self._held + chunk
        body = combined.rstrip()
        self._held = combined[len(body) :]
        self.value += body
        return body


@dataclass
class _PendingCall:
    position: int
    call_id: str | None = None
    name: str | None = None
    parts: list[str] = field(default_factory=list)
    whole: Any = None


class CompletionBuilder:
    """Collects text, reasoning, tool-call deltas, usage and finish reason into a Completion."""

    def __init__(self, *, parse_tags: bool, model: str = "") -> None:
        self.model = model
        self.finish_reason: str | None = None
        self.usage = Usage()
        self._parser = TagStreamParser() if parse_tags else None
        self._text = _Trimmed()
        self._reasoning = _Trimmed()
        self._native: dict[Any, _PendingCall] = {}
        self._rescued: list[ToolCall] = []
        self._started = 0
        self._kept: dict[Any, dict[str, Any]] = {}

    def text(self, chunk: str) -> list[StreamEvent]:
        if not chunk:
            return []
        if self._parser is None:
            return self._segments([("text", chunk)])
        return self._segments(self._parser.feed(chunk))

    def reasoning(self, chunk: str) -> list[StreamEvent]:
        delta = self._reasoning.add(chunk) if chunk else ""
        return [ReasoningDelta(delta)] if delta else []

    def keep_block(self, key: Any, block: dict[str, Any]) -> None:
        """Keep a provider block as it came (a copy), in arrival order; ``key`` names it for ``extend_block``."""
        self._kept[key] = dict(block)

    def extend_block(self, key: Any, name: str, chunk: str) -> None:
        """Append a streamed piece to field ``name`` of a kept block (ignored for an unknown ``key``)."""
        block = self._kept.get(key)
        if block is not None and chunk:
            previous = block.get(name)
            block[name] = (previous if isinstance(previous, str) else "") + chunk

    def tool_delta(
        self, key: Any, *, call_id: str | None = None, name: str | None = None, arguments: Any = None
    ) -> list[StreamEvent]:
        """A native tool call, whole or in pieces: ``arguments`` is a JSON fragment or a dict."""
        pending = self._native.get(key)
        events: list[StreamEvent] = []
        if pending is None:
            pending = self._native[key] = _PendingCall(position=len(self._native))
        if call_id and not pending.call_id:
            pending.call_id = call_id
        if name and not pending.name:
            pending.name = name
            events.append(ToolCallStarted(index=self._started, name=name))
            self._started += 1
        if isinstance(arguments, str):
            pending.parts.append(arguments)
        elif arguments is not None:
            pending.whole = arguments
        return events

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None) -> None:
        if isinstance(input_tokens, int):
            self.usage.input_tokens = input_tokens
        if isinstance(output_tokens, int):
            self.usage.output_tokens = output_tokens

    def finish(self) -> list[StreamEvent]:
        """Flush held-back text; the last event is always ``StreamDone``."""
        events = self._segments(self._parser.finish()) if self._parser else []
        calls = [self._build_native(p) for p in self._native.values()] + self._rescued
        reason = _FINISH_REASONS.get(self.finish_reason or "stop", self.finish_reason or "stop")
        if calls and reason == "stop":
            reason = "tool_calls"
        completion = Completion(
            text=self._text.value,
            reasoning=self._reasoning.value,
            tool_calls=calls,
            usage=Usage(self.usage.input_tokens, self.usage.output_tokens),
            finish_reason=reason,
            model=self.model,
            reasoning_blocks=[dict(block) for block in self._kept.values()],
        )
        events.append(StreamDone(completion))
        return events

    def completion(self) -> Completion:
        done = self.finish()[-1]
        assert isinstance(done, StreamDone)
        return done.completion

    # --- helpers ------------------------------------------------------------------------------

    def _segments(self, segments: list[Segment]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for kind, content in segments:
            if kind == "text":
                delta = self._text.add(content)
                if delta:
                    events.append(TextDelta(delta))
            elif kind == "reasoning":
                events.extend(self.reasoning(content))
            else:
                for call in parse_hermes_block(content):
                    self._rescued.append(call)
                    events.append(ToolCallStarted(index=self._started, name=call.name))
                    self._started += 1
        return events

    @staticmethod
    def _build_native(pending: _PendingCall) -> ToolCall:
        arguments: Any = "".join(pending.parts) if pending.parts else pending.whole
        return make_tool_call(pending.name, arguments, pending.call_id)
