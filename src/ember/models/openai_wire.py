"""Chat Completions wire format: neutral messages and tools out, replies and deltas in.

Reference: https://platform.openai.com/docs/api-reference/chat. Servers that copy it (Ollama,
vLLM, llama.cpp, LM Studio, OpenRouter) add ``reasoning_content`` or ``reasoning`` for a
thinking model's reasoning; both are read.
"""

from __future__ import annotations

import json
from typing import Any

from ember.models.assembly import CompletionBuilder
from ember.models.base import Message, StreamEvent, ToolCall, ToolSchema


def _obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (model and server output is untrusted)."""
    return value if isinstance(value, dict) else {}


def user_content(message: Message) -> str | list[dict[str, Any]]:
    """Plain text, or text plus ``image_url`` parts when the message carries images."""
    if not message.images:
        return message.content
    parts: list[dict[str, Any]] = []
    if message.content:
        parts.append({"type": "text", "text": message.content})
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in message.images]
    return parts


def _call_arguments(call: ToolCall) -> str:
    # A call we could not parse goes back exactly as the model wrote it, next to its error result.
    if call.error and call.raw_arguments is not None:
        return call.raw_arguments
    return json.dumps(call.arguments, ensure_ascii=False)


def openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            tool: dict[str, Any] = {"role": "tool", "content": m.content}
            if m.tool_call_id:
                tool["tool_call_id"] = m.tool_call_id
            out.append(tool)
        elif m.role == "assistant" and m.tool_calls:
            out.append({
                "role": "assistant",
                "content": m.content or None,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _call_arguments(c)}}
                    for c in m.tool_calls
                ],
            })
        elif m.role == "user":
            entry: dict[str, Any] = {"role": "user", "content": user_content(m)}
            if m.name:
                entry["name"] = m.name
            out.append(entry)
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def openai_tools(tools: list[ToolSchema]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t.get("description", ""),
                "parameters": t.get("parameters") or {"type": "object", "properties": {}},
            },
        }
        for t in tools
    ]


def request_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The sampling options a caller may pass through ``**opts``."""
    body = {k: opts[k] for k in ("max_tokens", "temperature", "top_p", "stop", "seed") if opts.get(k) is not None}
    body.update(opts.get("extra_body") or {})
    return body


def message_text(content: Any) -> str:
    """``content`` as text: a string, ``None``, or a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _reasoning(message: dict[str, Any]) -> str:
    value = message.get("reasoning_content") or message.get("reasoning") or ""
    return value if isinstance(value, str) else ""


def _tool_calls(builder: CompletionBuilder, calls: Any) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for position, call in enumerate(calls or []):
        if not isinstance(call, dict):
            continue
        function = _obj(call.get("function"))
        events += builder.tool_delta(
            call.get("index", position),
            call_id=call.get("id"),
            name=function.get("name"),
            arguments=function.get("arguments"),
        )
    return events


def apply_message(builder: CompletionBuilder, message: dict[str, Any]) -> None:
    """A whole ``choices[0].message``."""
    builder.reasoning(_reasoning(message))
    builder.text(message_text(message.get("content")))
    _tool_calls(builder, message.get("tool_calls"))


def apply_delta(builder: CompletionBuilder, delta: dict[str, Any]) -> list[StreamEvent]:
    """One streamed ``choices[0].delta``."""
    events = builder.reasoning(_reasoning(delta))
    events += builder.text(message_text(delta.get("content")))
    events += _tool_calls(builder, delta.get("tool_calls"))
    return events


def apply_usage(builder: CompletionBuilder, usage: Any) -> None:
    if isinstance(usage, dict):
        builder.set_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
