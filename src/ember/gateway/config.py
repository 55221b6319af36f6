"""``[gateway.*]`` of config.toml, and the environment variables that override it.

Each channel reads its own table (its module's ``configure``); those of the channels that ship are
here. Names are an interface (docs/gateway.md lists them): ``[gateway.telegram]`` with ``token``,
``api_base`` and ``allow``; ``[gateway.slack]`` with ``token`` (the bot token), ``app_token``,
``api_base``, ``allow`` and ``signing_secret``; ``[gateway.webhook]`` with ``secret``, ``port``
and ``hooks``. The environment wins over the tables and is enough on its own to start a channel:
``TELEGRAM_BOT_TOKEN``, ``EMBER_TELEGRAM_API_BASE``, ``EMBER_TELEGRAM_ALLOW``;
``SLACK_BOT_TOKEN``, ``SLACK_APP_TOKEN``, ``EMBER_SLACK_API_BASE``, ``EMBER_SLACK_ALLOW``;
``EMBER_WEBHOOK_SECRET``, ``EMBER_WEBHOOK_PORT``. Allow lists hold platform user ids (numbers on
Telegram, ``U0123`` on Slack), comma-separated in the environment.

Every token found is added to the settings' secrets, so logs, prompts and the store mask it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ember.config import ConfigError, Settings, read_dotenv

TELEGRAM_API = "https://api.telegram.org"
SLACK_API = "https://slack.com/api"
GATEWAY_KEYS = ("max_parallel", "approval_timeout", "rate_limit", "max_message_chars", "claim_seconds")
# + one table per channel


@dataclass
class TelegramConfig:
    token: str = field(repr=False)
    api_base: str = TELEGRAM_API
    allow: list[str] = field(default_factory=list)


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
    token = env.get("TELEGRAM_BOT_TOKEN") or _str(table, "token", _where("telegram", "token"))
    if not token:
        return None
    allow = env.get("EMBER_TELEGRAM_ALLOW")
    settings.secrets.setdefault("TELEGRAM_BOT_TOKEN", token)
    return TelegramConfig(
        token=token,
        api_base=(env.get("EMBER_TELEGRAM_API_BASE") or _str(table, "api_base", _where("telegram", "api_base"),
                                                              TELEGRAM_API)).rstrip("/"),
        allow=_ids(allow if allow is not None else table.get("allow", []), _where("telegram", "allow")),
    )


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
