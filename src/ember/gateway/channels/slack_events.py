"""Slack payloads as ``Inbound`` messages; the same for Socket Mode and the Events API over HTTP.

Taken: ``message`` events in a DM (``channel_type: im``), ``app_mention`` in channels,
``block_actions`` (a press of one of our buttons), and the ``/ember`` slash command (Slack keeps
a message that starts with ``/`` for itself, so ``/ember new`` stands for the gateway's ``/new``). Left alone: messages from bots (ours
included), edits, deletions and other subtypes, channel messages that do not mention the bot
(those arrive as ``app_mention`` when they do), and anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ember.gateway.channel import ButtonPress, Inbound, InboundFile
from ember.gateway.channels.slack_format import from_slack, request_id_of

# message subtypes that are still a person writing to us
_KEPT_SUBTYPES = frozenset({"", "file_share", "thread_broadcast", "me_message"})

FileFetcher = Callable[[dict[str, Any]], Callable[[], bytes]]


def inbound_from_event(payload: dict[str, Any], bot_user: str, fetcher: FileFetcher) -> Inbound | None:
    """An ``event_callback`` payload as an ``Inbound``, or None when it is not for the agent."""
    event = payload.get("event")
    if payload.get("type") != "event_callback" or not isinstance(event, dict):
        return None
    kind = event.get("type")
    subtype = str(event.get("subtype") or "")
    user = str(event.get("user") or "")
    channel = str(event.get("channel") or "")
    ts = str(event.get("ts") or "")
    if kind not in ("message", "app_mention") or subtype not in _KEPT_SUBTYPES:
        return None
    if not user or not channel or not ts or event.get("bot_id") or event.get("bot_profile"):
        return None
    if user == bot_user or "edited" in event:
        return None
    im = event.get("channel_type") == "im" or (kind == "message" and channel.startswith("D"))
    if kind == "message" and not im:
        return None  # a channel message: the bot answers only when mentioned (app_mention)
    thread = event.get("thread_ts") or (None if im else ts)
    files = [InboundFile(name=str(f.get("name") or f.get("title") or f.get("id") or "file"),
                         mime=str(f.get("mimetype") or "application/octet-stream"),
                         size=f.get("size") if isinstance(f.get("size"), int) else None,
                         fetch=fetcher(f))
             for f in event.get("files") or [] if isinstance(f, dict) and f.get("url_private_download")]
    return Inbound(
        platform="slack", chat=channel, user=user,
        event_id=str(payload.get("event_id") or f"slack:{channel}:{ts}"),
        text=from_slack(str(event.get("text") or ""), bot_user),
        thread=str(thread) if thread else None, direct=True, files=files,
    )


def inbound_from_interaction(payload: dict[str, Any]) -> Inbound | None:
    """A ``block_actions`` payload (someone pressed one of our buttons) as an ``Inbound``."""
    if payload.get("type") != "block_actions":
        return None
    user = str((payload.get("user") or {}).get("id") or "")
    container = payload.get("container") or {}
    message = payload.get("message") or {}
    channel = str((payload.get("channel") or {}).get("id") or container.get("channel_id") or "")
    for action in payload.get("actions") or []:
        request_id = request_id_of(action) if isinstance(action, dict) else None
        if request_id is None or not user or not channel:
            continue
        message_ts = str(container.get("message_ts") or message.get("ts") or "")
        thread = message.get("thread_ts") or container.get("thread_ts")
        stamp = action.get("action_ts") or payload.get("trigger_id") or ""
        return Inbound(
            platform="slack", chat=channel, user=user,
            event_id=f"slack:press:{channel}:{message_ts}:{user}:{stamp}",
            thread=str(thread) if thread else None,
            user_name=str((payload.get("user") or {}).get("username") or ""),
            direct=True, press=ButtonPress(request_id=request_id, choice=str(action.get("value") or "")),
        )
    return None


COMMAND_WORDS = frozenset({"new", "stop", "help"})


def inbound_from_command(payload: dict[str, Any]) -> Inbound | None:
    """A slash command (``/ember new``) as an ``Inbound``: ``new``, ``stop``, ``help`` (or
    nothing) become the gateway's ``/new``, ``/stop``, ``/help``; other words are a message."""
    user, channel = str(payload.get("user_id") or ""), str(payload.get("channel_id") or "")
    if not user or not channel:
        return None
    words = str(payload.get("text") or "").strip()
    first = words.split(maxsplit=1)[0].lower().lstrip("/") if words else "help"
    text = f"/{first}" if first in COMMAND_WORDS else from_slack(words)
    stamp = payload.get("trigger_id") or f"{channel}:{user}:{words}"
    return Inbound(platform="slack", chat=channel, user=user, event_id=f"slack:command:{stamp}", text=text,
                   user_name=str(payload.get("user_name") or ""), direct=True)
