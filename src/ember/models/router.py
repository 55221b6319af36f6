"""Pick the model for a task, retry what is worth retrying, fall back, and count the cost.

``settings.model_for(kind)`` names the first model for a task kind (``chat``, ``learning``,
``tools``); ``settings.fallback`` lists the models to try next. Each model gets
``1 + settings.retries`` attempts on retryable errors (connection, timeout, 429, a model API's
5xx, a reply cut off), with exponential backoff that honours ``Retry-After``; a non-retryable
error (bad key, unknown model, bad request, an HTML page where the API should be) moves straight
to the next model, since another endpoint may still answer. A stream falls back only while
nothing has been yielded: the user must never see two answers spliced together.

An empty answer (no text, no tool call: ``choices: []``, ``content: ""``) is no answer: the same
model is asked once more at once, then the next model; when none answers, ``EmptyAnswerError``
says "the model returned an empty answer". This happens here, so every door and every task kind
gets it. An empty stream has shown nothing but reasoning, so asking again splices no answers.

Before each wait and each fallback the router says so (a ``RouteNotice``): ``complete`` and
``stream`` pass the text to ``on_notice``; ``complete_events`` and ``stream_events`` yield it in
line, before the wait, so a door can show it while the wait is still going on. The text names the
model and the kind of failure only, never the error's full text, so no secret can end up in it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ember.models.base import (
    AuthError,
    BadRequestError,
    BadResponseError,
    Cancelled,
    Completion,
    ConnectError,
    EmptyAnswerError,
    Message,
    NotFoundError,
    Provider,
    ProviderError,
    RateLimitError,
    StreamDone,
    StreamEvent,
    TimeoutError_,
    ToolSchema,
    Usage,
)
from ember.models.catalog import build_provider
from ember.models.spec import ModelSpec

if TYPE_CHECKING:
    import httpx

    from ember.config import Settings

RECENT_RECORDS = 1000  # Router.records keeps this many of the latest calls; the totals count all


@dataclass
class UsageRecord:
    """One successful model call: which named model answered, its tokens, and its cost in USD."""

    kind: str
    spec_name: str
    model: str
    usage: Usage
    cost: float


UsageCallback = Callable[[str, str, Usage, float], None]
"""``on_usage(spec_name, model, usage, cost)``, called after every successful call."""


@dataclass
class RouteNotice:
    """A retry or a fallback the router is about to make, in words fit to show the user."""

    text: str


NoticeCallback = Callable[[str], None]
"""``on_notice(text)``, called before each retry wait and each fallback."""


class Router:
    """Routes task kinds to providers; thread-safe, so one router can serve every channel."""

    def __init__(
        self,
        settings: Settings,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_usage: UsageCallback | None = None,
        *,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
    ) -> None:
        self.settings = settings
        self.client = client
        self.sleep = sleep
        self.on_usage = on_usage
        self.base_delay = base_delay
        self.max_delay = max_delay
        # The latest calls (a bounded window: a gateway runs for months) and running totals.
        self.records: deque[UsageRecord] = deque(maxlen=RECENT_RECORDS)
        self.last: UsageRecord | None = None
        self._total_usage = Usage()
        self._total_cost = 0.0
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()

    # --- choosing -------------------------------------------------------------------------------

    def spec_for(self, kind: str) -> ModelSpec:
        return self.settings.model_for(kind)

    def chain(self, kind: str) -> list[ModelSpec]:
        """The models tried for ``kind``, in order: the routed one, then the fallbacks."""
        names = [self.spec_for(kind).name, *self.settings.fallback]
        seen: list[str] = []
        for name in names:
            if name in self.settings.models and name not in seen:
                seen.append(name)
        return [self.settings.models[name] for name in seen]

    def provider_for(self, name: str) -> Provider:
        """The (cached) provider of a named model from ``[model]`` / ``[models.NAME]``."""
        spec = self.settings.models.get(name)
        if spec is None:
            known = ", ".join(sorted(self.settings.models))
            raise KeyError(f"no model named {name!r}; defined models: {known}")
        with self._lock:
            provider = self._providers.get(name)
            if provider is None:
                provider = self._providers[name] = build_provider(spec, self.client)
            return provider

    # --- calling --------------------------------------------------------------------------------

    def complete(
        self,
        kind: str,
        messages: list[Message],
        tools: list[ToolSchema] | None = None,
        *,
        on_notice: NoticeCallback | None = None,
        **opts: Any,
    ) -> Completion:
        completion: Completion | None = None
        for item in self.complete_events(kind, messages, tools, **opts):
            if isinstance(item, RouteNotice):
                if on_notice is not None:
                    on_notice(item.text)
            else:
                completion = item
        assert completion is not None  # complete_events ends with the completion or raises
        return completion

    def complete_events(
        self, kind: str, messages: list[Message], tools: list[ToolSchema] | None = None, **opts: Any
    ) -> Generator[RouteNotice | Completion, None, None]:
        """``complete`` as a generator: a ``RouteNotice`` before each wait or fallback, then the completion."""
        failures: list[tuple[str, ProviderError]] = []
        chain = self.chain(kind)
        for index, spec in enumerate(chain):
            provider = self.provider_for(spec.name)
            for attempt in range(self.settings.retries + 1):
                try:
                    completion = provider.complete(messages, tools, **opts)
                    if is_empty(completion):
                        self._record(kind, spec, completion)  # paid for, even so
                        raise empty_answer(spec, completion)
                except ProviderError as exc:
                    failures.append((spec.name, exc))
                    again = yield from self._after_failure(exc, attempt, chain, index, opts.get("cancel"), failures)
                    if not again:
                        break
                    continue
                self._record(kind, spec, completion)
                yield completion
                return
        raise self._exhausted(failures)

    def stream(
        self,
        kind: str,
        messages: list[Message],
        tools: list[ToolSchema] | None = None,
        *,
        on_notice: NoticeCallback | None = None,
        **opts: Any,
    ) -> Iterator[StreamEvent]:
        events = self.stream_events(kind, messages, tools, **opts)
        with closing(events):
            for event in events:
                if isinstance(event, RouteNotice):
                    if on_notice is not None:
                        on_notice(event.text)
                else:
                    yield event

    def stream_events(
        self, kind: str, messages: list[Message], tools: list[ToolSchema] | None = None, **opts: Any
    ) -> Generator[StreamEvent | RouteNotice, None, None]:
        """``stream`` with a ``RouteNotice`` in line before each wait or fallback."""
        failures: list[tuple[str, ProviderError]] = []
        chain = self.chain(kind)
        for index, spec in enumerate(chain):
            provider = self.provider_for(spec.name)
            for attempt in range(self.settings.retries + 1):
                yielded = False
                try:
                    events = provider.stream(messages, tools, **opts)
                    with closing(events) if isinstance(events, Generator) else nullcontext():
                        for event in events:
                            if isinstance(event, StreamDone):
                                self._record(kind, spec, event.completion)
                                if is_empty(event.completion):  # only reasoning or blanks were yielded
                                    raise empty_answer(spec, event.completion)
                            yielded = True
                            yield event
                    return
                except ProviderError as exc:
                    if yielded and not isinstance(exc, EmptyAnswerError):
                        raise
                    failures.append((spec.name, exc))
                    again = yield from self._after_failure(exc, attempt, chain, index, opts.get("cancel"), failures)
                    if not again:
                        break
        raise self._exhausted(failures)

    # --- accounting -----------------------------------------------------------------------------

    @property
    def total_usage(self) -> Usage:
        return self._total_usage

    @property
    def total_cost(self) -> float:
        return self._total_cost

    def cost_of(self, completion: Completion, spec: ModelSpec | None = None) -> float:
        """USD for one call: priced by the id the server returned, else by the configured id of the
        model that answered (``spec``, else ``completion.spec_name``); 0 when neither has a price.

        A fallback is so charged at its own price, never at the price of the model it stood in for.
        """
        if completion.model in self.settings.prices:
            return self.settings.cost_of(completion.model, completion.usage)
        spec = spec or self.settings.models.get(completion.spec_name)
        return self.settings.cost_of(spec.model, completion.usage) if spec is not None else 0.0

    def close(self) -> None:
        with self._lock:
            providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            provider.close()

    # --- helpers --------------------------------------------------------------------------------

    def _record(self, kind: str, spec: ModelSpec, completion: Completion) -> None:
        completion.spec_name = spec.name
        cost = self.cost_of(completion, spec)
        usage = Usage(completion.usage.input_tokens, completion.usage.output_tokens)
        record = UsageRecord(kind, spec.name, completion.model or spec.model, usage, cost)
        with self._lock:
            self.records.append(record)
            self.last = record
            self._total_usage = self._total_usage + usage
            self._total_cost += cost
        if self.on_usage is not None:
            self.on_usage(record.spec_name, record.model, usage, cost)

    def _after_failure(
        self, exc: ProviderError, attempt: int, chain: list[ModelSpec], index: int, cancel: threading.Event | None,
        failures: list[tuple[str, ProviderError]],
    ) -> Generator[RouteNotice, None, bool]:
        """Announce and sleep before another attempt at the same model (True), or announce the
        fallback to the next model (False; nothing is announced after the last one)."""
        spec = chain[index]
        delay = self._delay(exc, attempt)
        if isinstance(exc, EmptyAnswerError):
            empties = sum(1 for name, failure in failures if name == spec.name and isinstance(failure, EmptyAnswerError))
            if delay is not None and empties == 1:  # once, and at once: waiting does not help
                yield RouteNotice(f"model {_label(spec)}: {_reason(exc)}, asking once more")
                return True
            delay = None
        if delay is None:
            if index + 1 < len(chain):
                reason = _reason(exc)
                if exc.retryable and exc.retry_after is not None and exc.retry_after > self.max_delay:
                    reason += f", asked to wait {exc.retry_after:.0f} s"
                elif exc.retryable:
                    reason += f", {attempt + 1} attempt{'s' if attempt else ''}"
                yield RouteNotice(f"model {_label(spec)} failed ({reason}); falling back to {_label(chain[index + 1])}")
            return False
        total = self.settings.retries + 1
        yield RouteNotice(
            f"model {_label(spec)}: {_reason(exc)}, retrying in {delay:.1f} s (attempt {attempt + 2} of {total})"
        )
        self.sleep(delay)
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled by the user")
        return True

    def _delay(self, exc: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before another attempt at the same model; None when the next model should go."""
        if not exc.retryable or attempt >= self.settings.retries:
            return None
        if exc.retry_after is not None:
            if exc.retry_after > self.max_delay:
                return None  # asked to wait longer than we would: try the fallback now
            return exc.retry_after
        return min(self.max_delay, self.base_delay * (2**attempt))

    def _exhausted(self, failures: list[tuple[str, ProviderError]]) -> ProviderError:
        """The first model's last error, its message naming what the fallbacks said."""
        if not failures:
            return ProviderError("no model is configured for this task; add [model] to config.toml")
        first_name = failures[0][0]
        primary = [exc for name, exc in failures if name == first_name][-1]
        others: dict[str, ProviderError] = {}
        for name, exc in failures:
            if name != first_name:
                others[name] = exc
        if not others:
            return primary
        also = "; ".join(f"{name}: {exc}" for name, exc in others.items())
        error = type(primary)(f"{primary} (fallbacks failed too: {also})",
                              status=primary.status, retry_after=primary.retry_after, retryable=primary.retryable)
        error.__cause__ = failures[-1][1]
        return error


def is_empty(completion: Completion) -> bool:
    """No answer at all: no tool call, and no text but blanks (reasoning alone answers nothing)."""
    return not completion.tool_calls and not completion.text.strip()


def empty_answer(spec: ModelSpec, completion: Completion) -> EmptyAnswerError:
    why = "no text and no tool call"
    if completion.finish_reason in ("length", "max_tokens"):
        why += "; it stopped at its output limit: raise max_output_tokens for this model in config.toml"
    return EmptyAnswerError(f"the model returned an empty answer ({why}; model {_label(spec)}); "
                            "ask again, or try another model with --model")


def _label(spec: ModelSpec) -> str:
    """``backup (gpt-4o-mini)``: the name in config.toml and the model id, once when they agree."""
    return spec.name if spec.name == spec.model else f"{spec.name} ({spec.model})"


_REASONS: tuple[tuple[type[ProviderError], str], ...] = (
    (AuthError, "API key refused"),
    (NotFoundError, "model or URL not found"),
    (RateLimitError, "rate-limited"),
    (BadRequestError, "request rejected"),
    (ConnectError, "cannot connect"),
    (TimeoutError_, "timed out"),
    (BadResponseError, "unreadable reply"),
    (EmptyAnswerError, "empty answer"),
)


def _reason(exc: ProviderError) -> str:
    """What went wrong, in a few words made only of the status and the error's class.

    The error's own text is left out on purpose: it quotes server bodies, which may echo a key.
    """
    words = next((text for cls, text in _REASONS if isinstance(exc, cls)), "")
    status = f"HTTP {exc.status}" if exc.status else ""
    return ", ".join(part for part in (status, words) if part) or "error"
