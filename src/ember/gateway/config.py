"""``[gateway.*]`` of config.toml, and the environment variables that override it.

Each channel reads its own table (its module's ``configure``); those of the channels that ship are
here. Names are an interface (docs/gateway.md lists them): ``[gateway.telegram]`` with ``token``,
``api_base``, ``allow`` and, for webhook mode, ``webhook_url``, ``webhook_port``, ``webhook_host``
and ``webhook_secret``; ``[gateway.slack]`` with ``token`` (the bot token), ``app_token``,
``api_base``, ``allow`` and ``signing_secret``; ``[gateway.webhook]`` with ``secret``, ``port``
and ``hooks``. The environment wins over the tables and is enough on its own to start a channel:
``TELEGRAM_BOT_TOKEN``, ``EMBER_TELEGRAM_API_BASE``, ``EMBER_TELEGRAM_ALLOW``,
``EMBER_TELEGRAM_WEBHOOK_URL``, ``TELEGRAM_WEBHOOK_SECRET``;
``SLACK_BOT_TOKEN``, ``SLACK_APP_TOKEN``, ``EMBER_SLACK_API_BASE``, ``EMBER_SLACK_ALLOW``;
``EMBER_WEBHOOK_SECRET``, ``EMBER_WEBHOOK_PORT``. Allow lists hold platform user ids (numbers on
Telegram, ``U0123`` on Slack), comma-separated in the environment.

Every token found is added to the settings' secrets, so logs, prompts and the store mask it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ember.config import ConfigError, Settings, read_dotenv

TELEGRAM_API = "https://api.telegram.org"
SLACK_API = "https://slack.com/api"
GATEWAY_KEYS = ("max_parallel", "approval_timeout", "rate_limit", "max_message_chars", "claim_seconds", "max_file_mb",
                "file_wait_seconds")
# + one table per channel
TELEGRAM_KEYS = ("token", "api_base", "allow", "webhook_url", "webhook_port", "webhook_host", "webhook_secret")
TELEGRAM_WEBHOOK_PORT = 8790  # beside the webhook channel's 8788 and WhatsApp's 8789
TELEGRAM_WEBHOOK_PORTS = (443, 80, 88, 8443)  # the public ports api.telegram.org calls webhooks on
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram allows in secret_token


@dataclass
class TelegramConfig:
    token: str = field(repr=False)
    api_base: str = TELEGRAM_API
    allow: list[str] = field(default_factory=list)
    webhook_url: str = ""  # the public HTTPS address Telegram POSTs updates to; "" polls instead
    webhook_port: int = TELEGRAM_WEBHOOK_PORT  # where the webhook server listens, behind a reverse proxy
    webhook_host: str = "127.0.0.1"
    webhook_secret: str = field(default="", repr=False)  # X-Telegram-Bot-Api-Secret-Token; derived when ""

    @property
    def webhook(self) -> bool:
        return bool(self.webhook_url)

    def receiving(self) -> dict[str, str]:
        """How updates arrive, for ``ember gateway status``."""
        if self.webhook:
            return {"mode": "webhook", "webhook_url": self.webhook_url}
        return {"mode": "polling"}

    def secret_token(self) -> str:
        """The webhook's secret: the one configured, else one derived from the bot token.

        Derived, not random, so that every worker of a bot (each calling ``setWebhook`` at start)
        expects the secret the others set; an HMAC of the token, so it reveals nothing of the
        token and only someone who holds the token (who controls the bot anyway) can compute it.
        """
        if self.webhook_secret:
            return self.webhook_secret
        return hmac.new(self.token.encode(), b"ember telegram webhook secret", hashlib.sha256).hexdigest()


@dataclass
class SlackConfig:
    token: str = field(repr=False)  # the bot token, xoxb-...
    app_token: str = field(default="", repr=False)  # xapp-..., for Socket Mode
    api_base: str = SLACK_API
    allow: list[str] = field(default_factory=list)
    signing_secret: str = field(default="", repr=False)  # for the Events API over HTTP
    events_port: int | None = None  # serve the Events API on this port instead of Socket Mode
    events_host: str = "127.0.0.1"  # where the Events API server listens (behind a reverse proxy)


@dataclass
class WebhookConfig:
    secret: str = field(repr=False)
    port: int = 8788
    host: str = "127.0.0.1"
    # name -> where the reply goes: "telegram:123", "slack:#team", "http" (the HTTP response) or
    # "callback" (the request's X-Ember-Callback URL)
    hooks: dict[str, str] = field(default_factory=dict)


@dataclass
class GatewayConfig:
    configs: dict[str, Any] = field(default_factory=dict)  # channel name -> its configuration (configured only)
    max_parallel: int = 4  # turns of different chats at once
    approval_timeout: float = 300.0  # seconds an approval question waits before it counts as refused
    rate_limit: int = 20  # messages per sender per minute
    max_message_chars: int = 20_000  # a longer message is refused with a short reply
    claim_seconds: float = 60.0  # how long another worker waits for a silent worker's claim (several workers)
    max_file_mb: float = 25.0  # a file that came with a message and is bigger is not kept (the model is told)
    file_wait_seconds: float = 60.0  # how long a turn waits for its message's files to be fetched (by any worker)

    @property
    def channels(self) -> list[str]:
        return list(self.configs)

    @property
    def telegram(self) -> TelegramConfig | None:
        return self.configs.get("telegram")

    @property
    def slack(self) -> SlackConfig | None:
        return self.configs.get("slack")

    @property
    def webhook(self) -> WebhookConfig | None:
        return self.configs.get("webhook")


def _where(name: str, key: str) -> str:
    return f"config.toml: [gateway.{name}].{key}"


def _str(table: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def _ids(value: Any, where: str) -> list[str]:
    """An allow list: a list of ids (numbers or strings), or a comma-separated string."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list):
        items = [str(v).strip() for v in value if not isinstance(v, bool)]
        if len(items) != len(value):
            raise ConfigError(f"{where} holds user ids, got {value!r}")
    else:
        raise ConfigError(f"{where} must be a list of user ids, got {value!r}")
    return [i for i in items if i]


def _port(value: Any, where: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a port number, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{where} must be a port number (0-65535), got {port}")
    return port


def table_of(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"config.toml: [gateway.{name}] must be a table")
    return value


def lookup_for(settings: Settings) -> dict[str, str]:
    """The environment over ``EMBER_HOME/.env``, as ``load_settings`` reads them."""
    return {**read_dotenv(settings.home / ".env"), **os.environ}


def telegram_config(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> TelegramConfig | None:
    unknown = sorted(set(table) - set(TELEGRAM_KEYS))
    if unknown:
        raise ConfigError(f"config.toml: [gateway.telegram] has no key {unknown[0]!r}; "
                          f"the keys are {', '.join(TELEGRAM_KEYS)}")
    token = env.get("TELEGRAM_BOT_TOKEN") or _str(table, "token", _where("telegram", "token"))
    if not token:
        return None
    allow = env.get("EMBER_TELEGRAM_ALLOW")
    settings.secrets.setdefault("TELEGRAM_BOT_TOKEN", token)
    config = TelegramConfig(
        token=token,
        api_base=(env.get("EMBER_TELEGRAM_API_BASE") or _str(table, "api_base", _where("telegram", "api_base"),
                                                              TELEGRAM_API)).rstrip("/"),
        allow=_ids(allow if allow is not None else table.get("allow", []), _where("telegram", "allow")),
    )
    _telegram_webhook(config, table, env)
    if config.webhook:
        settings.secrets.setdefault("TELEGRAM_WEBHOOK_SECRET", config.secret_token())
    return config


def _telegram_webhook(config: TelegramConfig, table: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """Webhook mode's settings into ``config``; without ``webhook_url`` the channel polls."""
    url = (env.get("EMBER_TELEGRAM_WEBHOOK_URL") or _str(table, "webhook_url", _where("telegram", "webhook_url"))).strip()
    if not url:
        stray = [key for key in ("webhook_port", "webhook_host", "webhook_secret") if key in table]
        if stray:
            raise ConfigError(f"{_where('telegram', stray[0])} is used only in webhook mode: set webhook_url "
                              "(the public https:// address Telegram calls) as well, or remove it")
        return
    where = _where("telegram", "webhook_url")
    parts = urlsplit(url)
    official = config.api_base == TELEGRAM_API  # a self-hosted Bot API server calls any http(s) address
    if parts.scheme not in (("https",) if official else ("https", "http")) or not parts.hostname:
        raise ConfigError(f"{where} must be the public https:// address Telegram POSTs updates to, got {url!r}")
    try:
        public_port = parts.port
    except ValueError:
        raise ConfigError(f"{where} has a port that is not a number: {url!r}") from None
    if official and public_port not in (None, *TELEGRAM_WEBHOOK_PORTS):
        raise ConfigError(f"{where}: Telegram calls webhooks only on ports 443, 80, 88 or 8443, got {public_port}; "
                          "let the reverse proxy listen on one of them")
    config.webhook_url = url
    config.webhook_port = _port(table.get("webhook_port", TELEGRAM_WEBHOOK_PORT), _where("telegram", "webhook_port"))
    config.webhook_host = _str(table, "webhook_host", _where("telegram", "webhook_host"), "127.0.0.1")
    secret = (env.get("TELEGRAM_WEBHOOK_SECRET") or _str(table, "webhook_secret",
                                                         _where("telegram", "webhook_secret"))).strip()
    if secret and not _SECRET_TOKEN.fullmatch(secret):
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET (or [gateway.telegram] webhook_secret) must be 1 to 256 letters, "
                          "digits, _ or - (Telegram's rule for a webhook's secret token)")
    config.webhook_secret = secret


def slack_config(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> SlackConfig | None:
    token = env.get("SLACK_BOT_TOKEN") or _str(table, "token", _where("slack", "token"))
    if not token:
        return None
    allow = env.get("EMBER_SLACK_ALLOW")
    port = table.get("events_port")
    config = SlackConfig(
        token=token,
        app_token=env.get("SLACK_APP_TOKEN") or _str(table, "app_token", _where("slack", "app_token")),
        api_base=(env.get("EMBER_SLACK_API_BASE") or _str(table, "api_base", _where("slack", "api_base"),
                                                           SLACK_API)).rstrip("/"),
        allow=_ids(allow if allow is not None else table.get("allow", []), _where("slack", "allow")),
        signing_secret=env.get("SLACK_SIGNING_SECRET") or _str(table, "signing_secret",
                                                                _where("slack", "signing_secret")),
        events_port=_port(port, _where("slack", "events_port")) if port is not None else None,
        events_host=_str(table, "events_host", _where("slack", "events_host"), "127.0.0.1"),
    )
    if not config.app_token and config.events_port is None:
        raise ConfigError("Slack needs SLACK_APP_TOKEN (xapp-..., for Socket Mode), or [gateway.slack] "
                          "events_port and signing_secret for the Events API over HTTP; see docs/gateway.md")
    if config.events_port is not None and not config.signing_secret:
        raise ConfigError("[gateway.slack] events_port needs signing_secret (or SLACK_SIGNING_SECRET): "
                          "every request is checked against it")
    for name, value in (("SLACK_BOT_TOKEN", token), ("SLACK_APP_TOKEN", config.app_token),
                        ("SLACK_SIGNING_SECRET", config.signing_secret)):
        if value:
            settings.secrets.setdefault(name, value)
    return config


def webhook_config(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> WebhookConfig | None:
    secret = env.get("EMBER_WEBHOOK_SECRET") or _str(table, "secret", _where("webhook", "secret"))
    if not secret:
        return None
    port = env.get("EMBER_WEBHOOK_PORT") or table.get("port", 8788)
    hooks = table.get("hooks", {})
    if not isinstance(hooks, dict) or not all(isinstance(v, str) for v in hooks.values()):
        raise ConfigError('config.toml: [gateway.webhook].hooks maps a hook name to a target ("slack:#ci", "http")')
    settings.secrets.setdefault("EMBER_WEBHOOK_SECRET", secret)
    return WebhookConfig(
        secret=secret, port=_port(port, _where("webhook", "port")),
        host=_str(table, "host", _where("webhook", "host"), "127.0.0.1"), hooks=dict(hooks),
    )
