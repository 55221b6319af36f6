"""The Events API over HTTP: Slack POSTs events and button presses to a URL we serve.

Every request is checked against the app's signing secret before anything else is read from
it: ``X-Slack-Signature`` must be ``v0=`` + HMAC-SHA256 of ``v0:{timestamp}:{body}`` and
``X-Slack-Request-Timestamp`` within five minutes of now; anything else gets 401 and goes no
further. ``url_verification`` is answered with its challenge; ``event_callback`` JSON,
interactive form posts (``payload=...``) and slash commands go to the handler, and 200 is answered only after the
handler returned (the message is recorded). A handler that fails answers 500, and Slack retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

log = logging.getLogger("ember.gateway.slack")

MAX_AGE = 300  # seconds a signed request stays valid (Slack's advice, against replays)
MAX_BODY = 1024 * 1024

Handler = Callable[[str, dict[str, Any]], None]  # ("events_api" | "interactive", payload)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What Slack puts in ``X-Slack-Signature`` for this body and timestamp."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str | None, given: str | None, body: bytes, now: float | None = None) -> bool:
    """True when the request was signed with ``secret`` less than five minutes ago."""
    if not secret or not timestamp or not given:
        return False
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - stamp) > MAX_AGE:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - our own log line instead
        pass

    def do_GET(self) -> None:
        self._answer(405, b"Slack events are POSTed here\n", "text/plain")

    def do_POST(self) -> None:
        events: EventsServer = self.server.events  # type: ignore[attr-defined]
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._answer(413, b"too large\n", "text/plain")
            return
        body = self.rfile.read(length) if length else b""
        if not verify(events.signing_secret, self.headers.get("x-slack-request-timestamp"),
                      self.headers.get("x-slack-signature"), body):
            log.warning("slack events: a request from %s with a bad or stale signature, refused",
                        self.client_address[0])
            self._answer(401, b"invalid signature\n", "text/plain")
            return
        kind, payload = _parse(self.headers.get("content-type") or "", body)
        if payload is None:
            self._answer(400, b"not a Slack event\n", "text/plain")
            return
        if payload.get("type") == "url_verification":
            self._answer(200, json.dumps({"challenge": payload.get("challenge", "")}).encode(), "application/json")
            return
        try:
            with events.order:  # one at a time, in arrival order, like the socket
                events.handle(kind, payload)
        except Exception as exc:
            log.warning("slack events: not recorded (%s); Slack will retry", type(exc).__name__)
            self._answer(500, b"not recorded, try again\n", "text/plain")
            return
        self._answer(200, b"", "text/plain")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _parse(content_type: str, body: bytes) -> tuple[str, dict[str, Any] | None]:
    """(envelope kind, payload) of a verified body: JSON events, a form with ``payload=`` (a
    button press), or a slash command's form (``command=/ember&text=new&...``)."""
    try:
        if "application/x-www-form-urlencoded" in content_type:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            if "command" in form and "payload" not in form:
                return "slash_commands", {key: values[0] for key, values in form.items()}
            value = json.loads(form["payload"][0]) if "payload" in form else None
            return "interactive", value if isinstance(value, dict) else None
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, KeyError):
        return "", None
    return "events_api", value if isinstance(value, dict) else None


class EventsServer:
    """The HTTP server, in a daemon thread; ``port`` is the one bound (``events_port`` 0 picks one)."""

    def __init__(self, signing_secret: str, handle: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.signing_secret = signing_secret
        self.handle = handle
        self.order = threading.Lock()
        self._server = _Server((host, port), _RequestHandler)
        self._server.events = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="slack-events-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
