"""The Events API over HTTP: Slack POSTs events, button presses and slash commands to a URL we serve.

Every request is checked against the app's signing secret before anything else is read from
it: ``X-Slack-Signature`` must be ``v0=`` + HMAC-SHA256 of ``v0:{timestamp}:{body}`` and
``X-Slack-Request-Timestamp`` within five minutes of now; anything else gets 401 and goes no
further. ``url_verification`` is answered with its challenge. Everything else becomes the
envelope Socket Mode would have delivered: ``event_callback`` JSON is ``events_api``, a form
with ``payload=`` (a button press) ``interactive``, a slash command's form ``slash_commands``;
it goes to the handler one at a time, in arrival order, like the socket's. The server itself
(size limit, 200 only once recorded, 500 so Slack retries) is ``push_server``, shared with
WhatsApp and Telegram.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from email.message import Message
from typing import Any
from urllib.parse import parse_qs

from ember.gateway.channels.push_server import BadRequest, PushServer

MAX_AGE = 300  # seconds a signed request stays valid (Slack's advice, against replays)
MAX_BODY = 1024 * 1024

Handler = Callable[[str, dict[str, Any]], None]  # ("events_api" | "interactive" | "slash_commands", payload)


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


def envelope(headers: Message, body: bytes) -> dict[str, Any]:
    """A verified body as ``{"type": kind, "payload": ...}``: JSON events, a form with ``payload=``
    (a button press), or a slash command's form (``command=/ember&text=new&...``)."""
    try:
        if "application/x-www-form-urlencoded" in (headers.get("content-type") or ""):
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            if "command" in form and "payload" not in form:
                return {"type": "slash_commands", "payload": {key: values[0] for key, values in form.items()}}
            kind, payload = "interactive", json.loads(form["payload"][0])
        else:
            kind, payload = "events_api", json.loads(body)
    except (ValueError, UnicodeDecodeError, KeyError):
        payload = None
    if not isinstance(payload, dict):
        raise BadRequest("not a Slack event")
    return {"type": kind, "payload": payload}


def events_server(signing_secret: str, handle: Handler, host: str = "127.0.0.1", port: int = 0) -> PushServer:
    """The server Slack calls (bound, not started): requests signed with ``signing_secret`` go to ``handle``."""
    order = threading.Lock()

    def authentic(headers: Message, body: bytes) -> bool:
        return verify(signing_secret, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature"),
                      body)

    def take(event: dict[str, Any]) -> dict[str, Any] | None:
        payload = event["payload"]
        if payload.get("type") == "url_verification":
            return {"challenge": payload.get("challenge", "")}
        with order:
            handle(event["type"], payload)
        return None

    return PushServer("slack", authentic, take, host, port, max_body=MAX_BODY, read=envelope)
