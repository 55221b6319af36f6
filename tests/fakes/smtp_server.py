"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, with a login and faults on demand.

Use it as a context manager::

    from tests.fakes.smtp_server import FakeSMTP

    with FakeSMTP(user="ember@example.com", password="pw") as smtp:   # smtp.url: smtp+plain://127.0.0.1:PORT
        ...
        smtp.wait_messages(1)[0]       # Received: .mail_from .rcpt_tos .message (an EmailMessage) .raw
        smtp.logins                    # successful AUTHs

Faults, for the next ``times`` commands of a name (``"RCPT"``, ``"DATA"``, ``"MAIL"``)::

    smtp.fail("DATA", "451 4.3.0 Mail server temporarily rejected message")
    smtp.fail("RCPT", "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown")
    smtp.fail("DATA", drop=True)       # the connection closes instead of an answer
    FakeSMTP(tls=server_context)                      # STARTTLS required (smtp://)
    FakeSMTP(tls=server_context, implicit_tls=True)   # TLS from the first byte (smtps://)
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

__all__ = ["FakeSMTP", "Received"]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage = field(repr=False)
    raw: bytes = field(repr=False)


@dataclass
class _Fault:
    reply: str | None = None
    drop: bool = False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeSMTP:
    """aiosmtpd in a thread; see the module docstring. ``password=None``: no AUTH offered."""

    def __init__(self, user: str = "ember@example.com", password: str | None = "smtp-password", *,
                 tls: ssl.SSLContext | None = None, implicit_tls: bool = False) -> None:
        self.user, self.password = user, password
        self.tls, self.implicit_tls = tls, implicit_tls  # STARTTLS required (smtp://), or TLS first (smtps://)
        self.messages: list[Received] = []
        self.logins = 0
        self.failed_logins = 0
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._controller: Any = None
        self.port = 0

    def start(self) -> FakeSMTP:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        fake = self

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = (isinstance(data, LoginPassword) and data.login.decode() == fake.user
                  and data.password.decode() == fake.password)
            with fake.changed:
                if ok:
                    fake.logins += 1
                else:
                    fake.failed_logins += 1
                fake.changed.notify_all()
            return AuthResult(success=ok, handled=False)

        options: dict[str, Any] = {}
        if self.password is not None:  # AUTH offered without TLS (127.0.0.1); MAIL checks that it happened
            options = {"authenticator": authenticator, "auth_require_tls": False}
        if self.tls is not None and self.implicit_tls:
            options["ssl_context"] = self.tls
        elif self.tls is not None:
            options.update(tls_context=self.tls, require_starttls=True)
        logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's own chatter, not ours
        self.port = _free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FakeSMTP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        scheme = "smtp+plain" if self.tls is None else "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://127.0.0.1:{self.port}"

    def fail(self, command: str, reply: str | None = None, *, times: int = 1, drop: bool = False) -> None:
        with self.lock:
            self._faults[command.upper()].extend(_Fault(reply, drop) for _ in range(times))

    def take_fault(self, command: str) -> _Fault | None:
        with self.lock:
            queue = self._faults.get(command)
            return queue.popleft() if queue else None

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout} s for {what}")
                self.changed.wait(min(left, 0.05))

    def wait_messages(self, count: int = 1, timeout: float = 5.0) -> list[Received]:
        self.wait_for(lambda: len(self.messages) >= count, timeout, f"{count} message(s), got {len(self.messages)}")
        with self.lock:
            return list(self.messages)

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.rcpt_tos]


class _Handler:
    """aiosmtpd's hooks: faults first, then record."""

    def __init__(self, fake: FakeSMTP) -> None:
        self.fake = fake

    def _fault(self, server: Any, command: str) -> str | None:
        fault = self.fake.take_fault(command)
        if fault is None:
            return None
        if fault.drop:
            server.transport.close()
            return "421 4.3.0 closing"
        return fault.reply or "451 4.3.0 Try again later"

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.fake.password is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        refused = self._fault(server, "MAIL")
        if refused:
            return refused
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        refused = self._fault(server, "RCPT")
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        refused = self._fault(server, "DATA")
        if refused:
            return refused
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        with self.fake.changed:
            self.fake.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, raw))
            self.fake.changed.notify_all()
        return "250 2.0.0 Message accepted for delivery"
