"""Real MCP servers for the client tests: the fake Python server (stdio and HTTP) and the npm ones.

The npm servers (@modelcontextprotocol/server-everything and server-filesystem, pinned in
tests/node/package-lock.json) are installed by the first test that needs them, with
`npm ci --prefix tests/node`, once and cached in tests/node/node_modules. They skip only where
Node.js or npm is not installed at all.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
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


def _install_node_servers() -> None:
    """`npm ci` from the lockfile when node_modules is missing or older than the lockfile.

    A file lock keeps two test runs on one machine from installing over each other.
    """
    node = ROOT / "tests" / "node"
    lock, installed = node / "package-lock.json", node / "node_modules" / ".package-lock.json"
    with open(node / ".install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
            return
        done = subprocess.run(
            ["npm", "ci", "--prefix", str(node), "--no-audit", "--no-fund", "--loglevel=error"],
            capture_output=True, text=True, timeout=600,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci --prefix tests/node failed:\n{done.stderr[-2000:]}")


def node_server(name: str) -> str:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed (CI installs them)")
    _install_node_servers()
    return str(NODE_BIN / name)


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
