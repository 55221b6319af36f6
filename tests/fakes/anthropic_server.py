"""A fake Anthropic Messages API server for tests and benchmarks.

It speaks the real wire format (the ``anthropic`` SDK runs against it in tests/models):
``POST /v1/messages`` as JSON or as the named SSE event stream (``message_start``,
``content_block_start`` / ``content_block_delta`` / ``content_block_stop`` with
``thinking_delta``, ``text_delta`` and ``input_json_delta``, ``message_delta`` with usage,
``message_stop``, and ``error``), plus ``GET /v1/models``. Like the real API it answers 400
when the ``anthropic-version`` header is missing.

Same scripting as ``tests.fakes.openai_server`` (``Reply``, ``add``, ``responder``,
``requests``); ``base_url`` is the host root, as the SDK and ModelSpec expect::

    from tests.fakes.anthropic_server import FakeAnthropic, Reply

    with FakeAnthropic() as fake:
        fake.add(text="Hi", reasoning="short greeting")              # thinking block + text block
        fake.add(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
        fake.add(Reply.fail(529, "Overloaded"))                      # overloaded_error
        fake.add(text="partial", stream_error="Overloaded")          # an ``error`` event mid-stream
        ModelSpec(name="default", provider="anthropic", model="claude-x", base_url=fake.base_url)
        fake.requests[0]["system"], fake.requests[0].headers["x-api-key"]

From a shell: ``python -m tests.fakes.anthropic_server --port 8902 --script replies.json``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.scripted import Reply, Request, ScriptedServer, Wire, pieces, serve_from_command_line

__all__ = ["FakeAnthropic", "Reply", "Request"]

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                500: "api_error", 529: "overloaded_error"}


class FakeAnthropic(ScriptedServer):
    """Fake Anthropic Messages API on 127.0.0.1; ``base_url`` is the host root."""

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
            self._answer(wire, request)
        else:
            wire.json(404, self.error_payload(404, f"fake server: no route for {request.method} {path}"))

    def _blocks(self, reply: Reply) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if reply.reasoning:
            blocks.append({"type": "thinking", "thinking": reply.reasoning, "signature": "fake-signature"})
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
        blocks = self._blocks(reply)
        stop = reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")
        usage_in, usage_out = self.usage_for(reply, request, blocks)
        message = {
            "id": self.new_id("msg_fake"),
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
                     "text": {"type": "text", "text": ""},
                     "tool_use": {**block, "input": {}}}[kind]
            send("content_block_start", {"type": "content_block_start", "index": index, "content_block": empty})
            if kind == "thinking":
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
