"""Socket Mode: Slack pushes events down a websocket that the bot opens; no public URL needed.

``apps.connections.open`` (with the app token, ``xapp-``) gives a one-use ``wss://`` URL; the
server greets with ``hello``, then sends envelopes (``events_api``, ``interactive``, ...), each
to be acknowledged with ``{"envelope_id": ...}``. We acknowledge only after the handler returned,
that is after the gateway recorded the message: an envelope whose handling failed is left
unacknowledged, the socket is dropped and opened again, and Slack delivers the envelope again.
A ``disconnect`` (Slack refreshes connections every few hours) reconnects at once with a fresh
URL; any error reconnects after a backoff that doubles up to ``max_delay``.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
from collections.abc import Callable
from typing import Any

from ember.gateway.channel import SendError
from ember.gateway.channels.slack_api import SlackAPI

log = logging.getLogger("ember.gateway.slack")

_TICKET = re.compile(r"ticket=[^&\s]+")


class _TicketMasked(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The websockets library's logger, minus the one-use ticket in the URL it logs at DEBUG."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, _TICKET.sub("ticket=...", text), **kwargs)


class SocketModeError(Exception):
    """The connection cannot go on (an event not recorded, Socket Mode turned off)."""


Handler = Callable[[str, dict[str, Any]], None]  # (envelope type, payload); raises when not recorded


class SocketModeClient:
    """Runs the receive loop in a daemon thread; ``handle`` is called for every envelope, in order."""

    def __init__(self, api: SlackAPI, app_token: str, handle: Handler,
                 on_state: Callable[[bool, str | None], None], *, first_delay: float = 0.5,
                 max_delay: float = 30.0) -> None:
        self.api = api
        self._app_token = app_token
        self.handle = handle
        self.on_state = on_state  # (connected, last error or None)
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.connections = 0  # sockets opened so far (tests and status read it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: Any = None
        self._lock = threading.Lock()
        self._greeted = False  # this connection said hello: the next failure starts the backoff afresh

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="slack-socket-mode", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.drop()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def drop(self) -> None:
        """Close the current socket (the loop then opens a new one unless stopping)."""
        with self._lock:
            socket = self._socket
        if socket is not None:
            try:
                socket.close()
            except Exception:  # already broken: nothing to close
                pass

    def _run(self) -> None:
        delay = self.first_delay
        while not self._stop.is_set():
            self._greeted = False
            try:
                clean = self._session()
                error = None
            except (SendError, SocketModeError) as exc:
                clean, error = False, str(exc)
            except Exception as exc:  # the socket broke (closed, reset, bad frame): reconnect
                clean, error = False, f"socket mode: {type(exc).__name__}: {exc}"
            if self._stop.is_set():
                break
            if self._greeted:
                delay = self.first_delay
            if clean:  # Slack asked us to reconnect: do it now, with a fresh URL
                continue
            self.on_state(False, error)
            log.warning("slack: %s; reconnecting in %.1f s", error, delay)
            self._stop.wait(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.max_delay)

    def _session(self) -> bool:
        """One connection, until Slack says ``disconnect`` (True) or something breaks (raises)."""
        from websockets.sync.client import connect

        answer = self.api.call("apps.connections.open", token=self._app_token)
        url = answer.get("url")
        if not isinstance(url, str) or not url.startswith(("wss://", "ws://")):
            raise SendError("slack apps.connections.open: no websocket URL in the answer")
        with connect(url, open_timeout=10, close_timeout=2, max_size=None,
                     logger=_TicketMasked(logging.getLogger("ember.gateway.slack.websocket"), {})) as socket:
            with self._lock:
                self._socket = socket
                self.connections += 1
            try:
                return self._receive(socket)
            finally:
                with self._lock:
                    self._socket = None

    def _receive(self, socket: Any) -> bool:
        while not self._stop.is_set():
            try:
                raw = socket.recv(timeout=1.0)
            except TimeoutError:
                continue
            try:
                message = json.loads(raw)
            except ValueError:
                log.warning("slack: a socket mode frame that is not JSON, ignored")
                continue
            if not isinstance(message, dict):
                continue
            kind = str(message.get("type") or "")
            if kind == "hello":
                self._greeted = True
                self.on_state(True, None)
            elif kind == "disconnect":
                reason = str(message.get("reason") or "")
                if reason == "link_disabled":
                    raise SocketModeError("slack: Socket Mode is turned off for this app (link_disabled)")
                log.info("slack: socket mode disconnect (%s), reconnecting", reason or "no reason")
                return True
            elif message.get("envelope_id"):
                payload = message.get("payload")
                try:
                    self.handle(kind, payload if isinstance(payload, dict) else {})
                except Exception as exc:  # not recorded: no ack; a new socket gets it again
                    raise SocketModeError(f"slack: an event was not recorded ({type(exc).__name__}: {exc}); "
                                          "Slack delivers it again") from exc
                socket.send(json.dumps({"envelope_id": message["envelope_id"]}))
        return True
