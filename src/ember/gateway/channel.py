"""What a messaging platform must offer the gateway: the ``Channel`` protocol and its messages.

A channel knows its platform's wire protocol and nothing else: no sessions, no queues, no
retries. It turns platform events into ``Inbound`` messages and ``Outbound`` items into one
platform message, returning the platform's acknowledgement (a message id, a ``ts``) or raising
``SendError``, which says whether trying again can help. The gateway does the rest: recording,
ordering, retrying, splitting, approvals.

Receiving is at-least-once: ``on_inbound`` returns only after the message is durably recorded,
and a channel acknowledges an event to its platform (advances Telegram's ``getUpdates`` offset,
acks a Slack envelope) only after that. The gateway drops a repeat by ``event_id``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ember.store.gateway_records import Button  # what an outbox item carries, kept with it


@dataclass
class InboundFile:
    """A file that came with a message (a photo, a document, a voice note); fetched on demand."""

    name: str
    mime: str
    size: int | None
    fetch: Callable[[], bytes] = field(repr=False)


@dataclass
class ButtonPress:
    """A person pressed one of our buttons (an approval's once / session / always / deny)."""

    request_id: str  # what the buttons were attached to (an approval question's id)
    choice: str  # the button's value


@dataclass
class Inbound:
    """One message (or button press) from a platform, normalized."""

    platform: str  # "telegram", "slack", "webhook"
    chat: str  # the conversation: a Telegram chat id, a Slack channel id, a webhook name
    user: str  # the sender's platform user id (allow lists use these, never display names)
    event_id: str  # unique per platform event: the inbox drops a repeat of it
    text: str = ""
    thread: str | None = None  # a Slack thread ts; replies stay in it
    user_name: str = ""  # for people to read; never for deciding anything
    direct: bool = True  # a DM (or a mention in a channel): the bot was spoken to
    files: list[InboundFile] = field(default_factory=list)
    press: ButtonPress | None = None
    reply_url: str | None = None  # a webhook's callback URL


@dataclass
class Outbound:
    """One platform message to send: text (already within the channel's ``max_text``), and
    optionally buttons (an approval question) or a file."""

    chat: str
    text: str
    thread: str | None = None
    buttons: list[Button] = field(default_factory=list)
    request_id: str | None = None  # what the buttons answer (``ButtonPress.request_id``)
    file: str | None = None  # a path to upload with the text as its caption
    # The same on every try of one outbox item: a platform that deduplicates by a client key
    # (Discord's nonce, an email's Message-ID) makes a send repeated after a crash one message.
    key: str | None = None


class SendError(Exception):
    """A send that did not reach the platform. ``permanent``: trying again cannot help (chat not
    found, bot blocked, bad token); else the outbox retries, after ``retry_after`` seconds when
    the platform said so (HTTP 429)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass
class ChannelStatus:
    connected: bool = False
    last_error: str | None = None


class KeyValue(Protocol):
    """Where a channel keeps small state across restarts (Telegram's update offset): the store."""

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


@runtime_checkable
class Channel(Protocol):
    """A messaging platform. ``name`` is its platform name (``telegram``).

    A channel may also set ``quiet_refusals = True`` (email): a stranger then gets no refusal,
    since answering a forgeable sender would send mail to whoever was impersonated.
    """

    name: str
    max_text: int  # the longest text one message may carry

    def start(self, on_inbound: Callable[[Inbound], None]) -> None:
        """Start receiving in the background; call ``on_inbound`` for each event, in order per chat."""
        ...

    def stop(self) -> None: ...

    def send(self, item: Outbound) -> str:
        """Send one message; the platform's id for it (the acknowledgement), or ``SendError``."""
        ...

    def typing(self, chat: str, thread: str | None = None) -> None:
        """Show that Ember is working (best effort: never raises)."""
        ...

    def status(self) -> ChannelStatus: ...

    def resolve_chat(self, name: str) -> str:
        """A chat id from what a person writes (``#team`` on Slack, a numeric id on Telegram)."""
        ...


def buttons_as_text(buttons: list[Button]) -> str:
    """For a platform without buttons: the choices as a line to answer with a word or a number
    (the gateway takes "1", "once", "allow once"... as a press of that button)."""
    choices = "  ".join(f"{number}. {b.label}" for number, b in enumerate(buttons, 1))
    return f"Reply with a number or a word: {choices}"


def press_from_text(text: str, buttons: list[Button]) -> str | None:
    """The value of the button a text answer names (its number, value or label), or None."""
    answer = text.strip().lower().rstrip(".!")
    for number, button in enumerate(buttons, 1):
        if answer in (str(number), button.value.lower(), button.label.lower()):
            return button.value
    if answer in ("yes", "y", "ok", "allow"):
        return buttons[0].value if buttons else None
    if answer in ("no", "n", "stop") and any(b.value == "deny" for b in buttons):
        return "deny"
    return None


_BREAKS = [re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[.!?])\s+"), re.compile(r"\s+")]


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at a paragraph, else a line, else a
    sentence, else a space, else anywhere; code fences are closed and reopened across a cut."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit]
        cut = 0
        for pattern in _BREAKS:
            found = [m for m in pattern.finditer(window) if m.start() >= limit // 3]
            if found:
                cut = found[-1].start()
                break
        cut = cut or limit
        head, rest = rest[:cut].rstrip(), rest[cut:].strip()
        if head.count("```") % 2 == 1:  # a code block was cut: close it here, reopen it next
            if len(head) + 4 > limit:
                head, rest = head[: limit - 4], head[limit - 4:] + rest
            head, rest = head + "\n```", "```\n" + rest
        parts.append(head)
    if rest:
        parts.append(rest)
    return parts
