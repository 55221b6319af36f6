"""A fake Telegram Bot API server for tests and load tests: real HTTP on 127.0.0.1, the Bot API's JSON.

Routes: ``/bot<token>/<method>`` (GET or POST; query string, JSON, form or multipart parameters,
method names case-insensitive as on Telegram) and ``/file/bot<token>/<file_path>``. Every method
answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": "..."}``
with N as the HTTP status, like the Bot API; another token gets ``401 Unauthorized``.

Methods: ``getMe``; ``getUpdates`` (long poll: returns as soon as an update is queued or after
``timeout`` seconds; ``offset`` confirms every earlier update; ``allowed_updates``; ``limit``; a
newer ``getUpdates`` ends a waiting one with 409 "terminated by other getUpdates request"; 409
while a webhook is set); ``sendMessage`` (``parse_mode: "HTML"`` text is parsed as Telegram does:
an unknown or unbalanced tag, a bare ``<`` or ``&`` is 400 "can't parse entities: ..."; more than
4096 characters after parsing is 400 "message is too long"); ``sendPhoto`` / ``sendDocument``
(multipart; captions up to 1024); ``sendChatAction``; ``answerCallbackQuery``; ``getFile`` and
the download route; ``setWebhook`` (an https URL, a ``secret_token`` of Telegram's characters;
recorded in ``fake.webhooks``), ``getWebhookInfo`` and ``deleteWebhook``.

Webhook mode, as Telegram does it: once a webhook is set and ``fake.push_to`` names where the
reverse proxy in front of it listens (``http://127.0.0.1:PORT/telegram``), queued updates are
POSTed there one at a time, in order, with the secret in ``X-Telegram-Bot-Api-Secret-Token``; an
update is forgotten on a 2xx answer, else sent again after ``fake.retry_delay`` seconds. Every
try is in ``fake.pushes`` as ``(update_id, HTTP status or 0)``. ``fake.take(update_id)`` takes
an update off the queue, to POST it by hand.

Use it as a context manager::

    from tests.fakes.telegram_server import FakeTelegram

    with FakeTelegram() as fake:              # fake.token, fake.api_base ("http://127.0.0.1:PORT")
        config = TelegramConfig(token=fake.token, api_base=fake.api_base)
        fake.user_says(42, 42, "hello")       # a private chat (chat == user); returns the update_id
        fake.user_says(-1001, 42, "@ember_test_bot hi")          # a supergroup, mentioning the bot
        fake.user_says(-1001, 42, "yes", reply_to=sent.message_id)   # a reply to the bot's message
        fake.send_photo(42, 42, b"...jpeg...", caption="look")   # also send_document, send_voice
        fake.press(42, 42, label="Allow once")    # presses a button of the bot's last keyboard there
        fake.press(42, 42, data="req-1:once")     # or any callback_data
        sent = fake.wait_sent(1)[0]           # SentMessage: .method .chat_id .text .parse_mode
        sent.visible, sent.buttons, sent.file, sent.file_name, sent.message_id
        fake.sent, fake.actions, fake.answered, fake.calls       # everything the bot did
        fake.wait_confirmed(update_id)        # until a getUpdates offset confirmed that update
        fake.wait_polling()                   # until a getUpdates is waiting
        fake.wait_webhook()                   # until setWebhook was called; its parameters

Faults, for the next ``times`` calls of a method (``"*"``: any method)::

    fake.fail("sendMessage", 502)                    # 5xx: {"ok":false,"error_code":502,...}
    fake.fail("sendMessage", 429, retry_after=3)     # "Too Many Requests: retry after 3"
    fake.fail("sendMessage", 403)                    # "Forbidden: bot was blocked by the user"
    fake.fail("sendMessage", 400)                    # "Bad Request: chat not found"
    fake.fail("sendMessage", 400, "Bad Request: can't parse entities: ...")
    fake.fail("getUpdates", "hang", times=2)         # no answer until the client gives up
    fake.fail("sendPhoto", "drop")                   # the connection closes without an answer

Thread-safe and quick enough for thousands of messages. From a shell, for subprocess tests::

    python -m tests.fakes.telegram_server --port 8902     # prints api_base and token

and drive it over HTTP: ``POST /_fake/user_says`` ``{"chat": 42, "user": 42, "text": "hi"}``
(also ``press``), ``GET /_fake/sent``. The HTTP side and Telegram's HTML parser are in
``tests.fakes.telegram_wire``.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.telegram_wire import (
    DEFAULT_ERRORS,
    Answer,
    Call,
    EntityError,
    Fault,
    Handler,
    Server,
    decoded,
    entities,
    parse_html,
    push_updates,
)

__all__ = ["Call", "EntityError", "FakeTelegram", "SentMessage", "parse_html"]

TOKEN = "123456789:AAFakeTokenForEmberTests_0123456789x"
MAX_TEXT, MAX_CAPTION, MAX_DOWNLOAD = 4096, 1024, 20 * 1024 * 1024
ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
           "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}


# --- what the fake records ---------------------------------------------------------------------

@dataclass
class SentMessage:
    """One message the bot sent: ``text`` is the text or caption as sent, ``visible`` as shown."""

    method: str
    chat_id: str
    message_id: int
    text: str
    parse_mode: str | None = None
    visible: str = ""
    reply_markup: dict[str, Any] | None = None
    thread: int | None = None
    file_name: str | None = None
    mime: str | None = None
    file: bytes | None = field(default=None, repr=False)

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """``(label, callback_data)`` of every inline button."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]


# --- the server --------------------------------------------------------------------------------

class FakeTelegram:
    """Fake Telegram Bot API on 127.0.0.1; see the module docstring."""

    def __init__(self, token: str = TOKEN, *, username: str = "ember_test_bot", port: int = 0) -> None:
        self.token = token
        self.me = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "Ember", "username": username,
                   "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.sent: list[SentMessage] = []
        self.calls: list[Call] = []
        self.actions: list[tuple[str, str]] = []
        self.answered: list[dict[str, Any]] = []
        self.downloads: list[str] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_allowed: list[str] = []
        self.webhooks: list[dict[str, Any]] = []  # every setWebhook's parameters
        self.push_to = ""  # where updates are POSTed while a webhook is set (the reverse proxy's address)
        self.retry_delay = 0.2
        self.pushes: list[tuple[int, int]] = []  # (update_id, HTTP status, 0 without an answer) per try
        self.confirmed = 0  # every update_id below this was confirmed by an offset
        self.stopped = threading.Event()
        self._cond = threading.Condition()
        self._updates: deque[dict[str, Any]] = deque()
        self._messages: dict[int, dict[str, Any]] = {}  # message_id -> Message, both directions
        self._faults: dict[str, deque[Fault]] = {}
        self._queries: dict[str, bool] = {}  # callback query id -> answered
        self._next_update = 700_000_000
        self._next_message = 1
        self._next_file = 1
        self._poll_generation = 0
        self.waiting = 0  # getUpdates calls waiting now
        self._port = port
        self._server: Server | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        self._server = Server(("127.0.0.1", self._port), Handler)
        self._server.fake = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        threading.Thread(target=push_updates, args=(self,), name="fake-telegram-push", daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        with self._cond:
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_base(self) -> str:
        assert self._server is not None, "start the fake first (use it as a context manager)"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- what users do -------------------------------------------------------------------------

    def user_says(self, chat: int, user: int, text: str = "", *, name: str = "Ada", username: str | None = "ada",
                  reply_to: int | None = None, thread: int | None = None, **extra: Any) -> int:
        """Queue a message from ``user`` in ``chat`` (``chat == user``: private; ``-100...``: a
        supergroup; other negative ids: a group); ``extra`` goes into the Message (photo, caption...)."""
        sender = {"id": user, "is_bot": False, "first_name": name, "language_code": "en"}
        if username:
            sender["username"] = username
        if chat == user or chat > 0:
            chat_obj: dict[str, Any] = {"id": chat, "type": "private", "first_name": name}
        else:
            chat_obj = {"id": chat, "type": "supergroup" if str(chat).startswith("-100") else "group",
                        "title": "Test group"}
        with self._cond:
            message: dict[str, Any] = {"message_id": self._new_message_id(), "from": sender, "chat": chat_obj,
                                       "date": int(time.time())}
            if text:
                message["text"] = text
                if found := entities(text):
                    message["entities"] = found
            if reply_to is not None and reply_to in self._messages:
                message["reply_to_message"] = self._messages[reply_to]
            if thread is not None:
                message["message_thread_id"], message["is_topic_message"] = thread, True
            message.update(extra)
            if "caption" in message and (found := entities(message["caption"])):
                message["caption_entities"] = found
            self._messages[message["message_id"]] = message
            return self._queue({"message": message})

    def send_photo(self, chat: int, user: int, data: bytes, caption: str = "", **kw: Any) -> int:
        """A photo in three sizes (smallest first, as Telegram lists them); ``data`` is the largest."""
        sizes = []
        for side, content in ((90, data[:64]), (320, data[: len(data) // 2 or 1]), (1280, data)):
            file_id, unique = self.add_file(content, "photos", ".jpg")
            sizes.append({"file_id": file_id, "file_unique_id": unique, "file_size": len(content),
                          "width": side, "height": side * 3 // 4})
        return self.user_says(chat, user, photo=sizes, **({"caption": caption} if caption else {}), **kw)

    def send_document(self, chat: int, user: int, data: bytes, file_name: str = "notes.txt",
                      mime_type: str = "text/plain", caption: str = "", **kw: Any) -> int:
        file_id, unique = self.add_file(data, "documents", "." + file_name.rsplit(".", 1)[-1])
        document = {"file_id": file_id, "file_unique_id": unique, "file_name": file_name, "mime_type": mime_type,
                    "file_size": len(data)}
        return self.user_says(chat, user, document=document, **({"caption": caption} if caption else {}), **kw)

    def send_voice(self, chat: int, user: int, data: bytes, duration: int = 3, **kw: Any) -> int:
        file_id, unique = self.add_file(data, "voice", ".oga")
        voice = {"file_id": file_id, "file_unique_id": unique, "duration": duration, "mime_type": "audio/ogg",
                 "file_size": len(data)}
        return self.user_says(chat, user, voice=voice, **kw)

    def press(self, chat: int, user: int, data: str | None = None, *, label: str | None = None,
              name: str = "Ada") -> int:
        """A button press: ``data`` as callback_data, or the button called ``label`` on the bot's
        latest message in ``chat`` that has one. Returns the update_id."""
        with self._cond:
            message: dict[str, Any] | None = None
            if label is not None:
                for sent in reversed(self.sent):
                    match = [d for text, d in sent.buttons if text == label]
                    if sent.chat_id == str(chat) and match:
                        data, message = match[0], self._messages.get(sent.message_id)
                        break
                else:
                    raise AssertionError(f"no button {label!r} in chat {chat}; sent: {self.sent!r}")
            query_id = str(8_000_000_000 + self._next_update)
            self._queries[query_id] = False
            query = {"id": query_id, "from": {"id": user, "is_bot": False, "first_name": name},
                     "chat_instance": f"ci{chat}", "data": data}
            query["message"] = message or {"message_id": 0, "chat": {"id": chat, "type": "private"},
                                           "date": int(time.time())}
            return self._queue({"callback_query": query})

    def push(self, update: dict[str, Any]) -> int:
        """Queue a raw update (``update_id`` is added)."""
        with self._cond:
            return self._queue(dict(update))

    def take(self, update_id: int) -> dict[str, Any]:
        """Take a queued update off the queue, to POST it by hand as Telegram would."""
        with self._cond:
            for update in self._updates:
                if update["update_id"] == update_id:
                    self._updates.remove(update)
                    return update
        raise AssertionError(f"no update {update_id} queued")

    def next_push(self) -> tuple[str, str, dict[str, Any]] | None:
        """(address, secret, update) to POST next in webhook mode; None when there is none."""
        with self._cond:
            while self._updates and self.webhook_allowed and not any(k in self._updates[0]
                                                                     for k in self.webhook_allowed):
                self._updates.popleft()  # not asked for: Telegram never sends it
            if not (self.push_to and self.webhook_url and self._updates):
                return None
            return self.push_to, self.webhook_secret, self._updates[0]

    def pushed(self, update: dict[str, Any], status: int) -> None:
        """A webhook POST of ``update`` was answered ``status`` (0: no answer): a 2xx confirms it."""
        with self._cond:
            self.pushes.append((update["update_id"], status))
            if 200 <= status < 300 and self._updates and self._updates[0] is update:
                self._updates.popleft()
                self.confirmed = max(self.confirmed, update["update_id"] + 1)
            self._cond.notify_all()

    def add_file(self, data: bytes, folder: str = "documents", suffix: str = "") -> tuple[str, str]:
        """Store a file; its ``(file_id, file_unique_id)``."""
        with self._cond:
            number = self._next_file
            self._next_file += 1
        file_id = f"BQACAgIAAxkBAAI{number:08d}"
        self.files[file_id] = (f"{folder}/file_{number}{suffix}", data)
        return file_id, f"AQAD{number:06d}"

    def fail(self, method: str, what: int | str, description: str | None = None, *,
             retry_after: int | None = None, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` fail: an HTTP error code, ``"hang"`` or ``"drop"``."""
        if what == 429 and description is None:
            description = f"Too Many Requests: retry after {retry_after or 1}"
        fault = Fault(what, description or DEFAULT_ERRORS.get(what, "Error") if isinstance(what, int) else "",
                       retry_after or (1 if what == 429 else None))
        with self._cond:
            self._faults.setdefault(method.lower(), deque()).extend([fault] * times)

    # --- waiting for the bot -------------------------------------------------------------------

    def wait_sent(self, count: int, timeout: float = 5.0) -> list[SentMessage]:
        """The first ``count`` messages the bot sent, once it has sent them (AssertionError after ``timeout``)."""
        self._wait(lambda: len(self.sent) >= count, timeout, f"{count} sent messages; got {len(self.sent)}")
        return self.sent[:count]

    def wait_confirmed(self, update_id: int, timeout: float = 5.0) -> None:
        self._wait(lambda: self.confirmed > update_id, timeout, f"update {update_id} confirmed")

    def wait_polling(self, timeout: float = 5.0) -> None:
        self._wait(lambda: self.waiting > 0, timeout, "a waiting getUpdates")

    def wait_webhook(self, timeout: float = 5.0) -> dict[str, Any]:
        """The last setWebhook's parameters, once the bot has called it."""
        self._wait(lambda: bool(self.webhooks), timeout, "a setWebhook")
        return self.webhooks[-1]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in list(self.calls) if c.method.lower() == method.lower()]

    def _wait(self, ready: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake Telegram: timed out waiting for {what}")
                self._cond.wait(min(left, 0.05))

    # --- internals (called with self._cond held unless said) -----------------------------------

    def _queue(self, update: dict[str, Any]) -> int:
        update["update_id"] = self._next_update
        self._next_update += 1
        self._updates.append(update)
        self._cond.notify_all()
        return update["update_id"]

    def _new_message_id(self) -> int:
        self._next_message += 1
        return self._next_message

    def record_call(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)

    def take_fault(self, method: str) -> Fault | None:
        with self._cond:
            for key in (method.lower(), "*"):
                if self._faults.get(key):
                    return self._faults[key].popleft()
        return None

    def call(self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes, str]]) -> Any:
        """Answer one Bot API method (without the lock); raises ``Answer`` for an error."""
        handler = getattr(self, "_m_" + method.lower(), None)
        if handler is None:
            raise Answer(404, "Not Found")
        return handler(params, files)

    def _m_getme(self, params: dict[str, Any], files: Any) -> Any:
        return self.me

    def _m_setwebhook(self, params: dict[str, Any], files: Any) -> Any:
        url = str(params.get("url") or "")
        secret = str(params.get("secret_token") or "")
        if url and not url.startswith("https://"):
            raise Answer(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise Answer(400, "Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        with self._cond:
            self.webhooks.append(dict(params))
            self.webhook_url, self.webhook_secret = url, secret
            self.webhook_allowed = list(allowed) if isinstance(allowed, list) else []
            if str(params.get("drop_pending_updates")).lower() == "true":
                self._updates.clear()
            self._poll_generation += 1  # a waiting getUpdates ends with 409, as on Telegram
            self._cond.notify_all()
        return True

    def _m_getwebhookinfo(self, params: dict[str, Any], files: Any) -> Any:
        with self._cond:
            return {"url": self.webhook_url, "has_custom_certificate": False,
                    "pending_update_count": len(self._updates), "allowed_updates": self.webhook_allowed}

    def _m_deletewebhook(self, params: dict[str, Any], files: Any) -> Any:
        with self._cond:
            self.webhook_url, self.webhook_secret = "", ""
            if str(params.get("drop_pending_updates")).lower() == "true":
                self._updates.clear()
        return True

    def _m_getupdates(self, params: dict[str, Any], files: Any) -> Any:
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        deadline = time.monotonic() + timeout
        with self._cond:
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            if self.webhook_url:
                raise Answer(409, "Conflict: can't use getUpdates method while webhook is active; "
                                   "use deleteWebhook to delete the webhook first")
            if offset < 0:
                while len(self._updates) > -offset:
                    self._updates.popleft()
            elif offset:
                while self._updates and self._updates[0]["update_id"] < offset:
                    self._updates.popleft()
                self.confirmed = max(self.confirmed, offset)
            if allowed:
                self._updates = deque(u for u in self._updates if any(k in u for k in allowed))
            self.waiting += 1
            try:
                while not self._updates and not self.stopped.is_set():
                    if generation != self._poll_generation:
                        raise Answer(409)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            finally:
                self.waiting -= 1
            if generation != self._poll_generation and not self._updates:
                raise Answer(409)
            return list(self._updates)[:limit]

    def _chat(self, params: dict[str, Any]) -> str:
        chat = str(params.get("chat_id", "")).strip()
        if not re.fullmatch(r"-?\d+|@\w{5,32}", chat):
            raise Answer(400, "Bad Request: chat not found")
        return chat

    def _visible(self, text: str, mode: str | None, limit: int, too_long: str) -> str:
        try:
            visible = parse_html(text) if (mode or "").lower() == "html" else text
        except EntityError as exc:
            raise Answer(400, f"Bad Request: can't parse entities: {exc}") from None
        if len(visible) > limit:  # characters after parsing, as Telegram counts (TDLib's utf8_length)
            raise Answer(400, too_long)
        return visible

    def _record(self, method: str, params: dict[str, Any], text: str, visible: str, **more: Any) -> Any:
        chat = self._chat(params)
        markup = decoded(params.get("reply_markup"))
        thread = int(params["message_thread_id"]) if params.get("message_thread_id") else None
        with self._cond:
            sent = SentMessage(method, chat, self._new_message_id(), text, params.get("parse_mode"), visible,
                               markup if isinstance(markup, dict) else None, thread, **more)
            bot = {k: self.me[k] for k in ("id", "is_bot", "first_name", "username")}
            message: dict[str, Any] = {"message_id": sent.message_id, "from": bot, "date": int(time.time()),
                                       "chat": {"id": int(chat) if chat.lstrip("-").isdigit() else chat,
                                                "type": "private" if not chat.startswith("-") else "supergroup"}}
            if method == "sendMessage":
                message["text"] = visible
            elif visible:
                message["caption"] = visible
            if sent.reply_markup:
                message["reply_markup"] = sent.reply_markup
            self._messages[sent.message_id] = message
            self.sent.append(sent)
            self._cond.notify_all()
        return message

    def _m_sendmessage(self, params: dict[str, Any], files: Any) -> Any:
        text = str(params.get("text") or "")
        if not text.strip():
            raise Answer(400, "Bad Request: message text is empty")
        self._chat(params)
        visible = self._visible(text, params.get("parse_mode"), MAX_TEXT, "Bad Request: message is too long")
        return self._record("sendMessage", params, text, visible)

    def _send_file(self, method: str, field_name: str, params: dict[str, Any],
                   files: dict[str, tuple[str, bytes, str]]) -> Any:
        self._chat(params)
        caption = str(params.get("caption") or "")
        visible = self._visible(caption, params.get("parse_mode"), MAX_CAPTION,
                                "Bad Request: message caption is too long")
        if field_name not in files:
            raise Answer(400, f"Bad Request: there is no {field_name} in the request")
        name, data, mime = files[field_name]
        if not data:
            raise Answer(400, "Bad Request: file must be non-empty")
        message = self._record(method, params, caption, visible, file_name=name, mime=mime, file=data)
        file_id, unique = self.add_file(data, field_name + "s", "")
        entry = {"file_id": file_id, "file_unique_id": unique, "file_size": len(data)}
        message[field_name] = [entry] if field_name == "photo" else {**entry, "file_name": name, "mime_type": mime}
        return message

    def _m_sendphoto(self, params: dict[str, Any], files: dict[str, tuple[str, bytes, str]]) -> Any:
        return self._send_file("sendPhoto", "photo", params, files)

    def _m_senddocument(self, params: dict[str, Any], files: dict[str, tuple[str, bytes, str]]) -> Any:
        return self._send_file("sendDocument", "document", params, files)

    def _m_sendchataction(self, params: dict[str, Any], files: Any) -> Any:
        chat = self._chat(params)
        action = str(params.get("action") or "")
        if action not in ACTIONS:
            raise Answer(400, "Bad Request: wrong parameter action in request")
        with self._cond:
            self.actions.append((chat, action))
        return True

    def _m_answercallbackquery(self, params: dict[str, Any], files: Any) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        with self._cond:
            if self._queries.get(query_id, True):
                raise Answer(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
            self._queries[query_id] = True
            self.answered.append(dict(params))
        return True

    def _m_getfile(self, params: dict[str, Any], files: Any) -> Any:
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            raise Answer(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        if len(data) > MAX_DOWNLOAD:
            raise Answer(400, "Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": "AQAD" + file_id[-6:], "file_size": len(data),
                "file_path": path}

    def download(self, path: str) -> bytes | None:
        for stored_path, data in list(self.files.values()):
            if stored_path == path:
                with self._cond:
                    self.downloads.append(path)
                return data
        return None


def main(argv: list[str] | None = None) -> None:
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="A fake Telegram Bot API server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=TOKEN)
    args = parser.parse_args(argv)
    fake = FakeTelegram(args.token, port=args.port)
    signal.signal(signal.SIGTERM, lambda *_: fake.stopped.set())
    with fake:
        print(fake.api_base, fake.token, flush=True)
        try:
            fake.stopped.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
