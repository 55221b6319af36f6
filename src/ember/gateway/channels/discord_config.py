"""``[gateway.discord]`` and the environment variables that override it (docs/gateway-discord.md).

``DISCORD_BOT_TOKEN`` (``token``), ``EMBER_DISCORD_API_BASE`` (``api_base``, default
``https://discord.com/api/v10``), ``EMBER_DISCORD_GATEWAY_URL`` (``gateway_url``; by default the
URL ``GET /gateway/bot`` names) and ``EMBER_DISCORD_ALLOW`` (``allow``: user ids, the numbers
Discord's "Copy User ID" gives, comma-separated in the environment). The environment wins over
the table and is enough on its own. The token joins the settings' secrets, so logs, prompts and
the store mask it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ember.config import ConfigError, Settings
from ember.gateway.config import _ids, _str, _where

DISCORD_API = "https://discord.com/api/v10"
KEYS = ("token", "api_base", "gateway_url", "allow")


@dataclass
class DiscordConfig:
    token: str = field(repr=False)
    api_base: str = DISCORD_API
    gateway_url: str = ""  # "": the one GET /gateway/bot names
    allow: list[str] = field(default_factory=list)


def discord_config(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> DiscordConfig | None:
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"config.toml: [gateway.discord] has no key {unknown[0]!r}; the keys are {', '.join(KEYS)}")
    token = (env.get("DISCORD_BOT_TOKEN") or _str(table, "token", _where("discord", "token"))).strip()
    token = token.removeprefix("Bot ").strip()  # pasted with the header's prefix
    if not token:
        return None
    settings.secrets.setdefault("DISCORD_BOT_TOKEN", token)
    allow_value = env.get("EMBER_DISCORD_ALLOW")
    allow = _ids(allow_value if allow_value is not None else table.get("allow", []), _where("discord", "allow"))
    strange = [user for user in allow if not user.isdigit()]
    if strange:
        raise ConfigError(f"{_where('discord', 'allow')}: {strange[0]!r} is not a Discord user id; ids are numbers "
                          "such as 123456789012345678 (Discord: Settings > Advanced > Developer Mode, then "
                          "right-click a person > Copy User ID)")
    api_base = env.get("EMBER_DISCORD_API_BASE") or _str(table, "api_base", _where("discord", "api_base"), DISCORD_API)
    gateway_url = env.get("EMBER_DISCORD_GATEWAY_URL") or _str(table, "gateway_url", _where("discord", "gateway_url"))
    if gateway_url and not gateway_url.startswith(("wss://", "ws://")):
        raise ConfigError(f"{_where('discord', 'gateway_url')} must be a wss:// URL, got {gateway_url!r}")
    return DiscordConfig(token=token, api_base=api_base.rstrip("/"), gateway_url=gateway_url, allow=allow)
