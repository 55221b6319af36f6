"""Email: a mailbox of Ember's own, read over IMAP and answered over SMTP (docs/gateway-email.md).

The module is named ``email_channel`` so that nothing can mistake it for the standard library's
``email`` package; the platform's name is ``email`` (``[gateway.email]``, ``email:ada@example.com``).

Receiving, in a background thread (``email_imap``): log in, select the folder (``INBOX``), take
every unread message, oldest first, then wait: with IDLE where the server offers it (renewed every
``idle_seconds``, which also notices a connection that died quietly), else by polling every
``poll_seconds``. A message is read without marking it (``BODY.PEEK[]``), handed to the gateway,
and marked ``\\Seen`` only after ``on_inbound`` returned; its UID is kept in the store as well, so a
restart between the two neither loses nor repeats it (and the gateway drops a repeat of
``email:<Message-ID>`` anyway). A message the gateway could not record stays unread and is tried
again.

Conversations: the chat is the sender's address and the thread is the conversation's root
Message-ID (``email_inbound``), so a reply continues the same session. What a reply needs (the
subject, the ``References`` chain, the message it answers) is kept in the store per thread, and
each message id's root too, for clients that send only ``In-Reply-To``.

Refused before the gateway sees them, and logged: our own messages, automatic mail (bounces,
vacation replies, lists), and mail whose SPF, DKIM or DMARC result is ``fail`` for its From domain.

Sending (``email_smtp``): plain text, ``Re: <subject>``, ``In-Reply-To`` and ``References``; a
file as a MIME attachment; an approval's buttons as a line to answer (``buttons_as_text``). The
message's own Message-ID is the acknowledgement, returned once the server accepted it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ember.config import ConfigError
from ember.gateway.channel import ChannelStatus, Inbound, InboundFile, KeyValue, Outbound, buttons_as_text
from ember.gateway.channels.email_imap import IMAP_KINDS, Mailbox, MailboxError, parse_url

if TYPE_CHECKING:
    import ssl

    from ember.config import Settings
    from ember.gateway.channels.email_inbound import Mail

log = logging.getLogger("ember.gateway.email")

MAX_TEXT = 50_000
KEEP_UIDS = 2000  # UIDs remembered as handled (per folder); older ones are long marked \Seen
KEEP_REFS = 20  # message ids kept in a thread's References: the root and the latest ones
LOGIN_HELP = ("check EMBER_EMAIL_ADDRESS and EMBER_EMAIL_PASSWORD; most providers want an app password "
              "(docs/gateway-email.md)")
_ADDRESS = re.compile(r"^[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+$")
_PREFIX = re.compile(r"^\s*((re|aw|sv|vs|antw|wg|fw|fwd)\s*(\[\d+\])?\s*:\s*)+", re.I)


# --- configuration -----------------------------------------------------------------------------

@dataclass
class EmailConfig:
    address: str  # Ember's own address: the login, the From of every answer
    imap_url: str  # imaps://host:993, imap://host:143 (STARTTLS), imap+plain://host:port (tests)
    smtp_url: str  # smtps://host:465, smtp://host:587 (STARTTLS), smtp+plain://host:port (tests)
    password: str = field(repr=False)
    allow: list[str] = field(default_factory=list)  # sender addresses, lowercased
    poll_seconds: float = 60.0  # how often to look for mail where the server has no IDLE
    folder: str = "INBOX"


def _value(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"config.toml: [gateway.email].{key} has the wrong type: {value!r}")
    return value


def email_config(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> EmailConfig | None:
    """``[gateway.email]`` (``imap_url``, ``smtp_url``, ``address``, ``password``, ``allow``,
    ``poll_seconds``, ``folder``) under ``EMBER_IMAP_URL``, ``EMBER_SMTP_URL``,
    ``EMBER_EMAIL_ADDRESS``, ``EMBER_EMAIL_PASSWORD``, ``EMBER_EMAIL_ALLOW``; None without an address."""
    address = (env.get("EMBER_EMAIL_ADDRESS") or _value(table, "address", str, "")).strip().lower()
    imap_url = env.get("EMBER_IMAP_URL") or _value(table, "imap_url", str, "")
    smtp_url = env.get("EMBER_SMTP_URL") or _value(table, "smtp_url", str, "")
    password = env.get("EMBER_EMAIL_PASSWORD") or _value(table, "password", str, "")
    if not address:
        if imap_url or smtp_url:
            raise ConfigError("email needs Ember's address too: EMBER_EMAIL_ADDRESS (or [gateway.email] address); "
                              "see docs/gateway-email.md")
        return None
    if not _ADDRESS.match(address):
        raise ConfigError(f"EMBER_EMAIL_ADDRESS / [gateway.email].address is not an email address: {address!r}")
    missing = [name for name, value in (("EMBER_IMAP_URL", imap_url), ("EMBER_SMTP_URL", smtp_url),
                                        ("EMBER_EMAIL_PASSWORD", password)) if not value]
    if missing:
        raise ConfigError(f"email needs {', '.join(missing)} (or their [gateway.email] keys); see docs/gateway-email.md")
    from ember.gateway.channels.email_smtp import SMTP_KINDS

    for name, url, kinds in (("EMBER_IMAP_URL", imap_url, IMAP_KINDS), ("EMBER_SMTP_URL", smtp_url, SMTP_KINDS)):
        try:
            parse_url(url, kinds)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        if urlsplit(url).password:
            raise ConfigError(f"{name}: put the password in EMBER_EMAIL_PASSWORD, not in the URL")
    settings.secrets.setdefault("EMBER_EMAIL_PASSWORD", password)
    listed = env.get("EMBER_EMAIL_ALLOW")
    allow_value: Any = listed if listed is not None else _value(table, "allow", (list, str), [])
    items = allow_value.split(",") if isinstance(allow_value, str) else [str(v) for v in allow_value]
    allow = [item.strip().lower() for item in items if item.strip()]
    bad = [a for a in allow if not _ADDRESS.match(a)]
    if bad:
        raise ConfigError(f"EMBER_EMAIL_ALLOW / [gateway.email].allow holds email addresses, not {bad[0]!r}")
    poll = _value(table, "poll_seconds", (int, float), 60)
    if poll <= 0:
        raise ConfigError(f"config.toml: [gateway.email].poll_seconds must be > 0, got {poll!r}")
    folder = _value(table, "folder", str, "INBOX").strip() or "INBOX"
    return EmailConfig(address=address, imap_url=imap_url, smtp_url=smtp_url, password=password, allow=allow,
                       poll_seconds=float(poll), folder=folder)


def base_subject(subject: str) -> str:
    """``Re: AW: Fwd: Report`` -> ``Report``."""
    return _PREFIX.sub("", subject).strip()


# --- the channel -------------------------------------------------------------------------------

class EmailChannel:
    """The ``Channel`` for one mailbox; see the module docstring. ``ssl_context``: for servers
    with a private CA (and tests); the system's trust store otherwise."""

    name = "email"
    max_text = MAX_TEXT
    quiet_refusals = True  # a From address is easily forged: a refusal would be backscatter to a stranger
    idle_seconds = 300.0  # an IDLE is renewed this often: a connection that died quietly shows up

    def __init__(self, config: EmailConfig, state: KeyValue, files_dir: Path, *, timeout: float = 30.0,
                 backoff: float = 1.0, max_backoff: float = 60.0, ssl_context: ssl.SSLContext | None = None) -> None:
        from ember.gateway.channels.email_smtp import SMTP_KINDS

        self.config = config
        self.state = state
        self.files_dir = Path(files_dir)
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.ssl_context = ssl_context
        self.imap = parse_url(config.imap_url, IMAP_KINDS)
        self.smtp = parse_url(config.smtp_url, SMTP_KINDS)
        self.domain = config.address.rpartition("@")[2]
        self._status = ChannelStatus()
        self._lock = threading.Lock()  # the status, the mailbox handle
        self._threads = threading.Lock()  # thread state: read, change, write
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._mailbox: Mailbox | None = None

    # --- receiving -------------------------------------------------------------------------------

    def start(self, on_inbound: Callable[[Inbound], None]) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, args=(on_inbound,), name="email-imap", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            mailbox = self._mailbox
        if mailbox is not None:
            mailbox.interrupt()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        self._set_status(False, self.status().last_error)

    def _run(self, on_inbound: Callable[[Inbound], None]) -> None:
        delay = self.backoff
        while not self._stopping.is_set():
            mailbox = None
            try:
                mailbox = Mailbox(self.imap, self.imap.user or self.config.address, self.config.password,
                                  self.config.folder, timeout=self.timeout, ssl_context=self.ssl_context)
                with self._lock:
                    self._mailbox = mailbox
                self._set_status(True, None)
                log.info("email: reading %s on %s (%s)", self.config.folder, mailbox.where,
                         "IDLE" if mailbox.can_idle else f"every {self.config.poll_seconds:g} s")
                delay = self.backoff
                self._serve(mailbox, on_inbound)
                error = None
            except MailboxError as exc:
                error = f"{exc}; {LOGIN_HELP}" if exc.login else str(exc)
                if exc.login:  # never hammer a server with a wrong password: it may lock the account
                    delay = self.max_backoff
            except Exception as exc:  # a bug: keep the mailbox going, but say so
                log.exception("email: the receive loop failed")
                error = f"{type(exc).__name__}: {exc}"
            finally:
                with self._lock:
                    self._mailbox = None
                if mailbox is not None:
                    mailbox.close()
            if self._stopping.is_set() or error is None:
                break
            self._set_status(False, f"{error}; trying again in {delay:g} s")
            log.warning("email: %s; trying again in %g s", error, delay)
            self._stopping.wait(delay)
            delay = min(delay * 2, self.max_backoff)

    def _serve(self, mailbox: Mailbox, on_inbound: Callable[[Inbound], None]) -> None:
        while not self._stopping.is_set():
            if not self._check(mailbox, on_inbound):
                self._stopping.wait(self.backoff)  # something was not recorded: again soon
                continue
            if mailbox.can_idle:
                mailbox.idle(max(self.idle_seconds, 1.0), self._stopping)
            else:
                self._stopping.wait(self.config.poll_seconds)
                if not self._stopping.is_set():
                    mailbox.noop()  # some servers report new mail only after a command

    def _check(self, mailbox: Mailbox, on_inbound: Callable[[Inbound], None]) -> bool:
        """Every unread message to the gateway; False when one could not be recorded."""
        from ember.gateway.channels.email_inbound import parse

        handled = self._handled(mailbox.uidvalidity)
        for uid in mailbox.unseen():
            if self._stopping.is_set():
                return True
            if uid not in handled:
                raw = mailbox.fetch(uid)
                if raw is None:
                    continue
                try:
                    inbound = self._inbound(parse(raw))
                except Exception:  # a message we cannot read: never retried forever
                    log.exception("email: message %s in %s could not be read; marked as read and skipped", uid,
                                  self.config.folder)
                    inbound = None
                if inbound is not None:
                    try:
                        on_inbound(inbound)
                    except Exception as exc:
                        self._set_status(True, f"could not record {inbound.event_id}: {exc}")
                        log.warning("email: could not record %s (%s); it stays unread and is tried again",
                                    inbound.event_id, exc)
                        return False
                handled = self._remember(mailbox.uidvalidity, uid)
            mailbox.mark_seen(uid)
        return True

    def _handled(self, uidvalidity: str) -> list[int]:
        raw = self.state.get_meta(f"email:handled:{self.config.folder}")
        try:
            stored = json.loads(raw) if raw else {}
        except ValueError:
            stored = {}
        if not isinstance(stored, dict) or stored.get("uidvalidity") != uidvalidity:
            return []  # another mailbox, or the server renumbered it: UIDs mean nothing now
        return [int(u) for u in stored.get("uids") or [] if isinstance(u, int)]

    def _remember(self, uidvalidity: str, uid: int) -> list[int]:
        uids = [*self._handled(uidvalidity), uid][-KEEP_UIDS:]
        self.state.set_meta(f"email:handled:{self.config.folder}",
                            json.dumps({"uidvalidity": uidvalidity, "uids": uids}))
        return uids

    def _inbound(self, mail: Mail) -> Inbound | None:
        """The gateway's message for ``mail``, or None when it is refused (and logged)."""
        if not mail.sender or "@" not in mail.sender:
            log.info("email: %s has no sender address; skipped", mail.message_id)
            return None
        if mail.sender == self.config.address:
            return None  # our own message (a copy, or one sent to ourselves): never answered
        if mail.automatic:
            log.info("email: %s from %s is automatic mail (%s); not answered", mail.message_id, mail.sender,
                     mail.automatic)
            return None
        if mail.auth_failure:
            log.warning("email: refused %s claiming to be from %s: %s", mail.message_id, mail.sender,
                        mail.auth_failure)
            return None
        root = self._root(mail)
        text = mail.text
        if root == mail.message_id and mail.subject and not text.startswith("/"):
            text = f"{mail.subject}\n\n{text}".strip() if mail.subject not in text else text
        self._note_thread(root, mail)
        files = [InboundFile(name=a.name, mime=a.mime, size=len(a.data), fetch=_returning(a.data))
                 for a in mail.attachments]
        return Inbound(platform="email", chat=mail.sender, user=mail.sender, event_id=f"email:{mail.message_id}",
                       text=text, thread=root, user_name=mail.sender_name, direct=True, files=files)

    # --- threads ---------------------------------------------------------------------------------

    def _root(self, mail: Mail) -> str:
        if mail.references:
            return self.state.get_meta(f"email:root:{mail.references[0]}") or mail.references[0]
        if mail.in_reply_to:
            return self.state.get_meta(f"email:root:{mail.in_reply_to}") or mail.in_reply_to
        return mail.message_id

    def _thread_state(self, root: str) -> dict[str, Any]:
        raw = self.state.get_meta(f"email:thread:{root}")
        try:
            found = json.loads(raw) if raw else {}
        except ValueError:
            found = {}
        return found if isinstance(found, dict) else {}

    def _save_thread(self, root: str, thread: dict[str, Any]) -> None:
        refs = list(dict.fromkeys(thread.get("refs") or []))
        if len(refs) > KEEP_REFS:
            refs = [refs[0], *refs[-(KEEP_REFS - 1):]]
        thread["refs"] = refs
        self.state.set_meta(f"email:thread:{root}", json.dumps(thread))

    def _note_thread(self, root: str, mail: Mail) -> None:
        with self._threads:
            thread = self._thread_state(root)
            refs = [*(thread.get("refs") or []), *(mail.references or ([root] if root != mail.message_id else [])),
                    mail.message_id]
            thread.update(refs=refs, reply_to=mail.message_id,
                          subject=base_subject(mail.subject) or thread.get("subject") or "")
            self._save_thread(root, thread)
            self.state.set_meta(f"email:root:{mail.message_id}", root)

    # --- sending ---------------------------------------------------------------------------------

    def send(self, item: Outbound) -> str:
        from ember.gateway.channels.email_smtp import compose, deliver, guess_subject

        to = item.chat.strip().lower()
        text = item.text.strip()
        if item.buttons:
            text = f"{text}\n\n{buttons_as_text(item.buttons)}".strip()
        # A retry of one outbox item keeps its Message-ID: a mail client shows it once.
        message_id = f"<ember.{item.key}@{self.domain}>" if item.key else make_msgid(domain=self.domain)
        with self._threads:
            thread = self._thread_state(item.thread) if item.thread else {}
        if item.thread:
            subject = f"Re: {thread.get('subject') or 'your message'}"
            in_reply_to = str(thread.get("reply_to") or item.thread)
            references = list(thread.get("refs") or [item.thread])
            automatic = "auto-replied"
        else:
            subject, in_reply_to, references, automatic = guess_subject(text), None, [], "auto-generated"
        message = compose(self.config.address, to, subject, text, message_id, in_reply_to=in_reply_to,
                          references=references, file=item.file, automatic=automatic)
        deliver(self.smtp, self.config.address, self.config.password, message, timeout=self.timeout,
                ssl_context=self.ssl_context)
        root = item.thread or message_id
        with self._threads:
            thread = self._thread_state(root)
            refs = list(thread.get("refs") or references or [])
            thread["refs"] = refs if message_id in refs else [*refs, message_id]
            thread.setdefault("subject", base_subject(subject))
            thread.setdefault("reply_to", message_id)
            self._save_thread(root, thread)
            self.state.set_meta(f"email:root:{message_id}", root)
        return message_id

    def typing(self, chat: str, thread: str | None = None) -> None:
        """Nothing: email has no typing indicator."""

    def status(self) -> ChannelStatus:
        with self._lock:
            return ChannelStatus(self._status.connected, self._status.last_error)

    def _set_status(self, connected: bool, error: str | None) -> None:
        with self._lock:
            self._status = ChannelStatus(connected, error)

    def resolve_chat(self, name: str) -> str:
        """An email address (``Ada <ada@example.com>`` is fine too), lowercased."""
        _, address = parseaddr(name.strip())
        address = address.strip().lower()
        if not _ADDRESS.match(address):
            raise ValueError(f"email chats are addresses (ada@example.com), not {name!r}")
        return address


def _returning(data: bytes) -> Callable[[], bytes]:
    """A file's fetch: the bytes came with the message already."""
    return lambda: data


NAME = "email"
CHANNEL = EmailChannel


def configure(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> EmailConfig | None:
    """[gateway.email] and its environment variables (see ``email_config``)."""
    return email_config(table, env, settings)
