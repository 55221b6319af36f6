"""Anthropic Messages API wire format: requests out, replies and stream events in.

Reference: https://docs.anthropic.com/en/api/messages. The system prompt is a top-level field;
tool calls are ``tool_use`` blocks; results are ``tool_result`` blocks in a *user* message, and
the results of one assistant turn must all sit in one user message, so consecutive tool
messages are merged.

Extended thinking: a reply's ``thinking`` blocks (text plus ``signature``) and
``redacted_thinking`` blocks (``data``) are kept verbatim in ``Message.reasoning_blocks``. With
thinking on, the API wants them back, unmodified and first, in the assistant message that
started a tool loop still in progress (one whose last user message holds only tool results);
``anthropic_request`` puts them first in every assistant message they came with.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ember.models.assembly import CompletionBuilder
from ember.models.base import Message, StreamEvent, ToolSchema

_DATA_URL = re.compile(r"^data:(?P<mime>[\w/+.-]+);base64,(?P<data>.*)$", re.S)

THINKING_BLOCKS = ("thinking", "redacted_thinking")


def _obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (model and server output is untrusted)."""
    return value if isinstance(value, dict) else {}


def image_block(url: str) -> dict[str, Any]:
    match = _DATA_URL.match(url)
    if match:
        return {"type": "image", "source": {"type": "base64", "media_type": match["mime"], "data": match["data"]}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(m: Message) -> list[dict[str, Any]]:
    blocks = [image_block(url) for url in m.images]
    if m.content:
        blocks.append({"type": "text", "text": m.content})
    return blocks


def anthropic_request(
    messages: list[Message], *, reasoning_blocks: bool = True
) -> tuple[str, list[dict[str, Any]]]:
    """``(system, messages)`` in the Messages API shape.

    With ``reasoning_blocks`` (thinking on), an assistant message's kept thinking blocks open its
    content, exactly as they came; without, they are left out (the API needs them only with
    thinking on). Blocks of other providers are never sent.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content}
            if m.is_error:
                block["is_error"] = True
            if out and out[-1]["role"] == "user" and _only_tool_results(out[-1]["content"]):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m.role == "assistant":
            blocks: list[dict[str, Any]] = []
            if m.content.strip():
                blocks.append({"type": "text", "text": m.content})
            for call in m.tool_calls:
                blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
            if blocks and reasoning_blocks:
                blocks[:0] = [dict(b) for b in m.reasoning_blocks if _obj(b).get("type") in THINKING_BLOCKS]
            if blocks:
                out.append({"role": "assistant", "content": blocks})
        else:
            blocks = _user_blocks(m)
            if out and out[-1]["role"] == "user" and _only_tool_results(out[-1]["content"]):
                out[-1]["content"].extend(blocks)  # text after results joins their message
            elif blocks:
                out.append({"role": "user", "content": blocks})
    return system, out


def _only_tool_results(content: Any) -> bool:
    return isinstance(content, list) and bool(content) and all(b.get("type") == "tool_result" for b in content)


def open_tool_turn(wire_messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The assistant message that began a tool loop still in progress, else None.

    In progress: the request ends with a user message of tool results only. The loop began with
    the first assistant message after the last user message that holds anything else. With
    thinking on, the API requires that message to start with its thinking blocks.
    """
    if not wire_messages or wire_messages[-1]["role"] != "user" or not _only_tool_results(wire_messages[-1]["content"]):
        return None
    first = None
    for message in reversed(wire_messages):
        if message["role"] == "user" and not _only_tool_results(message["content"]):
            break
        if message["role"] == "assistant":
            first = message
    return first


def starts_with_thinking(wire_message: dict[str, Any]) -> bool:
    content = wire_message.get("content")
    return isinstance(content, list) and bool(content) and _obj(content[0]).get("type") in THINKING_BLOCKS


def anthropic_tools(tools: list[ToolSchema]) -> list[dict[str, Any]]:
    return [
        {
            "name": t["name"],
            "description": t.get("description", ""),
            "input_schema": t.get("parameters") or {"type": "object", "properties": {}},
        }
        for t in tools
    ]


def _input_tokens(usage: dict[str, Any]) -> int | None:
    parts = [usage.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    numbers = [p for p in parts if isinstance(p, int)]
    return sum(numbers) if numbers else None


def apply_message(builder: CompletionBuilder, data: dict[str, Any]) -> None:
    """A whole (non-streamed) Messages API reply."""
    if isinstance(data.get("model"), str):
        builder.model = data["model"]
    for index, block in enumerate(data.get("content") or []):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            builder.text(str(block.get("text") or ""))
        elif kind == "thinking":
            builder.reasoning(str(block.get("thinking") or ""))
            builder.keep_block(index, block)
        elif kind == "redacted_thinking":
            builder.keep_block(index, block)
        elif kind == "tool_use":
            builder.tool_delta(index, call_id=block.get("id"), name=block.get("name"), arguments=block.get("input"))
    usage = _obj(data.get("usage"))
    builder.set_usage(_input_tokens(usage), usage.get("output_tokens"))
    builder.finish_reason = str(data.get("stop_reason") or "end_turn")


def apply_event(builder: CompletionBuilder, kind: str, data: dict[str, Any]) -> list[StreamEvent]:
    """One SSE event other than ``error`` and ``message_stop``; unknown events are ignored."""
    if kind == "message_start":
        message = _obj(data.get("message"))
        if isinstance(message.get("model"), str):
            builder.model = message["model"]
        usage = _obj(message.get("usage"))
        builder.set_usage(_input_tokens(usage), usage.get("output_tokens"))
    elif kind == "content_block_start":
        block = _obj(data.get("content_block"))
        index = data.get("index")
        if block.get("type") == "tool_use":
            whole = block.get("input") or None  # the start carries ``{}``; the JSON follows in deltas
            return builder.tool_delta(index, call_id=block.get("id"), name=block.get("name"), arguments=whole)
        if block.get("type") == "text":
            return builder.text(str(block.get("text") or ""))
        if block.get("type") == "thinking":
            builder.keep_block(index, block)
            return builder.reasoning(str(block.get("thinking") or ""))
        if block.get("type") == "redacted_thinking":
            builder.keep_block(index, block)  # whole in the start event: no deltas follow
    elif kind == "content_block_delta":
        delta = _obj(data.get("delta"))
        dtype = delta.get("type")
        if dtype == "text_delta":
            return builder.text(str(delta.get("text") or ""))
        if dtype == "thinking_delta":
            chunk = str(delta.get("thinking") or "")
            builder.extend_block(data.get("index"), "thinking", chunk)
            return builder.reasoning(chunk)
        if dtype == "signature_delta":
            builder.extend_block(data.get("index"), "signature", str(delta.get("signature") or ""))
        if dtype == "input_json_delta":
            return builder.tool_delta(data.get("index"), arguments=str(delta.get("partial_json") or ""))
    elif kind == "message_delta":
        delta = _obj(data.get("delta"))
        if delta.get("stop_reason"):
            builder.finish_reason = str(delta["stop_reason"])
        usage = _obj(data.get("usage"))
        builder.set_usage(_input_tokens(usage), usage.get("output_tokens"))
    return []


def describe(data: Any) -> str:
    return json.dumps(data)[:200]
