"""Discord's REST API over httpx: every failure becomes a ``SendError`` that says whether to retry.

Requests carry ``Authorization: Bot <token>`` (never in a URL, so never in httpx's request log).
Discord answers errors as ``{"message": "Missing Access", "code": 50001}``: 429 is a rate limit,
with ``retry_after`` (seconds, a float) in the body or a ``Retry-After`` header; 5xx, timeouts and
dropped connections are worth another try; 401 (the token), 403 (missing access, cannot DM that
person), 404 (unknown channel) and the other 4xx are permanent, their reason named.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from ember.gateway.channel import SendError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("ember.gateway.discord")

MAX_DOWNLOAD = 100 * 1024 * 1024  # bytes of one incoming attachment
TOKEN_HELP = ("Discord refused the bot token (401 Unauthorized): check DISCORD_BOT_TOKEN in EMBER_HOME/.env "
              "(Developer Portal > your application > Bot > Reset Token shows a new one), then restart the gateway")
# Discord's JSON error codes, said plainly.
REASONS = {
    10003: "unknown channel (deleted, or an id that is not a channel)",
    10013: "unknown user",
    50001: "missing access (the bot is not in that server, or cannot see the channel)",
    50007: "cannot send messages to this user (they share no server with the bot, or do not take DMs from it)",
    50013: "missing permissions (the bot needs View Channel, Send Messages, Read Message History and, "
           "for files, Attach Files there)",
    40005: "the file is larger than Discord takes in this server",
    50006: "cannot send an empty message",
}


_INTERACTION_PATH = re.compile(r"(/interactions/\d+/)[^/\s\"']+")


class _InteractionTokenFilter(logging.Filter):
    """Masks an interaction's token (15 minutes of power to post in its name) in httpx's URL log."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's to report
            return True
        if "/interactions/" in message:
            record.msg, record.args = _INTERACTION_PATH.sub(r"\1[REDACTED]", message), ()
        return True


_FILTER = _InteractionTokenFilter()


def _guard_logs() -> None:
    logger = logging.getLogger("httpx")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def _retry_after(response: httpx.Response, body: Any) -> float | None:
    if isinstance(body, dict) and isinstance(body.get("retry_after"), int | float):
        return max(float(body["retry_after"]), 0.0)
    value = response.headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


class DiscordAPI:
    """Calls to ``api_base`` with the bot token."""

    def __init__(self, token: str, api_base: str, client: httpx.Client) -> None:
        from ember import __version__

        self._token = token
        self.api_base = api_base.rstrip("/")
        self.client = client
        # Discord asks bots for this User-Agent shape.
        self.user_agent = f"DiscordBot (https://github.com/ember-agent/ember, {__version__})"
        _guard_logs()

    def call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
             file: tuple[str, bytes] | None = None, auth: bool = True, timeout: float | None = None) -> Any:
        """One request; its JSON (None for 204), or ``SendError``. ``file`` goes as multipart
        ``files[0]`` with ``body`` as ``payload_json``."""
        import httpx

        what = f"discord {method} {path.split('?')[0]}"
        headers = {"User-Agent": self.user_agent}
        if auth:
            headers["Authorization"] = f"Bot {self._token}"
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            if file is not None:
                name, data = file
                response = self.client.request(method, self.api_base + path, headers=headers, **extra,
                                               data={"payload_json": json.dumps(body or {})},
                                               files={"files[0]": (name, data, "application/octet-stream")})
            elif body is not None:
                response = self.client.request(method, self.api_base + path, headers=headers, json=body, **extra)
            else:
                response = self.client.request(method, self.api_base + path, headers=headers, **extra)
        except httpx.TimeoutException:
            raise SendError(f"{what}: no answer in time") from None
        except httpx.HTTPError as exc:
            raise SendError(f"{what}: could not reach {self.api_base} ({type(exc).__name__})") from None
        return self.check(what, response)

    @staticmethod
    def check(what: str, response: httpx.Response) -> Any:
        status = response.status_code
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if 200 <= status < 300:
            return body
        if status == 429:
            retry_after = _retry_after(response, body)
            scope = " (global)" if isinstance(body, dict) and body.get("global") else ""
            raise SendError(f"{what}: rate limited{scope}, retry after {retry_after} s", retry_after=retry_after)
        if status >= 500:
            raise SendError(f"{what}: HTTP {status}")
        if status == 401:
            raise SendError(TOKEN_HELP, permanent=True)
        code = body.get("code") if isinstance(body, dict) else None
        message = str(body.get("message") or "") if isinstance(body, dict) else ""
        reason = REASONS.get(code) if isinstance(code, int) else None
        detail = reason or message or "refused"
        if status == 413 and not reason:
            detail = REASONS[40005]
        raise SendError(f"{what}: HTTP {status}: {detail}" + (f" (code {code})" if code else ""), permanent=True)

    # --- the calls the channel makes -------------------------------------------------------------

    def create_message(self, channel: str, payload: dict[str, Any], file: tuple[str, bytes] | None = None) -> str:
        """``POST /channels/{id}/messages``; the new message's id."""
        answer = self.call("POST", f"/channels/{channel}/messages", body=payload, file=file,
                           timeout=120.0 if file else None)
        message_id = answer.get("id") if isinstance(answer, dict) else None
        if not message_id:
            raise SendError("discord: a message was accepted without an id; not counted as delivered")
        return str(message_id)

    def open_dm(self, user: str) -> str:
        """The bot's DM channel with ``user`` (``POST /users/@me/channels``)."""
        answer = self.call("POST", "/users/@me/channels", body={"recipient_id": user})
        channel = answer.get("id") if isinstance(answer, dict) else None
        if not channel:
            raise SendError("discord: opening a DM gave no channel id")
        return str(channel)

    def gateway_url(self) -> str:
        """Where the Gateway websocket is (``GET /gateway/bot``)."""
        answer = self.call("GET", "/gateway/bot", timeout=15.0)
        url = answer.get("url") if isinstance(answer, dict) else None
        if not isinstance(url, str) or not url.startswith(("wss://", "ws://")):
            raise SendError("discord GET /gateway/bot: no websocket URL in the answer")
        return url

    def typing(self, channel: str) -> None:
        self.call("POST", f"/channels/{channel}/typing", timeout=10.0)

    def answer_interaction(self, interaction: str, token: str, kind: int = 6) -> None:
        """The interaction callback (6: a deferred update: the button stops spinning, nothing changes)."""
        self.call("POST", f"/interactions/{interaction}/{token}/callback", body={"type": kind}, auth=False,
                  timeout=10.0)

    def download(self, url: str) -> bytes:
        """An attachment's bytes from its (signed) CDN URL; the bot token does not go with it."""
        import httpx

        try:
            with self.client.stream("GET", url, headers={"User-Agent": self.user_agent},
                                    follow_redirects=True, timeout=120.0) as response:
                if response.status_code != 200:
                    raise SendError(f"discord attachment download: HTTP {response.status_code}",
                                    permanent=400 <= response.status_code < 500 and response.status_code != 429)
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_DOWNLOAD:
                        raise SendError(f"discord attachment: larger than {MAX_DOWNLOAD} bytes", permanent=True)
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise SendError(f"discord attachment download: {type(exc).__name__}") from None
