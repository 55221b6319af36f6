"""A fake OpenAI-compatible server (Chat Completions, Completions, Models) for tests and benchmarks.

It speaks the real wire format (the ``openai`` SDK runs against it in tests/models), JSON and
SSE: ``data: {...}`` chunks, tool-call argument deltas, a usage chunk when the request asks
for ``stream_options.include_usage``, and ``data: [DONE]``.

Routes: ``POST /v1/chat/completions``, ``POST /v1/completions`` (raw prompt, for the hermes
``completion`` transport), ``GET /v1/models``; anything else is a 404 in OpenAI's error shape.

Use it as a context manager::

    from tests.fakes.openai_server import FakeOpenAI, Reply

    with FakeOpenAI() as fake:                       # fake.base_url == "http://127.0.0.1:PORT/v1"
        fake.add("Hello!")                           # plain text
        fake.add(text="Let me look.", reasoning="the user wants a file", usage=(120, 8))
        fake.add(tool_calls=[{"name": "read_file", "arguments": {"path": "a.txt"}}])
        fake.add(Reply.fail(429, "slow down", retry_after=2))
        fake.add(Reply.garbage())                    # HTML where JSON was expected
        fake.add(text="x" * 400, chunk_delay=0.01, hang=True)   # a stream that never ends
        ...                                          # point ModelSpec(base_url=fake.base_url) at it
        fake.requests[0]["messages"]                 # each request: its JSON body as a dict,
        fake.requests[0].headers["authorization"]    # plus .method, .path, .headers

A prompt-following fake model: ``FakeOpenAI(responder=lambda request: Reply(...))`` answers every
request the queue does not. Tool calls in a reply to a request without ``tools`` (a raw local
model) are written into the text as Hermes ``<tool_call>`` blocks; ``Reply(as_text=...)``
forces either form. ``FakeOpenAI(api_key="sk-...")`` answers 401 to any other key. ``fake.disconnects`` counts
responses the client walked away from (cancel and Ctrl-C tests).

From a shell (for subprocess benchmarks)::

    python -m tests.fakes.openai_server --port 8901 --script replies.json [--repeat]
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.fakes.scripted import (
    Reply,
    Request,
    ScriptedServer,
    Wire,
    coerce_reply,
    hermes_text,
    pieces,
    serve_from_command_line,
)

__all__ = ["FakeOpenAI", "Reply", "Request", "coerce_reply", "hermes_text"]

_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
                404: "invalid_request_error", 429: "rate_limit_exceeded"}


class FakeOpenAI(ScriptedServer):
    """Fake OpenAI-compatible server on 127.0.0.1; ``base_url`` ends in ``/v1``."""

    api_prefix = "/v1"

    def error_payload(self, status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
        kind = error_type or _ERROR_TYPES.get(status, "server_error")
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    def handle(self, wire: Wire, request: Request) -> None:
        path = request.path.split("?", 1)[0]
        if not self.check_key(request, ("authorization",), wire):
            return
        if request.method == "GET" and path == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
            wire.json(200, {"object": "list", "data": data})
        elif request.method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
            self._answer(wire, request, chat=path.endswith("/chat/completions"))
        else:
            wire.json(404, self.error_payload(404, f"fake server: no route for {request.method} {path}"))

    def _answer(self, wire: Wire, request: Request, chat: bool) -> None:
        reply = self.next_reply(request)
        wire.wait(reply.delay)
        if reply.hang and not request.get("stream"):
            wire.hang()
        if self.send_failure(wire, reply):
            return
        as_text = reply.as_text
        if as_text is None:
            as_text = not chat or (bool(reply.tool_calls) and not request.get("tools"))
        if as_text:
            text, reasoning, calls = hermes_text(reply.text, reply.tool_calls, reply.reasoning), "", []
        else:
            text, reasoning = reply.text, reply.reasoning
            calls = [
                {"id": c.get("id") or self.new_id("call_"), "name": c["name"],
                 "arguments": c["arguments"] if isinstance(c.get("arguments"), str) else json.dumps(c.get("arguments", {}))}
                for c in reply.tool_calls
            ]
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        usage_in, usage_out = self.usage_for(reply, request, text + reasoning + "".join(c["arguments"] for c in calls))
        usage = {"prompt_tokens": usage_in, "completion_tokens": usage_out, "total_tokens": usage_in + usage_out}
        head = {
            "id": self.new_id("chatcmpl-" if chat else "cmpl-"),
            "object": ("chat.completion" if chat else "text_completion"),
            "created": int(time.time()),
            "model": reply.model or request.get("model") or self.model,
        }
        if not request.get("stream"):
            if chat:
                message: dict[str, Any] = {"role": "assistant", "content": text if (text or not calls) else None}
                if reasoning:
                    message[reply.reasoning_field] = reasoning
                if calls:
                    message["tool_calls"] = [_wire_call(c) for c in calls]
                choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
            wire.json(200, {**head, "choices": [choice], "usage": usage}, reply.headers)
            return
        self._stream(wire, request, reply, head, chat, text, reasoning, calls, finish, usage)

    def _stream(self, wire: Wire, request: Request, reply: Reply, head: dict[str, Any], chat: bool,
                text: str, reasoning: str, calls: list[dict[str, Any]], finish: str, usage: dict[str, int]) -> None:
        if chat:
            head = {**head, "object": "chat.completion.chunk"}

        def send(payload: dict[str, Any]) -> None:
            wire.chunk(f"data: {json.dumps(payload)}\n\n")
            wire.wait(reply.chunk_delay)

        def choice(delta: dict[str, Any] | str, finish_reason: str | None = None) -> dict[str, Any]:
            body = {"delta": delta} if chat else {"text": delta}
            return {**head, "choices": [{"index": 0, **body, "logprobs": None, "finish_reason": finish_reason}]}

        wire.begin_stream(reply.headers)
        if chat:
            send(choice({"role": "assistant", "content": ""}))
            for piece in pieces(reasoning, reply.chunk_size):
                send(choice({reply.reasoning_field: piece}))
        for piece in pieces(text, reply.chunk_size):
            send(choice({"content": piece} if chat else piece))
        for index, call in enumerate(calls):
            first = {"index": index, "id": call["id"], "type": "function",
                     "function": {"name": call["name"], "arguments": ""}}
            send(choice({"tool_calls": [first]}))
            for piece in pieces(call["arguments"], reply.chunk_size):
                send(choice({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        if reply.hang:
            wire.hang(interval=max(reply.chunk_delay, 0.02), keepalive=": keep-alive\n\n")
        elif reply.stream_error:
            send(self.error_payload(500, reply.stream_error, reply.error_type))
        else:
            send(choice({} if chat else "", finish))
            if (request.get("stream_options") or {}).get("include_usage"):
                send({**head, "choices": [], "usage": usage})
            wire.chunk("data: [DONE]\n\n")
        wire.end_stream()


def _wire_call(call: dict[str, Any]) -> dict[str, Any]:
    return {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}


if __name__ == "__main__":
    serve_from_command_line(FakeOpenAI)
