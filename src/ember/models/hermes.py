"""Adapter for raw local models that call tools in the Hermes text format.

Use it when the server does not do tool calling itself (no chat template with tools, or a base
model behind ``/completions``). Tools go into the system prompt inside ``<tools>``; the reply's
``<tool_call>`` blocks become ToolCalls and ``<think>`` becomes reasoning; results go back as
``<tool_response>`` blocks in ``tool`` turns. See hermes_format.py for the text format.

``ModelSpec.hermes_endpoint`` picks the transport:

- ``chat``: ``POST {base_url}/chat/completions`` with the tools in the prompt, never in ``tools``.
- ``completion``: ``POST {base_url}/completions`` with a ChatML prompt rendered here, stopping
  at ``<|im_end|>``, for servers that apply no chat template at all.

``ModelSpec.reasoning`` is ignored: a raw model thinks in ``<think>`` or not, as it was trained.
"""

from __future__ import annotations

from typing import Any

from ember.models.assembly import CompletionBuilder
from ember.models.base import Message, StreamEvent, ToolSchema
from ember.models.hermes_format import render_chatml, to_hermes_messages
from ember.models.openai_compat import OpenAICompatProvider
from ember.models.openai_wire import openai_messages, request_options

IM_END = "<|im_end|>"


class HermesProvider(OpenAICompatProvider):
    label = "Hermes model server"

    @property
    def raw_completion(self) -> bool:
        return self.spec.hermes_endpoint in ("completion", "completions")

    @property
    def endpoint(self) -> str:  # type: ignore[override]
        return "/completions" if self.raw_completion else "/chat/completions"

    def build_body(
        self, messages: list[Message], tools: list[ToolSchema] | None, opts: dict[str, Any], stream: bool
    ) -> dict[str, Any]:
        turns = to_hermes_messages(messages, tools)
        body: dict[str, Any] = {"model": self.spec.model}
        if self.raw_completion:
            stop = opts.get("stop") or []
            stop = [stop] if isinstance(stop, str) else list(stop)
            body["prompt"] = render_chatml(turns)
            # /completions defaults to 16 tokens in the OpenAI spec, so always say how many.
            body["max_tokens"] = self.spec.max_output_tokens
            body.update(request_options({k: v for k, v in opts.items() if k != "stop"}))
            body["stop"] = [IM_END, *[s for s in stop if s != IM_END]]
        else:
            body["messages"] = openai_messages(turns)
            body.update(request_options(opts))
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def apply_choice(self, builder: CompletionBuilder, choice: dict[str, Any], streaming: bool) -> list[StreamEvent]:
        if self.raw_completion:
            text = choice.get("text")
            return builder.text(text.replace(IM_END, "")) if isinstance(text, str) else []
        return super().apply_choice(builder, choice, streaming)
