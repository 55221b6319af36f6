"""The other `ember` commands end to end: sessions, config, models, doctor, setup, tools, chat."""

from __future__ import annotations

import json
import stat

from tests.fakes.openai_server import FakeOpenAI, Reply


def test_help_lists_every_command(ember):
    result = ember("--help")
    assert result.returncode == 0
    for command in ("chat", "run", "sessions", "models", "tools", "config", "doctor", "setup"):
        assert command in result.stdout


def test_sessions_list_show_export_delete(ember, fake):
    fake.add("answer one")
    ember.point_at(fake)
    session_id = ember.json("run", "--json", "question one")["session_id"]
    listed = ember.json("sessions", "--json")
    assert listed[0]["id"] == session_id and listed[0]["message_count"] == 2
    human = ember("sessions", "show", session_id)
    assert "question one" in human.stdout and "answer one" in human.stdout
    markdown = ember("sessions", "export", session_id)
    assert markdown.stdout.startswith(f"# Session {session_id}") and "answer one" in markdown.stdout
    lines = ember("sessions", "export", session_id, "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["role"] for line in lines] == ["user", "assistant"]
    out = ember.workspace / "s.json"
    assert ember("sessions", "export", session_id, "--format", "json", "-o", str(out)).returncode == 0
    assert json.loads(out.read_text())["id"] == session_id
    refused = ember("sessions", "delete", session_id)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert ember("sessions", "delete", session_id, "--yes").returncode == 0
    assert ember.json("sessions", "list", "--json") == []
    missing = ember("sessions", "show", "nope")
    assert missing.returncode != 0 and "sessions list" in missing.stderr


def test_config_show_masks_secrets(ember):
    (ember.home / ".env").write_text("EMBER_API_KEY=sk-very-secret-abcdef123\n")
    ember.env["EMBER_MODEL"] = "my-model"
    result = ember("config", "show")
    assert result.returncode == 0
    assert "sk-very-secret-abcdef123" not in result.stdout
    assert "my-model" in result.stdout
    data = ember.json("config", "show", "--json")
    assert data["models"]["default"]["api_key"] != "sk-very-secret-abcdef123"
    assert data["models"]["default"]["model"] == "my-model"
    assert data["models"]["default"]["reasoning"] == "off"


def test_config_show_includes_the_reasoning_setting(ember):
    (ember.home / "config.toml").write_text(
        '[models.deep]\nprovider = "anthropic"\nmodel = "claude-x"\nreasoning = "high"\nreasoning_budget = 4096\n'
    )
    data = ember.json("config", "show", "--json")
    assert data["models"]["deep"]["reasoning"] == "high"
    assert data["models"]["deep"]["reasoning_budget"] == 4096
    assert 'reasoning = "high"' in ember("config", "show").stdout


def test_models_lists_configured_and_served(ember):
    with FakeOpenAI(models=["alpha", "beta"]) as fake:
        ember.point_at(fake)
        data = ember.json("models", "--json")
    assert data["configured"][0]["model"] == "fake-model"
    assert data["endpoints"][0]["models"] == ["alpha", "beta"]


def test_doctor_reports_ok_and_problems_with_fixes(ember, fake):
    fake.add("ok")
    ember.point_at(fake)
    good = ember("doctor")
    assert good.returncode == 0, good.stdout + good.stderr
    ember.env["EMBER_BASE_URL"] = "http://127.0.0.1:9/v1"
    (ember.home / ".env").write_text("X=1\n")
    (ember.home / ".env").chmod(0o644)
    bad = ember("doctor", "--json")
    assert bad.returncode == 1
    data = json.loads(bad.stdout)
    failed = {c["name"].split(" ")[0]: c for c in data["checks"] if not c["ok"]}
    assert "chmod 600" in failed[".env"]["fix"]
    assert "start the server" in failed["model"]["fix"]


def test_doctor_reports_a_broken_config(ember):
    ember.config("[model]\nprovider = 'nope'\n")
    result = ember("doctor", "--offline")
    assert result.returncode == 1
    assert "unknown provider" in result.stdout and "fix:" in result.stdout


def test_setup_finds_a_local_server_and_writes_private_files(ember):
    with FakeOpenAI(models=["llama3"]) as fake:
        port = fake.base_url.split(":")[-1].split("/")[0]
        result = ember("setup", "--port", port, "--yes", "--api-key", "sk-local-secret-1")
    assert result.returncode == 0, result.stderr
    config = (ember.home / "config.toml").read_text()
    assert f"127.0.0.1:{port}/v1" in config and '"llama3"' in config
    assert "sk-local-secret-1" not in config
    assert "sk-local-secret-1" in (ember.home / ".env").read_text()
    for name in ("config.toml", ".env"):
        assert stat.S_IMODE((ember.home / name).stat().st_mode) == 0o600


def test_tools_list_and_show(ember):
    rows = ember.json("tools", "list", "--json")
    names = {r["name"] for r in rows}
    assert {"read_file", "write_file", "edit_file", "list_dir", "search_files", "shell"} <= names
    schema = ember.json("tools", "show", "edit_file")
    assert schema["name"] == "edit_file" and "parameters" in schema
    assert ember("tools", "show", "nope").returncode != 0


def test_chat_with_piped_input_and_slash_commands(ember, fake):
    fake.add("Hello from chat")
    ember.point_at(fake)
    result = ember("chat", input="hi there\n/usage\n/tools\n/bogus\n/exit\n")
    assert result.returncode == 0, result.stderr
    assert "Hello from chat" in result.stdout
    assert "model calls" in result.stdout
    assert "core" in result.stdout
    assert "unknown command /bogus" in result.stdout
    resumed = ember("chat", "--resume", input="/exit\n")
    assert "resumed session" in resumed.stdout and "Hello from chat" in resumed.stdout


def test_chat_keeps_the_session_after_an_error(ember, fake):
    fake.add(Reply.fail(400, "bad request from the fake"))
    fake.add("recovered")
    ember.point_at(fake)
    result = ember("chat", input="first\nsecond\n")
    assert result.returncode == 0
    assert "bad request from the fake" in result.stdout
    assert "recovered" in result.stdout


def test_chat_asks_for_approval_and_remembers_always(ember):
    target = ember.workspace.parent / "old-build"  # outside the workspace: it must leave the sandbox
    call = Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rm -rf {target}"}}])
    with FakeOpenAI([call, "removed", call, "removed again"]) as fake:
        ember.point_at(fake)
        target.mkdir()
        first = ember("chat", input="clean up\na\n/exit\n")
        assert first.returncode == 0, first.stderr
        assert "Approval needed" in first.stdout and not target.exists()
        target.mkdir()
        second = ember("chat", input="clean up again\n/exit\n")
    assert "Approval needed" not in second.stdout  # allowed always: stored in the database
    assert not target.exists()


def test_chat_denied_approval_keeps_files(ember):
    target = ember.workspace.parent / "keep-me"
    target.mkdir()
    call = Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rm -rf {target}"}}])
    with FakeOpenAI([call, "ok, left it"]) as fake:
        ember.point_at(fake)
        result = ember("chat", input="clean up\nn\n/exit\n")
    assert result.returncode == 0 and "ok, left it" in result.stdout
    assert target.exists()
    refusal = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"][0]["content"]
    assert "refused" in refusal.lower() or "denied" in refusal.lower()
