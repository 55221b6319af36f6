"""Real MCP servers for the client tests: the fake Python server (stdio and HTTP) and the npm ones.

The npm servers (@modelcontextprotocol/server-everything and server-filesystem) are installed by
`npm ci --prefix tests/node` (CI runs it); without them those tests skip, saying so.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="the mcp SDK is not installed: pip install -e '.[mcp]'")

from ember.config import load_settings  # noqa: E402
from ember.mcp.client import close_all  # noqa: E402
from tests.fakes.mcp_http_server import McpHttpServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "tests" / "node" / "node_modules" / ".bin"


def toml_value(value: object) -> str:
    """A TOML literal for a test config (strings and lists of strings are all we need)."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def server_toml(name: str, **table: object) -> str:
    lines = [f"[mcp.servers.{name}]"] + [f"{key} = {toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def fake_stdio(**extra: object) -> dict[str, object]:
    """The [mcp.servers.X] table that starts the fake Python server over stdio."""
    return {"command": sys.executable, "args": ["-m", "tests.fakes.mcp_http_server", "--stdio"], "cwd": str(ROOT),
            **extra}


def node_server(name: str) -> str:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (CI installs Node 20)")
    path = NODE_BIN / name
    if not path.exists():
        pytest.skip(f"{name} is missing: run `npm ci --prefix tests/node` (CI does)")
    return str(path)


@pytest.fixture(autouse=True)
def _stop_servers():
    """No server outlives its test, whatever the test did."""
    yield
    close_all()


@pytest.fixture
def configure(ember_home):
    """Write MCP server tables to config.toml and return the loaded settings."""

    def write(extra: str = "", **servers: dict[str, object]):
        text = "".join(server_toml(name, **table) for name, table in servers.items()) + extra
        (ember_home / "config.toml").write_text(text)
        return load_settings()

    return write


@pytest.fixture
def http_server():
    with McpHttpServer(token="tok-abcdef-123456") as server:
        yield server
