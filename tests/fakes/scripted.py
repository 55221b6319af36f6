"""Scripted replies and the HTTP harness shared by the fake model servers.

Not used directly: see ``tests.fakes.openai_server`` and ``tests.fakes.anthropic_server``.
A fake is a real ``ThreadingHTTPServer`` on 127.0.0.1 (port 0, daemon thread) that logs every
request and answers from a queue of ``Reply`` objects, then from an optional ``responder``
callable, then with a loud HTTP 500 so a test that ran out of script fails visibly.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer. Every field is optional; ``Reply(text="hi")`` is a plain answer.

    Content: ``text``, ``reasoning`` (OpenAI: ``reasoning_content`` or ``reasoning_field``;
    Anthropic: a thinking block), ``tool_calls`` as ``{"name", "arguments": dict | str, "id"?}``.
    ``as_text``: write the tool calls and reasoning into the text in Hermes form
    (``<think>``, ``<tool_call>``); ``None`` does so only when the request carried no ``tools``
    (like a raw local model). ``usage=(input, output)``; default: estimated from the sizes.

    Failures: ``status`` with ``error`` (the provider's error JSON) and ``retry_after`` (the
    ``Retry-After`` header; seconds or an HTTP-date); ``body`` sends raw bytes as-is (garbage);
    ``stream_error`` sends an error event mid-stream after the text.

    Timing: ``delay`` before answering, ``chunk_delay`` between stream chunks, ``chunk_size``
    characters per text chunk, ``hang`` keeps the stream open with keep-alive comments (or the
    plain request waiting) until the client goes away or the server stops.
    """

    text: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    as_text: bool | None = None
    usage: tuple[int, int] | None = None
    finish_reason: str | None = None
    model: str | None = None
    reasoning_field: str = "reasoning_content"
    status: int = 200
    error: str | None = None
    error_type: str | None = None
    retry_after: float | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str | bytes | None = None
    content_type: str = "application/json"
    stream_error: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunk_size: int = 8
    hang: bool = False

    @classmethod
    def fail(cls, status: int, message: str = "scripted failure", retry_after: float | str | None = None) -> Reply:
        return cls(status=status, error=message, retry_after=retry_after)

    @classmethod
    def garbage(cls, body: bytes | str = b"<html><body>502 Bad Gateway</body></html>",
                content_type: str = "text/html", status: int = 200) -> Reply:
        return cls(body=body, content_type=content_type, status=status)


def coerce_reply(value: Reply | str | dict[str, Any], reply_type: type[Reply] = Reply) -> Reply:
    """A Reply from a Reply, a plain string (its text) or a dict of Reply fields (JSON scripts);
    ``reply_type`` is a fake's own Reply subclass, whose extra fields dicts may then use."""
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return reply_type(text=value)
    if isinstance(value, dict):
        known = {f.name for f in fields(reply_type)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown Reply fields {sorted(unknown)}; known: {sorted(known)}")
        data = dict(value)
        if isinstance(data.get("usage"), list):
            data["usage"] = tuple(data["usage"])
        return reply_type(**data)
    raise TypeError(f"a reply must be a Reply, str or dict, not {type(value).__name__}")


def hermes_text(text: str = "", tool_calls: Iterable[dict[str, Any]] = (), reasoning: str = "") -> str:
    """Assistant text as a Hermes-format model writes it: ``<think>``, text, ``<tool_call>`` blocks."""
    parts = [f"<think>\n{reasoning}\n</think>"] if reasoning else []
    if text:
        parts.append(text)
    for call in tool_calls:
        args = call.get("arguments", {})
        args = args if isinstance(args, str) else json.dumps(args)
        parts.append(f'<tool_call>\n{{"name": {json.dumps(call["name"])}, "arguments": {args}}}\n</tool_call>')
    return "\n".join(parts)


def estimate_tokens(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value)
    return max(1, len(text) // 4) if text else 0


def pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


class Request(dict):
    """A received request: the dict is its JSON body; ``method``, ``path`` and ``headers`` (lower-case)."""

    def __init__(self, body: dict[str, Any], method: str, path: str, headers: dict[str, str]):
        super().__init__(body)
        self.method = method
        self.path = path
        self.headers = headers

    @property
    def body(self) -> dict[str, Any]:
        return dict(self)


class Wire:
    """Writes one HTTP response: JSON, raw bytes, or a chunked event stream."""

    def __init__(self, handler: BaseHTTPRequestHandler, stopped: threading.Event):
        self.handler = handler
        self.stopped = stopped

    def raw(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()

    def json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.raw(status, json.dumps(payload).encode(), "application/json", headers)

    def begin_stream(self, headers: dict[str, str] | None = None) -> None:
        h = self.handler
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()

    def chunk(self, text: str) -> None:
        data = text.encode()
        self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.handler.wfile.flush()

    def end_stream(self) -> None:
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self.stopped.wait(seconds)

    def hang(self, interval: float = 0.05, limit: float = 60.0, keepalive: str | None = None) -> None:
        """Stay open until the client leaves (a write fails) or the server stops."""
        waited = 0.0
        while not self.stopped.is_set() and waited < limit:
            self.stopped.wait(interval)
            waited += interval
            if keepalive is not None:
                self.chunk(keepalive)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request logs
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        fake: ScriptedServer = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(body if isinstance(body, dict) else {}, method, self.path, headers)
        wire = Wire(self, fake.stopped)
        try:
            with fake.lock:
                fake.requests.append(request)
            if body is None:
                wire.json(400, fake.error_payload(400, "fake server: the request body is not JSON"))
                return
            fake.handle(wire, request)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
            with fake.lock:
                fake.disconnects += 1


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is normal
            super().handle_error(request, client_address)


class ScriptedServer:
    """Base of the fakes: the server thread, the reply queue and the request log.

    Subclasses set ``api_prefix`` and implement ``handle(wire, request)`` and ``error_payload``.
    """

    api_prefix = ""
    reply_type: type[Reply] = Reply  # a fake with more reply fields names its Reply subclass

    def __init__(
        self,
        replies: Iterable[Reply | str | dict[str, Any]] = (),
        responder: Callable[[Request], Reply | str | dict[str, Any]] | None = None,
        *,
        model: str = "fake-model",
        models: list[str] | None = None,
        api_key: str | None = None,
        port: int = 0,
    ) -> None:
        self.replies: deque[Reply] = deque(coerce_reply(r, self.reply_type) for r in replies)
        self.responder = responder
        self.model = model
        self.models = models or [model]
        self.api_key = api_key  # when set, requests must carry it (else 401)
        self.requests: list[Request] = []
        self.disconnects = 0  # responses the client walked away from (cancel / Ctrl-C tests)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self._port = port
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # --- public API ----------------------------------------------------------------------------

    def add(self, reply: Reply | str | dict[str, Any] | None = None, **fields: Any) -> ScriptedServer:
        """Queue a reply: ``add(Reply(...))``, ``add("text")`` or ``add(text=..., tool_calls=[...])``."""
        with self.lock:
            self.replies.append(coerce_reply(reply if reply is not None else fields, self.reply_type))
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first (use it as a context manager)"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """What goes into ``ModelSpec.base_url`` / an SDK's ``base_url``."""
        return self.url + self.api_prefix

    @property
    def pending(self) -> int:
        return len(self.replies)

    @property
    def last_request(self) -> Request:
        return self.requests[-1]

    def start(self) -> ScriptedServer:
        server = _QuietServer(("127.0.0.1", self._port), _Handler)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- for subclasses ------------------------------------------------------------------------

    def next_reply(self, request: Request) -> Reply:
        """The next scripted reply, else the responder's, else a loud 500 saying the script ran out."""
        with self.lock:
            if self.replies:
                return self.replies.popleft()
        if self.responder is not None:
            try:
                return coerce_reply(self.responder(request), self.reply_type)
            except Exception:  # the test's own bug: surface it in the HTTP reply
                return Reply.fail(500, f"fake server: the responder raised:\n{traceback.format_exc()}")
        return Reply.fail(
            500,
            f"fake server: no scripted reply left for {request.method} {request.path} "
            f"(request #{len(self.requests)}); queue one with fake.add(...) or set fake.responder",
        )

    def new_id(self, prefix: str) -> str:
        with self.lock:
            self._counter += 1
            return f"{prefix}{self._counter:06d}"

    def check_key(self, request: Request, headers: tuple[str, ...], wire: Wire) -> bool:
        """Enforce ``api_key`` when set (in any of ``headers``); answer 401 and return False if absent."""
        if self.api_key is None:
            return True
        given = [request.headers.get(h, "").removeprefix("Bearer ").strip() for h in headers]
        if self.api_key in given:
            return True
        wire.json(401, self.error_payload(401, f"fake server: invalid API key {next(filter(None, given), '')[:12]!r}"))
        return False

    def send_failure(self, wire: Wire, reply: Reply) -> bool:
        """Handle the raw-body and error-status cases common to both protocols."""
        headers = dict(reply.headers)
        if reply.retry_after is not None:
            headers["Retry-After"] = str(reply.retry_after)
        if reply.body is not None:
            body = reply.body.encode() if isinstance(reply.body, str) else reply.body
            wire.raw(reply.status, body, reply.content_type, headers)
            return True
        if reply.status >= 400:
            payload = self.error_payload(reply.status, reply.error or f"scripted HTTP {reply.status}", reply.error_type)
            wire.json(reply.status, payload, headers)
            return True
        return False

    def usage_for(self, reply: Reply, request: Request, output: Any) -> tuple[int, int]:
        if reply.usage is not None:
            return reply.usage
        prompt = [request.get("system"), request.get("messages"), request.get("prompt"), request.get("tools")]
        return estimate_tokens([p for p in prompt if p]), estimate_tokens(output)

    def handle(self, wire: Wire, request: Request) -> None:
        raise NotImplementedError

    def error_payload(self, status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
        raise NotImplementedError


def serve_from_command_line(server_class: type[ScriptedServer], argv: list[str] | None = None) -> None:
    """``python -m tests.fakes.openai_server --port 8901 --script replies.json [--repeat]``.

    The script is a JSON list of replies (strings or objects with Reply's fields). Prints the
    base URL on the first line of stdout, then serves until interrupted.
    """
    import argparse
    import itertools
    import signal

    parser = argparse.ArgumentParser(description=server_class.__doc__.splitlines()[0] if server_class.__doc__ else "")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", help="JSON file: a list of replies")
    parser.add_argument("--repeat", action="store_true", help="cycle through the script forever")
    parser.add_argument("--model", default="fake-model")
    args = parser.parse_args(argv)
    script = []
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            script = [coerce_reply(r, server_class.reply_type) for r in json.load(f)]
    fake = server_class(model=args.model, port=args.port)
    if args.repeat and script:
        cycle = itertools.cycle(script)
        fake.responder = lambda _request: next(cycle)
    else:
        fake.replies.extend(script)
    signal.signal(signal.SIGTERM, lambda *_: fake.stopped.set())
    with fake:
        print(fake.base_url, flush=True)
        try:
            fake.stopped.wait()
        except KeyboardInterrupt:
            pass
