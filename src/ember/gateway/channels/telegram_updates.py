"""Telegram's updates as the gateway's ``Inbound`` messages, and our buttons' ``callback_data``.

What arrives: text and captions from private chats, and from groups only when the bot is
addressed (mentioned, replied to, or sent a command; the mention is taken out of the text);
photos (the largest size), documents, voice notes, audio and video as files fetched on demand;
presses of our inline buttons. Stickers, joins, pins and group chatter are skipped.

A button's ``callback_data`` is ``"<request_id>:<choice>"``; Telegram allows 64 bytes, so a
longer pair is kept in the store under a digest and the button carries ``"#<digest>"``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from ember.gateway.channel import ButtonPress, Inbound, InboundFile, KeyValue

MAX_CALLBACK_DATA = 64
ALLOWED_UPDATES = ["message", "callback_query"]  # what getUpdates and setWebhook ask Telegram for

# (message field, name suffix, MIME type when Telegram gives none)
_FILE_KINDS = (("document", "", "application/octet-stream"), ("voice", ".ogg", "audio/ogg"),
               ("audio", ".mp3", "audio/mpeg"), ("video", ".mp4", "video/mp4"))


def callback_data(state: KeyValue, request_id: str, choice: str) -> str:
    """What a button carries for ``(request_id, choice)``, within Telegram's 64 bytes."""
    data = f"{request_id}:{choice}"
    if len(data.encode()) <= MAX_CALLBACK_DATA and ":" not in choice and not data.startswith("#"):
        return data
    key = hashlib.sha256(data.encode()).hexdigest()[:32]
    state.set_meta(f"telegram:button:{key}", json.dumps([request_id, choice]))
    return "#" + key


def button_press(state: KeyValue, data: str) -> ButtonPress | None:
    """The press that ``callback_data`` stands for; None for a button that is not ours."""
    if data.startswith("#"):
        stored = state.get_meta(f"telegram:button:{data[1:]}")
        if stored is None:
            return None
        request_id, choice = json.loads(stored)
        return ButtonPress(str(request_id), str(choice))
    if ":" not in data:
        return None
    request_id, _, choice = data.rpartition(":")
    return ButtonPress(request_id, choice)


def inbound_from_update(update: dict[str, Any], me: dict[str, Any], state: KeyValue,
                        fetch: Callable[[str, str], bytes]) -> Inbound | None:
    """``update`` as an ``Inbound``, or None when there is nothing for the agent in it.

    ``me`` is the bot (``getMe``); ``fetch(file_id, name)`` downloads a file when it is needed.
    """
    event_id = f"telegram:{update['update_id']}"
    if "callback_query" in update:
        query = update["callback_query"]
        press = button_press(state, str(query.get("data") or ""))
        if press is None:
            return None
        message = query.get("message") or {}
        sender = query["from"]
        chat = (message.get("chat") or {}).get("id", sender["id"])
        return Inbound(platform="telegram", chat=str(chat), user=str(sender["id"]), event_id=event_id,
                       user_name=display_name(sender), press=press, thread=_thread(message))
    message = update.get("message")
    if not message or "from" not in message:
        return None
    text = message.get("text") or message.get("caption") or ""
    files = _files(message, fetch)
    if not text and not files:
        return None  # stickers, joins, pins...: nothing to answer
    chat = message["chat"]
    if chat.get("type") != "private":
        if not _addressed(message, text, me):
            return None  # group talk not meant for the bot (Slack's channel skips unmentioned messages too)
        text = _without_mention(text, me)
    return Inbound(platform="telegram", chat=str(chat["id"]), user=str(message["from"]["id"]), event_id=event_id,
                   text=text, user_name=display_name(message["from"]), direct=True, files=files,
                   thread=_thread(message))


def display_name(user: dict[str, Any]) -> str:
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
    return name or (f"@{user['username']}" if user.get("username") else str(user.get("id", "")))


def _thread(message: dict[str, Any]) -> str | None:
    """A forum topic's id: replies go back into the topic."""
    thread = message.get("message_thread_id") if message.get("is_topic_message") else None
    return str(thread) if thread is not None else None


def _addressed(message: dict[str, Any], text: str, me: dict[str, Any]) -> bool:
    """In a group: the bot was mentioned, replied to, or sent a command."""
    reply = message.get("reply_to_message") or {}
    if me.get("id") is not None and (reply.get("from") or {}).get("id") == me.get("id"):
        return True
    for entity in message.get("entities") or message.get("caption_entities") or []:
        if entity.get("type") == "text_mention" and (entity.get("user") or {}).get("id") == me.get("id"):
            return True
    username = me.get("username")
    if username and re.search(rf"@{re.escape(username)}\b", text, re.IGNORECASE):
        return True
    return bool(re.match(r"/\w+(\s|$)", text))  # a command without @bot is for every bot in the group


def _without_mention(text: str, me: dict[str, Any]) -> str:
    username = me.get("username")
    if not username:
        return text
    return re.sub(rf"\s*@{re.escape(username)}\b", "", text, flags=re.IGNORECASE).strip()


def _files(message: dict[str, Any], fetch: Callable[[str, str], bytes]) -> list[InboundFile]:
    found: list[tuple[dict[str, Any], str, str]] = []
    if message.get("photo"):
        largest = max(message["photo"], key=lambda p: (p.get("width", 0) * p.get("height", 0),
                                                        p.get("file_size", 0)))
        found.append((largest, f"photo-{largest.get('file_unique_id', 'file')}.jpg", "image/jpeg"))
    for kind, suffix, mime in _FILE_KINDS:
        item = message.get(kind)
        if item:
            name = item.get("file_name") or f"{kind}-{item.get('file_unique_id', 'file')}{suffix}"
            found.append((item, name, item.get("mime_type") or mime))
    return [InboundFile(name=name, mime=mime, size=item.get("file_size"), fetch=partial(fetch, item["file_id"], name))
            for item, name, mime in found]
