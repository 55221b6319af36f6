"""Background processes with real subprocesses: start, read, page, stop, approval, and no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ember.config import Settings
from ember.models.base import Cancelled, ToolCall
from ember.security.approval import Approver
from ember.tools.builtin import builtin_registry
from ember.tools.registry import ToolContext, ToolResult
from tests.tools.conftest import pids_running, wait_until


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_dead(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def wait_for_file(path: Path, seconds: float = 5.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


@pytest.fixture
def registry():
    return builtin_registry(plugins=False)


@pytest.fixture
def ctx(workspace):
    context = ToolContext(workspace=workspace)
    yield context
    from ember.tools.processes import stop_all

    stop_all()  # nothing a test started outlives it


@pytest.fixture
def run(registry, ctx):
    def _run(tool_name: str, /, **arguments) -> ToolResult:
        return registry.execute(ToolCall(id="1", name=tool_name, arguments=arguments), ctx)

    return _run


def test_start_returns_at_once_and_output_can_be_awaited(run):
    started = time.monotonic()
    result = run("process_start", command="sleep 0.5; echo one; echo two >&2; exit 4", name="job")
    assert time.monotonic() - started < 2
    assert result.content.startswith("Started p1 (job), pid ")
    assert 'process_output(id="p1")' in result.content

    output = run("process_output", id="job", wait=10).content
    assert output.splitlines()[0].startswith("p1 (job) exited with code 4 after ")
    assert output.endswith("one\ntwo")
    assert "p1 (job): exited with code 4" in run("process_list").content


def test_a_command_that_fails_at_once_is_reported_by_start(run):
    result = run("process_start", command="no-such-command-here")
    assert "It already exited with code 127" in result.content
    assert "command not found" in result.content


def test_log_can_be_paged_by_offset_and_tail(run, ctx):
    run("process_start", command="for i in $(seq 1 500); do echo line-$i; done")
    run("process_output", id="p1", wait=10)
    tail = run("process_output", id="p1", tail=3).content
    assert tail.endswith("line-498\nline-499\nline-500")
    assert "last 3 lines" in tail and "offset=0" in tail

    ctx.max_output_chars = 1000
    first = run("process_output", id="p1", offset=0).content
    assert "line-1\nline-2\n" in first
    next_offset = int(first.split("more from offset ")[1].split("]")[0])
    second = run("process_output", id="p1", offset=next_offset).content
    assert f"[bytes {next_offset}-" in second
    assert first.split("]\n", 1)[1] + second.split("]\n", 1)[1] == "".join(f"line-{i}\n" for i in range(1, 501))[
        : len(first.split("]\n", 1)[1] + second.split("]\n", 1)[1])
    ]  # the pages join up exactly


def test_kill_stops_the_process_and_everything_it_started(run, workspace):
    run("process_start", command="sleep 300.61 & sleep 300.62 & wait", name="server")
    assert wait_until(lambda: len(pids_running("sleep 300.61")) >= 1 and pids_running("sleep 300.62"))
    result = run("process_kill", id="server")
    assert result.content.startswith("p1 (server) stopped after ")
    assert wait_until(lambda: not pids_running("sleep 300.6"))
    assert "stopped" in run("process_list").content


def test_kill_of_a_finished_process_says_so(run):
    run("process_start", command="echo bye")
    run("process_output", id="p1", wait=10)
    assert "exited with code 0" in run("process_kill", id="p1").content
    assert "had already finished" in run("process_kill", id="p1").content


def test_names_must_be_unique_among_running_processes(run):
    run("process_start", command="sleep 30", name="web")
    again = run("process_start", command="sleep 30", name="web")
    assert again.is_error and "already named 'web'" in again.content
    unknown = run("process_output", id="nope")
    assert unknown.is_error and "No background process 'nope'" in unknown.content and "p1 (web)" in unknown.content


def test_runs_in_the_sessions_working_directory(run, ctx, workspace):
    (workspace / "sub").mkdir()
    ctx.cwd = workspace / "sub"
    run("process_start", command="pwd")
    assert run("process_output", id="p1", wait=10).content.endswith(str(workspace / "sub"))


def test_secrets_are_not_in_its_environment(registry, workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-1234567890")
    settings = Settings(home=tmp_path / "home", models={}, secrets={"MY_SERVICE_TOKEN": "tok-1234567890"})
    ctx = ToolContext(workspace=workspace, settings=settings)
    registry.execute(ToolCall("1", "process_start", {"command": "env"}), ctx)
    output = registry.execute(ToolCall("2", "process_output", {"id": "p1", "wait": 10}), ctx).content
    assert "PAGER=cat" in output and "tok-1234567890" not in output
    assert list((tmp_path / "home" / "processes").glob("*.log"))  # the log lives under EMBER_HOME


def test_dangerous_commands_need_approval(run, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    result = run("process_start", command=f"rm -rf {victim}")
    assert result.is_error and "needs approval" in result.content
    assert victim.exists()
    assert run("process_list").content == "No background processes in this session."


def test_approved_dangerous_commands_run(registry, workspace, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    ctx = ToolContext(workspace=workspace, approver=Approver(mode="auto"))
    registry.execute(ToolCall("1", "process_start", {"command": f"rm -rf {victim}"}), ctx)
    registry.execute(ToolCall("2", "process_output", {"id": "p1", "wait": 10}), ctx)
    assert not victim.exists()


def test_each_session_has_its_own_processes(registry, ctx, workspace):
    other = ToolContext(workspace=workspace)
    registry.execute(ToolCall("1", "process_start", {"command": "sleep 30", "name": "mine"}), ctx)
    listing = registry.execute(ToolCall("2", "process_list", {}), other).content
    assert listing == "No background processes in this session."


def test_cancel_interrupts_waiting(run, ctx):
    run("process_start", command="sleep 30")
    threading.Timer(0.3, ctx.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        run("process_output", id="p1", wait=30)
    assert time.monotonic() - started < 10


# A separate Python process plays Ember: it starts a background process, reports the pids, then
# exits normally or is killed with SIGKILL. Either way the background process must not survive.
EMBER_STANDIN = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from ember.tools.processes import process_start
    from ember.tools.registry import ToolContext

    workspace = Path(sys.argv[1])
    from tests.tools.conftest import pids_running

    ctx = ToolContext(workspace=workspace)
    marker = sys.argv[2]
    process_start(ctx, f"sleep {marker} & sleep 300")
    while not [p for p in pids_running(f"sleep {marker}") if Path(f"/proc/{p}/comm").read_text().strip() == "sleep"]:
        time.sleep(0.02)
    table = ctx.state["processes"]
    child = [p for p in pids_running(f"sleep {marker}") if Path(f"/proc/{p}/comm").read_text().strip() == "sleep"]
    print(json.dumps({"leader": table.processes["p1"].proc.pid, "child": child[0]}), flush=True)
    sys.stdin.readline()  # exits normally when the test closes its stdin; or waits to be killed
""")


@pytest.mark.parametrize("how", ["exit", "sigkill", "sigterm"])
def test_background_processes_never_outlive_ember(workspace, how):
    marker = {"exit": "301.71", "sigkill": "301.72", "sigterm": "301.73"}[how]
    proc = subprocess.Popen(
        [sys.executable, "-c", EMBER_STANDIN, str(workspace), marker],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    assert proc.stdout is not None and proc.stdin is not None
    pids = json.loads(proc.stdout.readline())
    try:
        assert alive(pids["leader"]) and alive(pids["child"])
        if how == "exit":
            proc.stdin.close()
        elif how == "sigkill":
            proc.send_signal(signal.SIGKILL)
        elif how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert wait_dead(pids["leader"]), f"the background process survived Ember's {how}"
        assert wait_dead(pids["child"]), f"its child survived Ember's {how}"
    finally:
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_real_ember_executable_stops_its_background_processes_when_it_exits(ember_home, tmp_path):
    from tests.e2e.conftest import EmberRunner
    from tests.fakes.openai_server import FakeOpenAI, Reply

    workspace = tmp_path / "project"
    workspace.mkdir()
    ember = EmberRunner(ember_home, workspace)
    script = [
        Reply(tool_calls=[{"name": "process_start",
                           "arguments": {"command": "sleep 300.81 & sleep 300", "name": "server"}}]),
        Reply(tool_calls=[{"name": "process_list", "arguments": {}}]),
        Reply(text="The server is running."),
    ]
    with FakeOpenAI(script) as fake:
        ember.point_at(fake)
        data = ember.json("run", "--json", "start the server")
    assert [c["name"] for c in data["tool_calls"]] == ["process_start", "process_list"]
    listing = [m for m in fake.requests[2]["messages"] if m["role"] == "tool"][-1]["content"]
    assert listing.startswith("p1 (server): running for ")
    assert wait_until(lambda: not pids_running("sleep 300.81")), "a background process outlived `ember run`"
