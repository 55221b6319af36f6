"""The SSH hosts Ember may reach: ``[ssh]`` and ``[ssh.hosts.NAME]`` in config.toml, checked.

The model names a host (``ssh_run(host="web1", ...)``); it never gives an address or a
credential, so it can reach only the machines the user listed. Passwords and key passphrases are
referenced by the name of a variable in ``.env`` or the environment, never written in config.toml.
Host keys are checked against ``EMBER_HOME/known_hosts`` (OpenSSH format).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.config import ConfigError, ember_home, kind_phrase

if TYPE_CHECKING:
    from ember.config import Settings

HOST_KEYS = {
    "host", "port", "user", "key_file", "key_passphrase_env", "password_env", "trust_on_first_use",
    "connect_timeout", "approve_all",
}
SSH_KEYS = {"hosts", "timeout", "transfer_timeout", "known_hosts"}


@dataclass(frozen=True)
class SshHost:
    """One ``[ssh.hosts.NAME]`` table. ``password``/``passphrase`` are resolved from .env, never stored in config."""

    name: str
    host: str
    port: int = 22
    user: str | None = None
    key_file: Path | None = None
    key_passphrase_env: str | None = None
    password_env: str | None = None
    trust_on_first_use: bool = False
    connect_timeout: float = 10.0
    approve_all: bool = False

    @property
    def address(self) -> str:
        """How OpenSSH writes this host in known_hosts: ``host`` or ``[host]:port``."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass
class SshSettings:
    hosts: dict[str, SshHost] = field(default_factory=dict)
    timeout: float = 120.0  # default for ssh_run, seconds
    transfer_timeout: float = 600.0
    known_hosts: Path = field(default_factory=lambda: ember_home() / "known_hosts")
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    def host(self, name: str) -> SshHost:
        """The host the model named, or a ``LookupError`` listing the configured ones."""
        if name in self.hosts:
            return self.hosts[name]
        known = ", ".join(sorted(self.hosts)) or "none: add [ssh.hosts.NAME] tables to config.toml"
        raise LookupError(f"Unknown SSH host {name!r}. Configured hosts: {known}.")

    def secret(self, variable: str, where: str) -> str:
        """The value of ``variable`` from .env or the environment; ``ConfigError`` when unset."""
        value = self.secrets.get(variable) or os.environ.get(variable)
        if not value:
            raise ConfigError(
                f"config.toml: {where} = {variable!r}, but {variable} is not set in EMBER_HOME/.env or the environment."
            )
        return value


def _typed(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str) -> Any:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"config.toml: {where}.{key} must be {kind_phrase(kind)}, got {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
        raise ConfigError(f"config.toml: {where}.{key} must be greater than 0, got {value!r}")
    return value


def _host(name: str, table: Any, home: Path) -> SshHost:
    where = f"[ssh.hosts.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"config.toml: {where} must be a table")
    unknown = sorted(set(table) - HOST_KEYS)
    if unknown:
        raise ConfigError(f"config.toml: unknown key {where}.{unknown[0]}; known keys: {', '.join(sorted(HOST_KEYS))}")
    host = _typed(table, "host", str, None, where)
    if not host:
        raise ConfigError(f"config.toml: {where}.host is required (a name or an address)")
    port = _typed(table, "port", int, 22, where)
    if port > 65535:
        raise ConfigError(f"config.toml: {where}.port must be 1-65535, got {port}")
    key_file = _typed(table, "key_file", str, None, where)
    key_path = None
    if key_file:
        key_path = Path(key_file).expanduser()
        key_path = key_path if key_path.is_absolute() else home / key_path
    return SshHost(
        name=name, host=host, port=port, user=_typed(table, "user", str, None, where), key_file=key_path,
        key_passphrase_env=_typed(table, "key_passphrase_env", str, None, where),
        password_env=_typed(table, "password_env", str, None, where),
        trust_on_first_use=_typed(table, "trust_on_first_use", bool, False, where),
        connect_timeout=float(_typed(table, "connect_timeout", (int, float), 10.0, where)),
        approve_all=_typed(table, "approve_all", bool, False, where),
    )


def ssh_settings(settings: Settings | None) -> SshSettings:
    """The ``[ssh]`` section of ``settings`` (defaults when there is none); ``ConfigError`` names a bad key."""
    raw = settings.raw if settings is not None else {}
    home = Path(settings.home) if settings is not None else ember_home()
    table = raw.get("ssh", {})
    if not isinstance(table, dict):
        raise ConfigError("config.toml: [ssh] must be a table")
    unknown = sorted(set(table) - SSH_KEYS)
    if unknown:
        raise ConfigError(f"config.toml: unknown key [ssh].{unknown[0]}; known keys: {', '.join(sorted(SSH_KEYS))}")
    hosts = table.get("hosts", {})
    if not isinstance(hosts, dict):
        raise ConfigError("config.toml: [ssh.hosts] must hold tables: [ssh.hosts.NAME]")
    known_hosts = Path(_typed(table, "known_hosts", str, str(home / "known_hosts"), "[ssh]")).expanduser()
    return SshSettings(
        hosts={name: _host(name, value, home) for name, value in hosts.items()},
        timeout=float(_typed(table, "timeout", (int, float), 120.0, "[ssh]")),
        transfer_timeout=float(_typed(table, "transfer_timeout", (int, float), 600.0, "[ssh]")),
        known_hosts=known_hosts if known_hosts.is_absolute() else home / known_hosts,
        secrets=dict(settings.secrets) if settings is not None else {},
    )
