"""Adapter for OpenAI and every server that copies Chat Completions.

OpenAI, OpenRouter, Ollama, vLLM, llama.cpp server, LM Studio: ``POST {base_url}/chat/completions``
where ``base_url`` is the API root (``http://127.0.0.1:11434/v1``). Plain ``httpx``, not the
``openai`` SDK (importing it costs ~0.29 s; see transport.py).

Reasoning: ``ModelSpec.reasoning`` other than ``off`` is sent as ``reasoning_effort`` (``low``,
``medium`` or ``high``), which OpenAI's reasoning models, OpenRouter, vLLM and Ollama understand;
with ``off`` nothing is sent and the server's default applies. A thinking model's reasoning
comes back in ``reasoning_content`` or ``reasoning`` and is never sent back.

Rescue: local servers whose chat template does not parse tool calls return them as Hermes
``<tool_call>`` text, and ``<think>`` blocks inside the content; both are parsed out here with
the same parser the hermes adapter uses.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ember.models.assembly import CompletionBuilder
from ember.models.base import Completion, Message, StreamEvent, ToolSchema
from ember.models.errors import bad_response, error_from_payload
from ember.models.openai_wire import (
    apply_delta,
    apply_message,
    apply_usage,
    openai_messages,
    openai_tools,
    request_options,
)
from ember.models.spec import ModelSpec
from ember.models.transport import HttpTransport

if TYPE_CHECKING:
    import httpx


class OpenAICompatProvider:
    """``Provider`` for Chat Completions; ``HermesProvider`` reuses it with other hooks."""

    label = "OpenAI-compatible server"
    endpoint = "/chat/completions"

    def __init__(self, spec: ModelSpec, client: httpx.Client | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.model = spec.model
        headers = {"authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
        self.http = HttpTransport(spec, headers, self.label, client)

    # --- hooks a subclass changes -----------------------------------------------------------

    def build_body(
        self, messages: list[Message], tools: list[ToolSchema] | None, opts: dict[str, Any], stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.spec.model, "messages": openai_messages(messages)}
        if tools:
            body["tools"] = openai_tools(tools)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if self.spec.reasoning != "off":
            body["reasoning_effort"] = self.spec.reasoning
        body.update(request_options(opts))
        return body

    def apply_choice(self, builder: CompletionBuilder, choice: dict[str, Any], streaming: bool) -> list[StreamEvent]:
        if streaming:
            delta = choice.get("delta")
            return apply_delta(builder, delta) if isinstance(delta, dict) else []
        message = choice.get("message")
        if isinstance(message, dict):
            apply_message(builder, message)
        return []

    # --- Provider ----------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.spec.base_url.rstrip("/") + path

    def complete(self, messages: list[Message], tools: list[ToolSchema] | None = None, **opts: Any) -> Completion:
        url = self.url(self.endpoint)
        data = self.http.post_json(url, self.build_body(messages, tools, opts, stream=False), opts.get("cancel"))
        builder = self._builder()
        # ``choices: []`` is an empty answer (the router asks again), not a broken reply.
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            if isinstance(data, dict) and data.get("error"):
                raise error_from_payload(data["error"], self.label, self.spec.api_key)
            raise bad_response(self.label, url, "a reply without choices", json.dumps(data)[:200], self.spec.api_key)
        self._apply(builder, data, url, streaming=False)
        return builder.completion()

    def stream(
        self, messages: list[Message], tools: list[ToolSchema] | None = None, **opts: Any
    ) -> Iterator[StreamEvent]:
        cancel: threading.Event | None = opts.get("cancel")
        url = self.url(self.endpoint)
        builder = self._builder()
        done = False
        with self.http.open_stream(url, self.build_body(messages, tools, opts, stream=True), cancel) as response:
            if "application/json" in response.headers.get("content-type", ""):
                # The server ignored ``stream: true`` and sent one JSON reply; accept it.
                response.read()
                data = self.http.decode_response(response, url)
                if isinstance(data, dict):
                    yield from self._apply(builder, data, url, streaming=False)
                done = True
            else:
                for event in self.http.iter_sse(response, url, cancel):
                    if event.data.strip() == "[DONE]":
                        done = True
                        break
                    yield from self._apply(builder, self.http.decode_event(event, url), url, streaming=True)
        if not done and builder.finish_reason is None:
            raise bad_response(self.label, url, "a stream that ended before the reply was complete",
                               "(no [DONE] and no finish_reason)", self.spec.api_key, retryable=True)
        yield from builder.finish()

    def list_models(self) -> list[str]:
        url = self.url("/models")
        data = self.http.get_json(url)
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise bad_response(self.label, url, "a model list without data", json.dumps(data)[:200], self.spec.api_key)
        return [str(m["id"]) for m in data["data"] if isinstance(m, dict) and "id" in m]

    def close(self) -> None:
        self.http.close()

    # --- helpers ------------------------------------------------------------------------------

    def _builder(self) -> CompletionBuilder:
        return CompletionBuilder(parse_tags=True, model=self.spec.model)

    def _apply(self, builder: CompletionBuilder, data: dict[str, Any], url: str, streaming: bool) -> list[StreamEvent]:
        if data.get("error") and not data.get("choices"):
            raise error_from_payload(data["error"], self.label, self.spec.api_key)
        if isinstance(data.get("model"), str) and data["model"]:
            builder.model = data["model"]
        apply_usage(builder, data.get("usage"))
        choices = data.get("choices")
        if not isinstance(choices, list):
            if streaming and "choices" not in data:
                return []  # e.g. a keep-alive object some proxies send
            raise bad_response(self.label, url, "a reply whose choices are not a list", json.dumps(data)[:200],
                               self.spec.api_key)
        events: list[StreamEvent] = []
        for choice in choices[:1]:
            if not isinstance(choice, dict):
                continue
            events += self.apply_choice(builder, choice, streaming)
            if choice.get("finish_reason"):
                builder.finish_reason = str(choice["finish_reason"])
        return events
