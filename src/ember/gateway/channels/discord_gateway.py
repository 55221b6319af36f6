"""Discord's Gateway: the websocket that events come down, with its heartbeat and its resumes.

The protocol, as Discord documents it: the server greets with HELLO (op 10, the heartbeat
interval); the client heartbeats (op 1, carrying the last sequence number) every interval, the
first after a random fraction of it, and expects a HEARTBEAT_ACK (op 11) before the next one (no
ack: the connection is a zombie, drop it and resume); it identifies (op 2: token, intents) or, with a
session it had, resumes (op 6: token, session id, sequence), and Discord then replays every event
after that sequence. Events are DISPATCH (op 0) with a type (``t``), data (``d``) and sequence
(``s``). Discord may ask for a heartbeat now (op 1), a reconnect (op 7: resume on a new
connection), or say the session is invalid (op 9: ``d`` says whether it can be resumed).

Discord has no acknowledgement for events: the sequence number is the only cursor. It is saved
in the store (``discord:session``, with the session id and the resume URL) after the handler
returned, that is after the gateway recorded the message; an event the handler could not record
drops the connection, and the RESUME from the saved sequence brings it again. The same holds
across a restart: the saved session is resumed, and what arrived meanwhile is replayed (Discord
keeps a session resumable for a short while; after that it says op 9, and a fresh IDENTIFY starts
from now). Close codes that no retry can fix (4004: the token; 4013 and 4014: intents, usually the
Message Content intent not enabled in the Developer Portal) stop the client with the reason.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from ember.gateway.channel import KeyValue, SendError

log = logging.getLogger("ember.gateway.discord")

SESSION_KEY = "discord:session"
# GUILDS (threads, channels) | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT (privileged)
INTENTS = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15)
RESUMABLE_CLOSE = 4000  # a close code other than 1000/1001 keeps the session resumable
FATAL_CLOSE = {
    4004: "Discord refused the bot token (close 4004): check DISCORD_BOT_TOKEN in EMBER_HOME/.env, then restart",
    4010: "Discord: invalid shard (close 4010)",
    4011: "Discord: this bot is in too many servers for one connection (close 4011: sharding required)",
    4012: "Discord: invalid API version (close 4012): EMBER_DISCORD_GATEWAY_URL should end in ?v=10&encoding=json",
    4013: "Discord: invalid intents (close 4013)",
    4014: ("Discord refused the intents (close 4014): turn on MESSAGE CONTENT INTENT in the Developer Portal "
           "(your application > Bot > Privileged Gateway Intents), then restart the gateway"),
}
NEW_SESSION_CLOSE = {4007, 4009}  # invalid sequence, session timed out: identify afresh
# websockets logs a long frame cut in the middle, so a token may show only in part: mask the field
_TOKEN_FIELD = re.compile(r"(token\W{1,6})[\w.-]+")


class GatewayStopped(Exception):
    """Reconnecting cannot help (the token, the intents): the reason is the message."""


class _Reconnect(Exception):
    """Drop this connection and open another (resuming unless ``fresh``)."""

    def __init__(self, reason: str, *, fresh: bool = False, delay: float = 0.0, clean: bool = False) -> None:
        super().__init__(reason)
        self.fresh, self.delay, self.clean = fresh, delay, clean


class _Masked(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The websockets library's logger, minus the token (IDENTIFY and RESUME frames carry it)."""

    def __init__(self, logger: logging.Logger, token: str) -> None:
        super().__init__(logger, {})
        self.token = token

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            text = _TOKEN_FIELD.sub(r"\1[REDACTED]", text.replace(self.token, "[REDACTED]"))
            self.logger.log(level, text, **kwargs)


Dispatch = Callable[[str, dict[str, Any]], None]  # (event type, data); raises when not recorded


def with_query(url: str) -> str:
    """The Gateway URL with the API version and encoding Ember speaks."""
    return url if "?" in url else url.rstrip("/") + "/?v=10&encoding=json"


class GatewayClient:
    """The receive loop in a daemon thread; ``dispatch`` is called for each event, in order."""

    def __init__(self, token: str, url: Callable[[], str], state: KeyValue, dispatch: Dispatch,
                 on_state: Callable[[bool, str | None], None], *, first_delay: float = 1.0,
                 max_delay: float = 60.0, invalid_session_delay: tuple[float, float] = (1.0, 5.0)) -> None:
        self._token = token
        self.url = url  # where to identify (asked of GET /gateway/bot when not configured)
        self.state = state
        self.dispatch = dispatch
        self.on_state = on_state
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.invalid_session_delay = invalid_session_delay  # Discord asks for 1-5 s before a fresh IDENTIFY
        self.connections = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: Any = None
        self._lock = threading.Lock()
        self._session = self._load()
        self._ready = False  # this connection said READY or RESUMED

    # --- the saved session -----------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            saved = json.loads(self.state.get_meta(SESSION_KEY) or "{}")
        except ValueError:
            saved = {}
        return saved if isinstance(saved, dict) else {}

    def _save(self) -> None:
        self.state.set_meta(SESSION_KEY, json.dumps(self._session))

    @property
    def seq(self) -> int | None:
        seq = self._session.get("seq")
        return seq if isinstance(seq, int) else None

    def _resumable(self) -> bool:
        return bool(self._session.get("session_id") and self._session.get("resume_url") and self.seq is not None)

    def _forget(self) -> None:
        self._session = {}
        self._save()

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="discord-gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close with a code that keeps the session resumable: after a restart it is resumed."""
        self._stop.set()
        self.drop(RESUMABLE_CLOSE)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def drop(self, code: int = RESUMABLE_CLOSE) -> None:
        with self._lock:
            socket = self._socket
        if socket is not None:
            try:
                socket.close(code, "reconnecting")
            except Exception:  # already broken
                pass

    def _run(self) -> None:
        delay = self.first_delay
        while not self._stop.is_set():
            self._ready = False
            try:
                self._connection()
                continue  # stopped
            except GatewayStopped as exc:
                self._stopped(str(exc))
                return
            except _Reconnect as exc:
                failure: Exception | None = None if exc.clean else exc
                pause = exc.delay
            except SendError as exc:  # GET /gateway/bot failed
                if exc.permanent:
                    self._stopped(str(exc))
                    return
                failure, pause = exc, 0.0
            except Exception as exc:  # a broken socket, a bad frame: reconnect and resume
                failure, pause = RuntimeError(f"discord gateway: {type(exc).__name__}: {exc}"), 0.0
            if self._ready:  # this connection worked: a failure now backs off from the start
                delay = self.first_delay
            if failure is None:  # Discord asked for it (op 7, op 9), or our own resume: at once
                wait = pause
            else:
                wait = max(delay, pause)
                delay = min(delay * 2, self.max_delay)
                self.on_state(False, str(failure))
                log.warning("%s; reconnecting in %.1f s", failure, wait)
            if wait:
                self._stop.wait(wait * random.uniform(0.8, 1.2))

    def _stopped(self, reason: str) -> None:
        self.on_state(False, reason)
        log.error("discord: %s; the gateway connection is stopped", reason)

    # --- one connection --------------------------------------------------------------------------

    def _connection(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        resuming = self._resumable()
        url = with_query(str(self._session["resume_url"])) if resuming else with_query(self.url())
        logger = _Masked(logging.getLogger("ember.gateway.discord.websocket"), self._token)
        try:
            with connect(url, open_timeout=15, close_timeout=2, max_size=None, ping_interval=None,
                         logger=logger) as socket:
                with self._lock:
                    self._socket = socket
                    self.connections += 1
                try:
                    self._talk(socket, resuming)
                finally:
                    with self._lock:
                        self._socket = None
                    try:  # not 1000, which would end the session: it stays resumable
                        socket.close(RESUMABLE_CLOSE, "reconnecting")
                    except Exception:
                        pass
        except ConnectionClosed as exc:
            if self._stop.is_set():
                return
            code = getattr(exc.rcvd, "code", None)
            if code in FATAL_CLOSE:
                raise GatewayStopped(FATAL_CLOSE[code]) from None
            if code in NEW_SESSION_CLOSE:
                self._forget()
                raise _Reconnect(f"discord: the session ended (close {code}); identifying again",
                                 clean=True) from None
            raise _Reconnect(f"discord: the gateway connection closed ({code or 'no close frame'})") from None

    def _send(self, socket: Any, op: int, data: Any) -> None:
        socket.send(json.dumps({"op": op, "d": data}))

    def _talk(self, socket: Any, resuming: bool) -> None:
        hello = self._receive(socket, 15.0)
        if hello is None or hello.get("op") != 10:
            raise _Reconnect("discord: the gateway did not say HELLO")
        interval = float((hello.get("d") or {}).get("heartbeat_interval") or 41250) / 1000.0
        if resuming:
            self._send(socket, 6, {"token": self._token, "session_id": self._session["session_id"], "seq": self.seq})
        else:
            self._send(socket, 2, {"token": self._token, "intents": INTENTS,
                                   "properties": {"os": "linux", "browser": "ember", "device": "ember"}})
        next_beat = time.monotonic() + interval * random.random()
        acked = True
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
                if not acked:
                    raise _Reconnect("discord: no heartbeat ack (a dead connection)")
                self._send(socket, 1, self.seq)
                acked, next_beat = False, now + interval
            message = self._receive(socket, min(max(next_beat - now, 0.01), 1.0))
            if message is None:
                continue
            op = message.get("op")
            if op == 0:
                self._on_dispatch(message)
            elif op == 1:  # Discord wants a heartbeat now
                self._send(socket, 1, self.seq)
            elif op == 11:
                acked = True
            elif op == 7:
                log.info("discord: the gateway asked for a reconnect; resuming")
                raise _Reconnect("discord: reconnect requested", clean=True)
            elif op == 9:
                if message.get("d") is True and self._resumable():
                    raise _Reconnect("discord: invalid session, resumable", clean=True)
                self._forget()
                low, high = self.invalid_session_delay
                raise _Reconnect("discord: the session could not be resumed; identifying again", clean=True,
                                 delay=random.uniform(low, high))

    def _receive(self, socket: Any, timeout: float) -> dict[str, Any] | None:
        try:
            raw = socket.recv(timeout=timeout)
        except TimeoutError:
            return None
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("discord: a gateway frame that is not JSON, ignored")
            return None
        return message if isinstance(message, dict) else None

    def _on_dispatch(self, message: dict[str, Any]) -> None:
        kind, data, seq = str(message.get("t") or ""), message.get("d"), message.get("s")
        data = data if isinstance(data, dict) else {}
        if kind == "READY":
            self._session = {"session_id": data.get("session_id"), "resume_url": data.get("resume_gateway_url"),
                             "seq": seq if isinstance(seq, int) else None}
        if kind in ("READY", "RESUMED"):
            self._ready = True
            self.on_state(True, None)
        try:
            self.dispatch(kind, data)
        except Exception as exc:  # not recorded: resume from the last saved sequence, and it comes again
            raise _Reconnect(f"discord: an event was not recorded ({type(exc).__name__}: {exc}); "
                             "resuming to receive it again") from exc
        if isinstance(seq, int):
            self._session["seq"] = seq
            self._save()
