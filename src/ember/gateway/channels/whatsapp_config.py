"""``[gateway.whatsapp]`` and the environment variables that override it (docs/gateway-whatsapp.md).

``WHATSAPP_TOKEN`` (``token``: the access token), ``WHATSAPP_PHONE_NUMBER_ID``
(``phone_number_id``: the business number's id, not the number), ``WHATSAPP_APP_SECRET``
(``app_secret``: webhook POSTs are signed with it), ``WHATSAPP_VERIFY_TOKEN`` (``verify_token``:
the word Meta's webhook check must echo), ``EMBER_WHATSAPP_API_BASE`` (``api_base``, default
``https://graph.facebook.com/v21.0``) and ``EMBER_WHATSAPP_ALLOW`` (``allow``: phone numbers,
digits only, comma-separated); the table alone has ``port`` (the webhook server's, default
8789) and ``host`` (default 127.0.0.1, behind a reverse proxy). The environment wins over the
table. The token, the app secret and the verify token join the settings' secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ember.config import ConfigError, Settings
from ember.gateway.config import _ids, _port, _str, _where

WHATSAPP_API = "https://graph.facebook.com/v21.0"
KEYS = ("token", "phone_number_id", "app_secret", "verify_token", "api_base", "allow", "port", "host")
_PHONE_PUNCTUATION = re.compile(r"[\s()+.-]")


@dataclass
class WhatsAppConfig:
    token: str = field(repr=False)
    phone_number_id: str = ""
    app_secret: str = field(default="", repr=False)
    verify_token: str = field(default="", repr=False)
    api_base: str = WHATSAPP_API
    allow: list[str] = field(default_factory=list)  # phone numbers, digits only (WhatsApp's wa_id)
    port: int = 8789
    host: str = "127.0.0.1"


def phone_digits(value: str) -> str | None:
    """A phone number as WhatsApp names people (``15551234567``), or None when it is not one."""
    digits = _PHONE_PUNCTUATION.sub("", value)
    return digits if digits.isdigit() and 6 <= len(digits) <= 15 else None


def whatsapp_config(table: Mapping[str, Any], env: Mapping[str, str], settings: Settings) -> WhatsAppConfig | None:
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"config.toml: [gateway.whatsapp] has no key {unknown[0]!r}; the keys are {', '.join(KEYS)}")

    def value(variable: str, key: str, default: str = "") -> str:
        return (env.get(variable) or _str(table, key, _where("whatsapp", key), default)).strip()

    token = value("WHATSAPP_TOKEN", "token")
    if not token:
        return None
    config = WhatsAppConfig(
        token=token,
        phone_number_id=value("WHATSAPP_PHONE_NUMBER_ID", "phone_number_id"),
        app_secret=value("WHATSAPP_APP_SECRET", "app_secret"),
        verify_token=value("WHATSAPP_VERIFY_TOKEN", "verify_token"),
        api_base=value("EMBER_WHATSAPP_API_BASE", "api_base", WHATSAPP_API).rstrip("/"),
        port=_port(table.get("port", 8789), _where("whatsapp", "port")),
        host=_str(table, "host", _where("whatsapp", "host"), "127.0.0.1"),
    )
    for name, secret in (("WHATSAPP_TOKEN", config.token), ("WHATSAPP_APP_SECRET", config.app_secret),
                         ("WHATSAPP_VERIFY_TOKEN", config.verify_token)):
        if secret:
            settings.secrets.setdefault(name, secret)
    missing = [name for name, given in (("WHATSAPP_PHONE_NUMBER_ID", config.phone_number_id),
                                        ("WHATSAPP_APP_SECRET", config.app_secret),
                                        ("WHATSAPP_VERIFY_TOKEN", config.verify_token)) if not given]
    if missing:
        raise ConfigError(f"WhatsApp needs {', '.join(missing)} as well as WHATSAPP_TOKEN (or the same keys in "
                          "[gateway.whatsapp]); docs/gateway-whatsapp.md says where each one is")
    if not config.phone_number_id.isdigit():
        raise ConfigError(f"{_where('whatsapp', 'phone_number_id')} is the number's id (digits, from WhatsApp > "
                          f"API Setup), got {config.phone_number_id!r}")
    allow_value = env.get("EMBER_WHATSAPP_ALLOW")
    for number in _ids(allow_value if allow_value is not None else table.get("allow", []), _where("whatsapp", "allow")):
        digits = phone_digits(number)
        if digits is None:
            raise ConfigError(f"{_where('whatsapp', 'allow')}: {number!r} is not a phone number; write it with the "
                              "country code, digits only (15551234567)")
        config.allow.append(digits)
    return config
