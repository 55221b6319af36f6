"""A small IMAP4rev1 server for tests (RFC 3501, and IDLE from RFC 2177), on 127.0.0.1 over TCP.

It speaks enough for the standard library's ``imaplib``: ``CAPABILITY``, ``LOGIN`` (atoms, quoted
strings and literals), ``SELECT``/``EXAMINE`` (one folder), ``SEARCH``/``UID SEARCH`` (``ALL``,
``UNSEEN``, ``SEEN``, ``UID set``), ``FETCH``/``UID FETCH`` (``UID``, ``FLAGS``, ``RFC822.SIZE``,
``BODY[]``, ``BODY.PEEK[]``, ``RFC822``; all but ``PEEK`` set ``\\Seen``), ``STORE``/``UID
STORE`` (``+FLAGS``, ``-FLAGS``, ``FLAGS``, ``.SILENT``), ``NOOP`` (reports new messages),
``IDLE``/``DONE`` (new messages are announced as ``* N EXISTS`` while idling), ``CLOSE``,
``LOGOUT``. Messages are added by the test.

Use it as a context manager::

    from tests.fakes.imap_server import FakeIMAP

    with FakeIMAP(user="ember@example.com", password="pw") as imap:    # imap.url: imap+plain://127.0.0.1:PORT
        uid = imap.add(raw_bytes)          # or an EmailMessage; announced to idling connections
        imap.seen(uid), imap.flags(uid)    # what the client marked
        imap.wait_seen(uid); imap.wait_idling(); imap.wait_for(lambda: ...)
        imap.commands                      # ("UID FETCH", "5 (BODY.PEEK[])") for every command, in order
        imap.logins, imap.connections

Faults, for the next ``times`` commands of a name (``"LOGIN"``, ``"UID FETCH"``, ``"IDLE"``...)::

    imap.fail("UID FETCH", drop=True)            # the connection closes instead of an answer
    imap.fail("UID SEARCH", answer="NO [UNAVAILABLE] try later")
    imap.fail("SELECT", hang=5.0)                # no answer for 5 s, then the connection closes
    imap.drop_connections()                      # every open connection closes now
    FakeIMAP(idle=False)                         # no IDLE capability: clients poll
    FakeIMAP(tls=server_context)                 # STARTTLS required before LOGIN (imap://)
    FakeIMAP(tls=server_context, implicit_tls=True)   # TLS from the first byte (imaps://)
"""

from __future__ import annotations

import re
import socket
import socketserver
import ssl
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

__all__ = ["FakeIMAP"]

UIDVALIDITY = 1_700_000_001


@dataclass
class _Message:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


@dataclass
class _Fault:
    drop: bool = False
    answer: str | None = None
    hang: float | None = None


class FakeIMAP:
    """A fake IMAP server; see the module docstring."""

    def __init__(self, user: str = "ember@example.com", password: str = "imap-password", *, idle: bool = True,
                 folder: str = "INBOX", uidvalidity: int = UIDVALIDITY, tls: ssl.SSLContext | None = None,
                 implicit_tls: bool = False) -> None:
        self.user, self.password, self.idle, self.folder = user, password, idle, folder
        self.tls, self.implicit_tls = tls, implicit_tls  # STARTTLS (imap://), or TLS from the start (imaps://)
        self.uidvalidity = uidvalidity
        self.messages: list[_Message] = []
        self.commands: list[tuple[str, str]] = []
        self.logins = 0
        self.connections = 0
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._next_uid = 1
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._open: set[_Connection] = set()
        self._server: socketserver.ThreadingTCPServer | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeIMAP:
        self._server = _Server(("127.0.0.1", 0), _Connection)
        self._server.fake = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.drop_connections()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeIMAP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the fake first (use it as a context manager)"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "imap+plain" if self.tls is None else "imaps" if self.implicit_tls else "imap"
        return f"{scheme}://127.0.0.1:{self.port}"

    # --- the mailbox -----------------------------------------------------------------------------

    def add(self, message: bytes | str | EmailMessage, flags: tuple[str, ...] = ()) -> int:
        """Deliver a message to the folder; its UID. Idling connections hear ``* N EXISTS``."""
        raw = message.as_bytes() if isinstance(message, EmailMessage) else \
            message.encode() if isinstance(message, str) else message
        raw = re.sub(rb"\r?\n", b"\r\n", raw)
        with self.changed:
            uid = self._next_uid
            self._next_uid += 1
            self.messages.append(_Message(uid, raw, set(flags)))
            count = len(self.messages)
            idlers = [c for c in self._open if c.idling]
            self.changed.notify_all()
        for connection in idlers:
            connection.announce(count)
        return uid

    def _find(self, uid: int) -> _Message:
        with self.lock:
            return next(m for m in self.messages if m.uid == uid)

    def flags(self, uid: int) -> set[str]:
        return set(self._find(uid).flags)

    def seen(self, uid: int) -> bool:
        return "\\Seen" in self.flags(uid)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout} s for {what}")
                self.changed.wait(min(left, 0.05))

    def wait_seen(self, uid: int, timeout: float = 5.0) -> None:
        self.wait_for(lambda: self.seen(uid), timeout, f"message {uid} to be marked \\Seen")

    @property
    def idling(self) -> int:
        with self.lock:
            return sum(c.idling for c in self._open)

    def wait_idling(self, count: int = 1, timeout: float = 5.0) -> None:
        self.wait_for(lambda: self.idling >= count, timeout, f"{count} connection(s) in IDLE")

    def commands_of(self, name: str) -> list[str]:
        with self.lock:
            return [args for command, args in self.commands if command == name]

    # --- faults ----------------------------------------------------------------------------------

    def fail(self, command: str, times: int = 1, **fault: Any) -> None:
        with self.lock:
            self._faults[command.upper()].extend(_Fault(**fault) for _ in range(times))

    def take_fault(self, command: str) -> _Fault | None:
        with self.lock:
            queue = self._faults.get(command)
            return queue.popleft() if queue else None

    def drop_connections(self) -> None:
        with self.lock:
            connections = list(self._open)
        for connection in connections:
            connection.drop()

    def opened(self, connection: _Connection) -> None:
        with self.changed:
            self._open.add(connection)
            self.connections += 1
            self.changed.notify_all()

    def closed(self, connection: _Connection) -> None:
        with self.changed:
            self._open.discard(connection)
            self.changed.notify_all()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up


_TOKEN = re.compile(rb'\s*(?:"((?:[^"\\]|\\.)*)"|\{(\d+)\+?\}$|(\((?:[^()]|\([^()]*\))*\))|([^\s()]+))')


class _Connection(socketserver.StreamRequestHandler):
    """One client: commands in order; while idling, ``announce`` may write from another thread."""

    disable_nagle_algorithm = True  # an answer's lines go out as separate writes

    def setup(self) -> None:
        self.fake: FakeIMAP = self.server.fake  # type: ignore[attr-defined]
        self.secure = False
        if self.fake.tls is not None and self.fake.implicit_tls:
            self.request = self.fake.tls.wrap_socket(self.request, server_side=True)
            self.secure = True
        super().setup()
        self.write_lock = threading.Lock()
        self.idling = False
        self.authenticated = False
        self.selected = False
        self.known = 0  # messages this connection was told about

    def drop(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send(self, *lines: bytes | str) -> None:
        with self.write_lock:
            for line in lines:
                data = line.encode() if isinstance(line, str) else line
                self.wfile.write(data if data.endswith(b"\r\n") else data + b"\r\n")
            self.wfile.flush()

    def announce(self, count: int) -> None:
        try:
            self.send(f"* {count} EXISTS", "* 1 RECENT")
            self.known = count
        except OSError:
            pass

    def capabilities(self) -> str:
        found = "IMAP4rev1 LITERAL+" + (" IDLE" if self.fake.idle else "")
        if self.fake.tls is not None and not self.secure:
            return found + " STARTTLS LOGINDISABLED"
        return found + " AUTH=PLAIN"

    def _start_tls(self, tag: str) -> None:
        if self.fake.tls is None or self.secure:
            self.send(f"{tag} BAD STARTTLS not available")
            return
        self.send(f"{tag} OK Begin TLS negotiation now")
        self.connection = self.request = self.fake.tls.wrap_socket(self.connection, server_side=True)
        self.secure = True
        self.rfile = self.connection.makefile("rb", self.rbufsize)
        self.wfile = socketserver._SocketWriter(self.connection)  # type: ignore[attr-defined]

    def handle(self) -> None:
        self.fake.opened(self)
        try:
            self.send(f"* OK [CAPABILITY {self.capabilities()}] Fake IMAP ready")
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
                command, _, args = rest.partition(b" ")
                name = command.decode(errors="replace").upper()
                if name == "UID":
                    sub, _, args = args.partition(b" ")
                    name = f"UID {sub.decode(errors='replace').upper()}"
                args = self._literals(args)
                with self.fake.changed:
                    self.fake.commands.append((name, args.decode(errors="replace")))
                    self.fake.changed.notify_all()
                fault = self.fake.take_fault(name)
                if fault is not None:
                    if fault.hang is not None:
                        time.sleep(fault.hang)
                        fault.drop = True
                    if fault.drop:
                        self.drop()
                        return
                    self.send(f"{tag.decode()} {fault.answer}")
                    continue
                if not self.dispatch(tag.decode(), name, args):
                    return
        except OSError:
            return
        finally:
            self.idling = False
            self.fake.closed(self)

    def _literals(self, args: bytes) -> bytes:
        """A line that ends in ``{n}`` continues with n bytes of literal: read them in."""
        while (found := re.search(rb"\{(\d+)(\+?)\}$", args)) is not None:
            if not found.group(2):
                self.send("+ go ahead")
            data = self.rfile.read(int(found.group(1)))
            rest = self.rfile.readline().rstrip(b"\r\n")
            args = args[:found.start()] + b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"' + rest
        return args

    def dispatch(self, tag: str, name: str, args: bytes) -> bool:
        words = [_unquote(t) for t in _tokens(args)]
        fake = self.fake
        if name == "CAPABILITY":
            self.send(f"* CAPABILITY {self.capabilities()}", f"{tag} OK CAPABILITY completed")
        elif name == "NOOP":
            self._report_new()
            self.send(f"{tag} OK NOOP completed")
        elif name == "LOGOUT":
            self.send("* BYE Fake IMAP logging out", f"{tag} OK LOGOUT completed")
            return False
        elif name == "STARTTLS":
            self._start_tls(tag)
        elif name == "LOGIN" and self.fake.tls is not None and not self.secure:
            self.send(f"{tag} NO [PRIVACYREQUIRED] LOGIN only after STARTTLS")
        elif name == "LOGIN":
            if len(words) == 2 and words == [fake.user, fake.password]:
                self.authenticated = True
                with fake.changed:
                    fake.logins += 1
                    fake.changed.notify_all()
                self.send(f"{tag} OK [CAPABILITY {self.capabilities()}] Logged in")
            else:
                self.send(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.")
        elif not self.authenticated:
            self.send(f"{tag} BAD {name} needs LOGIN first")
        elif name in ("SELECT", "EXAMINE"):
            if not words or words[0].upper() != fake.folder.upper():
                self.send(f"{tag} NO [NONEXISTENT] Mailbox doesn't exist: {words[0] if words else ''}")
                return True
            with fake.lock:
                count, next_uid = len(fake.messages), fake._next_uid
                unseen = next((n for n, m in enumerate(fake.messages, 1) if "\\Seen" not in m.flags), None)
            self.selected, self.known = True, count
            lines = ["* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
                     "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.",
                     f"* {count} EXISTS", "* 0 RECENT", f"* OK [UIDVALIDITY {fake.uidvalidity}] UIDs valid",
                     f"* OK [UIDNEXT {next_uid}] Predicted next UID"]
            if unseen is not None:
                lines.append(f"* OK [UNSEEN {unseen}] First unseen.")
            mode = "READ-ONLY" if name == "EXAMINE" else "READ-WRITE"
            self.send(*lines, f"{tag} OK [{mode}] {name} completed")
        elif not self.selected:
            self.send(f"{tag} BAD {name} needs SELECT first")
        elif name in ("SEARCH", "UID SEARCH"):
            found = self._search(words, uid=name.startswith("UID"))
            self.send("* SEARCH" + "".join(f" {n}" for n in found), f"{tag} OK SEARCH completed")
        elif name in ("FETCH", "UID FETCH"):
            self._fetch(tag, words, uid=name.startswith("UID"))
        elif name in ("STORE", "UID STORE"):
            self._store(tag, words, uid=name.startswith("UID"))
        elif name == "IDLE":
            self._idle(tag)
        elif name == "CLOSE":
            self.selected = False
            self.send(f"{tag} OK CLOSE completed")
        else:
            self.send(f"{tag} BAD Unknown command {name}")
        return True

    def _report_new(self) -> None:
        with self.fake.lock:
            count = len(self.fake.messages)
        if count > self.known:
            self.send(f"* {count} EXISTS")
            self.known = count

    def _numbered(self) -> list[tuple[int, _Message]]:
        with self.fake.lock:
            return list(enumerate(self.fake.messages, 1))

    def _search(self, words: list[str], uid: bool) -> list[int]:
        chosen = self._numbered()
        rest = [w.upper() for w in words]
        while rest:
            key = rest.pop(0)
            if key == "UNSEEN":
                chosen = [(n, m) for n, m in chosen if "\\Seen" not in m.flags]
            elif key == "SEEN":
                chosen = [(n, m) for n, m in chosen if "\\Seen" in m.flags]
            elif key == "UID" and rest:
                wanted = _set(rest.pop(0), max((m.uid for _, m in chosen), default=0))
                chosen = [(n, m) for n, m in chosen if m.uid in wanted]
            elif key != "ALL":
                wanted = _set(key, len(self._numbered()))
                chosen = [(n, m) for n, m in chosen if n in wanted]
        return [m.uid if uid else n for n, m in chosen]

    def _selected(self, spec: str, uid: bool) -> list[tuple[int, _Message]]:
        numbered = self._numbered()
        highest = max((m.uid for _, m in numbered), default=0) if uid else len(numbered)
        wanted = _set(spec, highest)
        return [(n, m) for n, m in numbered if (m.uid if uid else n) in wanted]

    def _fetch(self, tag: str, words: list[str], uid: bool) -> None:
        if len(words) < 2:
            self.send(f"{tag} BAD FETCH needs a set and items")
            return
        items = words[1].strip("()").upper().split()
        for number, message in self._selected(words[0], uid):
            parts: list[bytes] = []
            if uid or "UID" in items:
                parts.append(f"UID {message.uid}".encode())
            body = next((i for i in items if i in ("BODY[]", "BODY.PEEK[]", "RFC822")), None)
            if body is not None and body != "BODY.PEEK[]":
                with self.fake.changed:
                    message.flags.add("\\Seen")
                    self.fake.changed.notify_all()
            if "FLAGS" in items:
                parts.append(f"FLAGS ({' '.join(sorted(message.flags))})".encode())
            if "RFC822.SIZE" in items:
                parts.append(f"RFC822.SIZE {len(message.raw)}".encode())
            if body is not None:
                label = "RFC822" if body == "RFC822" else "BODY[]"
                parts.append(f"{label} {{{len(message.raw)}}}\r\n".encode() + message.raw)
            self.send(f"* {number} FETCH (".encode() + b" ".join(parts) + b")")
        self.send(f"{tag} OK FETCH completed")

    def _store(self, tag: str, words: list[str], uid: bool) -> None:
        if len(words) < 3:
            self.send(f"{tag} BAD STORE needs a set, an action and flags")
            return
        action = words[1].upper()
        flags = set(words[2].strip("()").split())
        changed = []
        with self.fake.changed:
            for number, message in self._selected(words[0], uid):
                if action.startswith("+FLAGS"):
                    message.flags |= flags
                elif action.startswith("-FLAGS"):
                    message.flags -= flags
                elif action.startswith("FLAGS"):
                    message.flags = set(flags)
                else:
                    self.send(f"{tag} BAD unknown STORE action {action}")
                    return
                changed.append((number, message))
            self.fake.changed.notify_all()
        if not action.endswith(".SILENT"):
            for number, message in changed:
                prefix = f"UID {message.uid} " if uid else ""
                self.send(f"* {number} FETCH ({prefix}FLAGS ({' '.join(sorted(message.flags))}))")
        self.send(f"{tag} OK STORE completed")

    def _idle(self, tag: str) -> None:
        if not self.fake.idle:
            self.send(f"{tag} BAD Unknown command IDLE")
            return
        self.send("+ idling")
        with self.fake.changed:
            self.idling = True
            self.fake.changed.notify_all()
        self._report_new()
        line = self.rfile.readline()
        with self.fake.changed:
            self.idling = False
            self.fake.changed.notify_all()
        if not line:
            raise OSError("the client hung up while idling")
        if line.strip().upper() != b"DONE":
            self.send(f"{tag} BAD expected DONE")
            return
        self.send(f"{tag} OK IDLE terminated")


def _tokens(args: bytes) -> list[bytes]:
    found, position = [], 0
    while position < len(args):
        match = _TOKEN.match(args, position)
        if match is None or match.end() == position:
            break
        found.append(match.group(0).strip())
        position = match.end()
    return found


def _unquote(token: bytes) -> str:
    text = token.decode(errors="replace")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _set(spec: str, highest: int) -> set[int]:
    """An IMAP sequence set (``1,3:5,7:*``) as numbers."""
    numbers: set[int] = set()
    for piece in spec.split(","):
        low, _, high = piece.partition(":")
        a = highest if low == "*" else int(low)
        b = a if not high else (highest if high == "*" else int(high))
        numbers.update(range(min(a, b), max(a, b) + 1))
    return numbers
