"""WhatsApp, through Meta's WhatsApp Cloud API (docs/gateway-whatsapp.md).

Receiving: Meta POSTs webhook notifications to an HTTP server of ours (``whatsapp_webhook``,
behind a reverse proxy with TLS), each checked against the app secret before anything is read
from it and answered 200 only after ``on_inbound`` returned, so Meta sends again what was not
recorded; ``event_id`` is ``whatsapp:<message id>``, so a repeat is dropped by the gateway.
Messages become ``Inbound`` in ``whatsapp_events``. Delivery statuses (sent, delivered, read,
failed) are kept in the store (``whatsapp:status:<message id>``); a failure is shown in
``status().last_error``, most often the 24-hour rule: a business may answer freely only within 24
hours of the person's last message, and after that WhatsApp refuses (code 131047) until they write
again (templates, the way around it, are not sent by Ember).

Sending (``whatsapp_api``): ``POST /{phone-number-id}/messages``; the returned message id is the
acknowledgement. Markdown is turned into WhatsApp's formatting (``whatsapp_format``). WhatsApp
allows three reply buttons: up to three choices go as buttons, up to ten as a list (an approval's
four), more as text; a typed "1", "once" or "deny" answers too (the gateway reads it). Files are
uploaded (``POST /{phone-number-id}/media``), then sent as an image or a document. "Typing..." is
shown by marking the person's last message read with a typing indicator.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.gateway.channel import ChannelStatus, Inbound, KeyValue, Outbound, SendError, buttons_as_text
from ember.gateway.channels.whatsapp_api import TOKEN_HELP, WINDOW_CLOSED, GraphAPI
from ember.gateway.channels.whatsapp_config import WhatsAppConfig, phone_digits, whatsapp_config
from ember.gateway.channels.whatsapp_events import (
    Status,
    button_id,
    changes,
    inbound_from_message,
    status_from,
)
from ember.gateway.channels.whatsapp_format import to_whatsapp

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

    from ember.config import Settings
    from ember.gateway.channels.push_server import PushServer

__all__ = ["WhatsAppChannel", "WhatsAppConfig"]

log = logging.getLogger("ember.gateway.whatsapp")

MAX_TEXT, MAX_BODY, MAX_CAPTION = 4096, 1024, 1024
MAX_BUTTONS, MAX_ROWS, MAX_BUTTON_TITLE, MAX_ROW_TITLE = 3, 10, 20, 24
MAX_IMAGE, MAX_DOCUMENT = 5 * 1024 * 1024, 100 * 1024 * 1024
IMAGE_TYPES = {"image/jpeg", "image/png"}
TYPING_EVERY = 20.0  # the indicator lasts 25 s, or until the answer
STATUS_ORDER = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


class WhatsAppChannel:
    """The ``Channel`` for one WhatsApp business number. ``client`` is injectable (tests point
    ``api_base`` at a fake)."""

    name = "whatsapp"
    max_text = MAX_TEXT

    def __init__(self, config: WhatsAppConfig, state: KeyValue, files_dir: Path,
                 client: httpx.Client | None = None) -> None:
        from ember.models.transport import load_httpx

        http = load_httpx()
        self.config = config
        self.state = state
        self.files_dir = files_dir  # the gateway keeps fetched files there
        self._own_client = client is None
        self.client: httpx.Client = client or http.Client(timeout=http.Timeout(30.0, connect=10.0))
        self.api = GraphAPI(config.token, config.api_base, config.phone_number_id, self.client)
        self._status = ChannelStatus()
        self._on_inbound: Callable[[Inbound], None] | None = None
        self._server: PushServer | None = None
        self._last_message: dict[str, str] = {}  # chat -> the person's latest message id (for "typing...")
        self._typed: dict[str, float] = {}
        self._lock = threading.Lock()
        self._order = threading.Lock()  # notifications are recorded one at a time, in arrival order

    # --- receiving ------------------------------------------------------------------------------

    def start(self, on_inbound: Callable[[Inbound], None]) -> None:
        """Check the token and the number (``GET /{phone-number-id}``), then serve the webhook."""
        from ember.gateway.channels.whatsapp_webhook import webhook_server

        self._on_inbound = on_inbound
        error = None
        try:
            number = self.api.phone_number()
            log.info("whatsapp: sending as %s", number.get("display_phone_number") or self.config.phone_number_id)
        except SendError as exc:
            error = str(exc)
            log.warning("whatsapp: %s", exc)
        self._server = webhook_server(self.config.app_secret, self.config.verify_token, self._handle,
                                      self.config.host, self.config.port)
        self._server.start()
        self._set_state(error is None or error != TOKEN_HELP, error)
        log.info("whatsapp: webhook listening on %s:%s", self.config.host, self._server.port)

    @property
    def webhook_port(self) -> int | None:
        """The port the webhook server listens on (when ``port`` was 0, the one picked)."""
        return self._server.port if self._server is not None else None

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._set_state(False, self._status.last_error)
        if self._own_client:
            self.client.close()

    def _handle(self, payload: dict[str, Any]) -> None:
        """One signed notification; returns once every message in it is recorded (raises if not)."""
        with self._order:
            self._record_notification(payload)

    def _record_notification(self, payload: dict[str, Any]) -> None:
        for value in changes(payload, self.config.phone_number_id):
            names = {str(c.get("wa_id")): str((c.get("profile") or {}).get("name") or "")
                     for c in value.get("contacts") or [] if isinstance(c, dict)}
            for message in value.get("messages") or []:
                try:
                    inbound = inbound_from_message(message, names, self.api.download)
                except Exception:
                    log.exception("whatsapp: a message could not be read; skipped")
                    continue
                if inbound is None:
                    continue
                if self._on_inbound is not None:
                    self._on_inbound(inbound)  # raises when not recorded: 500, and Meta sends it again
                with self._lock:
                    self._last_message[inbound.chat] = str(message["id"])
            for entry in value.get("statuses") or []:
                status = status_from(entry) if isinstance(entry, dict) else None
                if status is not None:
                    self._record(status)

    def _record(self, status: Status) -> None:
        """Keep a message's delivery status (never stepping back: webhooks may come out of order)."""
        key = f"whatsapp:status:{status.message_id}"
        try:
            before = json.loads(self.state.get_meta(key) or "{}").get("status", "")
        except ValueError:
            before = ""
        if STATUS_ORDER.get(status.status, 0) <= STATUS_ORDER.get(before, 0):
            return
        record: dict[str, Any] = {"status": status.status, "recipient": status.recipient, "at": status.timestamp}
        if status.status == "failed":
            record |= {"error_code": status.error_code, "error": status.error}
            self._set_state(self._status.connected, failure_sentence(status))
            log.warning("whatsapp: %s", failure_sentence(status))
        self.state.set_meta(key, json.dumps(record))

    # --- sending --------------------------------------------------------------------------------

    def send(self, item: Outbound) -> str:
        """Send ``item``; the message's id (``wamid...``), or ``SendError``."""
        to = self.resolve_chat(item.chat)
        text = to_whatsapp(item.text).strip()
        if len(text) > MAX_TEXT:  # the formatting made it longer than the outbox's cut
            text = item.text.strip()
        try:
            if item.file:
                return self._send_file(to, item.file, text)
            if item.buttons:
                return self._send_question(to, text, item)
            if not text:
                raise SendError("whatsapp: nothing to send (no text, buttons or file)", permanent=True)
            return self._text(to, text)
        except SendError as exc:
            if str(exc) == TOKEN_HELP:
                self._set_state(False, TOKEN_HELP)
            elif "code 131047" in str(exc):
                self._set_state(self._status.connected, failure_sentence(Status("", "failed", to, "", WINDOW_CLOSED)))
            raise

    def _text(self, to: str, text: str) -> str:
        return self.api.send({"to": to, "type": "text", "text": {"body": text, "preview_url": False}})

    def _send_question(self, to: str, text: str, item: Outbound) -> str:
        """Reply buttons (up to 3), a list (up to 10), or the choices as text to answer by word."""
        buttons, request_id = item.buttons, item.request_id or ""
        if len(text) > MAX_BODY:  # too long for an interactive message: the question goes first
            self._text(to, text)
            text = "Your answer?"
        if len(buttons) > MAX_ROWS:
            return self._text(to, f"{text}\n\n{buttons_as_text(buttons)}")
        interactive: dict[str, Any]
        if len(buttons) <= MAX_BUTTONS:
            interactive = {"type": "button", "body": {"text": text or "?"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": button_id(request_id, b.value), "title": b.label[:MAX_BUTTON_TITLE]}}
                for b in buttons]}}
        else:
            interactive = {"type": "list", "body": {"text": text or "?"},
                           "footer": {"text": f"Or reply with a number, 1 to {len(buttons)}"},
                           "action": {"button": "Choose", "sections": [{"title": "Choices", "rows": [
                               {"id": button_id(request_id, b.value), "title": b.label[:MAX_ROW_TITLE]}
                               for b in buttons]}]}}
        return self.api.send({"to": to, "type": "interactive", "interactive": interactive})

    def _send_file(self, to: str, file: str, text: str) -> str:
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SendError(f"whatsapp: cannot read the file to send: {exc.strerror or exc}", permanent=True) from None
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        kind = "image" if mime in IMAGE_TYPES and len(data) <= MAX_IMAGE else "document"
        if len(data) > MAX_DOCUMENT:
            raise SendError(f"whatsapp: {path.name} is {len(data) / 1e6:.0f} MB; WhatsApp takes documents up to "
                            "100 MB", permanent=True)
        if len(text) > MAX_CAPTION:  # too long for a caption: the text goes first, on its own
            self._text(to, text)
            text = ""
        media: dict[str, Any] = {"id": self.api.upload(path.name, data, mime)}
        if text:
            media["caption"] = text
        if kind == "document":
            media["filename"] = path.name
        return self.api.send({"to": to, "type": kind, kind: media})

    def typing(self, chat: str, thread: str | None = None) -> None:
        """Mark the person's last message read, with "typing..." (best effort, at most every 20 s)."""
        now = time.monotonic()
        with self._lock:
            message = self._last_message.get(chat)
            if message is None or now - self._typed.get(chat, -1e9) < TYPING_EVERY:
                return
            self._typed[chat] = now
        try:
            self.api.mark_read(message, typing=True)
        except Exception as exc:  # a missing "typing..." must never fail a turn
            log.debug("whatsapp: typing failed: %s", exc)

    def status(self) -> ChannelStatus:
        return ChannelStatus(self._status.connected, self._status.last_error)

    def _set_state(self, connected: bool, error: str | None) -> None:
        self._status = ChannelStatus(connected, error)

    def resolve_chat(self, name: str) -> str:
        """A phone number with its country code (``+1 555 123 4567``) as WhatsApp's digits."""
        digits = phone_digits(name.strip())
        if digits is None:
            raise SendError(f"WhatsApp chats are phone numbers with the country code (15551234567), not {name!r}",
                            permanent=True)
        return digits


def failure_sentence(status: Status) -> str:
    """What a failed delivery means, for ``gateway status``."""
    who = f"+{status.recipient}" if status.recipient else "a person"
    if status.error_code == WINDOW_CLOSED:
        return (f"WhatsApp did not deliver a message to {who}: they last wrote more than 24 hours ago, and "
                "WhatsApp refuses replies after that; they must write first (code 131047)")
    detail = status.error or "no reason given"
    return f"WhatsApp did not deliver a message to {who}: {detail} (code {status.error_code})"


NAME = "whatsapp"
CHANNEL = WhatsAppChannel


def configure(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> WhatsAppConfig | None:
    """[gateway.whatsapp] and its environment variables (``whatsapp_config``)."""
    return whatsapp_config(table, env, settings)
