"""A fake Discord for tests and load runs: the REST API over real HTTP, the Gateway over a real websocket.

REST at ``fake.api_base`` (``http://127.0.0.1:PORT/api/v10``), answering in Discord's shapes
(a message object; errors as ``{"message": "Missing Access", "code": 50001}`` with the HTTP status
Discord uses), ``Authorization: Bot <token>`` checked (401 ``{"message": "401: Unauthorized",
"code": 0}`` otherwise): ``GET /gateway/bot``, ``GET /users/@me``, ``POST /users/@me/channels``
(a DM channel), ``POST /channels/{id}/messages`` (JSON, or multipart ``payload_json`` +
``files[n]``; 404 10003 for a channel it never saw, 403 50001 for one the bot cannot see, 403
50007 for a DM with someone who does not take DMs, 400 50035 for content over 2,000 characters or
bad components, 400 50006 for an empty message, 413 40005 for a file over 10 MiB),
``POST /channels/{id}/typing`` and ``POST /interactions/{id}/{token}/callback`` (no bot token;
404 10062 for an unknown interaction, 400 40060 when already answered). Attachments are served
at ``fake.url + "/cdn/..."`` without a token, as Discord's CDN serves its signed URLs.

The Gateway: a ``websockets`` server. It says HELLO (``heartbeat_interval``), answers every
heartbeat with an ACK, takes IDENTIFY (the token checked: close 4004; the Message Content intent
refused with close 4014 when ``message_content=False``) with READY (``session_id``,
``resume_gateway_url``, the bot user) and RESUME (every event after the given sequence is sent
again, then RESUMED; an unknown or expired session gets INVALID_SESSION). Events pushed while no
connection is open wait in the session, as Discord keeps them for a resume; events pushed before
anyone ever identified go to the first session.

Use it as a context manager::

    from tests.fakes.discord_server import FakeDiscord

    with FakeDiscord() as fake:             # fake.api_base, fake.token, fake.bot_id, fake.guild
        channel = fake.add_channel("general")                   # a server channel's id
        thread = fake.add_thread(channel)                       # a thread under it (THREAD_CREATE)
        m = fake.dm(USER, "hello")                              # a DM (MESSAGE_CREATE); the message
        fake.mention(channel, USER, "status?")                  # "<@bot> status?" in a channel
        fake.user_says(channel, USER, "chatter")                # not addressed to the bot
        fake.reply(fake.posted[-1], USER, "and then?")          # a Discord reply to the bot's message
        fake.dm(USER, "see", attachments=[fake.add_attachment("a.txt", b"hi")])
        fake.click(fake.posted[-1], USER, "once")               # press a button (INTERACTION_CREATE)
        fake.wait_posted(1); fake.posted[0]["content"], ["message_reference"], ["components"]
        fake.uploads[0]["data"]; fake.callbacks; fake.typing; fake.calls
        fake.wait_ready(); fake.identifies; fake.resumes; fake.heartbeats; fake.connections
        fake.reconnect(); fake.invalidate(resumable=False); fake.close_socket(4009)
        fake.drop_socket(); fake.ack_heartbeats = False; fake.expire_sessions()
        fake.fail("create_message", status=503)                 # faults for the next N calls
        fake.fail("create_message", status=429, retry_after=1.5)        # retry_after in the JSON body
        fake.fail("create_message", status=429, retry_after=2, header_only=True)  # Retry-After only
        fake.fail("create_message", status=403, code=50001)     # any Discord error
        fake.fail("create_message", hang=5.0); fake.fail("open_dm", drop=True)

Routes for faults: ``gateway_bot``, ``me``, ``open_dm``, ``create_message``, ``typing``,
``callback``, ``cdn``. Ids are snowflakes (numbers as strings).
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.telegram_wire import multipart

__all__ = ["Call", "FakeDiscord", "Fault"]

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GfAkEt.ThisIsAFakeDiscordBotTokenForTests00"
MESSAGE_CONTENT = 1 << 15
MAX_CONTENT, MAX_FILE = 2000, 10 * 1024 * 1024
ERRORS = {10003: "Unknown Channel", 10008: "Unknown Message", 10062: "Unknown interaction",
          40005: "Request entity too large", 40060: "Interaction has already been acknowledged.",
          50001: "Missing Access", 50006: "Cannot send an empty message",
          50007: "Cannot send messages to this user", 50013: "Missing Permissions", 50035: "Invalid Form Body"}


@dataclass
class Fault:
    status: int | None = None  # an HTTP status (5xx, 429, 403...)
    code: int | None = None  # Discord's JSON error code
    retry_after: float | None = None
    header_only: bool = False  # a 429 with a Retry-After header and no JSON body (Cloudflare's)
    hang: float | None = None  # seconds without an answer, then the connection is closed
    drop: bool = False  # close the connection without an answer


@dataclass
class Call:
    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(repr=False)


@dataclass
class _Session:
    id: str
    log: list[dict[str, Any]] = field(default_factory=list)  # dispatches, in sequence order
    seq: int = 0
    resumable: bool = True
    conn: Any = None  # the live connection, or None


class FakeDiscord:
    """Fake Discord REST API and Gateway on 127.0.0.1."""

    def __init__(self, *, token: str = TOKEN, bot_id: str = "1100000000000000001", heartbeat_interval: float = 1.0,
                 message_content: bool = True) -> None:
        self.token, self.bot_id = token, bot_id
        self.heartbeat_interval = heartbeat_interval  # seconds (HELLO says milliseconds)
        self.message_content = message_content  # False: the intent is not enabled in the portal
        self.ack_heartbeats = True
        self.bot = {"id": bot_id, "username": "Ember", "global_name": None, "bot": True, "discriminator": "0"}
        self.guild = "1200000000000000001"
        self.posted: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        self.calls: list[Call] = []
        self.callbacks: list[dict[str, Any]] = []
        self.typing: list[str] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[tuple[str, int | None]] = []
        self.heartbeats: list[int | None] = []
        self.paths: list[str] = []  # the websocket request paths
        self.connections = 0
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.stopped = threading.Event()
        self.channels: dict[str, dict[str, Any]] = {}  # id -> {"id", "type", "guild_id", "access", "user"}
        self.users: dict[str, str] = {}  # id -> name
        self.closed_dms: set[str] = set()  # users who take no DMs from the bot
        self.messages: dict[str, dict[str, Any]] = {}  # every message, both ways
        self.nonce_repeats = 0  # sends answered with an earlier message of the same nonce
        self._ids = itertools.count(1)
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._sessions: dict[str, _Session] = {}
        self._current: _Session | None = None
        self._pending: list[tuple[str, dict[str, Any]]] = []  # before anyone identified
        self._interactions: dict[str, dict[str, Any]] = {}  # id -> {"token", "answered"}
        self._files: dict[str, tuple[str, bytes, str]] = {}  # attachment id -> (name, data, mime)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeDiscord:
        from websockets.sync.server import serve

        self._http = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._http.fake = self  # type: ignore[attr-defined]
        quiet = logging.getLogger("fake_discord.websocket")
        quiet.setLevel(logging.INFO)  # its DEBUG lines would show the frames, IDENTIFY's token too
        self._ws = serve(self._socket_session, "127.0.0.1", 0, compression=None, ping_interval=None, logger=quiet)
        for target in (lambda: self._http.serve_forever(poll_interval=0.05), self._ws.serve_forever):
            threading.Thread(target=target, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        with self.changed:
            self.changed.notify_all()
        self._http.shutdown()
        self._http.server_close()
        self._ws.shutdown()

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def api_base(self) -> str:
        return self.url + "/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}"

    # --- the server and its people ----------------------------------------------------------------

    def snowflake(self) -> str:
        return str(1_300_000_000_000_000_000 + next(self._ids))

    def add_channel(self, name: str = "general", *, access: bool = True, id: str | None = None) -> str:  # noqa: A002
        """A text channel in the fake server (``access=False``: the bot cannot see it)."""
        channel = id or self.snowflake()
        with self.lock:
            self.channels[channel] = {"id": channel, "type": 0, "guild_id": self.guild, "name": name, "access": access}
        return channel

    def add_thread(self, parent: str, name: str = "a thread", *, announce: bool = True) -> str:
        """A public thread under ``parent`` (a THREAD_CREATE goes out unless ``announce=False``)."""
        thread = self.snowflake()
        info = {"id": thread, "type": 11, "guild_id": self.guild, "parent_id": parent, "name": name, "access": True}
        with self.lock:
            self.channels[thread] = info
        if announce:
            self.push("THREAD_CREATE", {k: v for k, v in info.items() if k != "access"} | {"newly_created": True})
        return thread

    def dm_channel(self, user: str) -> str:
        """The bot's DM channel with ``user`` (made on first use, as Discord does)."""
        with self.lock:
            for channel in self.channels.values():
                if channel.get("user") == user:
                    return str(channel["id"])
            channel_id = self.snowflake()
            self.channels[channel_id] = {"id": channel_id, "type": 1, "user": user, "access": True}
            self.users.setdefault(user, f"user{user[-4:]}")
            return channel_id

    def add_attachment(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> dict[str, Any]:
        """An attachment as a message carries it, its ``url`` on the fake CDN (no token needed)."""
        attachment = self.snowflake()
        with self.lock:
            self._files[attachment] = (name, data, content_type)
        url = f"{self.url}/cdn/attachments/{attachment}/{name}?ex=65f0&is=65e0&hm=fake"
        return {"id": attachment, "filename": name, "size": len(data), "url": url, "proxy_url": url,
                "content_type": content_type}

    def _user(self, user: str) -> dict[str, Any]:
        with self.lock:
            name = self.users.setdefault(user, f"user{user[-4:]}")
        return {"id": user, "username": name, "global_name": name.title(), "discriminator": "0"}

    # --- events in ------------------------------------------------------------------------------

    def dm(self, user: str, text: str, *, mentions: list[str] | None = None,
           attachments: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        """A direct message from ``user`` to the bot."""
        return self._message(self.dm_channel(user), user, text, mentions=mentions, attachments=attachments, **extra)

    def user_says(self, channel: str, user: str, text: str, *, mentions: list[str] | None = None,
                  attachments: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        """A message in a server channel (or thread); ``mentions``: user ids it pings."""
        return self._message(channel, user, text, mentions=mentions, attachments=attachments, **extra)

    def mention(self, channel: str, user: str, text: str, **extra: Any) -> dict[str, Any]:
        """``<@bot> text`` in a server channel."""
        return self.user_says(channel, user, f"<@{self.bot_id}> {text}", mentions=[self.bot_id], **extra)

    def reply(self, message: dict[str, Any], user: str, text: str, *, ping: bool = True) -> dict[str, Any]:
        """A Discord reply to ``message`` (the bot's, from ``posted``); a pinging reply mentions its author."""
        author = str((message.get("author") or {}).get("id"))
        return self._message(str(message["channel_id"]), user, text, mentions=[author] if ping else [],
                             type=19, message_reference={"message_id": message["id"],
                                                         "channel_id": message["channel_id"]},
                             referenced_message=message)

    def _message(self, channel: str, user: str, text: str, *, mentions: list[str] | None = None,
                 attachments: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        with self.lock:
            info = self.channels.setdefault(channel, {"id": channel, "type": 0, "guild_id": self.guild,
                                                      "name": "channel", "access": True})
        message: dict[str, Any] = {
            "id": self.snowflake(), "channel_id": channel, "author": self._user(user), "content": text,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [self.bot if m == self.bot_id else self._user(m)
                                                                  for m in mentions or []],
            "mention_roles": [], "attachments": attachments or [], "embeds": [], "pinned": False, "type": 0,
        }
        if info.get("guild_id"):
            message["guild_id"] = info["guild_id"]
            message["member"] = {"roles": [], "joined_at": message["timestamp"]}
        if info.get("type") in (10, 11, 12):
            message["position"] = len([m for m in self.messages.values() if m["channel_id"] == channel])
        message.update(extra)
        with self.lock:
            self.messages[message["id"]] = message
        self.push("MESSAGE_CREATE", message)
        return message

    def click(self, message: dict[str, Any], user: str, choice: str) -> dict[str, Any]:
        """Press the button of a posted message whose ``custom_id`` ends in ``:choice`` (or whose label is it)."""
        for row in message.get("components") or []:
            for button in row.get("components") or []:
                if str(button.get("custom_id", "")).endswith(f":{choice}") or button.get("label") == choice:
                    return self.interact(message, user, str(button["custom_id"]))
        raise AssertionError(f"no button {choice!r} in {message.get('components')}")

    def interact(self, message: dict[str, Any], user: str, custom_id: str) -> dict[str, Any]:
        """An INTERACTION_CREATE for a button with ``custom_id`` on ``message``."""
        interaction_id, token = self.snowflake(), "aW50ZXJhY3Rpb24" + uuid.uuid4().hex
        channel = str(message["channel_id"])
        with self.lock:
            self._interactions[interaction_id] = {"token": token, "answered": False}
            info = self.channels.get(channel, {})
        interaction: dict[str, Any] = {
            "id": interaction_id, "application_id": self.bot_id, "type": 3, "token": token, "version": 1,
            "data": {"custom_id": custom_id, "component_type": 2}, "channel_id": channel,
            "channel": {"id": channel, "type": info.get("type", 0)}, "message": message, "locale": "en-US",
        }
        if info.get("guild_id"):
            interaction["guild_id"] = info["guild_id"]
            interaction["member"] = {"user": self._user(user), "roles": []}
        else:
            interaction["user"] = self._user(user)
        self.push("INTERACTION_CREATE", interaction)
        return interaction

    def push(self, kind: str, data: dict[str, Any]) -> None:
        """Any dispatch to the current session (kept for its resume when no connection is open)."""
        with self.changed:
            if self._current is None:
                self._pending.append((kind, data))
            else:
                self._append(self._current, kind, data)
            self.changed.notify_all()

    def _append(self, session: _Session, kind: str, data: dict[str, Any]) -> None:
        session.seq += 1
        session.log.append({"op": 0, "t": kind, "s": session.seq, "d": data})

    # --- what happened --------------------------------------------------------------------------

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake discord: timed out after {timeout} s waiting for {what}")
                self.changed.wait(min(left, 0.05))

    def wait_posted(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        self.wait_for(lambda: len(self.posted) >= count, timeout, f"{count} posted message(s)")
        return list(self.posted)

    def wait_ready(self, count: int = 1, timeout: float = 5.0) -> None:
        """Until ``count`` sessions were identified or resumed, and a connection is live."""
        self.wait_for(lambda: len(self.identifies) + len(self.resumes) >= count and self._live() is not None,
                      timeout, f"session #{count}")

    def wait_delivered(self, timeout: float = 5.0) -> None:
        """Until the live connection was sent every event of the current session."""
        self.wait_for(lambda: self._current is not None and self._current.conn is not None
                      and getattr(self._current.conn, "sent_seq", -1) >= self._current.seq, timeout,
                      "every event sent")

    @property
    def session_id(self) -> str | None:
        with self.lock:
            return self._current.id if self._current else None

    @property
    def seq(self) -> int:
        with self.lock:
            return self._current.seq if self._current else 0

    def _live(self) -> Any:
        with self.lock:
            return self._current.conn if self._current else None

    # --- faults ---------------------------------------------------------------------------------

    def fail(self, route: str, times: int = 1, *, status: int | None = None, code: int | None = None,
             retry_after: float | None = None, header_only: bool = False, hang: float | None = None,
             drop: bool = False) -> None:
        """The next ``times`` calls of ``route`` fail this way."""
        with self.lock:
            self._faults[route].extend(Fault(status, code, retry_after, header_only, hang, drop) for _ in range(times))

    def take_fault(self, route: str) -> Fault | None:
        with self.lock:
            queue = self._faults.get(route)
            return queue.popleft() if queue else None

    def _send_live(self, payload: dict[str, Any]) -> None:
        conn = self._live()
        if conn is not None:
            try:
                conn.send(json.dumps(payload))
            except Exception:
                pass

    def reconnect(self) -> None:
        """RECONNECT (op 7): the client should resume on a new connection."""
        self._send_live({"op": 7, "d": None})

    def invalidate(self, resumable: bool = False) -> None:
        """INVALID_SESSION (op 9) on the live connection; ``resumable=False`` ends the session."""
        with self.lock:
            if self._current is not None and not resumable:
                self._current.resumable = False
        self._send_live({"op": 9, "d": resumable})

    def request_heartbeat(self) -> None:
        self._send_live({"op": 1, "d": None})

    def close_socket(self, code: int = 4000, reason: str = "") -> None:
        """Close the live connection with ``code`` (4009: session timed out; 4004: bad token...)."""
        conn = self._live()
        if conn is not None:
            if code in (4007, 4009):
                with self.lock:
                    if self._current is not None:
                        self._current.resumable = False
            conn.close(code, reason)

    def drop_socket(self) -> None:
        """Cut the live connection at the TCP level: no close frame, as when a network drops."""
        conn = self._live()
        if conn is not None:
            try:
                conn.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def expire_sessions(self) -> None:
        """Every session past resuming (as after a long outage): a RESUME gets op 9, false."""
        with self.lock:
            for session in self._sessions.values():
                session.resumable = False

    # --- the Gateway ----------------------------------------------------------------------------

    def _socket_session(self, conn: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        query = parse_qs(urlsplit(conn.request.path).query)
        with self.changed:
            self.connections += 1
            self.paths.append(conn.request.path)
            self.changed.notify_all()
        session: _Session | None = None
        conn.sent_seq = 0
        try:
            if query.get("v") != ["10"] or query.get("encoding") != ["json"]:
                conn.close(4012, "Invalid API version")
                return
            conn.send(json.dumps({"op": 10, "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)},
                                  "s": None, "t": None}))
            while not self.stopped.is_set():
                if session is not None:
                    self._flush(conn, session)
                try:
                    raw = conn.recv(timeout=0.01)
                except TimeoutError:
                    continue
                message = json.loads(raw)
                op, data = message.get("op"), message.get("d")
                if op == 1:
                    with self.changed:
                        self.heartbeats.append(data)
                        self.changed.notify_all()
                    if self.ack_heartbeats:
                        conn.send(json.dumps({"op": 11, "d": None}))
                elif op == 2:
                    session = self._identify(conn, data or {})
                elif op == 6:
                    session = self._resume(conn, data or {})
        except (ConnectionClosed, OSError):
            pass
        finally:
            with self.changed:
                if session is not None and session.conn is conn:
                    session.conn = None
                self.changed.notify_all()

    def _flush(self, conn: Any, session: _Session) -> None:
        with self.lock:
            due = [e for e in session.log if e["s"] > conn.sent_seq]
        for event in due:
            conn.send(json.dumps(event))
            with self.changed:
                conn.sent_seq = event["s"]
                self.changed.notify_all()

    def _identify(self, conn: Any, data: dict[str, Any]) -> _Session | None:
        if data.get("token") != self.token:
            conn.close(4004, "Authentication failed.")
            return None
        if int(data.get("intents") or 0) & MESSAGE_CONTENT and not self.message_content:
            conn.close(4014, "Disallowed intent(s).")
            return None
        session = _Session(uuid.uuid4().hex)
        with self.changed:
            self.identifies.append({k: v for k, v in data.items() if k != "token"})
            self._sessions[session.id] = session
            self._current, session.conn = session, conn
            self._append(session, "READY", {
                "v": 10, "user": self.bot, "guilds": [{"id": self.guild, "unavailable": True}],
                "session_id": session.id, "resume_gateway_url": self.gateway_url + "/resume",
                "application": {"id": self.bot_id, "flags": 0}})
            for kind, event in self._pending:
                self._append(session, kind, event)
            self._pending.clear()
            self.changed.notify_all()
        return session

    def _resume(self, conn: Any, data: dict[str, Any]) -> _Session | None:
        if data.get("token") != self.token:
            conn.close(4004, "Authentication failed.")
            return None
        with self.changed:
            self.resumes.append((str(data.get("session_id")), data.get("seq")))
            session = self._sessions.get(str(data.get("session_id")))
            if session is None or not session.resumable:
                conn.send(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
                self.changed.notify_all()
                return None
            seq = data.get("seq")
            if not isinstance(seq, int) or seq > session.seq:
                conn.close(4007, "Invalid seq.")
                return None
            conn.sent_seq = seq
            if session.conn is not None and session.conn is not conn:
                try:
                    session.conn.close(4000, "resumed elsewhere")
                except Exception:
                    pass
            self._current, session.conn = session, conn
            self._append(session, "RESUMED", {})
            self.changed.notify_all()
        return session

    # --- the REST API ---------------------------------------------------------------------------

    def rest(self, method: str, path: str, body: Any, files: dict[str, tuple[str, bytes, str]],
             token: str) -> tuple[int, Any]:
        """One REST call's (status, JSON), after faults were handled."""
        parts = path.strip("/").split("/")
        if parts[:1] == ["interactions"] and len(parts) == 4:
            return self._callback(parts[1], parts[2], body)
        if token != f"Bot {self.token}":
            return 401, {"message": "401: Unauthorized", "code": 0}
        if (method, path) == ("GET", "/gateway/bot"):
            return 200, {"url": self.gateway_url, "shards": 1, "session_start_limit": {
                "total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}}
        if (method, path) == ("GET", "/users/@me"):
            return 200, self.bot
        if (method, path) == ("POST", "/users/@me/channels"):
            user = str((body or {}).get("recipient_id") or "")
            if not user.isdigit():
                return 400, _invalid("recipient_id", "NUMBER_TYPE_COERCE", f"Value \"{user}\" is not snowflake.")
            channel = self.dm_channel(user)
            return 200, {"id": channel, "type": 1, "last_message_id": None, "flags": 0,
                         "recipients": [self._user(user)]}
        if method == "POST" and len(parts) == 3 and parts[0] == "channels" and parts[2] == "typing":
            found = self._channel_error(parts[1])
            if found:
                return found
            with self.changed:
                self.typing.append(parts[1])
                self.changed.notify_all()
            return 204, None
        if method == "POST" and len(parts) == 3 and parts[0] == "channels" and parts[2] == "messages":
            return self._create_message(parts[1], body or {}, files)
        return 404, {"message": "404: Not Found", "code": 0}

    def _channel_error(self, channel: str) -> tuple[int, Any] | None:
        with self.lock:
            info = self.channels.get(channel)
        if info is None:
            return 404, {"message": ERRORS[10003], "code": 10003}
        if not info.get("access"):
            return 403, {"message": ERRORS[50001], "code": 50001}
        if info.get("user") in self.closed_dms:
            return 403, {"message": ERRORS[50007], "code": 50007}
        return None

    def _create_message(self, channel: str, body: dict[str, Any],
                        files: dict[str, tuple[str, bytes, str]]) -> tuple[int, Any]:
        found = self._channel_error(channel)
        if found:
            return found
        content = str(body.get("content") or "")
        components = body.get("components") or []
        if len(content) > MAX_CONTENT:
            return 400, _invalid("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        problem = _components_problem(components)
        if problem:
            return 400, _invalid("components", "COMPONENT_INVALID", problem)
        if not content and not components and not files:
            return 400, {"message": ERRORS[50006], "code": 50006}
        if any(len(data) > MAX_FILE for _, data, _ in files.values()):
            return 413, {"message": ERRORS[40005], "code": 40005}
        reference = body.get("message_reference")
        with self.lock:
            referenced = self.messages.get(str((reference or {}).get("message_id")))
        if reference and referenced is None and reference.get("fail_if_not_exists", True):
            return 400, _invalid("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            # Discord: the same author's message with this nonce in the last few minutes is
            # returned as it is, and no second one is created.
            with self.lock:
                earlier = next((m for m in self.messages.values() if m.get("nonce") == str(nonce)
                                and m["channel_id"] == channel and m["author"] == self.bot), None)
            if earlier is not None:
                self.nonce_repeats += 1
                return 200, {k: v for k, v in earlier.items() if k != "allowed_mentions"}
        message_id = self.snowflake()
        attachments = []
        for name, data, mime in files.values():
            attachment = self.add_attachment(name, data, mime)
            attachments.append(attachment)
            with self.lock:
                self.uploads.append({"channel_id": channel, "filename": name, "data": data, "message_id": message_id,
                                     "content": content})
        message = {"id": message_id, "channel_id": channel, "author": self.bot, "content": content,
                   "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "tts": False,
                   "mentions": [], "attachments": attachments, "embeds": [], "components": components,
                   "type": 19 if referenced else 0, "allowed_mentions": body.get("allowed_mentions")}
        if nonce is not None:
            message["nonce"] = str(nonce)
        if referenced is not None:
            message["message_reference"] = {"message_id": referenced["id"], "channel_id": channel}
            message["referenced_message"] = referenced
        with self.changed:
            info = self.channels.get(channel, {})
            if info.get("guild_id"):
                message["guild_id"] = info["guild_id"]
            self.messages[message_id] = message
            self.posted.append(message)
            self.changed.notify_all()
        return 200, {k: v for k, v in message.items() if k != "allowed_mentions"}

    def _callback(self, interaction: str, token: str, body: Any) -> tuple[int, Any]:
        with self.changed:
            known = self._interactions.get(interaction)
            if known is None or known["token"] != token:
                return 404, {"message": ERRORS[10062], "code": 10062}
            if known["answered"]:
                return 400, {"message": ERRORS[40060], "code": 40060}
            if (body or {}).get("type") not in (1, 4, 5, 6, 7, 9, 10, 12):
                return 400, _invalid("type", "BASE_TYPE_CHOICES", "Value must be one of {1, 4, 5, 6, 7, 9, 10, 12}.")
            known["answered"] = True
            self.callbacks.append({"id": interaction, **(body or {})})
            self.changed.notify_all()
        return 204, None

    def cdn(self, path: str) -> tuple[int, bytes, str]:
        parts = path.strip("/").split("/")  # cdn/attachments/<id>/<name>
        with self.lock:
            found = self._files.get(parts[2]) if len(parts) >= 4 else None
        if found is None:
            return 404, b"Not Found", "text/plain"
        return 200, found[1], found[2]


def _invalid(name: str, code: str, message: str) -> dict[str, Any]:
    return {"message": ERRORS[50035], "code": 50035,
            "errors": {name: {"_errors": [{"code": code, "message": message}]}}}


def _components_problem(rows: Any) -> str | None:
    if not isinstance(rows, list) or len(rows) > 5:
        return "Must be 5 or fewer in length."
    for row in rows:
        buttons = row.get("components") if isinstance(row, dict) else None
        if row.get("type") != 1 or not isinstance(buttons, list) or not 1 <= len(buttons) <= 5:
            return "An action row holds 1 to 5 components."
        for button in buttons:
            if button.get("type") != 2 or button.get("style") not in (1, 2, 3, 4):
                return "Invalid button."
            if not 1 <= len(str(button.get("custom_id") or "")) <= 100:
                return "custom_id must be 1 to 100 characters."
            if len(str(button.get("label") or "")) > 80:
                return "label must be 80 or fewer in length."
    return None


# --- HTTP ------------------------------------------------------------------------------------------

_ROUTES = [(re.compile(r"^/gateway/bot$"), "gateway_bot"), (re.compile(r"^/users/@me$"), "me"),
           (re.compile(r"^/users/@me/channels$"), "open_dm"), (re.compile(r"^/channels/\d+/messages$"), "create_message"),
           (re.compile(r"^/channels/\d+/typing$"), "typing"), (re.compile(r"^/interactions/"), "callback")]


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
        fake: FakeDiscord = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path.startswith("/cdn/"):
            with fake.changed:
                fake.calls.append(Call(method, path, None, headers))
            if self._fault(fake, "cdn"):
                return
            status, data, mime = fake.cdn(path)
            self._send(status, data, mime)
            return
        if not path.startswith("/api/v10/"):
            self._send(404, b"not found", "text/plain")
            return
        route_path = path.removeprefix("/api/v10")
        content_type = headers.get("content-type", "")
        files: dict[str, tuple[str, bytes, str]] = {}
        body: Any = None
        if content_type.startswith("multipart/form-data"):
            fields, files = multipart(content_type, raw)
            body = json.loads(fields.get("payload_json") or "{}")
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                self._json(400, {"message": "400: Bad Request", "code": 50109})
                return
        with fake.changed:
            fake.calls.append(Call(method, route_path, body, headers))
            fake.changed.notify_all()
        route = next((name for pattern, name in _ROUTES if pattern.match(route_path)), "")
        if route and self._fault(fake, route):
            return
        status, answer = fake.rest(method, route_path, body, files, headers.get("authorization", ""))
        self._json(status, answer)

    def _fault(self, fake: FakeDiscord, route: str) -> bool:
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
        status = fault.status or 500
        if status == 429:
            retry = fault.retry_after if fault.retry_after is not None else 1.0
            headers = {"Retry-After": str(max(int(retry + 0.999), 1)), "X-RateLimit-Scope": "user"}
            if fault.header_only:
                self._send(429, b"<html>Too many requests</html>", "text/html", headers)
            else:
                self._json(429, {"message": "You are being rate limited.", "retry_after": retry, "global": False},
                           headers)
        elif fault.code is not None:
            self._json(status, {"message": ERRORS.get(fault.code, "Error"), "code": fault.code})
        elif status >= 500:
            self._send(status, b"<html><body>upstream connect error</body></html>", "text/html")
        else:
            self._json(status, {"message": f"{status}: Error", "code": 0})
        return True

    def _json(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
        if status == 204:
            self._send(204, b"", "application/json", headers)
        else:
            self._send(status, json.dumps(answer).encode(), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)
