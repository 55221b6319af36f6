"""The HTTP server platforms push their events to: WhatsApp's and Telegram's webhooks, Slack's Events API.

The platform POSTs each event to a public HTTPS address; a reverse proxy with TLS forwards it
here (127.0.0.1 by default). Every POST is checked by ``authentic`` (a signature of the body, a
secret header) before anything in it is read: one that fails gets 401 and goes no further. A
checked body is made an event by ``read`` (by default it must be a JSON object; Slack also
posts forms) and goes to ``handle``, and 200 is answered only after it returned, so what the
event holds is recorded before the platform forgets it; a JSON object ``handle`` returns is the
answer's body (Slack's challenge). ``read`` or ``handle`` raising ``BadRequest`` gets 400 (the
body will never be understood); any other exception gets 500, and the platform sends the event
again later. A body over ``max_body`` gets 413. Any path is served, so the proxy may forward
``/whatsapp`` or ``/`` alike. GET is the platform's own (WhatsApp's subscription check,
``answer_get``) or 405.

Requests are served on threads of their own; a handler that must take events one at a time
holds its own lock.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("ember.gateway")

Authentic = Callable[[Message, bytes], bool]  # (headers, body): was this POST sent by the platform?
Read = Callable[[Message, bytes], dict[str, Any]]  # (headers, body) of an authentic POST -> the event
Handle = Callable[[dict[str, Any]], dict[str, Any] | None]  # returns once recorded (what to answer); raises when not
AnswerGet = Callable[[str, str], tuple[int, bytes]]  # (path with its query, client address) -> (status, body)


class BadRequest(ValueError):
    """An authentic body that is not an event of the platform: 400, and no retry can help."""


def json_object(headers: Message, body: bytes) -> dict[str, Any]:
    """The default ``read``: the body is the event, as a JSON object."""
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise BadRequest("not an event: a JSON object is expected")
    return event


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    push: PushServer


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name; our own log instead
        pass

    def do_GET(self) -> None:
        push = self.server.push
        if push.answer_get is None:
            self._answer(405, f"{push.name} events are POSTed here\n".encode())
            return
        self._answer(*push.answer_get(self.path, self.client_address[0]))

    def do_POST(self) -> None:
        push = self.server.push
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= push.max_body:
            self.close_connection = True  # the body is not read: the connection cannot carry another request
            self._answer(413, b"too large\n")
            return
        body = self.rfile.read(length) if length else b""
        if not push.authentic(self.headers, body):
            log.warning("%s: a webhook POST from %s failed its check (signature or secret), refused", push.name,
                        self.client_address[0])
            self._answer(401, b"not authentic\n")
            return
        try:
            answer = push.handle(push.read(self.headers, body))
        except BadRequest as exc:
            log.warning("%s: a webhook POST that is not an event was refused: %s", push.name, exc)
            self._answer(400, f"{exc}\n".encode())
            return
        except Exception as exc:
            log.warning("%s: an event was not recorded (%s: %s); the platform sends it again", push.name,
                        type(exc).__name__, exc)
            self._answer(500, b"not recorded, try again\n")
            return
        if answer is None:
            self._answer(200, b"")
        else:
            self._answer(200, json.dumps(answer).encode(), "application/json")

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the platform hung up; it sends the event again
            self.close_connection = True


class PushServer:
    """The HTTP server, in a daemon thread; ``port`` is the one bound (0 picks a free one).

    ``name`` is the platform's, for the log and the thread; binding happens here, so a port in
    use is an ``OSError`` at start, not a silent gateway.
    """

    def __init__(self, name: str, authentic: Authentic, handle: Handle, host: str = "127.0.0.1", port: int = 0,
                 *, max_body: int = 4 * 1024 * 1024, read: Read = json_object,
                 answer_get: AnswerGet | None = None) -> None:
        self.name = name
        self.authentic = authentic
        self.read = read
        self.handle = handle
        self.max_body = max_body
        self.answer_get = answer_get
        self._server = _Server((host, port), _RequestHandler)
        self._server.push = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"{self.name}-webhook", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
