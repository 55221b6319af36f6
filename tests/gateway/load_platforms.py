"""The six messaging platforms as the load harness (``tests/gateway/load.py``) drives them.

Each ``LoadPlatform`` knows one fake: how to start it (failing ``fail_rate`` of the bot's sends,
by overriding the fake's ``take_fault``), the environment that points ``ember gateway run`` at
it, how to make people and how a person says something, what the bot sent to each chat, how to
tell the gateway is (re)connected, and what the platform needs around a SIGKILL. Nothing here
knows Ember's internals: only what a person on the platform, or the platform itself, would see.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_server import Fault as DiscordFault
from tests.fakes.imap_server import FakeIMAP
from tests.fakes.signal_cli import FakeSignalCli
from tests.fakes.signal_cli import Fault as SignalFault
from tests.fakes.slack_server import FakeSlack
from tests.fakes.slack_server import Fault as SlackFault
from tests.fakes.smtp_server import FakeSMTP, _Fault
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_wire import Fault as TelegramFault
from tests.fakes.whatsapp_server import FakeWhatsApp
from tests.fakes.whatsapp_server import Fault as WhatsAppFault

__all__ = ["PLATFORMS", "FlakySlack", "LoadPlatform", "platform_named"]

UNAVAILABLE, RATE_LIMITED = "unavailable", "rate limited"


class Dice:
    """Which of the bot's sends fail: ``rate`` of them, one in three of those as a rate limit."""

    def __init__(self, rate: float, seed: int = 7) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.thrown = 0
        self.lock = threading.Lock()

    def roll(self) -> str | None:
        with self.lock:
            if self.rng.random() >= self.rate:
                return None
            self.thrown += 1
            return RATE_LIMITED if self.rng.random() < 0.3 else UNAVAILABLE


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the fakes, failing a share of the bot's sends -------------------------------------------------

class FlakySlack(FakeSlack):
    """``chat.postMessage`` fails ``fail_rate`` of the time: 503, or 429 with a short Retry-After."""

    def __init__(self, fail_rate: float, seed: int = 7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dice = Dice(fail_rate, seed)

    def take_fault(self, method: str) -> SlackFault | None:
        fault = super().take_fault(method)
        if fault is None and method == "chat.postMessage" and (kind := self.dice.roll()):
            return SlackFault(status=429, retry_after=0.2) if kind == RATE_LIMITED else SlackFault(status=503)
        return fault


class FlakyTelegram(FakeTelegram):
    """``sendMessage`` fails: 502, or 429 "retry after 1"."""

    def __init__(self, fail_rate: float, seed: int = 7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dice = Dice(fail_rate, seed)

    def take_fault(self, method: str) -> TelegramFault | None:
        fault = super().take_fault(method)
        if fault is None and method.lower() == "sendmessage" and (kind := self.dice.roll()):
            if kind == RATE_LIMITED:
                return TelegramFault(429, "Too Many Requests: retry after 1", 1)
            return TelegramFault(502, "Bad Gateway", None)
        return fault


class FlakyDiscord(FakeDiscord):
    """Creating a message fails: 503, or 429 with ``retry_after`` in the body."""

    def __init__(self, fail_rate: float, seed: int = 7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dice = Dice(fail_rate, seed)

    def take_fault(self, route: str) -> DiscordFault | None:
        fault = super().take_fault(route)
        if fault is None and route == "create_message" and (kind := self.dice.roll()):
            return DiscordFault(status=429, retry_after=0.2) if kind == RATE_LIMITED else DiscordFault(status=503)
        return fault


class FlakyWhatsApp(FakeWhatsApp):
    """``POST /messages`` fails: 500, or 429 with Graph's rate-limit code 130429."""

    def __init__(self, fail_rate: float, seed: int = 7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dice = Dice(fail_rate, seed)

    def take_fault(self, route: str) -> WhatsAppFault | None:
        fault = super().take_fault(route)
        if fault is None and route == "messages" and (kind := self.dice.roll()):
            if kind == RATE_LIMITED:
                return WhatsAppFault(status=429, code=130429, retry_after=1)
            return WhatsAppFault(status=500)
        return fault


class FlakySignal(FakeSignalCli):
    """``send`` fails as signal-cli says: a network failure, or a rate limit with retryAfterSeconds 1."""

    def __init__(self, fail_rate: float, seed: int = 7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dice = Dice(fail_rate, seed)

    def take_fault(self, method: str) -> SignalFault | None:
        fault = super().take_fault(method)
        if fault is None and method == "send" and (kind := self.dice.roll()):
            if kind == RATE_LIMITED:
                results = [{"type": "RATE_LIMIT_FAILURE", "retryAfterSeconds": 1}]
                return SignalFault(error="rate_limit", data={"response": {"results": results}})
            return SignalFault(error="network")
        return fault


class FlakySMTP(FakeSMTP):
    """The message's DATA is refused with a temporary 4xx reply."""

    def __init__(self, fail_rate: float, seed: int = 7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dice = Dice(fail_rate, seed)

    def take_fault(self, command: str) -> _Fault | None:
        fault = super().take_fault(command)
        if fault is None and command == "DATA" and (kind := self.dice.roll()):
            return _Fault("421 4.7.0 Too many messages, try again later" if kind == RATE_LIMITED
                          else "451 4.3.0 Mail server temporarily rejected message")
        return fault


# --- the platforms ---------------------------------------------------------------------------------

class LoadPlatform:
    """One platform under load; use it as a context manager (its fakes run inside)."""

    name = ""
    lost_per_kill = 0  # messages the platform itself may lose to a SIGKILL (documented by its channel)
    keyed = False  # the platform deduplicates a repeated send by its key: no repeats at all

    def __init__(self, fail_rate: float, seed: int = 7) -> None:
        self.fail_rate, self.seed = fail_rate, seed
        self.chats: list[str] = []  # per person: the chat the bot answers them in

    def __enter__(self) -> LoadPlatform:
        raise NotImplementedError

    def __exit__(self, *exc: object) -> None:
        raise NotImplementedError

    def add_people(self, count: int) -> list[str]:
        """``count`` allowed people; their chats, as ``answers`` names them."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The variables that configure the channel (its allow list holds everyone added)."""
        raise NotImplementedError

    def config(self) -> str:
        """Lines for config.toml besides ``[gateway]`` (a table of the channel's own)."""
        return ""

    def say(self, person: int, text: str) -> None:
        raise NotImplementedError

    def answers(self) -> list[tuple[str, str]]:
        """Everything the bot sent, as (chat, text), in the order the platform took it."""
        raise NotImplementedError

    @property
    def injected(self) -> int:
        """Sends failed on purpose so far."""
        raise NotImplementedError

    def connections(self) -> int:
        """A count that grows with each connection the gateway makes (read before starting it)."""
        return 0

    def wait_connected(self, before: int, timeout: float) -> None:
        """Until a gateway started after ``connections()`` was ``before`` is receiving."""
        raise NotImplementedError

    def before_kill(self) -> None:
        """Called just before the message that precedes a SIGKILL."""

    def after_restart(self) -> None:
        """Called once a restarted gateway is connected, before the next message."""


class SlackLoad(LoadPlatform):
    """Direct messages over Socket Mode; an envelope not acked is sent again on the next connection."""

    name = "slack"

    def __enter__(self) -> SlackLoad:
        self.fake = FlakySlack(self.fail_rate, self.seed).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.fake.stop()

    def add_people(self, count: int) -> list[str]:
        self.users = [f"U{n:04d}" for n in range(1, count + 1)]
        self.chats = [self.fake.add_dm(user) for user in self.users]
        return self.chats

    def env(self) -> dict[str, str]:
        return {"SLACK_BOT_TOKEN": self.fake.bot_token, "SLACK_APP_TOKEN": self.fake.app_token,
                "EMBER_SLACK_API_BASE": self.fake.api_base, "EMBER_SLACK_ALLOW": ",".join(self.users)}

    def say(self, person: int, text: str) -> None:
        self.fake.user_says(self.chats[person], self.users[person], text)

    def answers(self) -> list[tuple[str, str]]:
        with self.fake.lock:
            return [(str(p.get("channel", "")), str(p.get("text") or "")) for p in self.fake.posted]

    @property
    def injected(self) -> int:
        return self.fake.dice.thrown

    def connections(self) -> int:
        return self.fake.connections

    def wait_connected(self, before: int, timeout: float) -> None:
        self.fake.wait_connected(before + 1, timeout=timeout)


class TelegramLoad(LoadPlatform):
    """Private chats over long polling; ``getUpdates``' offset confirms only what was recorded."""

    name = "telegram"

    def __enter__(self) -> TelegramLoad:
        self.fake = FlakyTelegram(self.fail_rate, self.seed).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.fake.stop()

    def add_people(self, count: int) -> list[str]:
        self.users = [5000 + n for n in range(1, count + 1)]
        self.chats = [str(user) for user in self.users]
        return self.chats

    def env(self) -> dict[str, str]:
        return {"TELEGRAM_BOT_TOKEN": self.fake.token, "EMBER_TELEGRAM_API_BASE": self.fake.api_base,
                "EMBER_TELEGRAM_ALLOW": ",".join(self.chats)}

    def say(self, person: int, text: str) -> None:
        self.fake.user_says(self.users[person], self.users[person], text)

    def answers(self) -> list[tuple[str, str]]:
        return [(s.chat_id, s.visible) for s in list(self.fake.sent) if s.method == "sendMessage"]

    @property
    def injected(self) -> int:
        return self.fake.dice.thrown

    def connections(self) -> int:
        return len(self.fake.calls_of("getUpdates"))  # a killed gateway's poll may still look like it waits

    def wait_connected(self, before: int, timeout: float) -> None:
        wait_until(lambda: self.connections() > before, timeout, "a getUpdates from the new gateway")


class DiscordLoad(LoadPlatform):
    """Direct messages over the Gateway websocket; a restart resumes the saved session, and Discord
    replays what came after its saved sequence. A repeated send returns the message its nonce posted."""

    keyed = True

    name = "discord"

    def __enter__(self) -> DiscordLoad:
        self.fake = FlakyDiscord(self.fail_rate, self.seed).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.fake.stop()

    def add_people(self, count: int) -> list[str]:
        self.users = [str(410_000_000_000_001_000 + n) for n in range(1, count + 1)]
        self.chats = [self.fake.dm_channel(user) for user in self.users]
        return self.chats

    def env(self) -> dict[str, str]:
        return {"DISCORD_BOT_TOKEN": self.fake.token, "EMBER_DISCORD_API_BASE": self.fake.api_base,
                "EMBER_DISCORD_ALLOW": ",".join(self.users)}

    def say(self, person: int, text: str) -> None:
        self.fake.dm(self.users[person], text)

    def answers(self) -> list[tuple[str, str]]:
        with self.fake.lock:
            return [(str(p["channel_id"]), str(p.get("content") or "")) for p in self.fake.posted]

    @property
    def injected(self) -> int:
        return self.fake.dice.thrown

    def connections(self) -> int:
        with self.fake.lock:
            return len(self.fake.identifies) + len(self.fake.resumes)

    def wait_connected(self, before: int, timeout: float) -> None:
        self.fake.wait_ready(before + 1, timeout=timeout)


class WhatsAppLoad(LoadPlatform):
    """Meta POSTs each message to Ember's webhook and keeps what was not answered 200 (sent again
    by ``redeliver`` after a restart, as Meta retries)."""

    name = "whatsapp"

    def __enter__(self) -> WhatsAppLoad:
        self.fake = FlakyWhatsApp(self.fail_rate, self.seed).start()
        self.port = free_port()
        self.fake.webhook_url = f"http://127.0.0.1:{self.port}/whatsapp"
        return self

    def __exit__(self, *exc: object) -> None:
        self.fake.stop()

    def add_people(self, count: int) -> list[str]:
        self.chats = [f"1555{n:07d}" for n in range(1, count + 1)]
        return self.chats

    def env(self) -> dict[str, str]:
        return {"WHATSAPP_TOKEN": self.fake.token, "WHATSAPP_PHONE_NUMBER_ID": self.fake.phone_number_id,
                "WHATSAPP_APP_SECRET": self.fake.app_secret, "WHATSAPP_VERIFY_TOKEN": self.fake.verify_token,
                "EMBER_WHATSAPP_API_BASE": self.fake.api_base, "EMBER_WHATSAPP_ALLOW": ",".join(self.chats)}

    def config(self) -> str:
        return f"[gateway.whatsapp]\nport = {self.port}\n"

    def say(self, person: int, text: str) -> None:
        self.fake.user_says(self.chats[person], text)

    def answers(self) -> list[tuple[str, str]]:
        with self.fake.lock:
            return [(str(m["to"]), str(m["text"]["body"])) for m in self.fake.sent if m.get("type", "text") == "text"]

    @property
    def injected(self) -> int:
        return self.fake.dice.thrown

    def wait_connected(self, before: int, timeout: float) -> None:
        import httpx

        check = {"hub.mode": "subscribe", "hub.verify_token": self.fake.verify_token, "hub.challenge": "up"}

        def answering() -> bool:  # Meta's subscription check, as it would make it
            try:
                return httpx.get(self.fake.webhook_url or "", params=check, timeout=2).text == "up"
            except httpx.HTTPError:
                return False

        wait_until(answering, timeout, "the WhatsApp webhook to answer")

    def after_restart(self) -> None:
        self.fake.redeliver()


class SignalLoad(LoadPlatform):
    """1:1 messages from signal-cli's event stream (its daemon --http). signal-cli has no ack: it
    writes each message to the stream once, so one already written when Ember is SIGKILLed,
    and not yet recorded, is gone (docs/gateway-signal.md). To keep that to the one message a
    kill can catch in flight, the stream is let drain before the message that precedes a kill."""

    name = "signal"
    lost_per_kill = 1
    settle = 1.0  # seconds for the gateway to record what the stream handed it

    def __enter__(self) -> SignalLoad:
        self.fake = FlakySignal(self.fail_rate, self.seed, keepalive=0.5).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.fake.stop()

    def add_people(self, count: int) -> list[str]:
        self.chats = [f"+1555010{n:04d}" for n in range(1, count + 1)]
        return self.chats

    def env(self) -> dict[str, str]:
        return {"EMBER_SIGNAL_RPC": self.fake.url, "EMBER_SIGNAL_ACCOUNT": self.fake.account,
                "EMBER_SIGNAL_ALLOW": ",".join(self.chats)}

    def say(self, person: int, text: str) -> None:
        self.fake.user_says(self.chats[person], text)

    def answers(self) -> list[tuple[str, str]]:
        with self.fake.lock:
            return [(str(s.recipient), s.message) for s in self.fake.sent]

    @property
    def injected(self) -> int:
        return self.fake.dice.thrown

    def connections(self) -> int:
        with self.fake.lock:
            return self.fake.streams_opened  # a killed gateway's stream may still look open

    def wait_connected(self, before: int, timeout: float) -> None:
        self.fake.wait_for(lambda: self.fake.streams_opened > before, timeout, "the new gateway's event stream")

    def before_kill(self) -> None:
        self.fake.wait_handed_out(timeout=30)
        time.sleep(self.settle)


EMBER_ADDRESS, EMAIL_PASSWORD = "ember@example.com", "load-app-password"


class EmailLoad(LoadPlatform):
    """Mail read over IMAP (IDLE), answered over SMTP. Every new mail starts a conversation of its
    own, so each person writes once and then replies in that thread: one chat, one order. A
    repeated send keeps its Message-ID, and is one message to the reader."""

    name = "email"
    keyed = True

    def __enter__(self) -> EmailLoad:
        self.imap = FakeIMAP(user=EMBER_ADDRESS, password=EMAIL_PASSWORD).start()
        self.smtp = FlakySMTP(self.fail_rate, self.seed, user=EMBER_ADDRESS, password=EMAIL_PASSWORD).start()
        self.threads: dict[int, list[str]] = {}  # person -> the Message-IDs of their thread
        self.read: list[list[tuple[str, str]]] = []  # per mail the bot sent: (recipient, body)
        self.seen_ids: set[str] = set()  # the Message-IDs read so far
        return self

    def __exit__(self, *exc: object) -> None:
        self.smtp.stop()
        self.imap.stop()

    def add_people(self, count: int) -> list[str]:
        self.chats = [f"person{n}@example.org" for n in range(1, count + 1)]
        return self.chats

    def env(self) -> dict[str, str]:
        return {"EMBER_IMAP_URL": self.imap.url, "EMBER_SMTP_URL": self.smtp.url, "EMBER_EMAIL_ADDRESS": EMBER_ADDRESS,
                "EMBER_EMAIL_PASSWORD": EMAIL_PASSWORD, "EMBER_EMAIL_ALLOW": ",".join(self.chats)}

    def say(self, person: int, text: str) -> None:
        thread = self.threads.setdefault(person, [])
        message = EmailMessage()
        message["From"] = self.chats[person]
        message["To"] = EMBER_ADDRESS
        message["Subject"] = "Re: Tasks" if thread else "Tasks"
        message["Message-ID"] = make_msgid(domain="example.org")
        if thread:
            message["In-Reply-To"] = thread[-1]
            message["References"] = " ".join([thread[0], *thread[-3:]] if len(thread) > 3 else thread)
        message.set_content(text)
        thread.append(str(message["Message-ID"]))
        self.imap.add(message)

    def answers(self) -> list[tuple[str, str]]:
        with self.smtp.lock:
            new = self.smtp.messages[len(self.read):]
        for received in new:  # each mail is read once: the harness asks often
            message_id = str(received.message["Message-ID"])
            if message_id in self.seen_ids:  # a repeated send: a mail client shows it once
                continue
            self.seen_ids.add(message_id)
            part = received.message.get_body(preferencelist=("plain",))
            body = str(part.get_content()) if part is not None else ""
            self.read.append([(rcpt, body) for rcpt in received.rcpt_tos])
        return [answer for answers in self.read for answer in answers]

    @property
    def injected(self) -> int:
        return self.smtp.dice.thrown

    def connections(self) -> int:
        with self.imap.lock:
            return self.imap.logins

    def wait_connected(self, before: int, timeout: float) -> None:
        # Logged in is connected: with mail waiting, the channel reads it all before its first IDLE.
        self.imap.wait_for(lambda: self.imap.logins > before, timeout, "the new gateway's IMAP login")


PLATFORMS: dict[str, type[LoadPlatform]] = {p.name: p for p in (SlackLoad, TelegramLoad, DiscordLoad, WhatsAppLoad,
                                                                 SignalLoad, EmailLoad)}


def platform_named(name: str, fail_rate: float, seed: int = 7) -> LoadPlatform:
    if name not in PLATFORMS:
        raise ValueError(f"no platform {name!r}; the platforms are {', '.join(PLATFORMS)}")
    return PLATFORMS[name](fail_rate, seed)
