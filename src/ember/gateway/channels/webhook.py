"""Signed webhooks: how other programs (a CI job, a GitHub webhook, a script) give Ember tasks.

``POST /hooks/NAME`` with the body signed by the shared secret (``[gateway.webhook] secret`` or
``EMBER_WEBHOOK_SECRET``): header ``X-Ember-Signature: sha256=<hex HMAC-SHA256 of the body>``
(GitHub's ``X-Hub-Signature-256`` is accepted too, so a GitHub webhook works as is). A missing or
wrong signature gets 401 and nothing reaches the model. The body is JSON with a ``text`` field, or
any other payload (a GitHub event), which becomes the task's text as it is.

Where the answer goes is the hook's target (``[gateway.webhook.hooks]``): a chat such as
``slack:#ci`` or ``telegram:123``, or ``http``: the answer comes back in the HTTP response when it
is ready within ``wait`` seconds (query parameter, default 25); otherwise the response is 202
with the task's id, and the answer is posted to the ``X-Ember-Callback`` URL when one was given,
and kept for ``GET /hooks/NAME/replies/ID`` either way.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ember.gateway.channel import ChannelStatus, Inbound, KeyValue, Outbound, SendError

if TYPE_CHECKING:
    from ember.config import Settings
    from ember.gateway.config import WebhookConfig

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000
DEFAULT_WAIT = 25.0


def signature(secret: str, body: bytes) -> str:
    """The header value a sender puts in ``X-Ember-Signature``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _Pending:
    def __init__(self) -> None:
        self.answer: str | None = None
        self.event = threading.Event()


class WebhookChannel:
    name = "webhook"
    max_text = 100_000

    def __init__(self, config: WebhookConfig, state: KeyValue, files_dir: Path) -> None:
        self.config = config
        self.state = state
        self._pending: dict[str, _Pending] = {}
        self._callbacks: dict[str, str] = {}
        self._server: http.server.ThreadingHTTPServer | None = None
        self._status = ChannelStatus()
        self._lock = threading.Lock()

    # --- receiving ------------------------------------------------------------------------------

    def start(self, on_inbound: Callable[[Inbound], None]) -> None:
        channel = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
                log.debug("webhook: " + format, *args)

            def _answer(self, code: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path).path.strip("/").split("/")
                if len(parts) == 4 and parts[0] == "hooks" and parts[2] == "replies":
                    reply = channel.state.get_meta(f"webhook:reply:{parts[3]}")
                    if reply is None:
                        self._answer(404, {"error": "no reply yet, or no such task"})
                    else:
                        self._answer(200, {"id": parts[3], "answer": reply})
                    return
                self._answer(404, {"error": "not found"})

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) != 2 or parts[0] != "hooks" or not parts[1]:
                    self._answer(404, {"error": "POST to /hooks/NAME"})
                    return
                hook = parts[1]
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY:
                    self._answer(413, {"error": f"the body is larger than {MAX_BODY} bytes"})
                    return
                body = self.rfile.read(length)
                given = self.headers.get("x-ember-signature") or self.headers.get("x-hub-signature-256") or ""
                if not hmac.compare_digest(given.encode(), signature(channel.config.secret, body).encode()):
                    log.warning("webhook %s: refused a request with a missing or wrong signature", hook)
                    self._answer(401, {"error": "bad signature"})
                    return
                if channel.config.hooks and hook not in channel.config.hooks:
                    self._answer(404, {"error": f"no hook named {hook!r}"})
                    return
                task = secrets.token_hex(6)
                target = channel.config.hooks.get(hook, "http")
                callback = self.headers.get("x-ember-callback")
                pending = _Pending()
                if target == "http":
                    with channel._lock:
                        channel._pending[task] = pending
                        if callback:
                            channel._callbacks[task] = callback
                message = Inbound(
                    platform="webhook", chat=task, user=f"hook:{hook}", user_name=hook,
                    event_id=f"webhook:{self.headers.get('x-github-delivery') or task}",
                    text=_task_text(body, self.headers.get("x-github-event")), reply_url=target,
                )
                try:
                    on_inbound(message)
                except Exception as exc:
                    log.exception("webhook %s: could not record the task", hook)
                    self._answer(503, {"error": f"not recorded: {type(exc).__name__}"})
                    return
                if target != "http":
                    self._answer(202, {"id": task, "status": "accepted", "reply_to": target})
                    return
                wait = _wait(url.query)
                if pending.event.wait(wait):
                    self._answer(200, {"id": task, "answer": pending.answer})
                else:
                    self._answer(202, {"id": task, "status": "working",
                                       "reply_url": f"/hooks/{hook}/replies/{task}"})
                with channel._lock:
                    channel._pending.pop(task, None)

        self._server = http.server.ThreadingHTTPServer((self.config.host, self.config.port), Handler)
        self._server.daemon_threads = True
        self.config.port = self._server.server_address[1]  # port 0: the one the system gave
        threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True).start()
        self._status = ChannelStatus(connected=True)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._status = ChannelStatus(connected=False)

    # --- sending ------------------------------------------------------------------------------

    def send(self, item: Outbound) -> str:
        """The answer to a task: into its waiting HTTP response, to its callback URL, and kept."""
        previous = self.state.get_meta(f"webhook:reply:{item.chat}")
        self.state.set_meta(f"webhook:reply:{item.chat}", (previous + "\n\n" if previous else "") + item.text)
        with self._lock:
            pending = self._pending.get(item.chat)
            callback = self._callbacks.pop(item.chat, None)
        if pending is not None and not pending.event.is_set():
            pending.answer = item.text
            pending.event.set()
        elif callback:
            self._post_callback(callback, item)
        return f"{item.chat}:{time.time():.6f}"

    def _post_callback(self, url: str, item: Outbound) -> None:
        import httpx

        body = json.dumps({"id": item.chat, "answer": item.text}).encode()
        headers = {"content-type": "application/json", "x-ember-signature": signature(self.config.secret, body)}
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=30)
        except httpx.HTTPError as exc:
            raise SendError(f"callback {url}: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise SendError(f"callback {url}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise SendError(f"callback {url}: HTTP {response.status_code}", permanent=True)

    def typing(self, chat: str, thread: str | None = None) -> None:
        return None

    def status(self) -> ChannelStatus:
        return self._status

    def resolve_chat(self, name: str) -> str:
        raise ValueError("webhook replies go to the task that asked; `ember send` cannot start one")


def _task_text(body: bytes, github_event: str | None) -> str:
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(data, dict) and isinstance(data.get("text"), str) and not github_event:
        return data["text"].strip()
    what = f"GitHub {github_event} event" if github_event else "webhook payload"
    return f"A {what} arrived:\n\n{json.dumps(data, indent=2)[:20_000]}"


def _wait(query: str) -> float:
    try:
        return min(max(float(parse_qs(query).get("wait", [DEFAULT_WAIT])[0]), 0.0), 120.0)
    except ValueError:
        return DEFAULT_WAIT


NAME = "webhook"
CHANNEL = WebhookChannel


def configure(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> Any:
    """[gateway.webhook] and its environment variables (see ember.gateway.config)."""
    from ember.gateway.config import webhook_config

    return webhook_config(table, env, settings)
