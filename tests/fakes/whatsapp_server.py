"""A fake WhatsApp Cloud API for tests and load runs: Meta's Graph API over real HTTP, and the
signed webhook notifications Meta POSTs to a business's server.

Graph API at ``fake.api_base`` (``http://127.0.0.1:PORT/v21.0``), the token checked
(``Authorization: Bearer``; otherwise 401 with code 190), answers in the Cloud API's shapes:
``GET /{phone-number-id}``; ``POST /{phone-number-id}/messages`` (``messaging_product:
whatsapp``; ``text`` up to 4,096 characters; ``interactive`` ``button`` with 1 to 3 reply buttons,
titles up to 20, body up to 1,024, or ``list`` with up to 10 rows, titles up to 24; ``image`` and
``document`` by uploaded media id, captions up to 1,024; ``status: read`` with an optional
``typing_indicator``) answering ``{"messaging_product", "contacts", "messages": [{"id":
"wamid..."}]}``; ``POST /{phone-number-id}/media`` (multipart ``file``, ``type``,
``messaging_product``); ``GET /{media-id}`` (a download URL) and that URL (the token needed).
Errors are Graph errors: ``{"error": {"message", "type", "code", "error_data": {"details"},
"fbtrace_id"}}``, code 100 for a bad parameter, 131047 for a recipient who has not written in 24
hours of the fake's clock (``window_failure="status"``: accepted, then a failed status is
POSTed, as the real API often does).

Webhooks go to ``fake.webhook_url`` signed with the app secret (``X-Hub-Signature-256``),
synchronously: a call returns once the server answered, and ``fake.answers`` holds its statuses.
A notification that was not answered 200 is kept in ``fake.undelivered`` until ``redeliver()``.

Use it as a context manager::

    from tests.fakes.whatsapp_server import FakeWhatsApp

    with FakeWhatsApp() as fake:           # fake.api_base, fake.token, fake.phone_number_id, fake.app_secret
        fake.webhook_url = f"http://127.0.0.1:{channel.webhook_port}/whatsapp"
        wamid = fake.user_says("15551234567", "hello", name="Ada")      # a text message
        fake.send_image("15551234567", b"...", caption="look")         # also send_document, send_voice
        fake.press("15551234567", fake.sent[-1], "deny")                # tap a reply button or list row
        fake.deliver_status(fake.sent[-1]["id"], "delivered")           # or "read", "failed" (error_code=)
        fake.post({...}, signature="sha256=bad")                        # any body; the HTTP status back
        fake.sent[0]["text"]["body"], fake.sent[0]["to"], fake.uploads, fake.reads, fake.calls
        fake.advance(hours=25)                                          # the 24-hour window closes
        fake.fail("messages", status=500); fake.fail("messages", code=130429)
        fake.fail("messages", code=131047); fake.fail("media", hang=5.0); fake.fail("messages", drop=True)

Routes for faults: ``phone`` (GET the number), ``messages``, ``media`` (upload), ``media_info``,
``download``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.telegram_wire import multipart

__all__ = ["Call", "FakeWhatsApp", "Fault"]

TOKEN = "EAAGfakeWhatsAppAccessToken0123456789abcdefZZ"
APP_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
VERIFY_TOKEN = "ember-verify-7d1c"
WINDOW = 24 * 3600
WINDOW_DETAILS = ("Message failed to send because more than 24 hours have passed since the customer last replied "
                  "to this number.")
MESSAGES = {100: "Invalid parameter", 131047: "Re-engagement message", 130429: "Rate limit hit",
            80007: "Rate limit issues", 4: "Application request limit reached", 131000: "Something went wrong",
            190: "Invalid OAuth access token - Cannot parse access token", 131030: "Recipient phone number not in "
            "allowed list", 131026: "Message undeliverable"}


@dataclass
class Fault:
    status: int | None = None  # an HTTP status
    code: int | None = None  # a Graph error code
    retry_after: float | None = None  # a Retry-After header
    hang: float | None = None  # seconds without an answer, then the connection is closed
    drop: bool = False  # close the connection without an answer


@dataclass
class Call:
    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(repr=False)


def graph_error(code: int, message: str | None = None, details: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": f"(#{code}) {message or MESSAGES.get(code, 'Error')}",
                             "type": "OAuthException", "code": code, "fbtrace_id": "A" + uuid.uuid4().hex[:22]}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


class FakeWhatsApp:
    """Fake Graph API for one business number, on 127.0.0.1; see the module docstring."""

    def __init__(self, *, token: str = TOKEN, app_secret: str = APP_SECRET, verify_token: str = VERIFY_TOKEN,
                 phone_number_id: str = "106540352242922", display_number: str = "15550783881") -> None:
        self.token, self.app_secret, self.verify_token = token, app_secret, verify_token
        self.phone_number_id, self.display_number = phone_number_id, display_number
        self.waba_id = "102290129340398"
        self.webhook_url: str | None = None
        self.window_failure = "error"  # or "status": accept, then POST a failed status
        self.auto_status = False  # after each accepted message, POST "sent" and "delivered"
        self.sent: list[dict[str, Any]] = []  # accepted messages: the request body plus "id"
        self.uploads: list[dict[str, Any]] = []
        self.reads: list[dict[str, Any]] = []  # "status: read" calls (with typing_indicator or not)
        self.calls: list[Call] = []
        self.answers: list[int] = []  # HTTP statuses the webhook answered
        self.undelivered: list[bytes] = []
        self.last_wrote: dict[str, float] = {}  # phone -> fake time of their last message
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.stopped = threading.Event()
        self._offset = 0.0
        self._ids = itertools.count(1)
        self._media: dict[str, tuple[bytes, str]] = {}  # media id -> (data, mime)
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._posting = threading.Lock()  # one webhook POST at a time, like one Meta sender

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeWhatsApp:
        self._http = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._http.fake = self  # type: ignore[attr-defined]
        threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        import httpx

        self._client = httpx.Client(timeout=30)
        return self

    def stop(self) -> None:
        self.stopped.set()
        with self.changed:
            self.changed.notify_all()
        self._http.shutdown()
        self._http.server_close()
        self._client.close()

    def __enter__(self) -> FakeWhatsApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def api_base(self) -> str:
        return self.url + "/v21.0"

    # --- the clock ------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float = 0.0, *, hours: float = 0.0) -> None:
        self._offset += seconds + hours * 3600

    # --- what people do (webhooks to the business's server) -------------------------------------------

    def wamid(self) -> str:
        raw = f"{self.display_number}-{next(self._ids)}-{uuid.uuid4().hex[:12]}".encode()
        return "wamid." + base64.b64encode(raw).decode().rstrip("=")

    def user_says(self, phone: str, text: str, *, name: str = "Ada", **extra: Any) -> str:
        """A text message from ``phone``; its message id."""
        return self._incoming(phone, name, {"type": "text", "text": {"body": text}, **extra})

    def send_image(self, phone: str, data: bytes, *, caption: str = "", mime: str = "image/jpeg",
                   name: str = "Ada") -> str:
        media: dict[str, Any] = {"mime_type": mime, "sha256": hashlib.sha256(data).hexdigest(), "id": self._store(data, mime)}
        if caption:
            media["caption"] = caption
        return self._incoming(phone, name, {"type": "image", "image": media})

    def send_document(self, phone: str, data: bytes, filename: str, *, caption: str = "",
                      mime: str = "application/pdf", name: str = "Ada") -> str:
        media: dict[str, Any] = {"filename": filename, "mime_type": mime, "sha256": hashlib.sha256(data).hexdigest(),
                                 "id": self._store(data, mime)}
        if caption:
            media["caption"] = caption
        return self._incoming(phone, name, {"type": "document", "document": media})

    def send_voice(self, phone: str, data: bytes, *, name: str = "Ada") -> str:
        media = {"mime_type": "audio/ogg; codecs=opus", "sha256": hashlib.sha256(data).hexdigest(),
                 "id": self._store(data, "audio/ogg"), "voice": True}
        return self._incoming(phone, name, {"type": "audio", "audio": media})

    def press(self, phone: str, message: dict[str, Any], choice: str, *, name: str = "Ada") -> str:
        """Tap the reply button or list row of a sent interactive message whose id ends in ``:choice``
        (or whose title is ``choice``)."""
        interactive = message.get("interactive") or {}
        action = interactive.get("action") or {}
        if interactive.get("type") == "button":
            options = [b["reply"] for b in action.get("buttons") or []]
            kind = "button_reply"
        else:
            options = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
            kind = "list_reply"
        for option in options:
            if str(option["id"]).endswith(f":{choice}") or option.get("title") == choice:
                reply = {"id": option["id"], "title": option["title"]}
                return self._incoming(phone, name, {"type": "interactive", "context": {
                    "from": self.display_number, "id": message["id"]}, "interactive": {"type": kind, kind: reply}})
        raise AssertionError(f"no choice {choice!r} in {interactive}")

    def _store(self, data: bytes, mime: str) -> str:
        media_id = str(900_000_000_000_000 + next(self._ids))
        with self.lock:
            self._media[media_id] = (data, mime)
        return media_id

    def _incoming(self, phone: str, name: str, fields: dict[str, Any]) -> str:
        message_id = self.wamid()
        stamp = self.now()
        with self.lock:
            self.last_wrote[phone] = stamp
        message = {"from": phone, "id": message_id, "timestamp": str(int(stamp)), **fields}
        self.notify({"contacts": [{"profile": {"name": name}, "wa_id": phone}], "messages": [message]})
        return message_id

    def deliver_status(self, message_id: str, status: str, *, error_code: int | None = None,
                       recipient: str | None = None) -> int:
        """A ``statuses`` notification for a message the business sent; the webhook's HTTP status."""
        with self.lock:
            sent = next((m for m in self.sent if m["id"] == message_id), {})
        entry: dict[str, Any] = {"id": message_id, "status": status, "timestamp": str(int(self.now())),
                                 "recipient_id": recipient or sent.get("to", "")}
        if status in ("sent", "delivered"):
            entry["conversation"] = {"id": uuid.uuid4().hex, "origin": {"type": "service"}}
            entry["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service"}
        if error_code is not None:
            message = MESSAGES.get(error_code, "Error")
            details = WINDOW_DETAILS if error_code == 131047 else message
            entry["errors"] = [{"code": error_code, "title": message, "message": message,
                                "error_data": {"details": details}}]
        return self.notify({"statuses": [entry]})

    def notify(self, value: dict[str, Any]) -> int:
        """POST one ``messages`` change with ``value`` (metadata added); the webhook's HTTP status."""
        value = {"messaging_product": "whatsapp", "metadata": {"display_phone_number": self.display_number,
                                                               "phone_number_id": self.phone_number_id}, **value}
        return self.post({"object": "whatsapp_business_account",
                          "entry": [{"id": self.waba_id, "changes": [{"value": value, "field": "messages"}]}]})

    def sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()

    def post(self, payload: dict[str, Any] | bytes, *, signature: str | None = None) -> int:
        """POST a notification to ``webhook_url`` as Meta does; the HTTP status (0: no answer)."""
        import httpx

        assert self.webhook_url, "set fake.webhook_url to the channel's webhook first"
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature or self.sign(body),
                   "User-Agent": "facebookexternalua"}
        with self._posting:
            try:
                status = self._client.post(self.webhook_url, content=body, headers=headers).status_code
            except httpx.HTTPError:
                status = 0
        with self.changed:
            self.answers.append(status)
            if status != 200 and signature is None:
                self.undelivered.append(body)
            self.changed.notify_all()
        return status

    def redeliver(self) -> list[int]:
        """Send again what was not answered 200 (Meta retries with backoff); the new statuses."""
        with self.lock:
            pending, self.undelivered = self.undelivered, []
        return [self.post(body) for body in pending]

    # --- waiting --------------------------------------------------------------------------------

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake whatsapp: timed out after {timeout} s waiting for {what}")
                self.changed.wait(min(left, 0.05))

    def wait_sent(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        self.wait_for(lambda: len(self.sent) >= count, timeout, f"{count} sent message(s)")
        return list(self.sent)

    # --- faults ---------------------------------------------------------------------------------

    def fail(self, route: str, times: int = 1, *, status: int | None = None, code: int | None = None,
             retry_after: float | None = None, hang: float | None = None, drop: bool = False) -> None:
        with self.lock:
            self._faults[route].extend(Fault(status, code, retry_after, hang, drop) for _ in range(times))

    def take_fault(self, route: str) -> Fault | None:
        with self.lock:
            queue = self._faults.get(route)
            return queue.popleft() if queue else None

    # --- the Graph API --------------------------------------------------------------------------

    def graph(self, method: str, path: str, body: Any, files: dict[str, tuple[str, bytes, str]],
              form: dict[str, str], token: str) -> tuple[int, Any]:
        """One Graph call's (status, JSON), after faults were handled."""
        if token != f"Bearer {self.token}":
            return 401, graph_error(190)
        parts = path.strip("/").split("/")
        if parts[0] != self.phone_number_id:
            if method == "GET" and len(parts) == 1:
                return self._media_info(parts[0])
            return 400, graph_error(100, f"Unsupported {method.lower()} request. Object with ID '{parts[0]}' does "
                                         "not exist, cannot be loaded due to missing permissions, or does not "
                                         "support this operation")
        if method == "GET" and len(parts) == 1:
            return 200, {"verified_name": "Ember Test", "code_verification_status": "VERIFIED",
                         "display_phone_number": f"+{self.display_number}", "quality_rating": "GREEN",
                         "id": self.phone_number_id}
        if method == "POST" and parts[1:] == ["messages"]:
            return self._message(body if isinstance(body, dict) else {})
        if method == "POST" and parts[1:] == ["media"]:
            return self._upload(files, form)
        return 400, graph_error(100, "Unknown path components")

    def _message(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("messaging_product") != "whatsapp":
            return 400, graph_error(100, "The parameter messaging_product is required.")
        if body.get("status") == "read":
            with self.changed:
                self.reads.append(body)
                self.changed.notify_all()
            return 200, {"success": True}
        to = str(body.get("to") or "")
        if not to.isdigit():
            return 400, graph_error(100, "Invalid parameter", "Parameter 'to' must be a phone number")
        problem = _shape_problem(body, self._media)
        if problem:
            return 400, graph_error(100, "Invalid parameter", problem)
        with self.lock:
            wrote = self.last_wrote.get(to)
        closed = wrote is None or self.now() - wrote > WINDOW
        if closed and self.window_failure == "error":
            return 400, graph_error(131047, details=WINDOW_DETAILS)
        message_id = self.wamid()
        with self.changed:
            self.sent.append({**body, "id": message_id})
            self.changed.notify_all()
        if closed or self.auto_status:
            updates = [("failed", 131047)] if closed else [("sent", None), ("delivered", None)]
            threading.Thread(target=self._statuses, args=(message_id, updates), daemon=True).start()
        answer: dict[str, Any] = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                                  "messages": [{"id": message_id}]}
        if body.get("type") == "interactive":
            answer["messages"][0]["message_status"] = "accepted"
        return 200, answer

    def _statuses(self, message_id: str, updates: list[tuple[str, int | None]]) -> None:
        time.sleep(0.05)  # after the API answered, as Meta's webhooks come
        for status, code in updates:
            if self.webhook_url and not self.stopped.is_set():
                self.deliver_status(message_id, status, error_code=code)

    def _upload(self, files: dict[str, tuple[str, bytes, str]], form: dict[str, str]) -> tuple[int, Any]:
        if form.get("messaging_product") != "whatsapp" or "file" not in files:
            return 400, graph_error(100, "The parameter messaging_product is required." if "file" in files
                                    else "The parameter file is required.")
        name, data, mime = files["file"]
        media_id = self._store(data, form.get("type") or mime)
        with self.changed:
            self.uploads.append({"id": media_id, "name": name, "data": data, "type": form.get("type")})
            self.changed.notify_all()
        return 200, {"id": media_id}

    def _media_info(self, media_id: str) -> tuple[int, Any]:
        with self.lock:
            found = self._media.get(media_id)
        if found is None:
            return 400, graph_error(100, f"Unsupported get request. Object with ID '{media_id}' does not exist")
        data, mime = found
        return 200, {"messaging_product": "whatsapp", "url": f"{self.url}/whatsapp_business/attachments/?mid={media_id}"
                     f"&ext={int(self.now())}&hash=fake", "mime_type": mime,
                     "sha256": hashlib.sha256(data).hexdigest(), "file_size": len(data), "id": media_id}

    def download(self, media_id: str, token: str) -> tuple[int, bytes, str]:
        if token != f"Bearer {self.token}":
            return 401, b"", "text/plain"
        with self.lock:
            found = self._media.get(media_id)
        return (200, found[0], found[1]) if found else (404, b"", "text/plain")


def _shape_problem(body: dict[str, Any], media: dict[str, Any]) -> str | None:
    """What the Cloud API would refuse in a message body, or None."""
    kind = body.get("type", "text")
    content = body.get(kind)
    if not isinstance(content, dict):
        return f"Param {kind} is required"
    if kind == "text":
        text = str(content.get("body") or "")
        return None if 1 <= len(text) <= 4096 else "Param text['body'] must be 1 to 4096 characters long."
    if kind in ("image", "document", "audio", "video"):
        if str(content.get("id")) not in media and not content.get("link"):
            return f"Param {kind}['id'] is not a valid media id"
        return "Param caption must be at most 1024 characters long." if len(content.get("caption") or "") > 1024 \
            else None
    if kind != "interactive":
        return f"Unsupported message type {kind}"
    body_text = str((content.get("body") or {}).get("text") or "")
    if not 1 <= len(body_text) <= 1024:
        return "Param interactive['body']['text'] must be 1 to 1024 characters long."
    action = content.get("action") or {}
    if content.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            return "Param interactive['action']['buttons'] must have 1 to 3 buttons."
        titles = [str((b.get("reply") or {}).get("title") or "") for b in buttons]
        ids = [str((b.get("reply") or {}).get("id") or "") for b in buttons]
        if any(not 1 <= len(t) <= 20 for t in titles) or len(set(titles)) != len(titles):
            return "Button titles must be unique and 1 to 20 characters long."
        if any(not 1 <= len(i) <= 256 for i in ids) or len(set(ids)) != len(ids):
            return "Button ids must be unique and 1 to 256 characters long."
        return None
    if content.get("type") == "list":
        rows = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
        if not 1 <= len(rows) <= 10 or not 1 <= len(str(action.get("button") or "")) <= 20:
            return "A list has 1 to 10 rows and a button label of 1 to 20 characters."
        if any(not 1 <= len(str(r.get("title") or "")) <= 24 for r in rows):
            return "Row titles must be 1 to 24 characters long."
        if len(str((content.get("footer") or {}).get("text") or "")) > 60:
            return "Param interactive['footer']['text'] must be at most 60 characters long."
        return None
    return f"Unsupported interactive type {content.get('type')}"


# --- HTTP ------------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-answer is normal here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        fake: FakeWhatsApp = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        token = headers.get("authorization", "")
        if split.path.startswith("/whatsapp_business/attachments"):
            media_id = dict(p.split("=", 1) for p in split.query.split("&") if "=" in p).get("mid", "")
            with fake.changed:
                fake.calls.append(Call(method, split.path, None, headers))
            if self._fault(fake, "download"):
                return
            status, data, mime = fake.download(media_id, token)
            self._send(status, data, mime)
            return
        if not split.path.startswith("/v21.0/"):
            self._send(404, b"not found", "text/plain")
            return
        path = split.path.removeprefix("/v21.0")
        content_type = headers.get("content-type", "")
        files: dict[str, tuple[str, bytes, str]] = {}
        form: dict[str, str] = {}
        body: Any = None
        if content_type.startswith("multipart/form-data"):
            form, files = multipart(content_type, raw)
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                self._json(400, graph_error(100, "Invalid JSON"))
                return
        with fake.changed:
            fake.calls.append(Call(method, path, body if body is not None else form, headers))
            fake.changed.notify_all()
        parts = path.strip("/").split("/")
        route = ("messages" if parts[1:] == ["messages"] else "media" if parts[1:] == ["media"]
                 else "phone" if parts[0] == fake.phone_number_id else "media_info")
        if self._fault(fake, route):
            return
        status, answer = fake.graph(method, path, body, files, form, token)
        self._json(status, answer)

    def _fault(self, fake: FakeWhatsApp, route: str) -> bool:
        fault = fake.take_fault(route)
        if fault is None:
            return False
        if fault.hang is not None:
            fake.stopped.wait(fault.hang)
            fault.drop = True
        if fault.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
        if fault.code is not None:
            details = WINDOW_DETAILS if fault.code == 131047 else None
            self._json(fault.status or (401 if fault.code == 190 else 400), graph_error(fault.code, details=details),
                       headers)
        else:
            self._send(fault.status or 500, b"<html><body>Sorry, something went wrong.</body></html>", "text/html",
                       headers)
        return True

    def _json(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(answer).encode(), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
