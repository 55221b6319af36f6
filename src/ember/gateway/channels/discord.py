"""Discord: DMs and mentions in, replies, buttons and files out (docs/gateway-discord.md).

No discord.py: Discord's bot API is a small, documented protocol (a websocket that pushes events,
a JSON REST API to act), and speaking it with ``httpx`` and ``websockets``, which the gateway
already uses, keeps one HTTP stack to configure and test, spares a heavy dependency with its own
event loop, and keeps the import cheap (a channel is imported only to be configured).

Receiving runs over the Gateway websocket (``discord_gateway``: heartbeat, IDENTIFY or RESUME,
the sequence number kept in the store so a restart resumes and Discord replays what came
meanwhile); events become ``Inbound`` messages in ``discord_events`` (``event_id``
``discord:<message id>``, so a replayed event is dropped by the gateway). Sending uses the REST
API (``discord_api``): ``POST /channels/{id}/messages``, as a reply to the question in a server
channel, buttons as message components, files as multipart uploads; the returned message id is
the acknowledgement. Discord renders Markdown itself, so the agent's text goes as it is, with
mentions disabled (no ``@everyone`` from a model) except the reply's ping of the asker.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.gateway.channel import Button, ChannelStatus, Inbound, KeyValue, Outbound, SendError
from ember.gateway.channels.discord_api import TOKEN_HELP, DiscordAPI
from ember.gateway.channels.discord_config import DiscordConfig, discord_config
from ember.gateway.channels.discord_events import (
    THREAD_TYPES,
    custom_id,
    inbound_from_interaction,
    inbound_from_message,
)
from ember.gateway.channels.discord_gateway import GatewayClient

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

    from ember.config import Settings

__all__ = ["DiscordChannel", "DiscordConfig"]

log = logging.getLogger("ember.gateway.discord")

MAX_TEXT = 2000
MAX_BUTTONS_PER_ROW, MAX_ROWS, MAX_LABEL = 5, 5, 80
BOT_KEY = "discord:bot_user"
TYPING_EVERY = 8.0  # Discord shows "typing..." for about 10 s
_SNOWFLAKE = re.compile(r"^\d{5,20}$")
_USER = re.compile(r"^(?:@|<@!?)(\d{5,20})>?$")
_CHANNEL = re.compile(r"^<?#(\d{5,20})>?$")


class DiscordChannel:
    """The ``Channel`` for one Discord bot. ``client`` is injectable (tests point ``api_base`` at a fake)."""

    name = "discord"
    max_text = MAX_TEXT
    reconnect_delay = 1.0  # seconds before the first reconnect after an error; doubles up to the max
    max_reconnect_delay = 60.0
    invalid_session_delay = (1.0, 5.0)  # Discord's advice before identifying again

    def __init__(self, config: DiscordConfig, state: KeyValue, files_dir: Path,
                 client: httpx.Client | None = None) -> None:
        from ember.models.transport import load_httpx

        http = load_httpx()
        self.config = config
        self.state = state
        self.files_dir = files_dir  # the gateway keeps fetched files there
        self._own_client = client is None
        self.client: httpx.Client = client or http.Client(timeout=http.Timeout(30.0, connect=10.0))
        self.api = DiscordAPI(config.token, config.api_base, self.client)
        self.bot_user = state.get_meta(BOT_KEY) or ""
        self.threads: set[str] = set()  # thread channels seen (each is one conversation)
        self._status = ChannelStatus()
        self._on_inbound: Callable[[Inbound], None] | None = None
        self._gateway: GatewayClient | None = None
        self._gateway_url = config.gateway_url
        self._dms: dict[str, str] = {}  # user id -> DM channel id
        self._typed: dict[str, float] = {}  # channel -> when "typing" was last shown
        self._lock = threading.Lock()

    # --- receiving ------------------------------------------------------------------------------

    def start(self, on_inbound: Callable[[Inbound], None]) -> None:
        self._on_inbound = on_inbound
        self._gateway = GatewayClient(self.config.token, self._url, self.state, self._dispatch, self._set_state,
                                      first_delay=self.reconnect_delay, max_delay=self.max_reconnect_delay,
                                      invalid_session_delay=self.invalid_session_delay)
        self._gateway.start()

    @property
    def gateway(self) -> GatewayClient | None:
        return self._gateway

    def stop(self) -> None:
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        self._set_state(False, self._status.last_error)
        if self._own_client:
            self.client.close()

    def _url(self) -> str:
        if not self._gateway_url:
            self._gateway_url = self.api.gateway_url()
        return self._gateway_url

    def _dispatch(self, kind: str, data: dict[str, Any]) -> None:
        """One Gateway event; returns once ``on_inbound`` has (the message is recorded). An event we
        cannot read is logged and skipped: receiving it again would not help."""
        if kind == "READY":
            user = str((data.get("user") or {}).get("id") or "")
            if user and user != self.bot_user:
                self.bot_user = user
                self.state.set_meta(BOT_KEY, user)
            return
        if kind in ("GUILD_CREATE", "THREAD_LIST_SYNC"):
            self.threads.update(str(t["id"]) for t in data.get("threads") or [] if isinstance(t, dict))
            return
        if kind in ("THREAD_CREATE", "THREAD_UPDATE") and data.get("type") in THREAD_TYPES:
            self.threads.add(str(data["id"]))
            return
        if kind not in ("MESSAGE_CREATE", "INTERACTION_CREATE"):
            return
        try:
            if kind == "MESSAGE_CREATE":
                inbound = inbound_from_message(data, self.bot_user, self.state, self.threads, self.api.download)
            else:
                inbound = inbound_from_interaction(data, self.state)
        except Exception:
            log.exception("discord: a %s event could not be read; skipped", kind)
            return
        if inbound is not None and self._on_inbound is not None:
            self._on_inbound(inbound)  # raises when not recorded: the client resumes and it comes again
        if kind == "INTERACTION_CREATE" and data.get("id") and data.get("token"):
            try:  # within 3 s, or Discord shows "This interaction failed"; a replayed one has expired
                self.api.answer_interaction(str(data["id"]), str(data["token"]))
            except SendError as exc:
                log.debug("discord: the interaction callback failed: %s", exc)

    # --- sending --------------------------------------------------------------------------------

    def send(self, item: Outbound) -> str:
        """Post ``item`` (a reply in its conversation); the message's id, or ``SendError``."""
        channel = item.chat if _SNOWFLAKE.match(item.chat) else self.resolve_chat(item.chat)
        payload: dict[str, Any] = {"content": item.text,
                                   "allowed_mentions": {"parse": [], "replied_user": True}}
        if item.thread:
            reference = self.state.get_meta(f"discord:last:{item.thread}") or item.thread
            payload["message_reference"] = {"message_id": reference, "fail_if_not_exists": False}
        if item.buttons:
            payload["components"] = self._components(item.buttons, item.request_id or "")
        if item.key:  # a retry of a send that reached Discord returns that message, not a second one
            payload["nonce"], payload["enforce_nonce"] = item.key[:25], True
        file = None
        if item.file:
            path = Path(item.file)
            try:
                file = (path.name, path.read_bytes())
            except OSError as exc:
                raise SendError(f"discord: cannot read the file to send: {exc.strerror or exc}",
                                permanent=True) from None
            payload["attachments"] = [{"id": 0, "filename": path.name}]
        if not item.text.strip() and not item.buttons and file is None:
            raise SendError("discord: nothing to send (no text, buttons or file)", permanent=True)
        try:
            message_id = self.api.create_message(channel, payload, file)
        except SendError as exc:
            if str(exc) == TOKEN_HELP:
                self._set_state(self._status.connected, TOKEN_HELP)
            raise
        if item.thread:
            self.state.set_meta(f"discord:conv:{message_id}", item.thread)
        return message_id

    def _components(self, buttons: list[Button], request_id: str) -> list[dict[str, Any]]:
        """Action rows of buttons (five a row); the first is the primary one, a deny is red."""
        elements = [{"type": 2, "style": 4 if b.value == "deny" else 1 if n == 0 else 2,
                     "label": b.label[:MAX_LABEL], "custom_id": custom_id(self.state, request_id, b.value)}
                    for n, b in enumerate(buttons[:MAX_BUTTONS_PER_ROW * MAX_ROWS])]
        return [{"type": 1, "components": elements[i:i + MAX_BUTTONS_PER_ROW]}
                for i in range(0, len(elements), MAX_BUTTONS_PER_ROW)]

    def typing(self, chat: str, thread: str | None = None) -> None:
        """"Ember is typing..." in the channel (best effort, at most every 8 s: it lasts 10)."""
        now = time.monotonic()
        with self._lock:
            if now - self._typed.get(chat, -1e9) < TYPING_EVERY:
                return
            self._typed[chat] = now
        try:
            self.api.typing(chat if _SNOWFLAKE.match(chat) else self.resolve_chat(chat))
        except Exception as exc:  # a missing "typing..." must never fail a turn
            log.debug("discord: typing failed: %s", exc)

    def status(self) -> ChannelStatus:
        return ChannelStatus(self._status.connected, self._status.last_error)

    def _set_state(self, connected: bool, error: str | None) -> None:
        self._status = ChannelStatus(connected, error)

    def resolve_chat(self, name: str) -> str:
        """A channel id: a snowflake (``123456789012345678``, ``#…``, ``<#…>``) as is; a user
        (``@123…``, ``<@123…>``) through ``POST /users/@me/channels``, the bot's DM with them."""
        value = name.strip()
        if _SNOWFLAKE.match(value):
            return value
        if found := _CHANNEL.match(value):
            return found.group(1)
        if found := _USER.match(value):
            user = found.group(1)
            with self._lock:
                if user in self._dms:
                    return self._dms[user]
            channel = self.api.open_dm(user)
            with self._lock:
                self._dms[user] = channel
            return channel
        raise SendError(f"Discord chats are channel ids (123456789012345678) or @USER_ID for a DM, not {name!r}; "
                        "docs/gateway-discord.md shows how to copy an id", permanent=True)


NAME = "discord"
CHANNEL = DiscordChannel


def configure(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> DiscordConfig | None:
    """[gateway.discord] and its environment variables (``discord_config``)."""
    return discord_config(table, env, settings)
