"""Pick the model for a task, retry what is worth retrying, fall back, and count the cost.

``settings.model_for(kind)`` names the first model for a task kind (``chat``, ``learning``,
``tools``); ``settings.fallback`` lists the models to try next. Each model gets
``1 + settings.retries`` attempts on retryable errors (connection, timeout, 429, 5xx, garbage),
with exponential backoff that honours ``Retry-After``; a non-retryable error (bad key, unknown
model, bad request) moves straight to the next model, since another endpoint may still answer.
A stream falls back only while nothing has been yielded: the user must never see two answers
spliced together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ember.config import ModelSpec, Settings
from ember.models.base import (
    Cancelled,
    Completion,
    Message,
    Provider,
    ProviderError,
    StreamDone,
    StreamEvent,
    ToolSchema,
    Usage,
)
from ember.models.catalog import build_provider

if TYPE_CHECKING:
    import httpx


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
        self.records: list[UsageRecord] = []
        self.last: UsageRecord | None = None
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
        self, kind: str, messages: list[Message], tools: list[ToolSchema] | None = None, **opts: Any
    ) -> Completion:
        failures: list[tuple[str, ProviderError]] = []
        for spec in self.chain(kind):
            provider = self.provider_for(spec.name)
            for attempt in range(self.settings.retries + 1):
                try:
                    completion = provider.complete(messages, tools, **opts)
                except ProviderError as exc:
                    failures.append((spec.name, exc))
                    if not self._backoff(exc, attempt, opts.get("cancel")):
                        break
                    continue
                self._record(kind, spec, completion)
                return completion
        raise self._exhausted(failures)

    def stream(
        self, kind: str, messages: list[Message], tools: list[ToolSchema] | None = None, **opts: Any
    ) -> Iterator[StreamEvent]:
        failures: list[tuple[str, ProviderError]] = []
        for spec in self.chain(kind):
            provider = self.provider_for(spec.name)
            for attempt in range(self.settings.retries + 1):
                yielded = False
                try:
                    events = provider.stream(messages, tools, **opts)
                    with closing(events) if isinstance(events, Generator) else nullcontext():
                        for event in events:
                            if isinstance(event, StreamDone):
                                self._record(kind, spec, event.completion)
                            yielded = True
                            yield event
                    return
                except ProviderError as exc:
                    if yielded:
                        raise
                    failures.append((spec.name, exc))
                    if not self._backoff(exc, attempt, opts.get("cancel")):
                        break
        raise self._exhausted(failures)

    # --- accounting -----------------------------------------------------------------------------

    @property
    def total_usage(self) -> Usage:
        total = Usage()
        for record in self.records:
            total = total + record.usage
        return total

    @property
    def total_cost(self) -> float:
        return sum(record.cost for record in self.records)

    def cost_of(self, spec: ModelSpec, completion: Completion) -> float:
        """USD for one call, priced by the configured model id, else the id the server returned."""
        model = spec.model if spec.model in self.settings.prices else completion.model
        return self.settings.cost_of(model, completion.usage)

    def close(self) -> None:
        with self._lock:
            providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            provider.close()

    # --- helpers --------------------------------------------------------------------------------

    def _record(self, kind: str, spec: ModelSpec, completion: Completion) -> None:
        cost = self.cost_of(spec, completion)
        usage = Usage(completion.usage.input_tokens, completion.usage.output_tokens)
        record = UsageRecord(kind, spec.name, completion.model or spec.model, usage, cost)
        with self._lock:
            self.records.append(record)
            self.last = record
        if self.on_usage is not None:
            self.on_usage(record.spec_name, record.model, usage, cost)

    def _backoff(self, exc: ProviderError, attempt: int, cancel: threading.Event | None) -> bool:
        """Sleep before another attempt at the same model; False when the next model should go."""
        if not exc.retryable or attempt >= self.settings.retries:
            return False
        if exc.retry_after is not None:
            if exc.retry_after > self.max_delay:
                return False  # asked to wait longer than we would: try the fallback now
            delay = exc.retry_after
        else:
            delay = min(self.max_delay, self.base_delay * (2**attempt))
        self.sleep(delay)
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled by the user")
        return True

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
                              status=primary.status, retry_after=primary.retry_after)
        error.__cause__ = failures[-1][1]
        return error
