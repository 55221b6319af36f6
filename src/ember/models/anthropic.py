"""Adapter for the Anthropic Messages API (``POST {base_url}/v1/messages``).

Plain ``httpx`` rather than the ``anthropic`` SDK, for start-up time (see transport.py).
``base_url`` is the host root (``https://api.anthropic.com``); a trailing ``/v1`` is tolerated.
Extended thinking is off unless the caller passes ``thinking={...}``; thinking blocks come back
as reasoning.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ember.config import ModelSpec
from ember.models.anthropic_wire import (
    anthropic_request,
    anthropic_tools,
    apply_event,
    apply_message,
    describe,
)
from ember.models.assembly import CompletionBuilder
from ember.models.base import Completion, Message, StreamEvent, ToolSchema
from ember.models.errors import bad_response, error_from_payload
from ember.models.transport import HttpTransport

if TYPE_CHECKING:
    import httpx

API_VERSION = "2023-06-01"


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

    def build_body(
        self, messages: list[Message], tools: list[ToolSchema] | None, opts: dict[str, Any], stream: bool
    ) -> dict[str, Any]:
        system, wire_messages = anthropic_request(messages)
        body: dict[str, Any] = {
            "model": self.spec.model,
            "max_tokens": opts.get("max_tokens") or self.spec.max_output_tokens,
            "messages": wire_messages,
        }
        if system:
            body["system"] = system
        if tools:
            body["tools"] = anthropic_tools(tools)
        if opts.get("temperature") is not None:
            body["temperature"] = opts["temperature"]
        if opts.get("stop"):
            body["stop_sequences"] = [opts["stop"]] if isinstance(opts["stop"], str) else list(opts["stop"])
        if opts.get("thinking"):
            body["thinking"] = opts["thinking"]
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
                               "(stream closed early)", self.spec.api_key)
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
