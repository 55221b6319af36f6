"""Adapter for the Anthropic Messages API (``POST {base_url}/v1/messages``).

Plain ``httpx`` rather than the ``anthropic`` SDK, for start-up time (see transport.py).
``base_url`` is the host root (``https://api.anthropic.com``); a trailing ``/v1`` is tolerated.
Extended thinking follows ``ModelSpec.reasoning``: ``low``/``medium``/``high`` send
``thinking={"type": "adaptive"}`` with ``output_config={"effort": level}`` to current models, and
``thinking={"type": "enabled", "budget_tokens": N}`` (``REASONING_BUDGETS``, or
``reasoning_budget``) to those before Opus/Sonnet 4.6 (``thinks_adaptively``); a caller's
``thinking={...}`` option wins. With thinking on, ``max_tokens``
is raised above the budget when needed (it counts the thinking too) and ``temperature`` is left
out (the API refuses it). Thinking blocks come back as reasoning text and, verbatim with their
signatures, as ``reasoning_blocks``, which go back to the API while a tool loop continues. A
tool loop that began without thinking (another model answered it, or reasoning was off) is
finished without it, because the API refuses to turn thinking on in the middle of one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ember.models.anthropic_wire import (
    anthropic_request,
    anthropic_tools,
    apply_event,
    apply_message,
    describe,
    open_tool_turn,
    starts_with_thinking,
)
from ember.models.assembly import CompletionBuilder
from ember.models.base import Completion, Message, StreamEvent, ToolSchema
from ember.models.errors import bad_response, error_from_payload
from ember.models.spec import REASONING_BUDGETS, ModelSpec
from ember.models.transport import HttpTransport

if TYPE_CHECKING:
    import httpx

API_VERSION = "2023-06-01"


_BUDGET_ERA = re.compile(r"claude-(?:3\b|(?:opus|sonnet|haiku)-(\d+)(?:[-.](\d{1,2})(?!\d))?)")


def thinks_adaptively(model: str) -> bool:
    """True for Claude models that take ``thinking = {"type": "adaptive"}``: Opus and Sonnet 4.6
    and everything after; the Claude 3 family and 4, 4.1 and 4.5 take only a fixed budget.

    An id we cannot read (an alias, a proxy's name) counts as a current model.
    """
    found = _BUDGET_ERA.search(model.lower())
    if found is None:
        return True
    if found.group(1) is None:  # claude-3-...
        return False
    major, minor = int(found.group(1)), int(found.group(2) or 0)
    return (major, minor) >= (4, 6)


class AnthropicProvider:
    label = "Anthropic API"

    def __init__(self, spec: ModelSpec, client: httpx.Client | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.model = spec.model
        headers = {"anthropic-version": API_VERSION}
        if spec.api_key:
            headers["x-api-key"] = spec.api_key
        self.http = HttpTransport(spec, headers, self.label, client)
        root = spec.base_url.rstrip("/")
        self.root = root[: -len("/v1")] if root.endswith("/v1") else root

    def thinking(self) -> dict[str, Any] | None:
        """The ``thinking`` parameter ``ModelSpec.reasoning`` asks for; None when it is off.

        Claude models before Opus/Sonnet 4.6 take a fixed budget (``"enabled"``); later ones take
        ``"adaptive"`` (with ``output_config.effort``, see ``effort``) and refuse a budget with a
        400. A ``reasoning_budget`` in the config asks for the fixed budget on any model.
        """
        level = self.spec.reasoning
        if level not in REASONING_BUDGETS:
            return None
        if self.spec.reasoning_budget is None and thinks_adaptively(self.spec.model):
            return {"type": "adaptive"}
        return {"type": "enabled", "budget_tokens": self.spec.reasoning_budget or REASONING_BUDGETS[level]}

    def build_body(
        self, messages: list[Message], tools: list[ToolSchema] | None, opts: dict[str, Any], stream: bool
    ) -> dict[str, Any]:
        thinking = opts.get("thinking") or self.thinking()
        thinking_on = isinstance(thinking, dict) and thinking.get("type") != "disabled"
        system, wire_messages = anthropic_request(messages, reasoning_blocks=thinking_on)
        started = open_tool_turn(wire_messages) if thinking_on else None
        if started is not None and not starts_with_thinking(started):
            # This tool loop began without thinking; the API refuses to switch it on mid-loop.
            thinking, thinking_on = None, False
            system, wire_messages = anthropic_request(messages, reasoning_blocks=False)
        max_tokens = opts.get("max_tokens") or self.spec.max_output_tokens
        budget = thinking.get("budget_tokens") if thinking_on and isinstance(thinking, dict) else None
        if isinstance(budget, int) and max_tokens <= budget:
            max_tokens += budget  # thinking counts against max_tokens, which must exceed the budget
        body: dict[str, Any] = {"model": self.spec.model, "max_tokens": max_tokens, "messages": wire_messages}
        if system:
            body["system"] = system
        if tools:
            body["tools"] = anthropic_tools(tools)
        if opts.get("temperature") is not None and not thinking_on:
            body["temperature"] = opts["temperature"]  # not allowed with thinking on
        if opts.get("stop"):
            body["stop_sequences"] = [opts["stop"]] if isinstance(opts["stop"], str) else list(opts["stop"])
        if thinking:
            body["thinking"] = thinking
        if thinking_on and isinstance(thinking, dict) and thinking.get("type") == "adaptive" and "thinking" not in opts:
            body["output_config"] = {"effort": self.spec.reasoning}  # how hard adaptive thinking tries
        body.update(opts.get("extra_body") or {})
        if stream:
            body["stream"] = True
        return body

    def complete(self, messages: list[Message], tools: list[ToolSchema] | None = None, **opts: Any) -> Completion:
        url = self.root + "/v1/messages"
        data = self.http.post_json(url, self.build_body(messages, tools, opts, stream=False), opts.get("cancel"))
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            if isinstance(data, dict) and data.get("type") == "error":
                raise error_from_payload(data.get("error"), self.label, self.spec.api_key)
            raise bad_response(self.label, url, "a reply without content blocks", describe(data), self.spec.api_key)
        builder = CompletionBuilder(parse_tags=False, model=self.spec.model)
        apply_message(builder, data)
        return builder.completion()

    def stream(
        self, messages: list[Message], tools: list[ToolSchema] | None = None, **opts: Any
    ) -> Iterator[StreamEvent]:
        cancel: threading.Event | None = opts.get("cancel")
        url = self.root + "/v1/messages"
        builder = CompletionBuilder(parse_tags=False, model=self.spec.model)
        done = False
        with self.http.open_stream(url, self.build_body(messages, tools, opts, stream=True), cancel) as response:
            for event in self.http.iter_sse(response, url, cancel):
                data = self.http.decode_event(event, url)
                kind = event.event or str(data.get("type") or "")
                if kind == "error":
                    raise error_from_payload(data.get("error"), self.label, self.spec.api_key)
                if kind == "message_stop":
                    done = True
                    break
                yield from apply_event(builder, kind, data)
        if not done:
            raise bad_response(self.label, url, "a stream that ended before message_stop",
                               "(stream closed early)", self.spec.api_key, retryable=True)
        yield from builder.finish()

    def list_models(self) -> list[str]:
        """Every model id, following the API's pagination."""
        ids: list[str] = []
        after = None
        for _ in range(20):
            url = self.root + "/v1/models?limit=1000" + (f"&after_id={after}" if after else "")
            data = self.http.get_json(url)
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise bad_response(self.label, url, "a model list without data", describe(data), self.spec.api_key)
            ids += [str(m["id"]) for m in data["data"] if isinstance(m, dict) and "id" in m]
            after = data.get("last_id")
            if not data.get("has_more") or not after:
                break
        return ids

    def close(self) -> None:
        self.http.close()
