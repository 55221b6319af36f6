"""signal-cli's ``receive`` notifications as ``Inbound`` messages.

Taken: a ``dataMessage`` with text or attachments, in a 1:1 conversation (the chat is the
sender), or in a group (the chat is ``groupInfo.groupId``) when it mentions the bot or replies
to (quotes) one of its messages. Left alone: our own messages synced from linked devices,
receipts, typing notices, reactions, edits, stories, group updates, remote deletes, and group
talk not addressed to the bot.

The sender is ``sourceNumber`` (``+4915...``), or ``sourceUuid`` when the sender hides their
number; allow lists may hold either. The event id, ``signal:<sender>:<timestamp>``, is what
Signal itself uses to name a message.

A mention is a U+FFFC placeholder in the text with ``start`` and ``length`` counted in UTF-16
code units; the bot's own mention is removed, others become ``@name``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ember.gateway.channel import Inbound, InboundFile

Fetcher = Callable[[str, str, str | None], Callable[[], bytes]]  # (attachment id, sender, group) -> fetch


def _replace_mentions(text: str, mentions: list[dict[str, Any]], me: set[str]) -> str:
    """``text`` with each mention's placeholder replaced (positions in UTF-16 code units)."""
    encoded = text.encode("utf-16-le")
    for mention in sorted(mentions, key=lambda m: int(m.get("start") or 0), reverse=True):
        start, length = int(mention.get("start") or 0), int(mention.get("length") or 0)
        if start < 0 or length < 0 or 2 * (start + length) > len(encoded):
            continue
        ours = bool(me & {str(mention.get("number") or ""), str(mention.get("uuid") or "")})
        name = "" if ours else "@" + str(mention.get("name") or mention.get("number") or mention.get("uuid") or "")
        encoded = encoded[: 2 * start] + name.encode("utf-16-le") + encoded[2 * (start + length):]
    return re.sub(r"[ \t]{2,}", " ", encoded.decode("utf-16-le", errors="replace")).strip()


def addressed_to(data: dict[str, Any], me: set[str]) -> bool:
    """A group message that mentions the bot or quotes one of its messages."""
    for mention in data.get("mentions") or []:
        if isinstance(mention, dict) and me & {str(mention.get("number") or ""), str(mention.get("uuid") or "")}:
            return True
    quote = data.get("quote")
    if isinstance(quote, dict):
        authors = {str(quote.get(k) or "") for k in ("author", "authorNumber", "authorUuid")}
        return bool(me & authors)
    return False


def inbound_from_receive(params: dict[str, Any], account: str, fetcher: Fetcher) -> Inbound | None:
    """One ``receive`` notification's ``{"account", "envelope"}`` as an ``Inbound``, or None."""
    envelope = params.get("envelope")
    if not isinstance(envelope, dict):
        return None
    data = envelope.get("dataMessage")
    if not isinstance(data, dict):
        return None  # receipts, typing, sync messages from our other devices, stories, calls, edits
    sender = str(envelope.get("sourceNumber") or envelope.get("sourceUuid") or envelope.get("source") or "")
    me = {account} - {""}
    if not sender or sender in me or envelope.get("sourceUuid") in me:
        return None
    if data.get("reaction") or data.get("remoteDelete") or data.get("isExpirationUpdate") or data.get("sticker"):
        return None
    group = data.get("groupInfo")
    group_id = str(group.get("groupId") or "") if isinstance(group, dict) else ""
    if isinstance(group, dict) and group.get("type") == "UPDATE":
        return None
    text = str(data.get("message") or "")
    mentions = [m for m in data.get("mentions") or [] if isinstance(m, dict)]
    if mentions:
        text = _replace_mentions(text, mentions, me)
    attachments = [a for a in data.get("attachments") or [] if isinstance(a, dict) and a.get("id")]
    if not text.strip() and not attachments:
        return None
    if group_id and not addressed_to(data, me):
        return None  # group talk: the bot answers only when mentioned or replied to
    timestamp = envelope.get("timestamp") or data.get("timestamp")
    files = [InboundFile(name=str(a.get("filename") or a["id"]),
                         mime=str(a.get("contentType") or "application/octet-stream"),
                         size=a.get("size") if isinstance(a.get("size"), int) else None,
                         fetch=fetcher(str(a["id"]), sender, group_id or None))
             for a in attachments]
    return Inbound(platform="signal", chat=group_id or sender, user=sender, event_id=f"signal:{sender}:{timestamp}",
                   text=text.strip(), user_name=str(envelope.get("sourceName") or ""), direct=True, files=files)
