"""Telegram's webhook mode: Telegram POSTs each update to a public HTTPS address we serve.

At start the channel calls ``setWebhook`` with that address, the secret token and the same
``allowed_updates`` as polling (``drop_pending_updates`` false: what waits is delivered). Every
POST must carry the secret in ``X-Telegram-Bot-Api-Secret-Token`` (compared in constant time),
else 401 and nothing is read. The body is one Update; it goes the way a polled update goes, and
200 is answered only once it is recorded, so Telegram sends again what a crash lost, and the
gateway drops a repeat by its ``event_id`` (``telegram:<update_id>``). The server itself is
``push_server``, shared with WhatsApp and Slack.

Every worker of a bot may serve the webhook behind one load balancer: each calls ``setWebhook``
with the same address and secret (configured, or derived from the token: ``TelegramConfig``).
Stopping leaves the webhook set, since other workers may still serve it; ``deleteWebhook`` goes
back to polling (docs/gateway-telegram.md).
"""

from __future__ import annotations

import hmac
from email.message import Message
from typing import TYPE_CHECKING, Any

from ember.gateway.channels.push_server import Handle, PushServer
from ember.gateway.channels.telegram_updates import ALLOWED_UPDATES

if TYPE_CHECKING:
    from ember.gateway.config import TelegramConfig

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # an Update is a few kilobytes; files stay on Telegram's side until fetched


def set_webhook_params(config: TelegramConfig) -> dict[str, Any]:
    """What ``setWebhook`` is called with."""
    return {"url": config.webhook_url, "secret_token": config.secret_token(), "allowed_updates": ALLOWED_UPDATES,
            "drop_pending_updates": False}


def webhook_server(config: TelegramConfig, handle: Handle) -> PushServer:
    """The server Telegram calls (bound, not started): POSTs with the secret go to ``handle``."""
    expected = config.secret_token().encode()

    def authentic(headers: Message, body: bytes) -> bool:
        given = headers.get(SECRET_HEADER)
        return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected)

    return PushServer("telegram", authentic, handle, config.webhook_host, config.webhook_port, max_body=MAX_BODY)
