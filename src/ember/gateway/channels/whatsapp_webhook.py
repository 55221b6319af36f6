"""The webhook Meta calls: its subscription check (GET) and signed notifications (POST).

``GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`` is answered with the challenge
when the verify token matches, 403 otherwise. A ``POST`` must carry ``X-Hub-Signature-256:
sha256=`` + the hex HMAC-SHA256 of the raw body with the app secret; anything else gets 401 and
goes no further. A signed body is handed to the handler, one at a time in arrival order, and 200
is answered only after the handler returned (the messages in it are recorded); a handler that
fails answers 500, and Meta sends the notification again later. Any path is served, so the
reverse proxy may forward ``/whatsapp`` or ``/`` alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("ember.gateway.whatsapp")

MAX_BODY = 4 * 1024 * 1024

Handler = Callable[[dict[str, Any]], None]  # a notification's JSON; raises when not recorded


def signature(secret: str, body: bytes) -> str:
    """What Meta puts in ``X-Hub-Signature-256`` for this body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, given: str | None, body: bytes) -> bool:
    return bool(secret and given) and hmac.compare_digest(signature(secret, body), str(given))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name; our own log instead
        pass

    def do_GET(self) -> None:
        webhook: WebhookServer = self.server.webhook  # type: ignore[attr-defined]
        query = parse_qs(urlsplit(self.path).query)
        mode = (query.get("hub.mode") or [""])[0]
        given = (query.get("hub.verify_token") or [""])[0]
        challenge = (query.get("hub.challenge") or [""])[0]
        if mode == "subscribe" and webhook.verify_token and hmac.compare_digest(given, webhook.verify_token):
            log.info("whatsapp: Meta's webhook check answered")
            self._answer(200, challenge.encode())
            return
        log.warning("whatsapp: a webhook check from %s with the wrong verify token, refused", self.client_address[0])
        self._answer(403, b"verify token mismatch\n")

    def do_POST(self) -> None:
        webhook: WebhookServer = self.server.webhook  # type: ignore[attr-defined]
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._answer(413, b"too large\n")
            return
        body = self.rfile.read(length) if length else b""
        if not verify(webhook.app_secret, self.headers.get("x-hub-signature-256"), body):
            log.warning("whatsapp: a webhook POST from %s with a bad signature, refused", self.client_address[0])
            self._answer(401, b"invalid signature\n")
            return
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self._answer(400, b"not a WhatsApp notification\n")
            return
        try:
            with webhook.order:  # one at a time, in arrival order
                webhook.handle(payload)
        except Exception as exc:
            log.warning("whatsapp: a notification was not recorded (%s: %s); Meta sends it again",
                        type(exc).__name__, exc)
            self._answer(500, b"not recorded, try again\n")
            return
        self._answer(200, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class WebhookServer:
    """The HTTP server, in a daemon thread; ``port`` is the one bound (0 picks one)."""

    def __init__(self, app_secret: str, verify_token: str, handle: Handler, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.handle = handle
        self.order = threading.Lock()
        self._server = _Server((host, port), _RequestHandler)
        self._server.webhook = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="whatsapp-webhook", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
