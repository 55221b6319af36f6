"""The messaging platforms, one module each, built only when configured.

A channel is registered here by name (or by a plugin, under the ``ember.channels`` entry-point
group: ``name = "package.module:Class"``); its class takes ``(config, state, files_dir)``, where
``config`` is its part of ``GatewayConfig`` (or, for a plugin, its ``[gateway.NAME]`` table).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.gateway.channel import Channel, KeyValue
    from ember.gateway.config import GatewayConfig

BUILTIN: dict[str, str] = {
    "telegram": "ember.gateway.channels.telegram:TelegramChannel",
    "slack": "ember.gateway.channels.slack:SlackChannel",
    "webhook": "ember.gateway.channels.webhook:WebhookChannel",
}


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def build_channels(config: GatewayConfig, state: KeyValue, files_dir: Path) -> dict[str, Channel]:
    """One channel object per configured platform (not started)."""
    return {name: _load(BUILTIN[name])(getattr(config, name), state, files_dir) for name in config.channels}
