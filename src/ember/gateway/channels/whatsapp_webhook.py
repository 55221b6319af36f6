"""What is WhatsApp's own in the webhook Meta calls: its subscription check (GET) and signed POSTs.

``GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`` is answered with the challenge
when the verify token matches, 403 otherwise. A ``POST`` must carry ``X-Hub-Signature-256:
sha256=`` + the hex HMAC-SHA256 of the raw body with the app secret; anything else gets 401 and
goes no further. The server itself (size limit, 200 only once recorded, 500 so Meta sends again)
is ``push_server``, shared with Telegram's webhook and Slack's Events API.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from email.message import Message
from urllib.parse import parse_qs, urlsplit

from ember.gateway.channels.push_server import Handle, PushServer

log = logging.getLogger("ember.gateway.whatsapp")

MAX_BODY = 4 * 1024 * 1024


def signature(secret: str, body: bytes) -> str:
    """What Meta puts in ``X-Hub-Signature-256`` for this body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, given: str | None, body: bytes) -> bool:
    return bool(secret and given) and hmac.compare_digest(signature(secret, body), str(given))


def webhook_server(app_secret: str, verify_token: str, handle: Handle, host: str = "127.0.0.1",
                   port: int = 0) -> PushServer:
    """The server Meta calls (not started): POSTs signed with ``app_secret`` go to ``handle``."""

    def authentic(headers: Message, body: bytes) -> bool:
        return verify(app_secret, headers.get("x-hub-signature-256"), body)

    def subscription_check(path: str, client: str) -> tuple[int, bytes]:
        query = parse_qs(urlsplit(path).query)
        mode = (query.get("hub.mode") or [""])[0]
        given = (query.get("hub.verify_token") or [""])[0]
        challenge = (query.get("hub.challenge") or [""])[0]
        if mode == "subscribe" and verify_token and hmac.compare_digest(given.encode(), verify_token.encode()):
            log.info("whatsapp: Meta's webhook check answered")
            return 200, challenge.encode()
        log.warning("whatsapp: a webhook check from %s with the wrong verify token, refused", client)
        return 403, b"verify token mismatch\n"

    return PushServer("whatsapp", authentic, handle, host, port, max_body=MAX_BODY, answer_get=subscription_check)
