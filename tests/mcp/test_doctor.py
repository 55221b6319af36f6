"""`ember doctor` checks each configured MCP server: the real executable, real servers, real failures."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest

from tests.e2e.conftest import EmberRunner
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.mcp.conftest import fake_stdio, node_server, server_toml

TOKEN = "tok-abcdef-123456"  # what the fake HTTP server requires (see the http_server fixture)
WRONG = "wrong-token-987654321"
LEAKED = "leaky-value-24680-abcdef"


@pytest.fixture
def ember(ember_home, tmp_path) -> EmberRunner:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    runner = EmberRunner(ember_home, workspace)
    (ember_home / ".env").write_text(f"REMOTE_TOKEN={TOKEN}\nWRONG_TOKEN={WRONG}\nLEAKY={LEAKED}\n")
    (ember_home / ".env").chmod(0o600)
    return runner


@pytest.fixture
def model():
    with FakeOpenAI(responder=lambda request: Reply(text="ok")) as fake:
        yield fake


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mcp_checks(data: dict) -> dict[str, dict]:
    return {c["name"].split(" ")[2]: c for c in data["checks"] if c["name"].startswith("mcp server ")}


def test_doctor_reports_each_mcp_server_with_a_fix(ember, model, http_server):
    down = f"http://127.0.0.1:{_closed_port()}/mcp"
    ember.point_at(model)
    ember.config(
        server_toml("notes", **fake_stdio())
        + server_toml("remote", url=http_server.url, headers={"Authorization": "Bearer ${REMOTE_TOKEN}"})
        + server_toml("missing", command="ember-no-such-command-xyz", args=["--serve"])
        + server_toml("down", url=down)
        + server_toml("denied", url=http_server.url, headers={"Authorization": "Bearer ${WRONG_TOKEN}"})
        + server_toml("leaky", command="sh", args=["-c", 'echo "starting with $API_TOKEN" >&2; exit 3'],
                      env={"API_TOKEN": "${LEAKY}"})
        + server_toml("unset", command="sh", env={"API_TOKEN": "${NOT_IN_ENV_FILE}"})
        + server_toml("off", command="ember-no-such-command-xyz", enabled=False)
    )
    result = ember("doctor", "--json", timeout=60)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert all(set(c) == {"name", "ok", "detail", "fix"} for c in data["checks"])  # the shape of every check
    assert [c["name"].split(" ")[0] for c in data["checks"]][:4] == ["home", ".env", "config", "database"]
    checks = _mcp_checks(data)
    assert list(checks) == ["notes", "remote", "missing", "down", "denied", "leaky", "unset", "off"]

    notes, remote = checks["notes"], checks["remote"]
    assert notes["ok"] and re.search(r"fake-notes .*answered in [\d.]+s, 13 tools$", notes["detail"])
    assert notes["name"].startswith("mcp server notes (stdio: ")
    assert remote["ok"] and remote["detail"].endswith(", 12 tools")
    assert remote["name"] == f"mcp server remote (http: {http_server.url})"

    missing = checks["missing"]
    assert not missing["ok"] and "'ember-no-such-command-xyz' was not found" in missing["detail"]
    assert "install ember-no-such-command-xyz" in missing["fix"] and "`command`" in missing["fix"]

    assert not checks["down"]["ok"] and "could not start" in checks["down"]["detail"]
    assert f"check that {down} is right" in checks["down"]["fix"] and "`url`" in checks["down"]["fix"]

    denied = checks["denied"]
    assert not denied["ok"] and "HTTP 401" in denied["detail"]
    assert "`headers`" in denied["fix"]

    leaky = checks["leaky"]  # its stderr is shown, the secret it echoed is not
    assert not leaky["ok"] and "starting with [REDACTED]" in leaky["detail"] and "exits" in leaky["fix"]

    unset = checks["unset"]
    assert not unset["ok"] and "NOT_IN_ENV_FILE" in unset["detail"]
    assert unset["fix"].startswith("add NOT_IN_ENV_FILE=... to EMBER_HOME/.env")

    assert checks["off"] == {**checks["off"], "ok": True, "fix": ""} and "skipped" in checks["off"]["detail"]

    for secret in (TOKEN, WRONG, LEAKED):
        assert secret not in result.stdout + result.stderr

    human = ember("doctor", timeout=60)
    assert human.returncode == 1
    assert "✓ mcp server notes (stdio: " in human.stdout and "13 tools" in human.stdout
    assert "✗ mcp server missing (stdio: ember-no-such-command-xyz --serve)" in human.stdout
    assert "fix: install ember-no-such-command-xyz" in human.stdout
    assert "✓ mcp server off (stdio: ember-no-such-command-xyz): skipped" in human.stdout
    assert "5 problem(s) found" in human.stderr
    for secret in (TOKEN, WRONG, LEAKED):
        assert secret not in human.stdout + human.stderr


def test_doctor_passes_with_working_servers_and_offline_starts_none(ember, model):
    ember.point_at(model)
    ember.config(server_toml("notes", **fake_stdio()) + server_toml("off", command="sh", enabled=False))
    result = ember("doctor", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all good" in result.stderr

    ember.config(server_toml("missing", command="ember-no-such-command-xyz"))
    offline = ember("doctor", "--offline", "--json")
    assert offline.returncode == 0, offline.stdout
    assert _mcp_checks(json.loads(offline.stdout))["missing"]["detail"] == "skipped: --offline starts no server"


def test_doctor_checks_servers_at_once_and_gives_each_at_most_ten_seconds(ember, model):
    """Three servers that never answer, each allowed 30 s by its table: doctor still ends in ~10 s."""
    ember.point_at(model)
    ember.config("".join(server_toml(f"hung{i}", command="sleep", args=["120"]) for i in range(3))
                 + server_toml("notes", **fake_stdio()))
    started = time.monotonic()
    result = ember("doctor", "--json", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    checks = _mcp_checks(json.loads(result.stdout))
    assert checks["notes"]["ok"]
    for name in ("hung0", "hung1", "hung2"):
        assert not checks[name]["ok"] and "within 10 s" in checks[name]["detail"]
        assert "connect_timeout (30 s)" in checks[name]["fix"]
    assert elapsed < 25, f"doctor took {elapsed:.1f} s"


def test_doctor_lists_the_tools_of_an_npm_server(ember, model):
    ember.point_at(model)
    ember.config(server_toml("everything", command=node_server("mcp-server-everything")))
    data = json.loads(ember("doctor", "--json", timeout=60).stdout)
    check = _mcp_checks(data)["everything"]
    assert check["ok"], check
    assert int(re.search(r"(\d+) tools$", check["detail"]).group(1)) > 5
