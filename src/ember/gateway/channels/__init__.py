"""The messaging platforms: one module each, found by looking, built only when configured.

A channel is a module in this package (or a plugin's, named under the ``ember.channels``
entry-point group) that defines::

    NAME = "telegram"                                    # its platform name and [gateway.NAME] table
    def configure(table, env, settings) -> config | None  # None: not configured here
    CHANNEL = TelegramChannel                            # built as CHANNEL(config, state, files_dir)

so adding a platform is one new module plus its docs: the gateway's core, its configuration and
the other channels do not change. ``configure`` reads its ``[gateway.NAME]`` table and the
environment, raises ``ConfigError`` for a bad value, and adds its tokens to ``settings.secrets``.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ember.config import ConfigError
from ember.gateway.config import GATEWAY_KEYS, GatewayConfig, lookup_for, table_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ember.config import Settings
    from ember.gateway.channel import Channel, KeyValue

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ember.channels"


@lru_cache(maxsize=1)
def available() -> dict[str, ModuleType]:
    """Every channel module: this package's, then plugins' (a plugin cannot replace a built-in)."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        try:
            module = importlib.import_module(f"{__name__}.{info.name}")
        except Exception:  # one broken channel must not take the others down
            log.exception("the channel module %s could not be loaded", info.name)
            continue
        if hasattr(module, "CHANNEL") and hasattr(module, "configure"):
            found[module.NAME] = module
    from ember.plugins import plugin_paths

    for name, entry in plugin_paths(ENTRY_POINT_GROUP).items():
        if name in found:
            log.warning("channel plugin %r clashes with a built-in channel; ignored", name)
            continue
        try:
            found[name] = entry.load()
        except Exception:
            log.exception("channel plugin %r could not be loaded", name)
    return found


def build_channels(config: GatewayConfig, state: KeyValue, files_dir: Path) -> dict[str, Channel]:
    """One channel object per configured platform (not started)."""
    modules = available()
    return {name: modules[name].CHANNEL(settings_of, state, files_dir)
            for name, settings_of in config.configs.items()}


def gateway_config(settings: Settings, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read ``[gateway]`` and the environment; ``ConfigError`` names a bad value.

    Each channel module reads its own ``[gateway.NAME]`` table (its ``configure``), so adding a
    channel adds no line here (``channels.available``).
    """
    env = lookup_for(settings) if env is None else env
    gw = settings.raw.get("gateway", {})
    if not isinstance(gw, dict):
        raise ConfigError("config.toml: [gateway] must be a table")
    modules = available()
    known = [*GATEWAY_KEYS, *(name for name in modules if name not in GATEWAY_KEYS)]
    unknown = sorted(set(gw) - set(known))
    if unknown:
        raise ConfigError(f"config.toml: [gateway] has no key {unknown[0]!r}; the keys are {', '.join(known)}")
    config = GatewayConfig()
    for key in ("max_parallel", "rate_limit", "max_message_chars"):
        value = gw.get(key, getattr(config, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"config.toml: [gateway].{key} must be a whole number >= 1, got {value!r}")
        setattr(config, key, value)
    timeout = gw.get("approval_timeout", config.approval_timeout)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(f"config.toml: [gateway].approval_timeout must be a number of seconds > 0, got {timeout!r}")
    config.approval_timeout = float(timeout)
    claim = gw.get("claim_seconds", config.claim_seconds)
    if not isinstance(claim, int | float) or isinstance(claim, bool) or claim < 3:
        raise ConfigError(f"config.toml: [gateway].claim_seconds must be a number of seconds >= 3, got {claim!r}")
    config.claim_seconds = float(claim)
    for key, zero_ok in (("max_file_mb", False), ("file_wait_seconds", True)):
        value = gw.get(key, getattr(config, key))
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0 or (value == 0 and not zero_ok):
            raise ConfigError(f"config.toml: [gateway].{key} must be a number {'>=' if zero_ok else '>'} 0,"
                              f" got {value!r}")
        setattr(config, key, float(value))
    for name, module in modules.items():
        channel_config = module.configure(table_of(gw, name), env, settings)
        if channel_config is not None:
            config.configs[name] = channel_config
    return config
