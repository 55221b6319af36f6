"""``ember mcp add`` / ``remove``: edit config.toml without losing the user's comments or layout.

config.toml is a file people edit by hand, so it is changed with ``tomlkit`` (which keeps
comments, order and formatting) rather than re-serialised. The new file is written next to the
old one and moved over it, with the old file's mode (0600 for a new file): a crash never leaves
half a config behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ember.config import ConfigError
from ember.mcp.config import parse_server


def _tomlkit() -> Any:
    try:
        import tomlkit
    except ImportError as exc:
        raise ConfigError("editing config.toml needs tomlkit: pip install 'ember-agent[mcp]'") from exc
    return tomlkit


def _read(path: Path) -> Any:
    tomlkit = _tomlkit()
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except Exception as exc:  # tomlkit's parse errors name the line
        raise ConfigError(f"{path}: {exc}. Fix that line first; nothing was changed.") from exc


def _write(path: Path, document: Any) -> None:
    write_atomically(path, _tomlkit().dumps(document))


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step (a crash leaves the old file or the new one, never half),
    keeping its mode; a new file gets 0600 because these files may hold secrets."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def add_server(path: Path, name: str, table: dict[str, Any], *, replace: bool = False) -> None:
    """Add ``[mcp.servers.NAME]`` (checked first, so a broken table is never written)."""
    parse_server(name, table)
    tomlkit = _tomlkit()
    document = _read(path)
    mcp = document.get("mcp")
    if mcp is None:
        mcp = document["mcp"] = tomlkit.table(is_super_table=True)
    servers = mcp.get("servers")
    if servers is None:
        servers = mcp["servers"] = tomlkit.table(is_super_table=True)
    if name in servers and not replace:
        raise ConfigError(f"an MCP server named {name!r} is already configured; `ember mcp remove {name}` first")
    entry = tomlkit.table()
    for key, value in table.items():
        if isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            entry[key] = inline
        else:
            entry[key] = value
    if name in servers:
        del servers[name]
    servers[name] = entry
    _write(path, document)


def remove_server(path: Path, name: str) -> bool:
    """Remove ``[mcp.servers.NAME]``; False when there is no such server."""
    document = _read(path)
    servers = document.get("mcp", {}).get("servers", {})
    if name not in servers:
        return False
    del servers[name]
    if not servers:
        del document["mcp"]["servers"]
        if not document["mcp"]:
            del document["mcp"]
    _write(path, document)
    return True
