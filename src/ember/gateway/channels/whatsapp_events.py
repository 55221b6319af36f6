"""WhatsApp's webhook notifications as the gateway's ``Inbound`` messages and delivery statuses.

A notification is ``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
"messages", "value": {...}}]}]}``; each ``value`` names the business number it is for
(``metadata.phone_number_id``: another number's are skipped), the senders' profile names
(``contacts``), new ``messages`` and ``statuses`` of the messages sent.

What arrives: text; images, documents, voice notes, audio and video as files fetched on demand
(their caption as the text); a tap on one of our reply buttons or list rows (``interactive``) as a
``ButtonPress`` when its id is ``"<request_id>:<choice>"``; a template's quick-reply button and a
shared location as text. Reactions, stickers and system notices are skipped.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ember.gateway.channel import ButtonPress, Inbound, InboundFile

_FILE_KINDS = ("image", "document", "audio", "video")


@dataclass
class Status:
    """A delivery status of a message we sent (sent, delivered, read, failed)."""

    message_id: str
    status: str
    recipient: str
    timestamp: str
    error_code: int | None = None
    error: str = ""


def changes(payload: dict[str, Any], phone_number_id: str) -> Iterator[dict[str, Any]]:
    """The ``value`` of every ``messages`` change for our business number."""
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            if not isinstance(change, dict) or change.get("field") != "messages":
                continue
            value = change.get("value") or {}
            number = str((value.get("metadata") or {}).get("phone_number_id") or "")
            if number and number != phone_number_id:
                continue  # another number of the same business account
            yield value


def inbound_from_message(message: dict[str, Any], names: dict[str, str],
                         fetch: Callable[[str], bytes]) -> Inbound | None:
    """One of ``value.messages`` as an ``Inbound``, or None when there is nothing for the agent."""
    sender = str(message.get("from") or "")
    kind = str(message.get("type") or "")
    if not sender or not message.get("id"):
        return None
    inbound = Inbound(platform="whatsapp", chat=sender, user=sender, event_id=f"whatsapp:{message['id']}",
                      user_name=names.get(sender, ""))
    if kind == "text":
        inbound.text = str((message.get("text") or {}).get("body") or "")
    elif kind in _FILE_KINDS:
        media = message.get(kind) or {}
        if not media.get("id"):
            return None
        inbound.text = str(media.get("caption") or "")
        inbound.files = [_file(kind, media, fetch)]
    elif kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        press = button_press(str(reply.get("id") or ""))
        if press is None:
            inbound.text = str(reply.get("title") or "")
        else:
            inbound.press = press
    elif kind == "button":  # a template's quick reply
        inbound.text = str((message.get("button") or {}).get("text") or "")
    elif kind == "location":
        place = message.get("location") or {}
        where = ", ".join(str(place[k]) for k in ("name", "address") if place.get(k))
        inbound.text = f"[location: {place.get('latitude')}, {place.get('longitude')}{'; ' + where if where else ''}]"
    else:
        return None  # reactions, stickers, system notices, unsupported
    if inbound.press is None and not inbound.text.strip() and not inbound.files:
        return None
    return inbound


def status_from(entry: dict[str, Any]) -> Status | None:
    if not entry.get("id") or not entry.get("status"):
        return None
    errors = entry.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    details = (first.get("error_data") or {}).get("details") if isinstance(first.get("error_data"), dict) else ""
    code = first.get("code")
    return Status(message_id=str(entry["id"]), status=str(entry["status"]), recipient=str(entry.get("recipient_id") or ""),
                  timestamp=str(entry.get("timestamp") or ""), error_code=code if isinstance(code, int) else None,
                  error=str(details or first.get("title") or first.get("message") or ""))


def button_id(request_id: str, choice: str) -> str:
    return f"{request_id}:{choice}"


def button_press(data: str) -> ButtonPress | None:
    if ":" not in data:
        return None
    request_id, _, choice = data.rpartition(":")
    return ButtonPress(request_id, choice) if request_id and choice else None


def _file(kind: str, media: dict[str, Any], fetch: Callable[[str], bytes]) -> InboundFile:
    mime = str(media.get("mime_type") or "application/octet-stream").split(";")[0].strip()
    name = str(media.get("filename") or "")
    if not name:
        suffix = ".ogg" if mime == "audio/ogg" else mimetypes.guess_extension(mime) or ""
        name = f"{'voice' if media.get('voice') else kind}-{media['id']}{suffix}"
    media_id = str(media["id"])
    return InboundFile(name=name, mime=mime, size=None, fetch=lambda: fetch(media_id))
