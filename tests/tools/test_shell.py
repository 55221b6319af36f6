"""The shell tool with real subprocesses: exit codes, timeouts, cancel, cwd, environment."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from ember.config import Settings, ToolSettings
from ember.models.base import Cancelled, ToolCall
from ember.tools.registry import ToolContext
from tests.tools.conftest import pids_running, wait_until


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")  # a zombie is dead


def wait_dead(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_output_and_exit_code(run):
    result = run("shell", command="echo out; echo err >&2; exit 3")
    assert result.content == "out\nerr\n[exit code 3]"
    assert not result.is_error
    assert run("shell", command="true").content == "(no output)\n[exit code 0]"


def test_stdin_is_empty_so_nothing_hangs(run):
    started = time.monotonic()
    assert run("shell", command="cat; read x; echo done", timeout=30).content == "done\n[exit code 0]"
    assert time.monotonic() - started < 10


def test_timeout_kills_the_whole_process_group(run, workspace):
    started = time.monotonic()
    result = run("shell", command="sleep 100.31 & sleep 100.32", timeout=1)
    assert time.monotonic() - started < 15
    assert result.is_error and "timed out after 1s" in result.content
    assert wait_until(lambda: not pids_running("sleep 100.31"))


def test_default_timeout_comes_from_settings(workspace, registry, tmp_path):
    settings = Settings(home=tmp_path, models={}, tools=ToolSettings(shell_timeout=0.5))
    ctx = ToolContext(workspace=workspace, settings=settings)
    result = registry.execute(ToolCall("1", "shell", {"command": "sleep 30"}), ctx)
    assert "timed out after 0.5s" in result.content


def test_cancel_from_another_thread_kills_and_raises(registry, ctx, workspace):
    threading.Timer(0.5, ctx.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        registry.execute(ToolCall("1", "shell", {"command": "sleep 60.41 & wait"}), ctx)
    assert time.monotonic() - started < 15
    assert wait_until(lambda: not pids_running("sleep 60.41"))


def test_background_process_does_not_block_and_ends_with_the_sandboxed_command(run):
    started = time.monotonic()
    result = run("shell", command="sleep 20.51 & echo started")
    assert time.monotonic() - started < 8
    assert result.content.startswith("started\n")
    # The sandbox is its own pid namespace: what the command left running ends with it (long-running
    # work belongs to process_start), and it can signal or read no process of the user's.
    assert wait_until(lambda: not pids_running("sleep 20.51"))


def test_background_process_outside_the_sandbox_is_reported(workspace, registry):
    from ember.security.approval import Approver

    ctx = ToolContext(workspace=workspace, approver=Approver("auto"))
    result = registry.execute(ToolCall("1", "shell", {"command": "sleep 20.52 & echo started",
                                                      "outside_sandbox": True, "why": "test"}), ctx)
    assert result.content.startswith("[ran outside the sandbox, approved]\nstarted\n")
    assert "background processes are still running" in result.content
    for pid in pids_running("sleep 20.52"):
        os.kill(pid, 9)


def test_huge_output_keeps_head_and_tail(registry, workspace):
    ctx = ToolContext(workspace=workspace, max_output_chars=3000)
    command = "echo FIRST; head -c 5000000 /dev/zero | tr '\\0' x; echo; echo LAST"
    result = registry.execute(ToolCall("1", "shell", {"command": command}), ctx)
    assert len(result.content) <= 3000
    assert result.content.startswith("FIRST") and "LAST\n[exit code 0]" in result.content
    assert "bytes cut from the middle (5,000,012 in all)" in result.content
    assert "read_file" in result.content


def test_cwd_persists_and_relative_cwd_resolves_in_workspace(run, ctx, workspace):
    (workspace / "sub" / "deeper").mkdir(parents=True)
    moved = run("shell", command="cd sub")
    assert "[working directory is now sub]" in moved.content
    assert run("shell", command="pwd").content.startswith(os.path.realpath(workspace / "sub"))
    assert run("shell", command="pwd", cwd="sub/deeper").content.startswith(os.path.realpath(workspace / "sub/deeper"))
    assert ctx.cwd == Path(os.path.realpath(workspace / "sub"))
    assert run("shell", command="ls", cwd="missing").is_error


def test_secrets_are_not_in_the_environment(registry, workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-1234567890")
    monkeypatch.setenv("OTHER_VAR", "fine")
    settings = Settings(home=tmp_path, models={}, secrets={"MY_SERVICE_TOKEN": "tok-1234567890"})
    ctx = ToolContext(workspace=workspace, settings=settings)
    out = registry.execute(ToolCall("1", "shell", {"command": 'echo "[$MY_SERVICE_TOKEN] $OTHER_VAR"'}), ctx)
    assert out.content.startswith("[] fine")


def test_dangerous_command_needs_approval(run, workspace):
    (workspace / "keep.txt").write_text("x")
    result = run("shell", command="git reset --hard && rm -rf keep.txt")
    assert result.is_error and "git reset --hard" in result.content and "--yes" in result.content
    assert (workspace / "keep.txt").exists()
    assert run("shell", command="rm -rf keep.txt").content == "(no output)\n[exit code 0]"
