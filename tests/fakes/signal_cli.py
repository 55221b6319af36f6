"""A fake signal-cli daemon for tests: its JSON-RPC over HTTP (with server-sent events) and over a
UNIX socket, as ``signal-cli -a NUMBER daemon --http HOST:PORT --socket PATH`` serves them.

HTTP (``fake.url``, ``http://127.0.0.1:PORT``): ``POST /api/v1/rpc`` (one request or a batch,
``Content-Type: application/json`` or 415), ``GET /api/v1/events`` (``text/event-stream``, chunked:
``event:receive`` / ``data:{"account", "envelope"}`` per message and a ``:`` keep-alive every
``keepalive`` seconds), ``GET /api/v1/check``. Socket (``fake.socket_path``): newline-delimited
JSON-RPC; incoming messages are written to the connection as ``receive`` requests, bare for the
automatic subscription (``receive_mode`` ``on-start`` and ``on-connection``), wrapped as
``{"subscription": N, "result": ...}`` after ``subscribeReceive``.

Methods: ``send`` (``recipient``, ``groupId``, ``message``, ``attachments`` as paths or data URIs;
answers ``{"timestamp", "results"}``), ``sendTyping``, ``getAttachment`` (``{"data": base64}``),
``listGroups``, ``version``, ``subscribeReceive``, ``unsubscribeReceive``. Errors are signal-cli's:
code -1 (user error; for a failed send ``data.response.results`` names the failure per
recipient), -3 (I/O), -4 (untrusted identity), -5 (rate limit), -32601 (no such method), -32603
(internal, e.g. an attachment that cannot be read).

Like Signal's servers in ``manual`` and ``on-connection`` modes, messages wait while nothing
receives and go to every receiver once one is there; in ``on-start`` mode a message nobody
receives is gone (``fake.dropped``).

Use it as a context manager::

    from tests.fakes.signal_cli import FakeSignalCli

    with FakeSignalCli(tmp_path / "signal.sock") as fake:    # fake.url, fake.socket_path, fake.account
        env = fake.user_says("+15550001111", "hello")         # a 1:1 message; env["timestamp"]
        gid = fake.add_group("Family", ["+15550001111"])
        fake.user_says("+15550001111", "hi @bot", group=gid, mention=True)   # mentions the bot
        fake.user_says("+15550001111", "see", attachments=[("a.png", b"...", "image/png")])
        fake.wait_sent(1)[0]            # Sent: .recipient .group .message .attachments [(name, bytes)] .timestamp
        fake.typing, fake.calls         # sendTyping targets; Call(transport, method, params)
        fake.wait_receivers(1)          # until something receives (an event stream or a subscribed socket)
        fake.wait_handed_out()          # until every receiver was handed what was queued for it
        fake.drop_receivers()           # cut every receiving connection
        fake.unregistered.add("+1555...")   # sends to this number fail as signal-cli says
        fake.untrusted.add("+1555...")      # ... with an untrusted identity (-4)

Faults, for the next ``times`` calls of a method (``"events"`` is the HTTP event stream)::

    fake.fail("send", error="rate_limit")     # -5, results RATE_LIMIT_FAILURE, retryAfterSeconds
    fake.fail("send", error="network")        # -1, results NETWORK_FAILURE
    fake.fail("send", error="unregistered")   # -1, results UNREGISTERED_FAILURE
    fake.fail("send", error="untrusted")      # -4, results IDENTITY_FAILURE
    fake.fail("send", error="io")             # -3
    fake.fail("send", code=-1, message="...") # any error
    fake.fail("send", hang=5.0)               # no answer for 5 s, then the connection closes
    fake.fail("send", drop=True)              # the connection closes without an answer
    fake.fail("send", status=503)             # HTTP only: a 5xx (a proxy in front of signal-cli)
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import socketserver
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["Call", "FakeSignalCli", "Fault", "Sent"]

USER_ERROR, IO_ERROR, UNTRUSTED_KEY, RATE_LIMIT = -1, -3, -4, -5
METHOD_NOT_FOUND, INTERNAL_ERROR = -32601, -32603


@dataclass
class Fault:
    error: str | None = None
    code: int | None = None
    message: str | None = None
    data: Any = None
    hang: float | None = None
    drop: bool = False
    status: int | None = None


@dataclass
class Call:
    transport: str  # "http" or "socket"
    method: str
    params: dict[str, Any]


@dataclass
class Sent:
    recipient: str | None
    group: str | None
    message: str
    timestamp: int
    attachments: list[tuple[str, bytes]] = field(default_factory=list, repr=False)
    transport: str = ""


class RPCFailure(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class _Receiver:
    """One receiving connection: an event stream, or a socket's subscription."""

    def __init__(self, subscription: int | None) -> None:
        self.subscription = subscription  # None: bare notifications (the automatic subscription)
        self.queue: deque[dict[str, Any]] = deque()
        self.closed = False
        self.connection: socket.socket | None = None


class FakeSignalCli:
    """A fake ``signal-cli daemon --http --socket``; see the module docstring."""

    def __init__(self, socket_path: str | Path | None = None, *, account: str = "+15550000001",
                 receive_mode: str = "manual", keepalive: float = 15.0) -> None:
        assert receive_mode in ("on-start", "on-connection", "manual")
        self.account = account
        self.account_uuid = str(uuid.uuid4())
        self.receive_mode = receive_mode
        self.keepalive = keepalive
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if socket_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fake-signal-")
            socket_path = Path(self._tmp.name) / "socket"
        self.socket_path = str(socket_path)
        self.sent: list[Sent] = []
        self.typing: list[dict[str, Any]] = []
        self.calls: list[Call] = []
        self.dropped: list[dict[str, Any]] = []  # messages nobody received (on-start mode)
        self.unregistered: set[str] = set()
        self.untrusted: set[str] = set()
        self.groups: dict[str, dict[str, Any]] = {}
        self.attachments: dict[str, tuple[str, bytes]] = {}  # id -> (name, bytes)
        self.streams_opened = 0
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.stopped = threading.Event()
        self._pending: deque[dict[str, Any]] = deque()
        self._receivers: list[_Receiver] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._subscriptions = itertools.count(0)
        self._last_ts = 0
        self._http: ThreadingHTTPServer | None = None
        self._unix: socketserver.ThreadingUnixStreamServer | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeSignalCli:
        self._http = _HTTPServer(("127.0.0.1", 0), _HTTPHandler)
        self._http.fake = self  # type: ignore[attr-defined]
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        self._unix = _UnixServer(self.socket_path, _SocketHandler)
        self._unix.fake = self  # type: ignore[attr-defined]
        for server in (self._http, self._unix):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.drop_receivers()
        for server in (self._http, self._unix):
            if server is not None:
                server.shutdown()
                server.server_close()
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> FakeSignalCli:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._http is not None, "start the fake first (use it as a context manager)"
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    # --- what people do --------------------------------------------------------------------------

    def timestamp(self) -> int:
        with self.lock:
            self._last_ts = max(self._last_ts + 1, int(time.time() * 1000))
            return self._last_ts

    def add_group(self, name: str, members: list[str] | tuple[str, ...] = ()) -> str:
        group_id = base64.b64encode(os.urandom(32)).decode()
        with self.lock:
            self.groups[group_id] = {"id": group_id, "name": name, "description": "", "isMember": True,
                                     "isBlocked": False, "members": [self.account, *members],
                                     "pendingMembers": [], "requestingMembers": [], "admins": [self.account],
                                     "groupInviteLink": None}
        return group_id

    def add_attachment(self, name: str, data: bytes, mime: str = "application/octet-stream") -> dict[str, Any]:
        attachment_id = f"{uuid.uuid4().hex[:20]}{Path(name).suffix}"
        with self.lock:
            self.attachments[attachment_id] = (name, data)
        return {"contentType": mime, "filename": name, "id": attachment_id, "size": len(data), "width": None,
                "height": None, "caption": None, "uploadTimestamp": int(time.time() * 1000)}

    def user_says(self, number: str, text: str = "", *, group: str | None = None,
                  attachments: list[tuple[str, bytes, str]] | tuple[()] = (), mention: bool = False,
                  quote: int | None = None, name: str = "Ada", sender_uuid: str | None = None,
                  hide_number: bool = False, **data: Any) -> dict[str, Any]:
        """Queue a message from ``number`` (in ``group`` when given). ``mention``: the text starts
        with a mention of the bot; ``quote``: it replies to the bot's message of that timestamp;
        ``hide_number``: the sender shares only their account id (phone number privacy)."""
        ts = self.timestamp()
        sender_uuid = sender_uuid or str(uuid.uuid5(uuid.NAMESPACE_URL, number))
        message: dict[str, Any] = {"timestamp": ts, "message": text or None, "expiresInSeconds": 0,
                                   "viewOnce": False}
        if mention:
            message["message"] = "\ufffc " + text
            message["mentions"] = [{"name": self.account, "number": self.account, "uuid": self.account_uuid,
                                    "start": 0, "length": 1}]
        if quote is not None:
            message["quote"] = {"id": quote, "author": self.account, "authorNumber": self.account,
                                "authorUuid": self.account_uuid, "text": "", "attachments": []}
        if attachments:
            message["attachments"] = [self.add_attachment(n, b, m) for n, b, m in attachments]
        if group is not None:
            message["groupInfo"] = {"groupId": group, "groupName": self.groups.get(group, {}).get("name", ""),
                                    "revision": 1, "type": "DELIVER"}
        message.update(data)
        envelope = {"source": sender_uuid if hide_number else number,
                    "sourceNumber": None if hide_number else number, "sourceUuid": sender_uuid,
                    "sourceName": name, "sourceDevice": 1, "timestamp": ts, "serverReceivedTimestamp": ts + 5,
                    "serverDeliveredTimestamp": ts + 9, "dataMessage": message}
        self.push({"envelope": envelope, "account": self.account})
        return envelope

    def push(self, item: dict[str, Any]) -> None:
        """Queue any ``receive`` object (receipts, typing, sync messages...)."""
        with self.changed:
            receivers = [r for r in self._receivers if not r.closed]
            if receivers:
                for receiver in receivers:
                    receiver.queue.append(item)
            elif self.receive_mode == "on-start":
                self.dropped.append(item)
            else:
                self._pending.append(item)
            self.changed.notify_all()

    # --- waiting ---------------------------------------------------------------------------------

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        """Until ``condition()`` holds (checked at each change here, and every 50 ms for changes elsewhere)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout} s for {what}")
                self.changed.wait(min(left, 0.05))

    def wait_sent(self, count: int = 1, timeout: float = 5.0) -> list[Sent]:
        self.wait_for(lambda: len(self.sent) >= count, timeout, f"{count} sent message(s), got {self.sent}")
        with self.lock:
            return list(self.sent)

    @property
    def receivers(self) -> int:
        with self.lock:
            return sum(not r.closed for r in self._receivers)

    def wait_receivers(self, count: int = 1, timeout: float = 5.0) -> None:
        self.wait_for(lambda: self.receivers >= count, timeout, f"{count} receiver(s)")

    def wait_handed_out(self, timeout: float = 5.0) -> None:
        """Until every receiving connection was handed everything queued for it."""
        self.wait_for(lambda: not any(r.queue for r in self._receivers if not r.closed), timeout,
                      "every queued message handed to a receiver")

    def calls_of(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    # --- faults ----------------------------------------------------------------------------------

    def fail(self, method: str, times: int = 1, **fault: Any) -> None:
        with self.lock:
            self._faults[method].extend(Fault(**fault) for _ in range(times))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def take_fault(self, method: str) -> Fault | None:
        with self.lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    def drop_receivers(self) -> None:
        with self.changed:
            receivers = list(self._receivers)
            for receiver in receivers:
                receiver.closed = True
            self.changed.notify_all()
        for receiver in receivers:
            if receiver.connection is not None:
                try:
                    receiver.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # --- receivers (used by the servers) ---------------------------------------------------------

    def add_receiver(self, subscription: int | None, connection: socket.socket) -> _Receiver:
        receiver = _Receiver(subscription)
        receiver.connection = connection
        with self.changed:
            receiver.queue.extend(self._pending)
            self._pending.clear()
            self._receivers.append(receiver)
            self.streams_opened += 1
            self.changed.notify_all()
        return receiver

    def remove_receiver(self, receiver: _Receiver) -> None:
        with self.changed:
            receiver.closed = True
            if receiver in self._receivers:
                self._receivers.remove(receiver)
            self.changed.notify_all()

    def next_item(self, receiver: _Receiver, wait: float) -> dict[str, Any] | None:
        with self.changed:
            self.changed.wait_for(lambda: receiver.queue or receiver.closed or self.stopped.is_set(), wait)
            return receiver.queue.popleft() if receiver.queue and not receiver.closed else None

    # --- methods ---------------------------------------------------------------------------------

    def rpc(self, transport: str, request: Any) -> dict[str, Any] | None:
        """One JSON-RPC request's answer (None for a notification)."""
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not request.get("method"):
            return {"jsonrpc": "2.0", "error": {"code": -32600, "message": "method field must be set", "data": None},
                    "id": None}
        method, params = str(request["method"]), request.get("params") or {}
        with self.changed:
            self.calls.append(Call(transport, method, params))
            self.changed.notify_all()
        try:
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise RPCFailure(METHOD_NOT_FOUND, "Method not implemented")
            result = handler(params, transport)
            answer: dict[str, Any] = {"jsonrpc": "2.0", "result": result, "id": request.get("id")}
        except RPCFailure as failure:
            answer = {"jsonrpc": "2.0", "error": {"code": failure.code, "message": failure.message,
                                                  "data": failure.data}, "id": request.get("id")}
        return answer if "id" in request else None

    def fault_answer(self, fault: Fault, request: Any) -> dict[str, Any]:
        code, message, data = _NAMED_ERRORS.get(fault.error or "", (USER_ERROR, "Failed to send message", None))
        if callable(data):
            data = data(self, request)
        return {"jsonrpc": "2.0", "error": {"code": fault.code if fault.code is not None else code,
                                            "message": fault.message or message, "data": fault.data or data},
                "id": request.get("id") if isinstance(request, dict) else None}

    def _recipients(self, params: dict[str, Any]) -> list[str]:
        value = params.get("recipient") or params.get("recipients") or []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def _m_send(self, params: dict[str, Any], transport: str) -> dict[str, Any]:
        recipients, group = self._recipients(params), params.get("groupId")
        if not recipients and not group:
            raise RPCFailure(USER_ERROR, "No recipients given")
        if group and group not in self.groups:
            raise RPCFailure(USER_ERROR, f"Group not found: {group}")
        files = params.get("attachments") or params.get("attachment") or []
        attachments = [self._read_attachment(str(f)) for f in ([files] if isinstance(files, str) else files)]
        for number in recipients:
            if number in self.untrusted:
                raise RPCFailure(UNTRUSTED_KEY, "Failed to send message due to untrusted identities",
                                 _results(number, "IDENTITY_FAILURE"))
            if number in self.unregistered:
                raise RPCFailure(USER_ERROR, "Failed to send message", _results(number, "UNREGISTERED_FAILURE"))
        ts = self.timestamp()
        with self.changed:
            for number in recipients or [None]:
                self.sent.append(Sent(number, group, str(params.get("message") or ""), ts, attachments, transport))
            self.changed.notify_all()
        targets = recipients or (self.groups[group]["members"][1:] if group else [])
        return {"timestamp": ts, "results": [_result(n, "SUCCESS", group) for n in targets]}

    def _read_attachment(self, spec: str) -> tuple[str, bytes]:
        if spec.startswith("data:"):
            head, _, body = spec.partition(",")
            name = next((p.split("=", 1)[1] for p in head.split(";") if p.startswith("filename=")), "attachment")
            return unquote(name), base64.b64decode(body)
        try:
            return Path(spec).name, Path(spec).read_bytes()
        except OSError as exc:
            raise RPCFailure(INTERNAL_ERROR, f"Failed to send message: {spec}: {exc.strerror} "
                                             "(AttachmentInvalidException)") from None

    def _m_sendTyping(self, params: dict[str, Any], transport: str) -> dict[str, Any]:
        recipients, groups = self._recipients(params), params.get("groupId")
        if not recipients and not groups:
            raise RPCFailure(USER_ERROR, "No recipients given")
        with self.changed:
            self.typing.append(dict(params))
            self.changed.notify_all()
        return {"timestamp": self.timestamp(), "results": [_result(n, "SUCCESS") for n in recipients]}

    def _m_getAttachment(self, params: dict[str, Any], transport: str) -> dict[str, Any]:
        attachment_id = str(params.get("id") or "")
        if not attachment_id:
            raise RPCFailure(USER_ERROR, "Missing attachment id parameter")
        if attachment_id not in self.attachments:
            raise RPCFailure(USER_ERROR, f"Could not find attachment with ID: {attachment_id}")
        return {"data": base64.b64encode(self.attachments[attachment_id][1]).decode()}

    def _m_listGroups(self, params: dict[str, Any], transport: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(g) for g in self.groups.values()]

    def _m_version(self, params: dict[str, Any], transport: str) -> dict[str, Any]:
        return {"version": "0.13.18-fake"}

    def _m_subscribeReceive(self, params: dict[str, Any], transport: str) -> int:
        if transport != "socket":
            raise RPCFailure(METHOD_NOT_FOUND, "Method not implemented")
        return next(self._subscriptions)  # the socket handler attaches the receiver

    def _m_unsubscribeReceive(self, params: dict[str, Any], transport: str) -> dict[str, Any]:
        return {}


def _result(number: str, kind: str, group: str | None = None, **extra: Any) -> dict[str, Any]:
    found = {"recipientAddress": {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, number)), "number": number},
             "type": kind, **extra}
    if group:
        found["groupId"] = group
    return found


def _results(number: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"response": {"timestamp": int(time.time() * 1000), "results": [_result(number, kind, **extra)]}}


def _first_recipient(fake: FakeSignalCli, request: Any) -> str:
    params = request.get("params") if isinstance(request, dict) else None
    found = fake._recipients(params) if isinstance(params, dict) else []
    return found[0] if found else "+15550009999"


_NAMED_ERRORS: dict[str, tuple[int, str, Any]] = {
    "rate_limit": (RATE_LIMIT, "Failed to send message due to rate limiting",
                   lambda fake, r: _results(_first_recipient(fake, r), "RATE_LIMIT_FAILURE", retryAfterSeconds=3)),
    "network": (USER_ERROR, "Failed to send message",
                lambda fake, r: _results(_first_recipient(fake, r), "NETWORK_FAILURE")),
    "unregistered": (USER_ERROR, "Failed to send message",
                     lambda fake, r: _results(_first_recipient(fake, r), "UNREGISTERED_FAILURE")),
    "untrusted": (UNTRUSTED_KEY, "Failed to send message due to untrusted identities",
                  lambda fake, r: _results(_first_recipient(fake, r), "IDENTITY_FAILURE")),
    "io": (IO_ERROR, "Failed to send message: Connection reset (IOException)", None),
    "internal": (INTERNAL_ERROR, "Failed to send message: timeout (IOException)", None),
}


# --- HTTP ----------------------------------------------------------------------------------------

class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    @property
    def fake(self) -> FakeSignalCli:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _fault(self, fault: Fault | None, request: Any) -> bool:
        if fault is None:
            return False
        if fault.hang is not None:
            self.fake.stopped.wait(fault.hang)
            fault.drop = True
        if fault.drop:
            self._drop()
        elif fault.status is not None:
            self._send(fault.status, b"<html><body>Bad Gateway</body></html>", "text/html")
        else:
            self._send(200, json.dumps(self.fake.fault_answer(fault, request)).encode())
        return True

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if urlsplit(self.path).path != "/api/v1/rpc":
            self._send(404)
            return
        if not (self.headers.get("content-type") or "").startswith("application/json"):
            self._send(415)
            return
        try:
            request = json.loads(raw)
        except ValueError:
            self._send(200, json.dumps({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"},
                                        "id": None}).encode())
            return
        requests = request if isinstance(request, list) else [request]
        answers = []
        for one in requests:
            method = one.get("method") if isinstance(one, dict) else None
            if self._fault(self.fake.take_fault(str(method)), one):
                return
            answer = self.fake.rpc("http", one)
            if answer is not None:
                answers.append(answer)
        if not answers:
            self._send(201)
        else:
            self._send(200, json.dumps(answers if isinstance(request, list) else answers[0]).encode())

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/api/v1/check":
            self._send(200)
        elif path == "/api/v1/events":
            self._events()
        else:
            self._send(404)

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _events(self) -> None:
        fake = self.fake
        fault = fake.take_fault("events")
        if fault is not None:
            if fault.hang is not None:  # headers, then silence: not even a keep-alive
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                fake.stopped.wait(fault.hang)
                self._drop()
                return
            if self._fault(fault, {}):
                return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        receiver = fake.add_receiver(None, self.connection)
        self.close_connection = True
        try:
            while not receiver.closed and not fake.stopped.is_set():
                item = fake.next_item(receiver, fake.keepalive)
                if item is not None:
                    self._chunk(f"event:receive\ndata:{json.dumps(item)}\n\n")
                elif not receiver.closed:
                    self._chunk(":\n")
        except OSError:
            pass
        finally:
            fake.remove_receiver(receiver)


# --- the UNIX socket -------------------------------------------------------------------------------

class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _SocketHandler(socketserver.StreamRequestHandler):
    """One connection: requests in order; notifications written by a pump thread per subscription."""

    def handle(self) -> None:
        fake: FakeSignalCli = self.server.fake  # type: ignore[attr-defined]
        self.write_lock = threading.Lock()
        receivers: list[_Receiver] = []
        if fake.receive_mode != "manual":
            receivers.append(self._pump(fake, None))
        try:
            for raw in self.rfile:
                if not raw.strip():
                    continue
                try:
                    request = json.loads(raw)
                except ValueError:
                    self._write({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None})
                    continue
                method = str(request.get("method")) if isinstance(request, dict) else ""
                fault = fake.take_fault(method)
                if fault is not None:
                    if fault.hang is not None:
                        fake.stopped.wait(fault.hang)
                        fault.drop = True
                    if fault.drop or fault.status is not None:
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self._write(fake.fault_answer(fault, request))
                    continue
                answer = fake.rpc("socket", request)
                if answer is not None:
                    self._write(answer)
                    if method == "subscribeReceive" and isinstance(answer.get("result"), int):
                        receivers.append(self._pump(fake, answer["result"]))
        except OSError:
            pass
        finally:
            for receiver in receivers:
                fake.remove_receiver(receiver)

    def _write(self, message: dict[str, Any]) -> None:
        with self.write_lock:
            self.wfile.write(json.dumps(message).encode() + b"\n")
            self.wfile.flush()

    def _pump(self, fake: FakeSignalCli, subscription: int | None) -> _Receiver:
        receiver = fake.add_receiver(subscription, self.connection)

        def run() -> None:
            try:
                while not receiver.closed and not fake.stopped.is_set():
                    item = fake.next_item(receiver, 0.5)
                    if item is None:
                        continue
                    params = item if subscription is None else {"subscription": subscription, "result": item}
                    self._write({"jsonrpc": "2.0", "method": "receive", "params": params})
            except (OSError, ValueError):  # ValueError: the connection's file was closed meanwhile
                fake.remove_receiver(receiver)

        threading.Thread(target=run, name="fake-signal-pump", daemon=True).start()
        return receiver
