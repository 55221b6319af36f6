"""Telegram, through the Bot API's JSON over HTTP (docs/gateway-telegram.md).

No Telegram SDK: the Bot API is a small, documented set of JSON methods (``getUpdates``,
``sendMessage``, ``sendPhoto``, ``getFile``...), and speaking it with the ``httpx`` client every
other part of Ember uses keeps one HTTP stack to configure and test, adds no dependency, and keeps
the import cheap (the gateway imports a channel only when it is configured).

Receiving is long polling (``getUpdates``) in a background thread. The update offset is kept in
the store (``telegram:offset``) and advanced only after ``on_inbound`` returned, so a restart
neither replays nor skips a message; a repeat after a crash between the two carries the same
``event_id`` (``telegram:<update_id>``) and the gateway drops it. Network errors and 5xx back
off and retry; a refused token (401) stops polling with an error that says what to do.

With ``webhook_url`` configured, Telegram POSTs each update to us instead (``telegram_webhook``):
the channel calls ``setWebhook`` at start (retrying like the poll) and serves the POSTs; each
update takes the same path as a polled one (``_record_update``), and is answered 200 once
recorded. Several gateway workers may serve one bot this way, where only one may poll.

The bot token is part of every URL (``/bot<token>/<method>``), and httpx logs request URLs: a
filter on httpx's and httpcore's loggers masks it (``telegram_tokens.py``), and the channel's own
errors never hold it.

Updates become ``Inbound`` messages in ``telegram_updates.py``; replies are converted from
Markdown to Telegram's HTML in ``markdown_html.py``.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.gateway.channel import ChannelStatus, Inbound, KeyValue, Outbound, SendError
from ember.gateway.channels.markdown_html import to_telegram_html
from ember.gateway.channels.telegram_tokens import guard_logs, redact_token
from ember.gateway.channels.telegram_updates import ALLOWED_UPDATES, callback_data, inbound_from_update

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

    from ember.config import Settings
    from ember.gateway.channels.push_server import PushServer
    from ember.gateway.config import TelegramConfig

log = logging.getLogger("ember.gateway.telegram")

OFFSET_KEY = "telegram:offset"
MAX_TEXT, MAX_CAPTION = 4096, 1024
MAX_PHOTO, MAX_UPLOAD = 10 * 1024 * 1024, 50 * 1024 * 1024
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
TOKEN_HELP = ("Telegram refused the bot token (401 Unauthorized): check TELEGRAM_BOT_TOKEN in EMBER_HOME/.env "
              "(BotFather's /mybots > API Token shows it; a token revoked with /revoke stops working), "
              "then restart the gateway")
CONFLICT_HELP = ("another program is reading this bot's updates (a second gateway or bot using the same token), "
                 "or a webhook is set (remove it with deleteWebhook, see docs/gateway-telegram.md)")


class TelegramFileError(OSError):
    """A file that came with a message could not be downloaded."""


class _Failure(Exception):
    """A Bot API call that failed: ``code`` is Telegram's error_code (0: no answer at all)."""

    def __init__(self, method: str, code: int, description: str, retry_after: float | None = None,
                 migrate_to: int | None = None) -> None:
        super().__init__(f"Telegram {method}: {description}")
        self.method, self.code, self.description = method, code, description
        self.retry_after, self.migrate_to = retry_after, migrate_to


# --- the channel -------------------------------------------------------------------------------

class TelegramChannel:
    """The ``Channel`` for one Telegram bot; see the module docstring.

    ``client`` (injected by tests or shared) carries sends and downloads; the long poll has its
    own connection, which ``stop()`` cuts so the thread ends at once. ``poll_timeout`` is the
    long poll's length in seconds, ``timeout`` each other call's, ``backoff`` the first wait after
    a failed poll or ``setWebhook`` (doubling up to a minute).
    """

    name = "telegram"
    max_text = MAX_TEXT

    def __init__(self, config: TelegramConfig, state: KeyValue, files_dir: Path,
                 client: httpx.Client | None = None, *, poll_timeout: int = 30, timeout: float = 30.0,
                 backoff: float = 1.0) -> None:
        self.config = config
        self.state = state
        self.files_dir = Path(files_dir)  # the gateway keeps fetched files there; Telegram's stay until then
        self.poll_timeout = poll_timeout
        self.timeout = timeout
        self.backoff = backoff
        self._token = config.token
        self._base = config.api_base.rstrip("/")
        self._client = client
        self._owns_client = client is None
        self._poller: httpx.Client | None = None
        self._poll_socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: PushServer | None = None  # webhook mode's HTTP server
        self._order = threading.Lock()  # webhook mode: updates recorded one at a time, in arrival order
        self._status = ChannelStatus()
        self._me: dict[str, Any] | None = None
        guard_logs(self._token)

    # --- HTTP ------------------------------------------------------------------------------------

    def _http(self) -> Any:
        import sys

        if "httpx" not in sys.modules:  # skip httpx's optional CLI import (see models/transport.py)
            sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
        import httpx

        return httpx

    def _send_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                httpx = self._http()
                self._client = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 15.0)))
            return self._client

    def _redact(self, text: str) -> str:
        return redact_token(text, self._token)

    def _call(self, method: str, params: dict[str, Any], *, files: dict[str, Any] | None = None,
              timeout: float | None = None, client: httpx.Client | None = None,
              extensions: dict[str, Any] | None = None) -> Any:
        """One Bot API method: its ``result``, or ``_Failure``."""
        httpx = self._http()
        url = f"{self._base}/bot{self._token}/{method}"
        client = client or self._send_client()
        wait = httpx.Timeout(timeout or self.timeout, connect=min(timeout or self.timeout, 15.0))
        try:
            if files:
                data = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in params.items()}
                response = client.post(url, data=data, files=files, timeout=wait, extensions=extensions)
            else:
                response = client.post(url, json=params, timeout=wait, extensions=extensions)
        except httpx.TimeoutException:
            raise _Failure(method, 0, f"no answer within {timeout or self.timeout:g} s") from None
        except (httpx.TransportError, OSError) as exc:
            reason = self._redact(str(exc)) or type(exc).__name__
            raise _Failure(method, 0, f"could not reach {self._base} ({reason})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        if isinstance(body, dict) and "error_code" in body:
            parameters = body.get("parameters") or {}
            raise _Failure(method, int(body["error_code"]), self._redact(str(body.get("description", ""))),
                           retry_after=parameters.get("retry_after"), migrate_to=parameters.get("migrate_to_chat_id"))
        raise _Failure(method, response.status_code,
                       f"HTTP {response.status_code} without a Bot API answer (is {self._base} the Bot API?)")

    def _set_status(self, connected: bool, error: str | None) -> None:
        with self._lock:
            self._status = ChannelStatus(connected=connected, last_error=self._redact(error) if error else None)

    def status(self) -> ChannelStatus:
        with self._lock:
            return ChannelStatus(self._status.connected, self._status.last_error)

    # --- receiving -------------------------------------------------------------------------------

    def start(self, on_inbound: Callable[[Inbound], None]) -> None:
        if (self._thread is not None and self._thread.is_alive()) or self._server is not None:
            return
        self._stopping.clear()
        if self.config.webhook:
            self._start_webhook(on_inbound)
            return
        self._poll_socket = None
        httpx = self._http()
        # One connection, for the poll alone: stop() can then cut exactly the request that waits.
        self._poller = httpx.Client(limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        self._thread = threading.Thread(target=self._poll, args=(on_inbound,), name="telegram-poll", daemon=True)
        self._thread.start()

    @property
    def webhook_port(self) -> int | None:
        """The port the webhook server listens on (when ``webhook_port`` was 0, the one picked)."""
        return self._server.port if self._server is not None else None

    def stop(self) -> None:
        """Stop receiving. A webhook stays set: other workers may still serve it."""
        self._stopping.set()
        if self._server is not None:
            self._server.stop()
            self._server = None
        with self._lock:
            sock = self._poll_socket
        if sock is not None:
            _shutdown(sock)  # wakes the thread blocked in the long poll
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        if self._poller is not None:
            self._poller.close()
            self._poller = None
        with self._lock:
            if self._owns_client and self._client is not None:
                self._client.close()
                self._client = None
            self._status.connected = False

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: remember the poll connection's socket, for ``stop()``."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            try:
                sock = info["return_value"].get_extra_info("socket")
            except Exception:  # another httpcore: stop() then waits for the poll to end instead
                return
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._poll_socket = sock
                if self._stopping.is_set():  # stop() came while this connection was being made
                    _shutdown(sock)

    def _poll(self, on_inbound: Callable[[Inbound], None]) -> None:
        stored = self.state.get_meta(OFFSET_KEY)
        offset = int(stored) if stored and stored.lstrip("-").isdigit() else None
        failures = 0
        while not self._stopping.is_set():
            try:
                if self._me is None:  # at start and after a failure: a quick call says we are connected
                    self._me = self._call("getMe", {}, client=self._poller, extensions={"trace": self._trace})
                    self._set_status(True, None)
                params: dict[str, Any] = {"timeout": self.poll_timeout, "allowed_updates": ALLOWED_UPDATES}
                if offset is not None:
                    params["offset"] = offset
                updates = self._call("getUpdates", params, timeout=self.poll_timeout + 15, client=self._poller,
                                     extensions={"trace": self._trace})
            except _Failure as failure:
                self._me = None
                failures += 1
                if not self._retry_after(failure, failures, "getUpdates", "polling"):
                    return
                continue
            failures = 0
            self._set_status(True, None)
            for update in updates or []:
                if self._stopping.is_set():
                    return
                next_offset = self._deliver(update, on_inbound)
                if next_offset is None:  # not recorded: wait, then poll again from the same offset
                    self._stopping.wait(self.backoff)
                    break
                offset = next_offset

    def _retry_after(self, failure: _Failure, failures: int, method: str, what: str) -> bool:
        """After a failed ``method``: say so, wait (backing off, or as long as Telegram asks), and
        True to try again; False when the token was refused, or when stopping."""
        if self._stopping.is_set():
            return False
        if failure.code in (401, 404):  # 404: Telegram's answer to a malformed token
            self._set_status(False, TOKEN_HELP)
            log.error("telegram: %s; %s stopped", TOKEN_HELP, what)
            return False
        delay = min(self.backoff * 2 ** (failures - 1), 60.0)
        if failure.code == 429 and failure.retry_after:
            delay = float(failure.retry_after)
        reason = f"{failure.description}: {CONFLICT_HELP}" if failure.code == 409 else failure.description
        self._set_status(False, f"{method} failed ({reason}); retrying in {delay:g} s")
        log.warning("telegram: %s failed (%s); retrying in %g s", method, reason, delay)
        self._stopping.wait(delay)
        return not self._stopping.is_set()

    def _deliver(self, update: dict[str, Any], on_inbound: Callable[[Inbound], None]) -> int | None:
        """Hand one polled update to the gateway, then advance the offset; the new offset, or None."""
        update_id = int(update["update_id"])
        try:
            self._record_update(update, on_inbound)
            self.state.set_meta(OFFSET_KEY, str(update_id + 1))
        except Exception as exc:
            self._set_status(True, f"could not record update {update_id}: {exc}")
            log.exception("telegram: could not record update %s; it will be received again", update_id)
            return None
        self._answer_press(update)
        return update_id + 1

    def _record_update(self, update: dict[str, Any], on_inbound: Callable[[Inbound], None]) -> None:
        """One update, polled or pushed, into the gateway: returns once it is recorded (raises when
        not, and Telegram gives it again); an update that cannot be read is skipped."""
        try:
            inbound = inbound_from_update(update, self._me or {}, self.state, self._fetch)
        except Exception:  # a shape we do not understand: skip it rather than stop receiving
            log.exception("telegram: skipping update %s that could not be read", update.get("update_id"))
            return
        if inbound is not None:
            on_inbound(inbound)

    def _answer_press(self, update: dict[str, Any]) -> None:
        """Stop a pressed button's spinner (best effort, once the press is recorded)."""
        if "callback_query" in update:
            try:
                self._call("answerCallbackQuery", {"callback_query_id": update["callback_query"]["id"]})
            except (_Failure, KeyError, TypeError) as failure:
                log.debug("telegram: answerCallbackQuery failed: %s", failure)

    # --- receiving: webhook mode -----------------------------------------------------------------

    def _start_webhook(self, on_inbound: Callable[[Inbound], None]) -> None:
        """Serve the webhook at once (binding its port here: a port in use fails the start), and
        set it with Telegram in the background, retrying until Telegram takes it."""
        from ember.gateway.channels.telegram_webhook import webhook_server

        self._server = webhook_server(self.config, lambda update: self._pushed(update, on_inbound))
        self._server.start()
        log.info("telegram: webhook mode, listening on %s:%s for %s", self.config.webhook_host, self._server.port,
                 self.config.webhook_url)
        self._thread = threading.Thread(target=self._set_webhook, name="telegram-webhook-setup", daemon=True)
        self._thread.start()

    def _set_webhook(self) -> None:
        from ember.gateway.channels.telegram_webhook import set_webhook_params

        failures = 0
        while not self._stopping.is_set():
            try:
                if self._me is None:
                    self._me = self._call("getMe", {})
                self._call("setWebhook", set_webhook_params(self.config))
            except _Failure as failure:
                failures += 1
                if not self._retry_after(failure, failures, failure.method, "webhook setup"):
                    return
                continue
            self._set_status(True, None)
            log.info("telegram: Telegram sends updates to %s", self.config.webhook_url)
            return

    def _pushed(self, update: dict[str, Any], on_inbound: Callable[[Inbound], None]) -> None:
        """One update POSTed by Telegram (its secret checked): recorded before the 200 goes back."""
        from ember.gateway.channels.push_server import BadRequest

        if isinstance(update.get("update_id"), bool) or not isinstance(update.get("update_id"), int):
            raise BadRequest("not a Telegram update: it has no update_id")
        if self._me is None:  # a group message is read against the bot's name: without it, Telegram sends again
            try:
                self._me = self._call("getMe", {})
            except _Failure as failure:
                raise RuntimeError(f"the bot's name is not known yet ({failure.description})") from None
        with self._order:
            try:
                self._record_update(update, on_inbound)
            except Exception as exc:
                self._set_status(self.status().connected, f"could not record update {update['update_id']}: {exc}")
                raise
        status = self.status()
        if (status.last_error or "").startswith("could not record"):  # recording works again
            self._set_status(status.connected, None)
        self._answer_press(update)

    def _fetch(self, file_id: str, name: str) -> bytes:
        """Download a file: ``getFile`` names its path, the file route serves it (up to 20 MB)."""
        try:
            info = self._call("getFile", {"file_id": file_id})
            url = f"{self._base}/file/bot{self._token}/{str(info['file_path']).lstrip('/')}"
            response = self._send_client().get(url, timeout=max(self.timeout, 60.0))
        except _Failure as failure:
            raise TelegramFileError(f"could not download {name} from Telegram: {failure.description}") from None
        except Exception as exc:
            raise TelegramFileError(f"could not download {name} from Telegram: {self._redact(str(exc))}") from None
        if response.status_code != 200:
            raise TelegramFileError(f"could not download {name} from Telegram: HTTP {response.status_code}")
        return bytes(response.content)

    # --- sending ---------------------------------------------------------------------------------

    def _chat_id(self, chat: str) -> int | str:
        chat = chat.strip()
        return int(chat) if re.fullmatch(r"-?\d+", chat) else chat

    def send(self, item: Outbound) -> str:
        params: dict[str, Any] = {"chat_id": self._chat_id(item.chat)}
        if item.thread and item.thread.isdigit():
            params["message_thread_id"] = int(item.thread)
        if item.buttons:
            row = [{"text": b.label, "callback_data": callback_data(self.state, item.request_id or "", b.value)}
                   for b in item.buttons]
            params["reply_markup"] = {"inline_keyboard": [row]}
        try:
            if item.file:
                return self._send_file(item, params)
            return self._send_text(item.text, params)
        except _Failure as failure:
            raise self._send_error(failure) from None

    def _formatted(self, method: str, params: dict[str, Any], field_name: str, text: str,
                   files: dict[str, Any] | None = None) -> str:
        """Send ``text`` as HTML; as plain text when Telegram cannot parse the HTML."""
        try:
            result = self._call(method, {**params, field_name: to_telegram_html(text), "parse_mode": "HTML"},
                                files=files, timeout=self.timeout if not files else max(self.timeout, 120.0))
        except _Failure as failure:
            if failure.code != 400 or "can't parse entities" not in failure.description:
                raise
            log.warning("telegram: %s refused the formatting (%s); sending plain text", method, failure.description)
            result = self._call(method, {**params, field_name: text}, files=files,
                                timeout=self.timeout if not files else max(self.timeout, 120.0))
        return str(result["message_id"])

    def _send_text(self, text: str, params: dict[str, Any]) -> str:
        try:
            return self._formatted("sendMessage", params, "text", text)
        except _Failure as failure:
            if not failure.migrate_to:
                raise
            # A group that became a supergroup: Telegram names its new id.
            return self._formatted("sendMessage", {**params, "chat_id": failure.migrate_to}, "text", text)

    def _send_file(self, item: Outbound, params: dict[str, Any]) -> str:
        path = Path(item.file or "")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SendError(f"cannot send {path.name}: {exc.strerror or exc}", permanent=True) from None
        if len(data) > MAX_UPLOAD:
            raise SendError(f"{path.name} is {len(data) / 1e6:.0f} MB; Telegram bots can send files up to 50 MB",
                            permanent=True)
        first_id: str | None = None
        text = item.text.strip()
        if len(text) > MAX_CAPTION:  # too long for a caption: the text goes first, on its own
            first_id = self._send_text(text, params)
            params, text = {k: v for k, v in params.items() if k != "reply_markup"}, ""
        method, field_name = "sendDocument", "document"
        if path.suffix.lower() in PHOTO_SUFFIXES and len(data) <= MAX_PHOTO:
            method, field_name = "sendPhoto", "photo"
        files = {field_name: (path.name, data)}
        try:
            if text:
                message_id = self._formatted(method, params, "caption", text, files)
            else:
                message_id = str(self._call(method, params, files=files, timeout=max(self.timeout, 120.0))["message_id"])
        except _Failure as failure:
            if method != "sendPhoto" or failure.code != 400 or "chat not found" in failure.description:
                raise
            # Telegram refuses some images as photos (size, dimensions): send the file as it is.
            files = {"document": (path.name, data)}
            if text:
                message_id = self._formatted("sendDocument", params, "caption", text, files)
            else:
                message_id = str(self._call("sendDocument", params, files=files,
                                            timeout=max(self.timeout, 120.0))["message_id"])
        return first_id or message_id

    def _send_error(self, failure: _Failure) -> SendError:
        description = failure.description
        if failure.code == 0 or failure.code >= 500:
            return SendError(f"Telegram {failure.method}: {description}")
        if failure.code == 429:
            retry = float(failure.retry_after) if failure.retry_after is not None else None
            return SendError(f"Telegram {failure.method}: {description}", retry_after=retry)
        if failure.code == 401:
            self._set_status(self.status().connected, TOKEN_HELP)
            return SendError(TOKEN_HELP, permanent=True)
        if failure.code == 403:
            description += " (the user blocked the bot or it was removed from the chat; it can only answer " \
                           "after they start it again)"
        return SendError(f"Telegram {failure.method}: {description}", permanent=True)

    def typing(self, chat: str, thread: str | None = None) -> None:
        params: dict[str, Any] = {"chat_id": self._chat_id(chat), "action": "typing"}
        if thread and thread.isdigit():
            params["message_thread_id"] = int(thread)
        try:
            self._call("sendChatAction", params, timeout=min(self.timeout, 10.0))
        except Exception as exc:  # best effort: a missing "typing..." must never fail a turn
            log.debug("telegram: sendChatAction failed: %s", self._redact(str(exc)))

    def resolve_chat(self, name: str) -> str:
        value = name.strip()
        if re.fullmatch(r"-?\d+", value) or re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", value):
            return value
        raise ValueError(
            f"Telegram chats are named by their numeric id (123456789 for a person, -100... for a group) "
            f"or a public @channelusername, not {name!r}; docs/gateway-telegram.md shows how to find an id"
        )


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # closed already
        pass



NAME = "telegram"
CHANNEL = TelegramChannel


def configure(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> Any:
    """[gateway.telegram] and its environment variables (see ember.gateway.config)."""
    from ember.gateway.config import telegram_config

    return telegram_config(table, env, settings)
