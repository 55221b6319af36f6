"""Signal, through signal-cli's JSON-RPC daemon (docs/gateway-signal.md).

Signal has no bot API: Ember talks to a ``signal-cli`` daemon that holds a registered (or linked)
number, the way self-hosters run it: ``signal-cli -a +NUMBER daemon --http 127.0.0.1:8080`` or
``--socket PATH`` (``signal_rpc``). ``EMBER_SIGNAL_RPC`` names either (a URL or a socket path).

Receiving: one long-lived stream of ``receive`` notifications in a background thread (the SSE
stream, or a subscribed socket connection), reconnecting with a backoff that doubles up to
``max_backoff``. Messages become ``Inbound`` in ``signal_events``: 1:1 chats by the sender's
number, groups by their id when the bot is mentioned or replied to. signal-cli hands each
message out once and never again, so a message the gateway could not record is offered again a
few times (``record_tries``) before it is logged as lost; with ``--receive-mode=manual`` (or
``on-connection``) signal-cli leaves messages on Signal's servers while Ember is not connected.
Attachments are fetched only when the turn needs them (``getAttachment``, base64).

Sending: ``send`` with ``recipient`` or ``groupId``, ``message`` and ``attachments`` (file
paths, which the daemon must be able to read). Delivered means signal-cli's answer carried the
message's ``timestamp``. Signal has no buttons: an approval's choices are written out
(``buttons_as_text``) and answered by typing a number or a word. ``typing`` sends ``sendTyping``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ember.config import ConfigError
from ember.gateway.channel import ChannelStatus, Inbound, KeyValue, Outbound, SendError, buttons_as_text
from ember.gateway.channels.signal_events import inbound_from_receive
from ember.gateway.channels.signal_rpc import RPCError, Unreachable, connect

if TYPE_CHECKING:
    import httpx

    from ember.config import Settings

log = logging.getLogger("ember.gateway.signal")

DEFAULT_RPC = "http://127.0.0.1:8080"
MAX_TEXT = 2000  # Signal takes more, but its apps fold long messages behind "Read more"
_NUMBER = re.compile(r"^\+[1-9]\d{6,14}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# signal-cli's error codes (SignalJsonRpcCommandHandler) and what each means for a send.
USER_ERROR, IO_ERROR, UNTRUSTED_KEY, RATE_LIMIT, CAPTCHA_REJECTED = -1, -3, -4, -5, -6
INTERNAL_ERROR = -32603
RETRYABLE_RESULTS = {"NETWORK_FAILURE", "RATE_LIMIT_FAILURE"}
UNTRUSTED_HELP = ("the recipient's safety number changed; once you have checked it with them, trust their new "
                  "key (signal-cli's trust method; docs/gateway-signal.md, troubleshooting)")


# --- configuration -----------------------------------------------------------------------------

@dataclass
class SignalConfig:
    account: str  # the bot's own number, +4915...
    rpc: str = field(default=DEFAULT_RPC, repr=False)  # a URL (--http) or a socket path (--socket); may hold a password
    allow: list[str] = field(default_factory=list)  # numbers (+4915...) or Signal account ids (UUIDs)


def normalize_number(value: str) -> str:
    """``+49 151 2345-678`` -> ``+491512345678``; a UUID as it is."""
    value = value.strip()
    if _UUID.match(value):
        return value.lower()
    digits = re.sub(r"[\s\-().]", "", value)
    if digits.isdigit():
        digits = "+" + digits.lstrip("0")  # written without the +: still international
    return digits


def _text(table: Mapping[str, Any], key: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"config.toml: [gateway.signal].{key} must be a string, got {value!r}")
    return str(value)


def signal_config(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> SignalConfig | None:
    """``[gateway.signal]`` (``rpc``, ``account``, ``allow``) under ``EMBER_SIGNAL_RPC``,
    ``EMBER_SIGNAL_ACCOUNT`` and ``EMBER_SIGNAL_ALLOW``; None when no account is set."""
    account = env.get("EMBER_SIGNAL_ACCOUNT") or _text(table, "account")
    rpc = env.get("EMBER_SIGNAL_RPC") or _text(table, "rpc")
    if not account:
        if rpc:
            raise ConfigError("Signal needs the bot's number too: EMBER_SIGNAL_ACCOUNT=+4915... (or "
                              "[gateway.signal] account); see docs/gateway-signal.md")
        return None
    account = normalize_number(account)
    if not _NUMBER.match(account):
        raise ConfigError(f"EMBER_SIGNAL_ACCOUNT / [gateway.signal].account must be a phone number in "
                          f"international form (+4915123456789), got {account!r}")
    rpc = rpc or DEFAULT_RPC
    if rpc.startswith(("http://", "https://")):
        parts = urlsplit(rpc)
        if not parts.hostname:
            raise ConfigError("EMBER_SIGNAL_RPC / [gateway.signal].rpc: a URL needs a host "
                              "(http://127.0.0.1:8080, signal-cli's daemon --http)")
        if parts.password:
            settings.secrets.setdefault("EMBER_SIGNAL_RPC_PASSWORD", parts.password)
    elif not rpc.removeprefix("unix:").removeprefix("//").startswith("/"):
        raise ConfigError(f"EMBER_SIGNAL_RPC / [gateway.signal].rpc is http://HOST:PORT (daemon --http) or the "
                          f"absolute path of signal-cli's socket (daemon --socket), got {rpc!r}")
    listed = env.get("EMBER_SIGNAL_ALLOW")
    value: Any = listed if listed is not None else table.get("allow", [])
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and not any(isinstance(v, bool) for v in value):
        items = [str(v) for v in value]
    else:
        raise ConfigError(f"[gateway.signal].allow is a list of phone numbers, got {value!r}")
    allow = [normalize_number(item) for item in items if item.strip()]
    bad = [a for a in allow if not (_NUMBER.match(a) or _UUID.match(a))]
    if bad:
        raise ConfigError(f"EMBER_SIGNAL_ALLOW / [gateway.signal].allow holds phone numbers (+4915123456789) "
                          f"or Signal account ids, not {bad[0]!r}")
    return SignalConfig(account=account, rpc=rpc, allow=allow)


# --- the channel -------------------------------------------------------------------------------

def is_group(chat: str) -> bool:
    """A chat that is a group id (base64), not a person (a number or an account id)."""
    return not (chat.startswith("+") or _UUID.match(chat))


class SignalChannel:
    """The ``Channel`` for one signal-cli account; see the module docstring. ``client``: an
    httpx client for the HTTP daemon (tests may inject one)."""

    name = "signal"
    max_text = MAX_TEXT

    def __init__(self, config: SignalConfig, state: KeyValue, files_dir: Path, client: httpx.Client | None = None,
                 *, timeout: float = 30.0, backoff: float = 1.0, max_backoff: float = 30.0,
                 record_tries: int = 5) -> None:
        self.config = config
        self.state = state
        self.files_dir = Path(files_dir)
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.record_tries = record_tries
        self.rpc = connect(config.rpc, client, timeout=timeout)
        self._status = ChannelStatus()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._delay = backoff

    # --- receiving -------------------------------------------------------------------------------

    def start(self, on_inbound: Callable[[Inbound], None]) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._receive, args=(on_inbound,), name="signal-receive", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.rpc.interrupt()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        self.rpc.close()
        self._set_status(False, self.status().last_error)

    def _opened(self) -> None:
        self._delay = self.backoff
        self._set_status(True, None)
        log.info("signal: receiving from %s", self.rpc.where)

    def _receive(self, on_inbound: Callable[[Inbound], None]) -> None:
        while not self._stopping.is_set():
            try:
                for params in self.rpc.events(self._opened, self._stopping):
                    if self._stopping.is_set():
                        break
                    self._handle(params, on_inbound)
                if self._stopping.is_set():
                    break
                error = f"the connection to {self.rpc.where} ended"
            except Unreachable as exc:
                error = str(exc)
                if exc.status is not None and 400 <= exc.status < 500:
                    error += " (is EMBER_SIGNAL_RPC the address of signal-cli's daemon --http?)"
            except Exception as exc:  # a bug: keep receiving, but say so
                log.exception("signal: the receive loop failed")
                error = f"{type(exc).__name__}: {exc}"
            if self._stopping.is_set():
                break
            delay = self._delay
            self._delay = min(self._delay * 2, self.max_backoff)
            self._set_status(False, f"{error}; reconnecting in {delay:g} s")
            log.warning("signal: %s; reconnecting in %g s", error, delay)
            self._stopping.wait(delay)

    def _handle(self, params: dict[str, Any], on_inbound: Callable[[Inbound], None]) -> None:
        """One notification to the gateway. signal-cli never sends it again, so a message that
        could not be recorded is offered again a few times before it is given up (and logged)."""
        account = params.get("account")
        if account and normalize_number(str(account)) != self.config.account:
            return  # a multi-account daemon: another number's message
        try:
            inbound = inbound_from_receive(params, self.config.account, self._fetcher)
        except Exception:
            log.exception("signal: a message that could not be read was skipped")
            return
        if inbound is None:
            return
        delay = self.backoff
        for attempt in range(1, self.record_tries + 1):
            try:
                on_inbound(inbound)
                return
            except Exception as exc:
                if attempt == self.record_tries or self._stopping.is_set():
                    self._set_status(True, f"could not record {inbound.event_id}: {exc}")
                    log.error("signal: could not record %s after %d tries (%s); signal-cli will not send it "
                              "again", inbound.event_id, attempt, exc)
                    return
                log.warning("signal: could not record %s (%s); trying again", inbound.event_id, exc)
                self._stopping.wait(delay)
                delay = min(delay * 2, self.max_backoff)

    def _fetcher(self, attachment: str, sender: str, group: str | None) -> Callable[[], bytes]:
        def fetch() -> bytes:
            params: dict[str, Any] = {"id": attachment}
            params.update({"groupId": group} if group else {"recipient": sender})
            try:
                answer = self.rpc.call("getAttachment", params, timeout=max(self.timeout, 120.0))
            except (RPCError, Unreachable) as exc:
                raise OSError(f"could not fetch the attachment from signal-cli: {exc}") from None
            data = answer.get("data") if isinstance(answer, dict) else answer
            try:
                return base64.b64decode(str(data or ""), validate=True)
            except (binascii.Error, ValueError):
                raise OSError("signal-cli getAttachment: the answer is not base64") from None

        return fetch

    # --- sending ---------------------------------------------------------------------------------

    def _target(self, chat: str) -> dict[str, Any]:
        chat = chat.strip()
        return {"groupId": chat} if is_group(chat) else {"recipient": [chat]}

    def send(self, item: Outbound) -> str:
        text = item.text.strip()
        if item.buttons:
            text = f"{text}\n\n{buttons_as_text(item.buttons)}".strip()
        params = {**self._target(item.chat), "message": text}
        wait = self.timeout
        if item.file:
            path = Path(item.file).resolve()
            if not path.is_file():
                raise SendError(f"signal: cannot send {path.name}: no such file", permanent=True)
            params["attachments"] = [str(path)]
            wait = max(self.timeout, 120.0)
        if not text and not item.file:
            raise SendError("signal: nothing to send (no text or file)", permanent=True)
        try:
            answer = self.rpc.call("send", params, timeout=wait)
        except Unreachable as exc:
            permanent = exc.status is not None and 400 <= exc.status < 500
            raise SendError(str(exc), permanent=permanent) from None
        except RPCError as exc:
            raise send_error(exc) from None
        timestamp = answer.get("timestamp") if isinstance(answer, dict) else None
        if not isinstance(timestamp, int) or isinstance(timestamp, bool):
            raise SendError("signal-cli send: an answer without the message's timestamp; not counted as delivered")
        return str(timestamp)

    def typing(self, chat: str, thread: str | None = None) -> None:
        try:
            self.rpc.call("sendTyping", self._target(chat), timeout=min(self.timeout, 10.0))
        except Exception as exc:  # best effort: a missing "typing..." never fails a turn
            log.debug("signal: sendTyping failed: %s", exc)

    def status(self) -> ChannelStatus:
        with self._lock:
            return ChannelStatus(self._status.connected, self._status.last_error)

    def _set_status(self, connected: bool, error: str | None) -> None:
        with self._lock:
            self._status = ChannelStatus(connected, error)

    def resolve_chat(self, name: str) -> str:
        """A number (``+4915...``, spaces allowed), an account id, a group id, or a group's name
        (``#Family``, looked up with ``listGroups``)."""
        value = name.strip()
        number = normalize_number(value)
        if _NUMBER.match(number) or _UUID.match(number):
            return number
        if _group_id(value):
            return value
        wanted = value.lstrip("#").strip().lower()
        try:
            groups = self.rpc.call("listGroups", timeout=min(self.timeout, 15.0))
        except (RPCError, Unreachable) as exc:
            raise SendError(f"signal: cannot look up the group {value!r}: {exc}") from None
        for group in groups if isinstance(groups, list) else []:
            if isinstance(group, dict) and str(group.get("name") or "").strip().lower() == wanted and group.get("id"):
                return str(group["id"])
        raise ValueError(f"Signal chats are a phone number (+4915123456789), a group id, or the name of a group "
                         f"the bot is in (#Family); no group is named {value!r}")


def _group_id(value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def send_error(exc: RPCError) -> SendError:
    """What signal-cli's refusal means for the outbox: retry (network, rate limit), or not."""
    results = []
    if isinstance(exc.data, dict):
        response = exc.data.get("response")
        if isinstance(response, dict) and isinstance(response.get("results"), list):
            results = [r for r in response["results"] if isinstance(r, dict)]
    kinds = {str(r.get("type") or "") for r in results}
    waits = [float(r["retryAfterSeconds"]) for r in results if isinstance(r.get("retryAfterSeconds"), int | float)]
    retry_after = max(waits) if waits else None
    message = str(exc)
    if exc.code == RATE_LIMIT:
        return SendError(message, retry_after=retry_after)
    if exc.code == UNTRUSTED_KEY or "IDENTITY_FAILURE" in kinds:
        return SendError(f"{message}: {UNTRUSTED_HELP}", permanent=True)
    if "UNREGISTERED_FAILURE" in kinds or "not registered" in exc.message:
        return SendError(f"{message}: the recipient is not on Signal", permanent=True)
    if exc.code == IO_ERROR or kinds & RETRYABLE_RESULTS:
        return SendError(message, retry_after=retry_after)
    if exc.code == INTERNAL_ERROR:
        return SendError(message, permanent="AttachmentInvalidException" in exc.message)
    return SendError(message, permanent=True)  # an unknown group, not a member, bad parameters


NAME = "signal"
CHANNEL = SignalChannel


def configure(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> SignalConfig | None:
    """[gateway.signal] and its environment variables (see ``signal_config``)."""
    return signal_config(table, env, settings)
