"""The MCP servers of config.toml: ``[mcp.servers.NAME]`` tables, checked with clear errors.

A server is either a command Ember starts and talks to over stdio::

    [mcp.servers.notes]
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-filesystem", "~/notes"]
    env = { LOG_LEVEL = "warn", API_TOKEN = "${NOTES_TOKEN}" }

or a URL it reaches over streamable HTTP::

    [mcp.servers.tracker]
    url = "https://mcp.example.com/mcp"
    headers = { Authorization = "Bearer ${TRACKER_TOKEN}" }

Values of ``env`` and ``headers`` may name secrets as ``${NAME}``; they are looked up in
EMBER_HOME/.env and the environment only when the server starts, so config.toml never holds
them, and each server learns only the secrets its own table names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ember.config import ConfigError
from ember.mcp import McpServerError

if TYPE_CHECKING:
    from ember.config import Settings

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,29}")
SEPARATOR = "__"  # tools appear to the model as NAME__tool
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KEYS = {
    "command", "args", "env", "cwd", "url", "headers", "description", "enabled", "timeout", "connect_timeout",
}


@dataclass(frozen=True)
class ServerConfig:
    """One configured MCP server. ``env`` and ``headers`` still hold their ``${NAME}`` references."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    description: str = ""
    enabled: bool = True
    timeout: float = 60.0  # seconds for one call
    connect_timeout: float = 30.0  # seconds to start the server and finish the handshake

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"

    @property
    def target(self) -> str:
        """The command line or URL, for people (never includes env or header values)."""
        if self.url:
            return self.url
        return " ".join([self.command or "", *self.args])


def check_name(name: str) -> str:
    """A server name must make readable, unambiguous tool names (``NAME__tool``)."""
    if not NAME_PATTERN.fullmatch(name) or SEPARATOR in name or name.endswith("_"):
        raise ConfigError(
            f"config.toml: MCP server name {name!r}: use 1-30 letters, digits, '-' or '_' "
            f"(no '{SEPARATOR}', not ending in '_'), e.g. [mcp.servers.github]"
        )
    from ember.tools.catalog import TOOLSETS
    from ember.tools.registry import LOAD_TOOL

    reserved = {toolset for toolset, *_ in TOOLSETS} | {LOAD_TOOL}
    if name in reserved:
        raise ConfigError(f"config.toml: MCP server name {name!r} is a built-in toolset's name; choose another")
    return name


def _text_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"config.toml: {where} must be a table of strings, e.g. {{ KEY = \"value\" }}")
    out = {}
    for key, item in value.items():
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise ConfigError(f"config.toml: {where}.{key} must be a string, got {item!r}")
        out[str(key)] = str(item)
    return out


def _number(table: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"config.toml: {where}.{key} must be a positive number of seconds, got {value!r}")
    return float(value)


def parse_server(name: str, table: Any) -> ServerConfig:
    """One ``[mcp.servers.NAME]`` table; raises ``ConfigError`` saying what to change."""
    where = f"[mcp.servers.{name}]"
    check_name(name)
    if not isinstance(table, dict):
        raise ConfigError(f"config.toml: {where} must be a table with `command` or `url`")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"config.toml: {where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_KEYS))}")
    command, url = table.get("command"), table.get("url")
    if bool(command) == bool(url):
        raise ConfigError(
            f"config.toml: {where} needs exactly one of `command` (a program started over stdio) "
            "or `url` (a streamable HTTP endpoint)"
        )
    if command is not None and not isinstance(command, str):
        raise ConfigError(f"config.toml: {where}.command must be a string, got {command!r}")
    if url is not None and (not isinstance(url, str) or not re.match(r"https?://", url)):
        raise ConfigError(f"config.toml: {where}.url must be an http:// or https:// URL, got {url!r}")
    args = table.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str | int | float) for a in args):
        raise ConfigError(f"config.toml: {where}.args must be a list of strings, got {args!r}")
    if url and ("args" in table or "env" in table or "cwd" in table):
        raise ConfigError(f"config.toml: {where}: args, env and cwd are for `command` servers; use headers with `url`")
    if command and "headers" in table:
        raise ConfigError(f"config.toml: {where}: headers are for `url` servers; use env with `command`")
    cwd = table.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise ConfigError(f"config.toml: {where}.cwd must be a string, got {cwd!r}")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"config.toml: {where}.enabled must be true or false, got {enabled!r}")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"config.toml: {where}.description must be a string, got {description!r}")
    return ServerConfig(
        name=name,
        command=command,
        args=tuple(str(a) for a in args),
        env=_text_map(table.get("env", {}), f"{where}.env"),
        cwd=cwd,
        url=url,
        headers=_text_map(table.get("headers", {}), f"{where}.headers"),
        description=" ".join(description.split()),
        enabled=enabled,
        timeout=_number(table, "timeout", 60.0, where),
        connect_timeout=_number(table, "connect_timeout", 30.0, where),
    )


def server_configs(settings: Settings) -> dict[str, ServerConfig]:
    """Every ``[mcp.servers.*]`` table of config.toml, in file order."""
    mcp = settings.raw.get("mcp", {})
    if not isinstance(mcp, dict):
        raise ConfigError("config.toml: [mcp] must be a table, e.g. [mcp.servers.NAME]")
    unknown = sorted(set(mcp) - {"servers"})
    if unknown:
        raise ConfigError(f"config.toml: [mcp]: unknown key {unknown[0]!r}; servers go in [mcp.servers.NAME]")
    servers = mcp.get("servers", {})
    if not isinstance(servers, dict):
        raise ConfigError("config.toml: [mcp.servers] must hold one table per server, e.g. [mcp.servers.github]")
    return {name: parse_server(name, table) for name, table in servers.items()}


def secret_lookup(settings: Settings) -> dict[str, str]:
    """Where ``${NAME}`` is looked up: EMBER_HOME/.env, then the environment (which wins)."""
    return {**settings.secrets, **os.environ}


def resolve(values: Mapping[str, str], lookup: Mapping[str, str], where: str) -> tuple[dict[str, str], list[str]]:
    """``values`` with every ``${NAME}`` replaced, and the secret values used (to scrub from output).

    Raises ``McpServerError`` naming the missing variable, never a value.
    """
    used: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in lookup:
            raise McpServerError(
                f"{where} refers to ${{{name}}}, which is not set; add {name}=... to EMBER_HOME/.env "
                "or the environment"
            )
        used.append(lookup[name])
        return lookup[name]

    resolved = {key: _REFERENCE.sub(replace, value) for key, value in values.items()}
    return resolved, [u for u in used if len(u) >= 4]
