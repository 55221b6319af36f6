"""A fake Slack for tests and benchmarks: the Web API over real HTTP, and Socket Mode over a real websocket.

Web API at ``fake.api_base`` (``http://127.0.0.1:PORT/api``), answering exactly in Slack's shape
(``{"ok": true, ...}`` / ``{"ok": false, "error": "..."}``, HTTP 200), JSON or form bodies, the
token checked (``Authorization: Bearer`` or a ``token`` field): ``auth.test``,
``chat.postMessage`` (``channel_not_found`` for a channel it never saw, ``not_in_channel`` for one
the bot was not invited to, ``no_text``, ``msg_too_long`` over 40,000 characters),
``conversations.list`` (paginated by ``page_size`` with ``response_metadata.next_cursor``),
``conversations.open``, ``users.info``, ``files.getUploadURLExternal`` + the upload URL +
``files.completeUploadExternal``, file downloads at ``url_private_download`` (bot token only),
and ``apps.connections.open`` (app token only) returning a one-use ``ws://`` URL.

Socket Mode: a ``websockets`` server that checks the ticket, says ``hello``, sends every queued
envelope (in order), records acks, and sends an envelope again on the next connection when it was
not acknowledged (also after ``ack_timeout`` seconds, when set, as Slack retries).

Use it as a context manager::

    from tests.fakes.slack_server import FakeSlack

    with FakeSlack() as fake:              # fake.api_base, fake.bot_token, fake.app_token, fake.bot_user
        config = SlackConfig(token=fake.bot_token, app_token=fake.app_token, api_base=fake.api_base)
        fake.add_channel("team")                                  # "C…" id back; #team for resolve_chat
        fake.add_dm("U1")                                         # the bot's DM with U1: "D1"
        ev = fake.user_says("D0USER1", "U1", "hello")            # a DM; ev["ts"], ev["event_id"]
        fake.mention("C0TEAM", "U1", "status?")                   # "<@UBOT> status?" in a channel
        fake.user_says("D0USER1", "U1", "see file", files=[fake.add_file("a.txt", b"hi")])
        fake.press("C0TEAM", "U1", "req-1", "once")               # a button press (block_actions)
        fake.command("D1", "U1", "new")                           # the slash command /ember new
        fake.click(fake.posted[-1], "U1", "deny")                 # press a button of a posted message
        fake.wait_posted(1)                                       # what the bot posted, once it did
        fake.posted[0]["text"], fake.posted[0]["thread_ts"], fake.posted[0]["blocks"]
        fake.uploads[0]["data"]                                   # files the bot uploaded
        fake.wait_acked(3); fake.acked; fake.unacked               # envelope ids
        fake.disconnect(); fake.drop_socket(); fake.connections    # Slack's refresh, a dead socket
        fake.fail("chat.postMessage", status=503)                  # faults for the next N calls
        fake.fail("chat.postMessage", status=429, retry_after=7)
        fake.fail("chat.postMessage", error="channel_not_found", times=2)
        fake.fail("chat.postMessage", hang=5.0)                    # no answer for 5 s, then hang up
        fake.fail("auth.test", drop=True)                          # hang up without an answer
        fake.calls                                                 # Call(method, params, headers)

Methods for faults are API method names, plus ``upload`` (the byte upload) and ``download``.
``fake.deliver_over_http(url, signing_secret)`` sends the queued events as signed Events API
POSTs (retried on a non-200, like Slack) instead of over the socket.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = ["Call", "FakeSlack", "Fault"]

APP_TOKEN_METHODS = {"apps.connections.open"}


@dataclass
class Fault:
    status: int | None = None  # an HTTP status (5xx, 429)
    error: str | None = None  # an ok:false error name
    retry_after: float | None = None
    hang: float | None = None  # seconds without an answer, then the connection is closed
    drop: bool = False  # close the connection without an answer


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str] = field(repr=False)


@dataclass
class _Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    acked: bool = False
    sent_on: int | None = None  # the connection it was last sent on
    sent_at: float = 0.0
    attempts: int = 0


class FakeSlack:
    """Fake Slack Web API and Socket Mode server on 127.0.0.1."""

    def __init__(self, *, bot_token: str = "xoxb-1111-2222-fakeBotToken0", app_token: str = "xapp-1-A111-3333-fakeAppToken0",
                 bot_user: str = "UBOT0001", team: str = "T0FAKE", page_size: int = 100,
                 ack_timeout: float | None = None) -> None:
        self.bot_token, self.app_token, self.bot_user, self.team = bot_token, app_token, bot_user, team
        self.page_size = page_size
        self.ack_timeout = ack_timeout
        self.posted: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        self.calls: list[Call] = []
        self.connections = 0  # websocket connections accepted
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.stopped = threading.Event()
        self.channels: dict[str, dict[str, Any]] = {}  # id -> {"id", "name", "is_private", "is_archived", "member"}
        self.users: dict[str, str] = {}  # id -> name
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._envelopes: list[_Envelope] = []
        self._by_id: dict[str, _Envelope] = {}
        self._tickets: set[str] = set()
        self._sockets: dict[int, Any] = {}  # connection number -> open ServerConnection
        self._pending_uploads: dict[str, dict[str, Any]] = {}  # file id -> {"name", "length", "data"}
        self._files: dict[str, tuple[str, bytes, str]] = {}  # file id -> (name, data, mimetype)
        self._ids = itertools.count(1)
        self._http_target: tuple[str, str] | None = None
        self._threads: list[threading.Thread] = []

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        from websockets.sync.server import serve

        self._http = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._http.fake = self  # type: ignore[attr-defined]
        self._ws = serve(self._socket_session, "127.0.0.1", 0, process_request=self._check_ticket,
                         compression=None, ping_interval=None, logger=logging.getLogger("fake_slack.websocket"))
        for target in (lambda: self._http.serve_forever(poll_interval=0.05), self._ws.serve_forever,
                       self._redeliver_late):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopped.set()
        with self.changed:
            self.changed.notify_all()
        self._http.shutdown()
        self._http.server_close()
        self._ws.shutdown()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def api_base(self) -> str:
        return self.url + "/api"

    # --- the workspace --------------------------------------------------------------------------

    def add_channel(self, name: str, *, id: str | None = None, private: bool = False,  # noqa: A002
                    archived: bool = False, member: bool = True) -> str:
        """A channel the bot can see (``member=False``: not invited, posting gives not_in_channel)."""
        channel_id = id or f"{'G' if private else 'C'}{next(self._ids):07d}"
        with self.lock:
            self.channels[channel_id] = {"id": channel_id, "name": name, "is_private": private,
                                         "is_archived": archived, "member": member}
        return channel_id

    def add_dm(self, user: str, id: str | None = None) -> str:  # noqa: A002
        """The bot's DM with ``user`` (its ``D…`` id), as if the person had opened it."""
        channel = id or "D" + user[1:]
        self._know(channel, user)
        return channel

    def add_file(self, name: str, data: bytes, mimetype: str = "application/octet-stream") -> dict[str, Any]:
        """A file as Slack describes it in a message's ``files`` (its download needs the bot token)."""
        file_id = f"F{next(self._ids):08d}"
        with self.lock:
            self._files[file_id] = (name, data, mimetype)
        return {"id": file_id, "name": name, "title": name, "mimetype": mimetype, "size": len(data),
                "url_private": f"{self.url}/files-pri/{self.team}-{file_id}/{name}",
                "url_private_download": f"{self.url}/files-pri/{self.team}-{file_id}/download/{name}"}

    def _know(self, channel: str, user: str) -> None:
        with self.lock:
            if channel not in self.channels:
                self.channels[channel] = {"id": channel, "name": channel.lower(), "is_private": False,
                                          "is_archived": False, "member": True, "is_im": channel.startswith("D")}
            self.users.setdefault(user, f"user-{user.lower()}")

    # --- events in ------------------------------------------------------------------------------

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ids):06d}"

    def user_says(self, channel: str, user: str, text: str, thread_ts: str | None = None, im: bool = True,
                  files: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        """A person's message (a DM unless ``im=False``); the event, with ``event_id`` added."""
        self._know(channel, user)
        event: dict[str, Any] = {"type": "message", "channel": channel, "user": user, "text": text,
                                 "ts": self.next_ts(), "team": self.team, "channel_type": "im" if im else "channel"}
        if thread_ts:
            event["thread_ts"] = thread_ts
        if files:
            event["files"], event["subtype"] = files, "file_share"
        event.update(extra)
        return self.push_event(event)

    def mention(self, channel: str, user: str, text: str, thread_ts: str | None = None, **extra: Any) -> dict[str, Any]:
        """``<@bot> text`` in a channel, as the ``app_mention`` event Slack sends."""
        self._know(channel, user)
        event: dict[str, Any] = {"type": "app_mention", "channel": channel, "user": user, "team": self.team,
                                 "text": f"<@{self.bot_user}> {text}", "ts": self.next_ts()}
        if thread_ts:
            event["thread_ts"] = thread_ts
        event.update(extra)
        return self.push_event(event)

    def push_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Any event, wrapped in an ``event_callback`` and an ``events_api`` envelope."""
        event_id = f"Ev{next(self._ids):08d}"
        payload = {"token": "verification-token", "team_id": self.team, "api_app_id": "A0FAKE",
                   "type": "event_callback", "event_id": event_id, "event_time": int(time.time()), "event": event}
        self.push("events_api", payload)
        return {**event, "event_id": event_id}

    def press(self, channel: str, user: str, request_id: str, choice: str, *, message_ts: str | None = None,
              thread_ts: str | None = None, index: int = 0) -> dict[str, Any]:
        """A press of a button with ``value=choice`` under ``block_id="ember:<request_id>"``."""
        action = {"type": "button", "action_id": f"ember:{request_id}:{index}", "block_id": f"ember:{request_id}",
                  "value": choice, "text": {"type": "plain_text", "text": choice}, "action_ts": self.next_ts()}
        return self._push_actions(channel, user, [action], message_ts or self.next_ts(), thread_ts)

    def click(self, message: dict[str, Any], user: str, choice: str) -> dict[str, Any]:
        """Press the button whose value is ``choice`` on a message the bot posted (``fake.posted[i]``)."""
        for block in message.get("blocks") or []:
            for element in block.get("elements") or []:
                if block.get("type") == "actions" and element.get("value") == choice:
                    action = {**element, "block_id": block.get("block_id"), "action_ts": self.next_ts()}
                    return self._push_actions(message["channel"], user, [action], message["ts"],
                                              message.get("thread_ts"))
        raise AssertionError(f"no button with value {choice!r} in {message.get('blocks')}")

    def _push_actions(self, channel: str, user: str, actions: list[dict[str, Any]], message_ts: str,
                      thread_ts: str | None) -> dict[str, Any]:
        self._know(channel, user)
        message: dict[str, Any] = {"type": "message", "ts": message_ts, "user": self.bot_user}
        if thread_ts:
            message["thread_ts"] = thread_ts
        payload = {"type": "block_actions", "team": {"id": self.team}, "api_app_id": "A0FAKE",
                   "user": {"id": user, "username": self.users.get(user, user), "team_id": self.team},
                   "channel": {"id": channel, "name": self.channels.get(channel, {}).get("name", "")},
                   "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                                 "is_ephemeral": False},
                   "message": message, "actions": actions, "trigger_id": f"{next(self._ids)}.trigger",
                   "response_url": f"{self.url}/actions/{next(self._ids)}"}
        self.push("interactive", payload)
        return payload

    def command(self, channel: str, user: str, text: str = "", command: str = "/ember") -> dict[str, Any]:
        """A slash command (``/ember new``) typed in ``channel``."""
        self._know(channel, user)
        payload = {"token": "verification-token", "team_id": self.team, "channel_id": channel,
                   "channel_name": self.channels[channel]["name"], "user_id": user,
                   "user_name": self.users[user], "command": command, "text": text, "api_app_id": "A0FAKE",
                   "response_url": f"{self.url}/commands/{next(self._ids)}",
                   "trigger_id": f"{next(self._ids)}.trigger"}
        self.push("slash_commands", payload)
        return payload

    def push(self, kind: str, payload: dict[str, Any]) -> str:
        """Queue one envelope of ``kind`` (events_api, interactive, slash_commands); its id."""
        envelope = _Envelope(str(uuid.uuid4()), kind, payload)
        with self.changed:
            self._envelopes.append(envelope)
            self._by_id[envelope.envelope_id] = envelope
            self.changed.notify_all()
        return envelope.envelope_id

    # --- what happened --------------------------------------------------------------------------

    @property
    def acked(self) -> list[str]:
        with self.lock:
            return [e.envelope_id for e in self._envelopes if e.acked]

    @property
    def unacked(self) -> list[str]:
        with self.lock:
            return [e.envelope_id for e in self._envelopes if not e.acked]

    def deliveries(self, envelope_id: str) -> int:
        """How many times an envelope was sent."""
        with self.lock:
            envelope = self._by_id.get(envelope_id)
            return envelope.attempts if envelope is not None else 0

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake slack: timed out after {timeout} s waiting for {what}")
                self.changed.wait(min(left, 0.05))

    def wait_posted(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        self.wait_for(lambda: len(self.posted) >= count, timeout, f"{count} posted message(s)")
        return list(self.posted)

    def wait_acked(self, count: int, timeout: float = 5.0) -> None:
        self.wait_for(lambda: len(self.acked) >= count, timeout, f"{count} acked envelope(s)")

    def wait_connected(self, count: int = 1, timeout: float = 5.0) -> None:
        self.wait_for(lambda: self.connections >= count and bool(self._sockets), timeout, f"connection #{count}")

    # --- faults ---------------------------------------------------------------------------------

    def fail(self, method: str, times: int = 1, *, status: int | None = None, error: str | None = None,
             retry_after: float | None = None, hang: float | None = None, drop: bool = False) -> None:
        """The next ``times`` calls of ``method`` fail this way."""
        with self.lock:
            self._faults[method].extend(Fault(status, error, retry_after, hang, drop) for _ in range(times))

    def take_fault(self, method: str) -> Fault | None:
        with self.lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's ``disconnect`` message on every open socket (the client should reconnect)."""
        for conn in self._open_sockets():
            try:
                conn.send(json.dumps({"type": "disconnect", "reason": reason,
                                      "debug_info": {"host": "fake-slack"}}))
            except Exception:
                pass

    def drop_socket(self) -> None:
        """Cut every open socket at the TCP level: no close frame, as when a network drops."""
        for conn in self._open_sockets():
            try:
                conn.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _open_sockets(self) -> list[Any]:
        with self.lock:
            return list(self._sockets.values())

    # --- socket mode ----------------------------------------------------------------------------

    def new_socket_url(self) -> str:
        ticket = uuid.uuid4().hex
        with self.lock:
            self._tickets.add(ticket)
        port = self._ws.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={ticket}&app_id=A0FAKE"

    def _check_ticket(self, connection: Any, request: Any) -> Any:
        ticket = parse_qs(urlsplit(request.path).query).get("ticket", [""])[0]
        with self.lock:
            if ticket in self._tickets:
                self._tickets.discard(ticket)  # one use, like Slack's
                return None
        return connection.respond(401, "invalid or used ticket\n")

    def _socket_session(self, conn: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        with self.changed:
            self.connections += 1
            number = self.connections
            self._sockets[number] = conn
            self.changed.notify_all()
        try:
            conn.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake-slack"},
                                  "connection_info": {"app_id": "A0FAKE"}}))
            while not self.stopped.is_set():
                for envelope in self._due(number):
                    conn.send(json.dumps({"envelope_id": envelope.envelope_id, "type": envelope.type,
                                          "payload": envelope.payload, "accepts_response_payload": False,
                                          "retry_attempt": envelope.attempts - 1,
                                          "retry_reason": "timeout" if envelope.attempts > 1 else ""}))
                try:
                    raw = conn.recv(timeout=0.01)
                except TimeoutError:
                    continue
                self._record_ack(raw)
        except (ConnectionClosed, OSError):
            pass
        finally:
            with self.changed:
                self._sockets.pop(number, None)
                self.changed.notify_all()

    def _due(self, number: int) -> list[_Envelope]:
        """Envelopes to send on connection ``number``: never sent, or sent on a connection now gone."""
        if self._http_target is not None:
            return []
        now = time.monotonic()
        due = []
        with self.lock:
            for envelope in self._envelopes:
                if envelope.acked or envelope.sent_on == number:
                    continue
                if envelope.sent_on is None or envelope.sent_on not in self._sockets:
                    envelope.sent_on, envelope.sent_at = number, now
                    envelope.attempts += 1
                    due.append(envelope)
        return due

    def _redeliver_late(self) -> None:
        """With ``ack_timeout``: an envelope not acked in time is sent again (on any connection)."""
        while not self.stopped.wait(0.05):
            if self.ack_timeout is None:
                continue
            with self.lock:
                for envelope in self._envelopes:
                    if not envelope.acked and envelope.sent_on is not None \
                            and time.monotonic() - envelope.sent_at > self.ack_timeout:
                        envelope.sent_on = -1  # "a connection now gone": the next _due picks it up

    def _record_ack(self, raw: str | bytes) -> None:
        try:
            envelope_id = json.loads(raw).get("envelope_id")
        except (ValueError, AttributeError):
            return
        with self.changed:
            envelope = self._by_id.get(str(envelope_id))
            if envelope is not None:
                envelope.acked = True
                self.changed.notify_all()

    # --- the Events API over HTTP -----------------------------------------------------------------

    def deliver_over_http(self, url: str, signing_secret: str, retries: int = 3) -> None:
        """Send queued envelopes as signed POSTs to ``url`` (200 acks; anything else is retried)."""
        self._http_target = (url, signing_secret)
        thread = threading.Thread(target=self._post_events, args=(url, signing_secret, retries), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _post_events(self, url: str, secret: str, retries: int) -> None:
        import httpx

        from ember.gateway.channels.slack_http import signature

        with httpx.Client(timeout=10) as client:
            while not self.stopped.is_set():
                with self.changed:
                    pending = [e for e in self._envelopes if not e.acked and e.attempts <= retries]
                    if not pending:
                        self.changed.wait(0.05)
                        continue
                envelope = pending[0]
                if envelope.type == "interactive":
                    body = urlencode({"payload": json.dumps(envelope.payload)})
                    content_type = "application/x-www-form-urlencoded"
                elif envelope.type == "slash_commands":
                    body, content_type = urlencode(envelope.payload), "application/x-www-form-urlencoded"
                else:
                    body, content_type = json.dumps(envelope.payload), "application/json"
                stamp = str(int(time.time()))
                headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
                           "X-Slack-Signature": signature(secret, stamp, body.encode())}
                if envelope.attempts:
                    headers |= {"X-Slack-Retry-Num": str(envelope.attempts), "X-Slack-Retry-Reason": "http_error"}
                try:
                    status = client.post(url, content=body.encode(), headers=headers).status_code
                except httpx.HTTPError:
                    status = 0
                with self.changed:
                    envelope.attempts += 1
                    envelope.acked = status == 200
                    self.changed.notify_all()

    # --- the Web API ----------------------------------------------------------------------------

    def api(self, method: str, params: dict[str, Any], token: str) -> dict[str, Any]:
        """One Web API method's answer (after auth and faults were handled)."""
        if not token:
            return {"ok": False, "error": "not_authed"}
        wanted = self.app_token if method in APP_TOKEN_METHODS else self.bot_token
        if token != wanted:
            other = self.bot_token if method in APP_TOKEN_METHODS else self.app_token
            return {"ok": False, "error": "not_allowed_token_type" if token == other else "invalid_auth"}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        answer: dict[str, Any] = handler(params)
        return answer

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake", "user": "ember",
                "team_id": self.team, "user_id": self.bot_user, "bot_id": "B0FAKE", "is_enterprise_install": False}

    def _m_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.new_socket_url()}

    def _channel_error(self, channel: str) -> str | None:
        info = self.channels.get(channel)
        if info is None:
            return "channel_not_found"
        if info.get("is_archived"):
            return "is_archived"
        if not info.get("member"):
            return "not_in_channel"
        return None

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, text = str(params.get("channel") or ""), params.get("text")
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        with self.changed:
            error = self._channel_error(channel)
            if error:
                return {"ok": False, "error": error}
            if not text and not blocks:
                return {"ok": False, "error": "no_text"}
            if text and len(text) > 40_000:
                return {"ok": False, "error": "msg_too_long"}
            ts = self.next_ts()
            message = {"type": "message", "channel": channel, "text": text or "", "ts": ts, "user": self.bot_user,
                       "bot_id": "B0FAKE", "thread_ts": params.get("thread_ts") or None, "blocks": blocks or []}
            self.posted.append(message)
            self.changed.notify_all()
        return {"ok": True, "channel": channel, "ts": ts, "message": {k: v for k, v in message.items() if v}}

    def _m_conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        types = str(params.get("types") or "public_channel").split(",")
        archived_too = str(params.get("exclude_archived", "false")).lower() != "true"
        with self.lock:
            listed = [c for c in self.channels.values() if not c.get("is_im")
                      and ("private_channel" if c["is_private"] else "public_channel") in types
                      and (archived_too or not c["is_archived"])]
        start = int(base64.b64decode(params["cursor"]).decode().removeprefix("offset:")) if params.get("cursor") else 0
        size = min(int(params.get("limit") or 100), self.page_size)
        page, rest = listed[start:start + size], listed[start + size:]
        cursor = base64.b64encode(f"offset:{start + size}".encode()).decode() if rest else ""
        channels = [{"id": c["id"], "name": c["name"], "is_channel": not c["is_private"], "is_private": c["is_private"],
                     "is_archived": c["is_archived"], "is_member": c["member"]} for c in page]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": cursor}}

    def _m_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users") or "")
        if not users or "," in users:
            return {"ok": False, "error": "users_list_not_supplied" if not users else "not_enough_users"}
        channel = self.add_dm(users)
        return {"ok": True, "channel": {"id": channel}}

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user") or "")
        with self.lock:
            name = self.users.get(user)
        if name is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": {"id": user, "name": name, "real_name": name,
                                     "profile": {"display_name": name, "real_name": name}}}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        name, length = params.get("filename"), params.get("length")
        if not name or not str(length or "").isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):08d}"
        with self.lock:
            self._pending_uploads[file_id] = {"name": name, "length": int(str(length)), "data": None}
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}-{uuid.uuid4().hex}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files")
        files = json.loads(files) if isinstance(files, str) else files
        channel, thread_ts = params.get("channel_id"), params.get("thread_ts")
        with self.changed:
            if not isinstance(files, list) or not files:
                return {"ok": False, "error": "invalid_arguments"}
            if channel and self._channel_error(channel):
                return {"ok": False, "error": self._channel_error(channel)}
            done = []
            for entry in files:
                upload = self._pending_uploads.get(str(entry.get("id")))
                if upload is None or upload["data"] is None:
                    return {"ok": False, "error": "file_not_found"}
                done.append((str(entry["id"]), entry.get("title") or upload["name"], upload))
            ts = self.next_ts()
            shared = []
            for file_id, title, upload in done:
                self._pending_uploads.pop(file_id)
                record = {"file_id": file_id, "name": upload["name"], "title": title, "data": upload["data"],
                          "channel": channel, "thread_ts": thread_ts, "initial_comment": params.get("initial_comment")}
                self.uploads.append(record)
                share = {"ts": ts, **({"thread_ts": thread_ts} if thread_ts else {})}
                kind = "private" if str(channel).startswith(("G", "D")) else "public"
                shared.append({"id": file_id, "title": title, "name": upload["name"],
                               "shares": {kind: {channel: [share]}} if channel else {}})
            if channel:
                self.posted.append({"type": "message", "channel": channel, "ts": ts, "thread_ts": thread_ts,
                                    "text": params.get("initial_comment") or "", "blocks": [],
                                    "files": [r["name"] for r in self.uploads[-len(done):]]})
            self.changed.notify_all()
        return {"ok": True, "files": shared}

    def upload_bytes(self, path: str, data: bytes) -> tuple[int, str]:
        file_id = path.rsplit("/", 1)[-1].split("-", 1)[0]
        with self.lock:
            upload = self._pending_uploads.get(file_id)
            if upload is None:
                return 404, "not found"
            upload["data"] = data
        return 200, f"OK - {len(data)}"

    def download(self, path: str, token: str) -> tuple[int, bytes, str]:
        parts = path.split("/")  # /files-pri/T-F/download/name
        file_id = parts[2].split("-", 1)[-1] if len(parts) > 2 else ""
        with self.lock:
            found = self._files.get(file_id)
        if found is None:
            return 404, b"not found", "text/plain"
        if token != self.bot_token:  # Slack answers a sign-in page
            return 200, b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>", "text/html"
        return 200, found[1], found[2]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-answer is normal here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        fake: FakeSlack = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if path.startswith("/upload/"):
            if self._fault(fake, "upload"):
                return
            status, text = fake.upload_bytes(path, raw)
            self._send(status, text.encode(), "text/plain")
        elif path.startswith("/files-pri/"):
            if self._fault(fake, "download"):
                return
            status, body, mime = fake.download(path, token)
            self._send(status, body, mime)
        elif path.startswith("/api/"):
            method = path.removeprefix("/api/")
            params = _params(headers.get("content-type", ""), raw, self.path)
            token = token or str(params.pop("token", ""))
            with fake.changed:
                fake.calls.append(Call(method, params, headers))
                fake.changed.notify_all()
            if self._fault(fake, method):
                return
            self._send(200, json.dumps(fake.api(method, params, token)).encode(), "application/json; charset=utf-8")
        else:
            self._send(404, b"not found", "text/plain")

    def _fault(self, fake: FakeSlack, method: str) -> bool:
        fault = fake.take_fault(method)
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
        if fault.error is not None:
            body = json.dumps({"ok": False, "error": fault.error}).encode()
            self._send(fault.status or 200, body, "application/json; charset=utf-8", headers)
        elif fault.status == 429:
            self._send(429, json.dumps({"ok": False, "error": "ratelimited"}).encode(), "application/json", headers)
        else:
            self._send(fault.status or 500, b"<html><body>Slack is having trouble</body></html>", "text/html", headers)
        return True

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _params(content_type: str, raw: bytes, path: str) -> dict[str, Any]:
    """A method's arguments from a JSON body, a form, or the query string (as Slack takes them)."""
    params: dict[str, Any] = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
    if not raw:
        return params
    if "application/json" in content_type:
        body = json.loads(raw)
        return {**params, **(body if isinstance(body, dict) else {})}
    return {**params, **{k: v[0] for k, v in parse_qs(raw.decode()).items()}}
