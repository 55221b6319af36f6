"""`ember run` and `ember mcp ...` as the real executable, with real MCP servers and a fake model."""

from __future__ import annotations

import ast
import time

import pytest

from tests.e2e.conftest import EmberRunner
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.mcp.conftest import ROOT, fake_stdio, server_toml


@pytest.fixture
def ember(ember_home, tmp_path) -> EmberRunner:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return EmberRunner(ember_home, workspace)


def _answer_with_tool_result(request):
    tool_messages = [m for m in request["messages"] if m["role"] == "tool"]
    return Reply(text=f"The server said: {tool_messages[-1]['content']}")


def test_run_calls_an_mcp_tool_and_the_result_reaches_the_model(ember):
    ember.config(server_toml("notes", **fake_stdio(description="notes and arithmetic")))
    script = [
        Reply(tool_calls=[{"name": "tools_load", "arguments": {"toolset": "notes"}}]),
        Reply(tool_calls=[{"name": "notes__add", "arguments": {"a": 19, "b": 23}}]),
        Reply(tool_calls=[{"name": "notes__pid", "arguments": {}}]),
    ]
    with FakeOpenAI(script, responder=_answer_with_tool_result) as fake:
        ember.point_at(fake)
        data = ember.json("run", "--json", "add 19 and 23 with the notes server")
    first, after_load, after_add = fake.requests[0], fake.requests[1], fake.requests[2]
    # First request: the server is one line of the index; none of its schemas are sent.
    system = first["messages"][0]["content"]
    assert "notes: notes and arithmetic" in system
    assert not any(t["function"]["name"].startswith("notes__") for t in first.get("tools", []))
    # After tools_load, its schemas go out; the tool's result comes back as a tool message.
    assert "notes__add" in {t["function"]["name"] for t in after_load["tools"]}
    tool_message = [m for m in after_add["messages"] if m["role"] == "tool"][-1]
    assert tool_message["content"] == "42"
    assert [c["name"] for c in data["tool_calls"]] == ["tools_load", "notes__add", "notes__pid"]
    assert not any(c["is_error"] for c in data["tool_calls"])
    # The stdio server did not outlive `ember run`.
    pid = int(data["answer"].rsplit(" ", 1)[-1])
    deadline = time.monotonic() + 5
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_server_that_fails_does_not_fail_the_run(ember):
    ember.config(server_toml("broken", command="sh", args=["-c", "exit 7"]))
    with FakeOpenAI([Reply(tool_calls=[{"name": "broken__anything", "arguments": {}}])],
                    responder=lambda request: Reply(text="done")) as fake:
        ember.point_at(fake)
        data = ember.json("run", "--json", "use the broken server")
    assert data["answer"] == "done"
    assert data["tool_calls"][0]["is_error"]


def test_mcp_add_list_test_remove(ember, http_server):
    ember.config('# keep me\n[agent]\nmax_steps = 7\n')
    added = ember("mcp", "add", "notes", "--cwd", fake_stdio()["cwd"], "--", *_command(fake_stdio()))
    assert added.returncode == 0, added.stderr
    assert "offers 13 tools" in added.stdout
    added = ember("mcp", "add", "remote", "--url", http_server.url,
                  "--header", "Authorization: Bearer ${REMOTE_TOKEN}", "--description", "the remote notes")
    assert added.returncode == 0 and "did not start" in added.stderr and "REMOTE_TOKEN" in added.stderr
    (ember.home / ".env").write_text("REMOTE_TOKEN=tok-abcdef-123456\n")
    config = (ember.home / "config.toml").read_text()
    assert config.startswith("# keep me\n[agent]\nmax_steps = 7\n")
    assert 'description = "Notes and arithmetic for tests"' in config  # taken from the server itself
    assert "tok-abcdef" not in config

    rows = ember.json("mcp", "list", "--json")
    assert [(r["name"], r["transport"], r["status"], r["tools"]) for r in rows] == [
        ("notes", "stdio", "ok", 13), ("remote", "http", "ok", 12)]

    shown = ember("mcp", "test", "remote")
    assert shown.returncode == 0, shown.stderr
    assert "connected to fake-notes over http" in shown.stdout and "remote__whoami" in shown.stdout

    assert ember("mcp", "remove", "remote").returncode == 0
    missing = ember("mcp", "test", "remote")
    assert missing.returncode == 2 and "no MCP server named 'remote'" in missing.stderr
    assert ember("mcp", "remove", "remote").returncode == 2
    assert [r["name"] for r in ember.json("mcp", "list", "--json", "--no-connect")] == ["notes"]


def test_mcp_add_refuses_bad_input(ember):
    both = ember("mcp", "add", "x", "--url", "http://127.0.0.1:9/mcp", "--", "cmd")
    assert both.returncode == 2 and "not both" in both.stderr
    reserved = ember("mcp", "add", "web", "--no-check", "--", "cmd")
    assert reserved.returncode == 2 and "built-in toolset" in reserved.stderr
    literal = ember("mcp", "add", "y", "--no-check", "--url", "http://127.0.0.1:9/mcp",
                    "--header", "Authorization: Bearer abc123456789")
    assert literal.returncode == 0 and "put it in .env" in literal.stderr
    assert not (ember.home / "config.toml").read_text().count("[mcp.servers.x]")


def _command(table: dict) -> list[str]:
    return [table["command"], *table["args"]]


def test_help_and_a_run_without_mcp_do_not_import_the_sdk(ember):
    import subprocess
    import sys

    ember.config(server_toml("notes", **fake_stdio()))
    code = (
        "import sys\n"
        "from ember.config import load_settings\n"
        "from ember.runtime import build_runtime\n"
        "runtime = build_runtime(load_settings(), interactive=False)\n"
        "registry = runtime.agent.registry\n"
        "print(registry.index_lines()); registry.schemas(); runtime.close()\n"
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))\n"
    )
    env = {**ember.env, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    index, modules = out.stdout.splitlines()
    assert "notes: tools of the MCP server" in index
    assert ast.literal_eval(modules) == []
    help_run = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom ember.cli.main import main\nsys.argv=['ember','--help']\n"
         "try:\n main()\nexcept SystemExit:\n pass\nprint('mcp' in sys.modules, 'ember.mcp' in sys.modules)"],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert help_run.stdout.strip().endswith("False False")
