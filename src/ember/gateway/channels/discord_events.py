"""Discord's events as the gateway's ``Inbound`` messages, and our buttons' ``custom_id``.

What arrives: DMs; in servers, messages that mention the bot (the mention is taken out) or reply
to one of its messages or to another message of a conversation with it; attachments as files fetched on demand; presses of our buttons
(``INTERACTION_CREATE`` of a message component). Other bots, the bot's own messages, system
messages (joins, pins) and server talk not meant for the bot are skipped.

Conversations: a DM is one conversation, and so is a thread (a thread is a channel of its own on
Discord). In a server's channel each mention starts a conversation (``Inbound.thread`` is the id
of the message that started it), answered as a reply to the latest message in it; a Discord
reply to any message of a conversation (the bot's answer, or the question) goes on with it, with
or without a mention, so ``/stop`` sent as such a reply reaches the running turn. The store keeps
which conversation each message belongs to (``discord:conv:<message id>``) and the latest
message of each (``discord:last:<conversation>``).

A button's ``custom_id`` is ``"<request_id>:<choice>"``; Discord allows 100 characters, so a
longer pair is kept in the store under a digest and the button carries ``"#<digest>"``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from ember.gateway.channel import ButtonPress, Inbound, InboundFile, KeyValue

MAX_CUSTOM_ID = 100
MESSAGE_TYPES = {0, 19}  # DEFAULT and REPLY; joins, pins, boosts... are not for the agent
THREAD_TYPES = {10, 11, 12}  # announcement, public and private threads


def custom_id(state: KeyValue, request_id: str, choice: str) -> str:
    """What a button carries for ``(request_id, choice)``, within Discord's 100 characters."""
    data = f"{request_id}:{choice}"
    if len(data) <= MAX_CUSTOM_ID and ":" not in choice and not data.startswith("#"):
        return data
    key = hashlib.sha256(data.encode()).hexdigest()[:32]
    state.set_meta(f"discord:button:{key}", json.dumps([request_id, choice]))
    return "#" + key


def button_press(state: KeyValue, data: str) -> ButtonPress | None:
    """The press that ``custom_id`` stands for; None for a button that is not ours."""
    if data.startswith("#"):
        stored = state.get_meta(f"discord:button:{data[1:]}")
        if stored is None:
            return None
        request_id, choice = json.loads(stored)
        return ButtonPress(str(request_id), str(choice))
    if ":" not in data:
        return None
    request_id, _, choice = data.rpartition(":")
    return ButtonPress(request_id, choice)


def display_name(user: dict[str, Any]) -> str:
    return str(user.get("global_name") or user.get("username") or user.get("id") or "")


def inbound_from_message(message: dict[str, Any], bot: str, state: KeyValue, threads: set[str],
                         fetch: Callable[[str], bytes]) -> Inbound | None:
    """A ``MESSAGE_CREATE`` as an ``Inbound``, or None when it is not for the agent.

    ``bot`` is the bot's user id; ``threads`` the thread channels seen so far; ``fetch(url)``
    downloads an attachment when it is needed.
    """
    author = message.get("author") or {}
    if author.get("bot") or author.get("system") or not author.get("id") or str(author["id"]) == bot:
        return None
    if message.get("type", 0) not in MESSAGE_TYPES or message.get("webhook_id"):
        return None
    channel = str(message["channel_id"])
    text = str(message.get("content") or "")
    files = [InboundFile(name=str(a.get("filename") or f"attachment-{a.get('id')}"),
                         mime=str(a.get("content_type") or "application/octet-stream"),
                         size=a.get("size") if isinstance(a.get("size"), int) else None,
                         fetch=_fetcher(fetch, str(a["url"])))
             for a in message.get("attachments") or [] if isinstance(a, dict) and a.get("url")]
    thread = None
    if message.get("guild_id"):
        in_thread = channel in threads or "position" in message  # a thread's messages carry a position
        known = None if in_thread else _known_conversation(message, state)
        if known is None and not _addressed(message, text, bot):
            return None  # server talk not meant for the bot
        text = _without_mention(text, bot)
        if not in_thread:
            thread = known or str(message["id"])
            state.set_meta(f"discord:conv:{message['id']}", thread)  # a reply to it goes on with it
            state.set_meta(f"discord:last:{thread}", str(message["id"]))  # the message to answer
    text = _readable_mentions(text, message)
    if not text.strip() and not files:
        return None
    return Inbound(platform="discord", chat=channel, user=str(author["id"]), event_id=f"discord:{message['id']}",
                   text=text.strip(), thread=thread, user_name=display_name(author), direct=True, files=files)


def inbound_from_interaction(interaction: dict[str, Any], state: KeyValue) -> Inbound | None:
    """A press of one of our buttons (an ``INTERACTION_CREATE`` of a message component)."""
    if interaction.get("type") != 3:
        return None
    data = interaction.get("data") or {}
    press = button_press(state, str(data.get("custom_id") or ""))
    if press is None:
        return None
    user = (interaction.get("member") or {}).get("user") or interaction.get("user") or {}
    message = interaction.get("message") or {}
    channel = str(interaction.get("channel_id") or message.get("channel_id") or "")
    if not user.get("id") or not channel:
        return None
    thread = state.get_meta(f"discord:conv:{message['id']}") if message.get("id") else None
    return Inbound(platform="discord", chat=channel, user=str(user["id"]), event_id=f"discord:{interaction['id']}",
                   user_name=display_name(user), press=press, thread=thread)


def _fetcher(fetch: Callable[[str], bytes], url: str) -> Callable[[], bytes]:
    return lambda: fetch(url)


def _addressed(message: dict[str, Any], text: str, bot: str) -> bool:
    """In a server: the bot was mentioned (also by a reply that pings it) or replied to."""
    if re.search(rf"<@!?{re.escape(bot)}>", text):
        return True
    if any(str((m or {}).get("id")) == bot for m in message.get("mentions") or []):
        return True
    replied = message.get("referenced_message") or {}
    return str((replied.get("author") or {}).get("id") or "") == bot


def _without_mention(text: str, bot: str) -> str:
    return re.sub(rf"\s*<@!?{re.escape(bot)}>\s*", " ", text).strip()


def _readable_mentions(text: str, message: dict[str, Any]) -> str:
    """``<@123>`` as ``@name`` for the people the message names."""
    names = {str(m.get("id")): display_name(m) for m in message.get("mentions") or [] if isinstance(m, dict)}
    return re.sub(r"<@!?(\d+)>", lambda m: f"@{names[m.group(1)]}" if m.group(1) in names else m.group(0), text)


def _known_conversation(message: dict[str, Any], state: KeyValue) -> str | None:
    """The conversation of the message this one replies to (the bot's answer, or the question)."""
    reference = str((message.get("message_reference") or {}).get("message_id") or "")
    return state.get_meta(f"discord:conv:{reference}") if reference else None
