"""The mailbox side: the standard library's ``imaplib`` plus IDLE (RFC 2177) done by hand.

``imaps://host:993`` connects with TLS, ``imap://host:143`` upgrades with STARTTLS (and refuses
to go on without it), ``imap+plain://`` stays unencrypted (for tests on 127.0.0.1). Messages are
found with ``UID SEARCH UNSEEN``, read with ``UID FETCH (BODY.PEEK[])`` (which leaves them
unread) and marked with ``UID STORE +FLAGS (\\Seen)`` once the gateway has them.

``imaplib`` gained IDLE only in Python 3.14. Here it is written on the raw connection: send
``TAG IDLE``, wait for the ``+`` continuation, then wait on the socket (``select``, so a stop or
the deadline ends the wait) for an untagged ``EXISTS`` or ``RECENT``, then send ``DONE`` and read
the tagged answer. The waiting reads the socket directly, never imaplib's buffered file, so a
timeout cannot leave that file in a broken state; imaplib's file holds nothing at that point, as
every command before has read its answer to the end.
"""

from __future__ import annotations

import imaplib
import re
import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from threading import Event
from typing import Any
from urllib.parse import unquote, urlsplit

IDLE_RESTART = 25 * 60  # RFC 2177: a server may drop an IDLE after 30 minutes; renew before


class MailboxError(Exception):
    """The mailbox cannot be used: a refused login, a missing folder, a dropped connection."""

    def __init__(self, message: str, *, login: bool = False) -> None:
        super().__init__(message)
        self.login = login


@dataclass
class Address:
    """Where a server is: ``scheme`` is ``ssl``, ``starttls`` or ``plain``."""

    scheme: str
    host: str
    port: int
    user: str | None = None  # a login name given in the URL (imaps://name@host), else the address


def parse_url(url: str, kinds: dict[str, tuple[str, int]]) -> Address:
    """``imaps://host:993`` and the like; ``kinds`` maps a URL scheme to (security, default port)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in kinds or not parts.hostname:
        names = ", ".join(f"{k}://" for k in kinds)
        raise ValueError(f"{url!r}: write {names} followed by the server's name (and :port)")
    security, port = kinds[parts.scheme]
    return Address(security, parts.hostname, parts.port or port, unquote(parts.username) if parts.username else None)


IMAP_KINDS = {"imaps": ("ssl", 993), "imap": ("starttls", 143), "imap+plain": ("plain", 143)}


class Mailbox:
    """One logged-in IMAP connection with a folder selected."""

    def __init__(self, address: Address, user: str, password: str, folder: str = "INBOX", *,
                 timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.address = address
        self.folder = folder
        self.where = f"{address.host}:{address.port}"
        try:
            if address.scheme == "ssl":
                self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(address.host, address.port, timeout=timeout,
                                                             ssl_context=ssl_context or ssl.create_default_context())
            else:
                self.imap = imaplib.IMAP4(address.host, address.port, timeout=timeout)
                if address.scheme == "starttls":
                    self.imap.starttls(ssl_context or ssl.create_default_context())
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"IMAP: cannot connect to {self.where}: {_reason(exc)}") from None
        try:
            self.imap.login(user, password)
        except imaplib.IMAP4.error as exc:
            self.close()
            raise MailboxError(f"IMAP: {self.where} refused the login for {user} ({_reason(exc)})",
                               login=True) from None
        except OSError as exc:
            self.close()
            raise MailboxError(f"IMAP: connection to {self.where} lost while logging in: {_reason(exc)}") from None
        status, data = self._run(lambda: self.imap.select(_quoted(folder)))
        if status != "OK":
            self.close()
            raise MailboxError(f"IMAP: no folder {folder!r} on {self.where} ({_text(data)})")
        self.uidvalidity = self._uidvalidity()
        self.can_idle = "IDLE" in self.imap.capabilities

    def _run(self, command: Callable[[], tuple[str, Any]]) -> tuple[str, Any]:
        """An imaplib command; a dropped connection or a protocol error becomes ``MailboxError``."""
        try:
            return command()
        except (imaplib.IMAP4.abort, OSError, EOFError) as exc:
            raise MailboxError(f"IMAP: connection to {self.where} lost ({_reason(exc)})") from None
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"IMAP: {self.where}: {_reason(exc)}") from None

    def _uidvalidity(self) -> str:
        _, data = self._run(lambda: self.imap.response("UIDVALIDITY"))
        return _text(data) or "0"

    def unseen(self) -> list[int]:
        """The UIDs of unread messages, oldest first."""
        status, data = self._run(lambda: self.imap.uid("SEARCH", "UNSEEN"))
        if status != "OK":
            raise MailboxError(f"IMAP: UID SEARCH failed on {self.where} ({_text(data)})")
        return sorted(int(n) for n in _text(data).split() if n.isdigit())

    def fetch(self, uid: int) -> bytes | None:
        """The whole message, left unread; None when it is gone (deleted meanwhile)."""
        status, data = self._run(lambda: self.imap.uid("FETCH", str(uid), "(BODY.PEEK[])"))
        if status != "OK":
            raise MailboxError(f"IMAP: UID FETCH {uid} failed on {self.where} ({_text(data)})")
        for item in data or []:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None

    def mark_seen(self, uid: int) -> None:
        status, data = self._run(lambda: self.imap.uid("STORE", str(uid), "+FLAGS", "(\\Seen)"))
        if status != "OK":
            raise MailboxError(f"IMAP: UID STORE {uid} failed on {self.where} ({_text(data)})")

    def noop(self) -> None:
        self._run(self.imap.noop)

    # --- IDLE ------------------------------------------------------------------------------------

    def _socket(self) -> socket.socket:
        return self.imap.sock  # type: ignore[no-any-return]

    def idle(self, wait: float, stopping: Event) -> bool:
        """Wait up to ``wait`` seconds (at most ``IDLE_RESTART``) for new mail; True when the server
        said something arrived. Returns early, False, when ``stopping`` is set."""
        sock = self._socket()
        raw_tag: bytes = self.imap._new_tag()  # type: ignore[attr-defined]
        self.imap.tagged_commands.pop(raw_tag, None)  # type: ignore[attr-defined]  # answered here, not by imaplib
        tag = raw_tag.decode()
        reader = _RawLines(sock)
        try:
            sock.sendall(f"{tag} IDLE\r\n".encode())
            deadline = time.monotonic() + 30
            while True:  # the continuation; an untagged line may come first
                line = reader.line(deadline, stopping)
                if line is None:
                    raise MailboxError(f"IMAP: {self.where} did not accept IDLE")
                if line.startswith(b"+"):
                    break
                if line.startswith(tag.encode()):
                    raise MailboxError(f"IMAP: {self.where} refused IDLE ({line.decode(errors='replace')})")
            arrived = False
            deadline = time.monotonic() + min(wait, IDLE_RESTART)
            while not arrived and not stopping.is_set():
                line = reader.line(deadline, stopping)
                if line is None:
                    break
                arrived = bool(re.match(rb"\* \d+ (EXISTS|RECENT)", line))
            sock.sendall(b"DONE\r\n")
            deadline = time.monotonic() + 30
            while True:
                line = reader.line(deadline, None)
                if line is None:
                    raise MailboxError(f"IMAP: {self.where} did not end IDLE")
                if line.startswith(tag.encode()):
                    if not line[len(tag):].lstrip().upper().startswith(b"OK"):
                        raise MailboxError(f"IMAP: IDLE ended with {line.decode(errors='replace')}")
                    return arrived
                arrived = arrived or bool(re.match(rb"\* \d+ (EXISTS|RECENT)", line))
        except (OSError, EOFError) as exc:
            raise MailboxError(f"IMAP: connection to {self.where} lost ({_reason(exc)})") from None

    def interrupt(self) -> None:
        """Cut the connection (from another thread): a waiting IDLE or command ends at once."""
        try:
            self._socket().shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass

    def close(self) -> None:
        try:
            self.imap.logout()
        except Exception:  # already broken: closing is all that is left
            try:
                self.imap.shutdown()
            except Exception:
                pass


class _RawLines:
    """Lines read straight from the socket, with a deadline and a stop check."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def line(self, deadline: float, stopping: Event | None) -> bytes | None:
        while b"\r\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or (stopping is not None and stopping.is_set()):
                return None
            pending = self.sock.pending() if isinstance(self.sock, ssl.SSLSocket) else 0
            if not pending:
                ready, _, _ = select.select([self.sock], [], [], min(left, 0.5))
                if not ready:
                    continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line


def _quoted(folder: str) -> str:
    return folder if re.fullmatch(r"[A-Za-z0-9._/-]+", folder) else '"' + folder.replace('"', '\\"') + '"'


def _text(data: object) -> str:
    if isinstance(data, list):
        return " ".join(_text(d) for d in data if d is not None)
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return str(data or "")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text or type(exc).__name__
