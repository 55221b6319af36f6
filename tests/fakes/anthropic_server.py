"""A fake Anthropic Messages API server for tests and benchmarks.

It speaks the real wire format (the ``anthropic`` SDK runs against it in tests/models):
``POST /v1/messages`` as JSON or as the named SSE event stream (``message_start``,
``content_block_start`` / ``content_block_delta`` / ``content_block_stop`` with
``thinking_delta``, ``text_delta`` and ``input_json_delta``, ``message_delta`` with usage,
``message_stop``, and ``error``), plus ``GET /v1/models``. Like the real API it answers 400
when the ``anthropic-version`` header is missing.

Extended thinking is checked like the real API does (400 ``invalid_request_error``, before a
scripted reply is used): ``thinking.budget_tokens`` at least 1024 and below ``max_tokens``, no
``temperature``/``top_k`` with thinking on, ``"adaptive"`` thinking without a budget and only
on models that have it (a fixed budget is refused on Opus 4.7 and later), ``output_config.effort``
one of the documented levels, every ``thinking`` block sent back carrying the
signature this fake gave it (an HMAC of its text: change one character and it fails) and every
``redacted_thinking`` block its ``data`` unchanged; and with thinking on, the assistant message
that began a tool loop still in progress (the request ends with tool results) must start with
all the thinking blocks of that reply, complete and in order. ``Reply(redacted_thinking="x")``
adds a ``redacted_thinking`` block after the thinking block.

Same scripting as ``tests.fakes.openai_server`` (``Reply``, ``add``, ``responder``,
``requests``); ``base_url`` is the host root, as the SDK and ModelSpec expect::

    from tests.fakes.anthropic_server import FakeAnthropic, Reply

    with FakeAnthropic() as fake:
        fake.add(text="Hi", reasoning="short greeting")              # thinking block + text block
        fake.add(text="Hi", reasoning="r", redacted_thinking="secret")  # ... + a redacted_thinking block
        fake.add(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
        fake.add(Reply.fail(529, "Overloaded"))                      # overloaded_error
        fake.add(text="partial", stream_error="Overloaded")          # an ``error`` event mid-stream
        ModelSpec(name="default", provider="anthropic", model="claude-x", base_url=fake.base_url)
        fake.requests[0]["system"], fake.requests[0].headers["x-api-key"]

From a shell: ``python -m tests.fakes.anthropic_server --port 8902 --script replies.json``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from tests.fakes.scripted import Reply as _ScriptedReply
from tests.fakes.scripted import Request, ScriptedServer, Wire, pieces, serve_from_command_line

__all__ = ["FakeAnthropic", "Reply", "Request", "thinking_problem"]

THINKING_BLOCKS = ("thinking", "redacted_thinking")
EFFORTS = ("low", "medium", "high", "xhigh", "max")
# Models that refuse a fixed thinking budget, and models that know no adaptive thinking (as the
# API documents them): the fake answers 400 to the wrong kind, as the API does.
ADAPTIVE_ONLY = re.compile(r"claude-(?:opus-4-[7-9]|opus-5|sonnet-5|haiku-5|fable|mythos)")
BUDGET_ONLY = re.compile(r"claude-(?:3\b|(?:opus|sonnet|haiku)-4(?:-[015])?(?:-\d{8})?$)")
MIN_BUDGET = 1024
_SIGNING_KEY = b"ember fake anthropic thinking signatures"  # fixed: blocks stay valid across fakes, as across API calls


@dataclass
class Reply(_ScriptedReply):
    """``tests.fakes.scripted.Reply`` plus ``redacted_thinking``: the hidden content of a
    ``redacted_thinking`` block (sent sealed in its ``data``)."""

    redacted_thinking: str = ""

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                500: "api_error", 529: "overloaded_error"}


def _seal(kind: str, message_id: str, index: int, count: int, content: str) -> str:
    """Block ``index`` of the ``count`` thinking blocks of reply ``message_id``, signed over its content."""
    head = f"{message_id}.{index}.{count}"
    mac = hmac.new(_SIGNING_KEY, f"{kind}\0{head}\0{content}".encode(), hashlib.sha256).hexdigest()
    return f"{head}.{mac}"


def _opened(block: Any) -> tuple[str, int, int] | None:
    """``(message_id, index, count)`` of a thinking block this fake signed, if it is intact."""
    if not isinstance(block, dict):
        return None
    if block.get("type") == "thinking":
        seal, content = block.get("signature"), block.get("thinking")
    else:
        data = block.get("data")
        if not isinstance(data, str) or "." not in data:
            return None
        packed, seal = data.split(".", 1)
        try:
            content = base64.b64decode(packed, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    if not isinstance(seal, str) or not isinstance(content, str) or seal.count(".") != 3:
        return None
    message_id, index, count, _ = seal.split(".")
    if not (index.isdigit() and count.isdigit()):
        return None
    expected = _seal(str(block.get("type")), message_id, int(index), int(count), content)
    return (message_id, int(index), int(count)) if hmac.compare_digest(seal, expected) else None


def _only_tool_results(content: Any) -> bool:
    return isinstance(content, list) and bool(content) and all(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def thinking_problem(body: dict[str, Any]) -> str | None:
    """Why the real API would refuse this request's thinking setup or thinking blocks, else None."""
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    model = str(body.get("model") or "")
    if kind == "enabled" and ADAPTIVE_ONLY.search(model):
        return f"thinking.type.enabled is not supported for this model ({model}); use thinking.type.adaptive"
    if kind == "adaptive":
        if "budget_tokens" in thinking:
            return "thinking.adaptive.budget_tokens: Extra inputs are not permitted"
        if BUDGET_ONLY.search(model):
            return f"thinking.type.adaptive is not supported for this model ({model})"
    effort = (body.get("output_config") or {}).get("effort") if isinstance(body.get("output_config"), dict) else None
    if effort is not None and effort not in EFFORTS:
        return f"output_config.effort: Input should be {', '.join(repr(e) for e in EFFORTS)}"
    enabled = kind in ("enabled", "adaptive")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < MIN_BUDGET:
            return f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}"
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] <= budget:
            return "`max_tokens` must be greater than `thinking.budget_tokens`"
        for name in ("temperature", "top_k"):
            if body.get(name) is not None and not (name == "temperature" and body[name] == 1):
                return f"`{name}` may only be set to 1 when thinking is enabled" if name == "temperature" \
                    else "`top_k` is not supported when thinking is enabled"
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        for j, block in enumerate(content if isinstance(content, list) else []):
            if isinstance(block, dict) and block.get("type") in THINKING_BLOCKS and _opened(block) is None:
                field = "signature" if block.get("type") == "thinking" else "data"
                return f"messages.{i}.content.{j}: Invalid `{field}` in `{block.get('type')}` block"
    if not enabled or not messages or not isinstance(messages[-1], dict):
        return None
    if messages[-1].get("role") != "user" or not _only_tool_results(messages[-1].get("content")):
        return None  # not in the middle of a tool loop
    start = None
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i] if isinstance(messages[i], dict) else {}
        if message.get("role") == "user" and not _only_tool_results(message.get("content")):
            break
        if message.get("role") == "assistant":
            start = i
    if start is None:
        return None
    content = messages[start].get("content")
    content = content if isinstance(content, list) else [{"type": "text"}]
    first = content[0].get("type") if content and isinstance(content[0], dict) else None
    if first not in THINKING_BLOCKS:
        return (
            f"messages.{start}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. "
            "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
            "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "
            "thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult "
            "our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
        )
    leading = []
    for block in content:
        if not (isinstance(block, dict) and block.get("type") in THINKING_BLOCKS):
            break
        leading.append(_opened(block))
    ids = {seal[0] for seal in leading if seal}
    count = leading[0][2] if leading[0] else -1
    if len(ids) != 1 or [seal[1] for seal in leading if seal] != list(range(count)):
        return (
            f"messages.{start}.content: the thinking and redacted_thinking blocks of an assistant message "
            "must be passed back complete, unmodified and in the order they were received"
        )
    return None


class FakeAnthropic(ScriptedServer):
    """Fake Anthropic Messages API on 127.0.0.1; ``base_url`` is the host root."""

    reply_type = Reply  # with ``redacted_thinking``, also in dicts, keywords and JSON scripts

    def error_payload(self, status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
        kind = error_type or _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def handle(self, wire: Wire, request: Request) -> None:
        path = request.path.split("?", 1)[0]
        if not self.check_key(request, ("x-api-key", "authorization"), wire):
            return
        if "anthropic-version" not in request.headers:
            wire.json(400, self.error_payload(400, "anthropic-version: header is required"))
        elif request.method == "GET" and path == "/v1/models":
            data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                    for m in self.models]
            wire.json(200, {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]})
        elif request.method == "POST" and path == "/v1/messages":
            problem = thinking_problem(request.body)
            if problem:
                wire.json(400, self.error_payload(400, problem))
            else:
                self._answer(wire, request)
        else:
            wire.json(404, self.error_payload(404, f"fake server: no route for {request.method} {path}"))

    def _blocks(self, reply: _ScriptedReply, message_id: str) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        redacted = getattr(reply, "redacted_thinking", "")
        count = bool(reply.reasoning) + bool(redacted)
        if reply.reasoning:
            blocks.append({"type": "thinking", "thinking": reply.reasoning,
                           "signature": _seal("thinking", message_id, 0, count, reply.reasoning)})
        if redacted:
            packed = base64.b64encode(redacted.encode()).decode()
            seal = _seal("redacted_thinking", message_id, len(blocks), count, redacted)
            blocks.append({"type": "redacted_thinking", "data": f"{packed}.{seal}"})
        if reply.text:
            blocks.append({"type": "text", "text": reply.text})
        for call in reply.tool_calls:
            args = call.get("arguments", {})
            blocks.append({"type": "tool_use", "id": call.get("id") or self.new_id("toolu_"),
                           "name": call["name"], "input": _loads_or_raw(args)})
        return blocks

    def _answer(self, wire: Wire, request: Request) -> None:
        reply = self.next_reply(request)
        wire.wait(reply.delay)
        if reply.hang and not request.get("stream"):
            wire.hang()
        if self.send_failure(wire, reply):
            return
        message_id = self.new_id("msg_fake")
        blocks = self._blocks(reply, message_id)
        stop = reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")
        usage_in, usage_out = self.usage_for(reply, request, blocks)
        message = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": reply.model or request.get("model") or self.model,
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": usage_in, "output_tokens": usage_out},
        }
        if not request.get("stream"):
            wire.json(200, message, reply.headers)
            return

        def send(event: str, payload: dict[str, Any]) -> None:
            wire.chunk(f"event: {event}\ndata: {json.dumps(payload)}\n\n")
            wire.wait(reply.chunk_delay)

        wire.begin_stream(reply.headers)
        start = {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": usage_in, "output_tokens": 1}}
        send("message_start", {"type": "message_start", "message": start})
        send("ping", {"type": "ping"})
        for index, block in enumerate(blocks):
            kind = block["type"]
            empty = {"thinking": {"type": "thinking", "thinking": "", "signature": ""},
                     "redacted_thinking": block,  # arrives whole, without deltas
                     "text": {"type": "text", "text": ""},
                     "tool_use": {**block, "input": {}}}[kind]
            send("content_block_start", {"type": "content_block_start", "index": index, "content_block": empty})
            if kind == "redacted_thinking":
                deltas = []
            elif kind == "thinking":
                deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(block["thinking"], reply.chunk_size)]
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
            elif kind == "text":
                deltas = [{"type": "text_delta", "text": p} for p in pieces(block["text"], reply.chunk_size)]
            else:
                deltas = [{"type": "input_json_delta", "partial_json": p}
                          for p in pieces(_as_json(block["input"]), reply.chunk_size)]
            for delta in deltas:
                send("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            send("content_block_stop", {"type": "content_block_stop", "index": index})
        if reply.hang:
            wire.hang(interval=max(reply.chunk_delay, 0.02), keepalive="event: ping\ndata: {\"type\": \"ping\"}\n\n")
        elif reply.stream_error:
            send("error", self.error_payload(529, reply.stream_error, reply.error_type or "overloaded_error"))
        else:
            send("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                   "usage": {"output_tokens": usage_out}})
            send("message_stop", {"type": "message_stop"})
        wire.end_stream()


def _loads_or_raw(args: Any) -> Any:
    """Arguments scripted as a JSON string become the object; invalid JSON stays a string (to test repair)."""
    if not isinstance(args, str):
        return args
    try:
        return json.loads(args)
    except ValueError:
        return args


def _as_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


if __name__ == "__main__":
    serve_from_command_line(FakeAnthropic)
