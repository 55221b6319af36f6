"""The one normalized shape every model provider speaks.

Adapters (OpenAI-compatible, Anthropic, Hermes) translate between their wire format and these
types, so the agent loop, the store and the UIs never see a provider-specific dict.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]


@dataclass
class ToolCall:
    """A tool call requested by the model.

    ``error`` is set when the call could not be parsed or repaired; the loop then returns the
    error to the model as the tool's result instead of running anything.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None
    error: str | None = None


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


@dataclass
class Message:
    """One chat message in provider-neutral form.

    ``images`` holds attachments as data URLs or http(s) URLs; adapters turn them into the
    provider's own image content parts.

    ``reasoning_blocks`` are an assistant message's reasoning as the provider sent it, opaque to
    everything but that provider's adapter: for Anthropic, the ``thinking`` blocks with their
    ``signature`` and the ``redacted_thinking`` blocks with their ``data``, which must go back
    unmodified when a tool loop continues with thinking on. ``reasoning`` is the readable text.
    They are model output: stored as they are, kept out of ``repr`` and never logged.
    """

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: str | None = None
    is_error: bool = False
    images: list[str] = field(default_factory=list)
    reasoning_blocks: list[dict[str, Any]] = field(default_factory=list, repr=False)


@dataclass
class Completion:
    """A finished model response; ``reasoning_blocks`` as on ``Message``."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"
    model: str = ""
    reasoning_blocks: list[dict[str, Any]] = field(default_factory=list, repr=False)
    # The named model of config.toml that answered (``default``, ``backup``...), set by the router;
    # "" when a provider was called directly. ``model`` is the id the server returned.
    spec_name: str = ""

    def to_message(self) -> Message:
        return Message(
            role="assistant",
            content=self.text,
            tool_calls=list(self.tool_calls),
            reasoning=self.reasoning or None,
            reasoning_blocks=[dict(block) for block in self.reasoning_blocks],
        )


# --- streaming events -------------------------------------------------------------------------


@dataclass
class TextDelta:
    text: str


@dataclass
class ReasoningDelta:
    text: str


@dataclass
class ToolCallStarted:
    """The model began a tool call; arguments may still be streaming."""

    index: int
    name: str


@dataclass
class StreamDone:
    """Always the last event of a stream: the assembled completion."""

    completion: Completion


StreamEvent = TextDelta | ReasoningDelta | ToolCallStarted | StreamDone


# --- errors ---------------------------------------------------------------------------------------


class ProviderError(Exception):
    """A model endpoint failed. ``retryable`` errors are those another attempt at the same model may
    fix (429, a model API's 5xx, timeouts, dropped connections); the class sets the default, and
    ``retryable=`` overrides it for one error (an HTML 500 page is no model API's hiccup)."""

    retryable: bool = False

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None,
        retryable: bool | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable


class ConnectError(ProviderError):
    retryable = True


class TimeoutError_(ProviderError):
    retryable = True


class RateLimitError(ProviderError):
    retryable = True


class ServerError(ProviderError):
    retryable = True


class AuthError(ProviderError):
    pass


class NotFoundError(ProviderError):
    pass


class BadRequestError(ProviderError):
    pass


class BadResponseError(ProviderError):
    """The endpoint answered with something that is not the protocol (garbage, HTML, truncated JSON).

    Retryable only when the reply was cut off (a dropped connection, a stream that stopped early);
    a server that speaks another protocol will speak it again.
    """


class EmptyAnswerError(ProviderError):
    """The model answered with no text and no tool call (``choices: []``, ``content: ""``).

    The router asks once more; a second empty answer moves on to the fallback models.
    """

    retryable = True


class Cancelled(Exception):
    """The user cancelled the running turn (Ctrl-C)."""


# --- the provider protocol --------------------------------------------------------------------


ToolSchema = dict[str, Any]
"""Neutral tool schema: ``{"name": str, "description": str, "parameters": <JSON schema object>}``."""


@runtime_checkable
class Provider(Protocol):
    """What every model adapter implements.

    ``opts`` may carry ``max_tokens``, ``temperature``, ``stop`` and ``cancel`` (a
    ``threading.Event``; when it is set the adapter stops reading and raises ``Cancelled``).
    Reasoning comes from ``ModelSpec.reasoning``; adapters that cannot use it ignore it.
    """

    name: str
    model: str

    def complete(self, messages: list[Message], tools: list[ToolSchema] | None = None, **opts: Any) -> Completion: ...

    def stream(
        self, messages: list[Message], tools: list[ToolSchema] | None = None, **opts: Any
    ) -> Iterator[StreamEvent]: ...

    def list_models(self) -> list[str]: ...

    def close(self) -> None: ...
