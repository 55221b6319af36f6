"""Slack: DMs and mentions in, threaded replies, buttons and files out (docs/gateway-slack.md).

Receiving runs over Socket Mode by default (``slack_socket``: a websocket the bot opens with the
app token, no public URL) or, when ``events_port`` is set, over the Events API (``slack_http``:
an HTTP server checking Slack's signature on every request). Both hand the same payloads to
``slack_events``, which keeps DMs, mentions and button presses. Sending uses the Web API
(``slack_api``) with the bot token: ``chat.postMessage`` in the thread the question was asked
in, Block Kit buttons for approvals, and the external upload flow for files. The agent's
Markdown is turned into Slack's mrkdwn on the way out (``slack_format``).

``typing`` does nothing: Slack offers bots no typing indicator outside its AI-assistant
threads, and an ephemeral "working..." note would stay in the conversation.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.gateway.channel import ChannelStatus, Inbound, KeyValue, Outbound, SendError
from ember.gateway.channels.slack_api import SlackAPI
from ember.gateway.channels.slack_events import (
    inbound_from_command,
    inbound_from_event,
    inbound_from_interaction,
)
from ember.gateway.channels.slack_format import question_blocks, to_mrkdwn

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

    from ember.config import Settings
    from ember.gateway.channels.push_server import PushServer
    from ember.gateway.channels.slack_socket import SocketModeClient
    from ember.gateway.config import SlackConfig

log = logging.getLogger("ember.gateway.slack")

MAX_TEXT = 3900  # Slack cuts long texts in practice; the outbox splits to this
_CONVERSATION_ID = re.compile(r"^[CDG][A-Z0-9]{2,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_BOT_USER_KEY = "slack.bot_user"


class SlackChannel:
    """The ``Channel`` for Slack. ``client`` is injectable (tests point ``api_base`` at a fake)."""

    name = "slack"
    max_text = MAX_TEXT
    reconnect_delay = 0.5  # seconds before the first reconnect after an error; doubles up to the max
    max_reconnect_delay = 30.0

    def __init__(self, config: SlackConfig, state: KeyValue, files_dir: Path,
                 client: httpx.Client | None = None) -> None:
        from ember.models.transport import load_httpx

        http = load_httpx()
        self.config = config
        self.state = state
        self.files_dir = files_dir  # where the gateway keeps fetched files; Slack's stay on Slack until then
        self._own_client = client is None
        self.client: httpx.Client = client or http.Client(timeout=http.Timeout(30.0, connect=10.0))
        self.api = SlackAPI(config.token, config.api_base, self.client)
        self.bot_user = state.get_meta(_BOT_USER_KEY) or ""
        self._status = ChannelStatus()
        self._on_inbound: Callable[[Inbound], None] | None = None
        self._socket: SocketModeClient | None = None
        self._events: PushServer | None = None
        self._channels: dict[str, str] = {}  # "team" -> "C0123", from conversations.list
        self._dms: dict[str, str] = {}  # "U0123" -> "D0456", from conversations.open
        self._names: dict[str, str] = {}  # user id -> display name
        self._lock = threading.Lock()

    # --- receiving ------------------------------------------------------------------------------

    def start(self, on_inbound: Callable[[Inbound], None]) -> None:
        """Learn who the bot is (``auth.test``), then receive over Socket Mode or the Events API."""
        self._on_inbound = on_inbound
        self._identify()
        if self.config.events_port is not None:
            from ember.gateway.channels.slack_http import events_server

            host = getattr(self.config, "events_host", None) or "127.0.0.1"
            self._events = events_server(self.config.signing_secret, self._handle, host, self.config.events_port)
            self._events.start()
            self._set_state(True, self._status.last_error)
            log.info("slack: Events API listening on %s:%s", host, self._events.port)
        else:
            from ember.gateway.channels.slack_socket import SocketModeClient

            if not self.config.app_token:
                raise SendError("slack: Socket Mode needs the app token (SLACK_APP_TOKEN, xapp-...)", permanent=True)
            self._socket = SocketModeClient(self.api, self.config.app_token, self._handle, self._set_state,
                                            first_delay=self.reconnect_delay, max_delay=self.max_reconnect_delay)
            self._socket.start()

    @property
    def events_port(self) -> int | None:
        """The port the Events API server listens on (when ``events_port`` was 0, the one picked)."""
        return self._events.port if self._events is not None else None

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.stop()
            self._socket = None
        if self._events is not None:
            self._events.stop()
            self._events = None
        self._set_state(False, self._status.last_error)
        if self._own_client:
            self.client.close()

    def _identify(self) -> None:
        """``auth.test``: the bot's own user id (its messages are skipped, its mention stripped).
        A failure is kept in the status; the id remembered from the last run is used meanwhile."""
        try:
            answer = self.api.call("auth.test")
        except SendError as exc:
            self._set_state(False, str(exc))
            log.warning("slack: %s", exc)
            return
        if (self._status.last_error or "").startswith("slack auth.test"):
            self._set_state(self._status.connected, None)
        user = str(answer.get("user_id") or "")
        if user and user != self.bot_user:
            self.bot_user = user
            self.state.set_meta(_BOT_USER_KEY, user)

    def _handle(self, kind: str, payload: dict[str, Any]) -> None:
        """One envelope's payload; returns once ``on_inbound`` has (the message is recorded). A
        payload we cannot read is logged and skipped: sending it again would not help."""
        try:
            inbound = self._inbound(kind, payload)
        except Exception:
            log.exception("slack: a %s payload could not be read; skipped", kind)
            return
        if inbound is not None and self._on_inbound is not None:
            self._on_inbound(inbound)  # raises when not recorded: no ack, Slack sends it again

    def _inbound(self, kind: str, payload: dict[str, Any]) -> Inbound | None:
        if kind == "events_api":
            if not self.bot_user:
                self._identify()
            inbound = inbound_from_event(payload, self.bot_user, self._fetcher)
        elif kind == "interactive":
            inbound = inbound_from_interaction(payload)
        elif kind == "slash_commands":
            inbound = inbound_from_command(payload)
        else:
            return None
        if inbound is not None and not inbound.user_name:
            inbound.user_name = self._user_name(inbound.user)
        return inbound

    def _fetcher(self, file: dict[str, Any]) -> Callable[[], bytes]:
        url = str(file["url_private_download"])
        return lambda: self.api.download(url)

    def _user_name(self, user: str) -> str:
        """A display name for logs and status (``users.info``, cached); "" when Slack won't say."""
        with self._lock:
            if user in self._names:
                return self._names[user]
        try:
            answer = self.api.call("users.info", {"user": user}, timeout=3.0)
        except SendError as exc:
            if exc.permanent:  # missing_scope, user_not_found: asking again will not help
                with self._lock:
                    self._names[user] = ""
            return ""
        info = answer.get("user") or {}
        profile = info.get("profile") or {}
        name = str(profile.get("display_name") or profile.get("real_name") or info.get("name") or "")
        with self._lock:
            self._names[user] = name
        return name

    # --- sending --------------------------------------------------------------------------------

    def send(self, item: Outbound) -> str:
        """Post ``item`` (in its thread); the message's ``ts``, or ``SendError``."""
        channel = item.chat if _CONVERSATION_ID.match(item.chat) else self.resolve_chat(item.chat)
        text = to_mrkdwn(item.text)
        if item.file:
            path = Path(item.file)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise SendError(f"slack: cannot read the file to upload: {exc.strerror}", permanent=True) from None
            return self.api.upload_file(channel, path.name, data, text, item.thread)
        if not text.strip() and not item.buttons:
            raise SendError("slack: nothing to send (no text, buttons or file)", permanent=True)
        blocks = None
        if item.buttons:
            blocks = question_blocks(text, [(b.label, b.value) for b in item.buttons], item.request_id or "")
        return self.api.post_message(channel, text or " ", item.thread, blocks)

    def typing(self, chat: str, thread: str | None = None) -> None:
        """Nothing: Slack has no typing indicator for bots (see the module docstring)."""

    def status(self) -> ChannelStatus:
        return ChannelStatus(self._status.connected, self._status.last_error)

    def _set_state(self, connected: bool, error: str | None) -> None:
        self._status = ChannelStatus(connected, error)

    def resolve_chat(self, name: str) -> str:
        """A conversation id: ``C…``/``D…``/``G…`` as is, ``#team`` through ``conversations.list``,
        a user id (``U…``, ``@U…``) through ``conversations.open`` (the bot's DM with that person)."""
        name = name.strip()
        if _CONVERSATION_ID.match(name):
            return name
        if _USER_ID.match(name.lstrip("@")):
            return self._open_dm(name.lstrip("@"))
        wanted = name.lstrip("#").lower()
        with self._lock:
            if wanted in self._channels:
                return self._channels[wanted]
        found = self._list_channels()
        with self._lock:
            self._channels = found
        if wanted not in found:
            raise SendError(f"slack: no channel named #{wanted} that the bot can see "
                            "(invite it with /invite @Ember, or use the channel id)", permanent=True)
        return found[wanted]

    def _list_channels(self) -> dict[str, str]:
        found: dict[str, str] = {}
        cursor = ""
        for _ in range(100):  # 100 pages of 1000: enough for any workspace
            params = {"types": "public_channel,private_channel", "exclude_archived": "true", "limit": "1000"}
            if cursor:
                params["cursor"] = cursor
            answer = self.api.call("conversations.list", params)
            for channel in answer.get("channels") or []:
                if isinstance(channel, dict) and channel.get("name") and channel.get("id"):
                    found[str(channel["name"]).lower()] = str(channel["id"])
            cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        return found

    def _open_dm(self, user: str) -> str:
        with self._lock:
            if user in self._dms:
                return self._dms[user]
        answer = self.api.call("conversations.open", {"users": user})
        channel = str((answer.get("channel") or {}).get("id") or "")
        if not channel:
            raise SendError("slack conversations.open: no channel id in the answer")
        with self._lock:
            self._dms[user] = channel
        return channel


NAME = "slack"
CHANNEL = SlackChannel


def configure(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> Any:
    """[gateway.slack] and its environment variables (see ember.gateway.config)."""
    from ember.gateway.config import slack_config

    return slack_config(table, env, settings)
