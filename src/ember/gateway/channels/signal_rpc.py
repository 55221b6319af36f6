"""signal-cli's JSON-RPC daemon, over HTTP or a UNIX socket (``man 5 signal-cli-jsonrpc``).

``signal-cli -a NUMBER daemon --http HOST:PORT`` answers one JSON-RPC request per
``POST /api/v1/rpc`` and streams incoming messages as server-sent events from
``GET /api/v1/events`` (``event:receive`` / ``data:{"account", "envelope"}``, a ``:`` comment
every 15 s to keep the stream alive). ``signal-cli -a NUMBER daemon --socket PATH`` speaks
newline-delimited JSON-RPC on a UNIX socket and interleaves incoming messages as requests with
method ``receive``.

On the socket each call gets a connection of its own (connect, one request, read until its
answer, close), so a call never waits behind another; the receiving connection asks for its
own subscription (``subscribeReceive``) and takes only what comes with it, so it works with
every ``--receive-mode``, and with ``manual`` a connection that only sends receives nothing.

Failures are two kinds: ``RPCError``, signal-cli's own answer (``code``, ``message`` and, for
``send``, ``data.response.results`` saying what happened per recipient), and ``Unreachable``:
no answer, a dropped connection, an HTTP error status. Credentials in the URL
(``http://user:password@host``, for a daemon behind a reverse proxy) become HTTP basic auth and
never appear in an error.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("ember.gateway.signal")

MAX_LINE = 256 * 1024 * 1024  # a getAttachment answer carries the file, base64


class RPCError(Exception):
    """signal-cli answered with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"signal-cli {method}: {message} (code {code})")
        self.method, self.code, self.message, self.data = method, code, message, data


class Unreachable(Exception):
    """No answer from signal-cli: not running, the connection dropped, timed out, HTTP error.
    ``status``: the HTTP status when there was one (a 4xx means the URL is not signal-cli's)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _answer(method: str, message: Any) -> Any:
    if not isinstance(message, dict) or ("result" not in message and "error" not in message):
        raise Unreachable(f"signal-cli {method}: an answer that is not JSON-RPC")
    error = message.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise RPCError(method, -32603, str(error))
        raise RPCError(method, int(error.get("code") or 0), str(error.get("message") or "error"), error.get("data"))
    return message.get("result")


def _shutdown(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # closed already
        pass


class HttpRPC:
    """``daemon --http``: calls with ``POST /api/v1/rpc``, messages from ``GET /api/v1/events``."""

    def __init__(self, url: str, client: httpx.Client | None = None, *, timeout: float = 30.0,
                 idle_timeout: float = 60.0) -> None:
        from ember.models.transport import load_httpx

        self._httpx = load_httpx()
        parts = urlsplit(url.rstrip("/"))
        # basic auth, passed with each request (an injected client keeps its own settings)
        self._auth: dict[str, Any] = {"auth": (parts.username, parts.password or "")} if parts.username else {}
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port:
            netloc += f":{parts.port}"
        self.base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.where = self.base
        self.timeout = timeout
        self.idle_timeout = idle_timeout  # no byte (not even a keep-alive) for this long: reconnect
        self._owns_client = client is None
        self._client = client or self._httpx.Client(timeout=self._httpx.Timeout(timeout, connect=10.0))
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stream_socket: socket.socket | None = None

    def call(self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        httpx = self._httpx
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": next(self._ids)}
        if params:
            body["params"] = params
        wait = timeout or self.timeout
        try:
            response = self._client.post(f"{self.base}/api/v1/rpc", json=body, **self._auth,
                                         timeout=httpx.Timeout(wait, connect=min(wait, 10.0)))
        except httpx.TimeoutException:
            raise Unreachable(f"signal-cli {method}: no answer from {self.where} within {wait:g} s") from None
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client was closed (stopping)
            raise Unreachable(f"signal-cli {method}: cannot reach {self.where} ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise Unreachable(f"signal-cli {method}: HTTP {response.status_code} from {self.where}",
                              status=response.status_code)
        try:
            message = response.json()
        except ValueError:
            raise Unreachable(f"signal-cli {method}: HTTP 200 without JSON (is {self.where} signal-cli's "
                              "daemon --http?)") from None
        return _answer(method, message)

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: keep the event stream's socket, so ``interrupt`` can cut it."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            try:
                sock = info["return_value"].get_extra_info("socket")
            except Exception:  # another httpcore: interrupt() then waits for the idle timeout
                return
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._stream_socket = sock

    def events(self, on_open: Callable[[], None], stopping: threading.Event | None = None
               ) -> Iterator[dict[str, Any]]:
        """Each ``receive`` event's object (``{"account", "envelope"}``) until the stream ends;
        ``Unreachable`` when it cannot be opened or breaks (``interrupt`` cuts it)."""
        httpx = self._httpx
        url = f"{self.base}/api/v1/events"
        # A connection of its own, so interrupt() cuts exactly this stream.
        with httpx.Client(timeout=httpx.Timeout(self.idle_timeout, connect=10.0)) as client:
            try:
                with client.stream("GET", url, **self._auth, headers={"Accept": "text/event-stream"},
                                   extensions={"trace": self._trace}) as response:
                    if response.status_code != 200:
                        raise Unreachable(f"signal-cli events: HTTP {response.status_code} from {self.where}",
                                          status=response.status_code)
                    on_open()
                    yield from self._parse(response.iter_lines())
            except httpx.TimeoutException:
                raise Unreachable(f"signal-cli events: nothing from {self.where} for {self.idle_timeout:g} s "
                                  "(signal-cli sends a keep-alive every 15 s)") from None
            except httpx.HTTPError as exc:
                raise Unreachable(f"signal-cli events: connection to {self.where} lost "
                                  f"({type(exc).__name__})") from None
            finally:
                with self._lock:
                    self._stream_socket = None
        raise Unreachable(f"signal-cli events: {self.where} closed the stream")

    @staticmethod
    def _parse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
        data: list[str]
        event, data = "", []
        for line in lines:
            if not line:
                if data and event in ("", "receive"):
                    try:
                        found = json.loads("\n".join(data))
                    except ValueError:
                        log.warning("signal: an event that is not JSON, skipped")
                        found = None
                    if isinstance(found, dict):
                        yield found
                event, data = "", []
            elif line.startswith(":"):
                continue  # a keep-alive
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)

    def interrupt(self) -> None:
        with self._lock:
            sock = self._stream_socket
        _shutdown(sock)

    def close(self) -> None:
        self.interrupt()
        if self._owns_client:
            self._client.close()


class _Lines:
    """Newline-delimited JSON on a socket, read with a stop check between waits."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def next(self, deadline_wait: float | None, stopping: threading.Event | None = None) -> bytes | None:
        """The next line, None when ``deadline_wait`` seconds passed without one; ``EOFError`` at
        the end of the stream."""
        end = None if deadline_wait is None else time.monotonic() + deadline_wait
        while b"\n" not in self.buffer:
            if stopping is not None and stopping.is_set():
                return None
            left = 1.0 if end is None else min(1.0, end - time.monotonic())
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise EOFError
            self.buffer += chunk
            if len(self.buffer) > MAX_LINE:
                raise EOFError
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line


class SocketRPC:
    """``daemon --socket PATH``: newline-delimited JSON-RPC on a UNIX socket."""

    def __init__(self, path: str, *, timeout: float = 30.0) -> None:
        self.path = path
        self.where = path
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stream_socket: socket.socket | None = None

    def _connect(self, what: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10.0)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise Unreachable(f"signal-cli {what}: cannot connect to {self.path} "
                              f"({exc.strerror or type(exc).__name__})") from None
        return sock

    def call(self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        request_id = f"ember-{next(self._ids)}"
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params:
            body["params"] = params
        wait = timeout or self.timeout
        sock = self._connect(method)
        try:
            sock.sendall(json.dumps(body).encode() + b"\n")
            lines = _Lines(sock)
            end = time.monotonic() + wait
            while True:
                line = lines.next(max(end - time.monotonic(), 0.0))
                if line is None:
                    raise Unreachable(f"signal-cli {method}: no answer from {self.path} within {wait:g} s")
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if isinstance(message, dict) and message.get("id") == request_id and "method" not in message:
                    return _answer(method, message)
                # a notification (a message for this connection's automatic subscription): not ours
        except EOFError:
            raise Unreachable(f"signal-cli {method}: {self.path} closed the connection without an answer") from None
        except OSError as exc:
            raise Unreachable(f"signal-cli {method}: connection to {self.path} lost "
                              f"({exc.strerror or type(exc).__name__})") from None
        finally:
            sock.close()

    def events(self, on_open: Callable[[], None], stopping: threading.Event | None = None
               ) -> Iterator[dict[str, Any]]:
        """Each incoming message's object (``{"account", "envelope"}``) until the connection ends."""
        sock = self._connect("receive")
        with self._lock:
            self._stream_socket = sock
        subscribe_id = f"ember-subscribe-{next(self._ids)}"
        subscription: int | None = None
        waiting_answer = True
        held: list[dict[str, Any]] = []  # messages of the automatic subscription, before our answer
        try:
            sock.sendall(json.dumps({"jsonrpc": "2.0", "method": "subscribeReceive", "id": subscribe_id}).encode()
                         + b"\n")
            lines = _Lines(sock)
            while stopping is None or not stopping.is_set():
                line = lines.next(None if not waiting_answer else self.timeout, stopping)
                if line is None:
                    if waiting_answer and (stopping is None or not stopping.is_set()):
                        raise Unreachable(f"signal-cli subscribeReceive: no answer from {self.path}")
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    log.warning("signal: a line from signal-cli that is not JSON, skipped")
                    continue
                if not isinstance(message, dict):
                    continue
                if message.get("id") == subscribe_id and "method" not in message:
                    waiting_answer = False
                    if message.get("error") is None and isinstance(message.get("result"), int):
                        subscription = int(message["result"])
                    else:  # an older signal-cli: the automatic subscription is all there is
                        log.info("signal: subscribeReceive refused (%s); taking the automatic subscription",
                                 (message.get("error") or {}).get("message"))
                        yield from held
                    held = []
                    on_open()
                    continue
                if message.get("method") != "receive" or not isinstance(message.get("params"), dict):
                    continue
                params = message["params"]
                if "subscription" in params:
                    if subscription is not None and params.get("subscription") == subscription \
                            and isinstance(params.get("result"), dict):
                        yield params["result"]
                elif waiting_answer:
                    held.append(params)
                elif subscription is None:
                    yield params
        except EOFError:
            raise Unreachable(f"signal-cli receive: {self.path} closed the connection") from None
        except OSError as exc:
            if stopping is not None and stopping.is_set():
                return
            raise Unreachable(f"signal-cli receive: connection to {self.path} lost "
                              f"({exc.strerror or type(exc).__name__})") from None
        finally:
            with self._lock:
                self._stream_socket = None
            sock.close()

    def interrupt(self) -> None:
        with self._lock:
            sock = self._stream_socket
        _shutdown(sock)

    def close(self) -> None:
        self.interrupt()


def connect(rpc: str, client: httpx.Client | None = None, *, timeout: float = 30.0) -> HttpRPC | SocketRPC:
    """The transport ``rpc`` names: an ``http(s)://`` URL, else a socket path (``unix:`` optional)."""
    if rpc.startswith(("http://", "https://")):
        return HttpRPC(rpc, client, timeout=timeout)
    return SocketRPC(rpc.removeprefix("unix://").removeprefix("unix:"), timeout=timeout)
