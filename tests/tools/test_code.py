"""run_code through the real registry: languages, results the model reads, modes, approval."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from ember.config import load_settings
from ember.models.base import ToolCall
from ember.security.approval import Approver
from ember.security.sandbox import bwrap_problem
from ember.tools.builtin import builtin_registry
from ember.tools.registry import ToolContext, ToolResult


@pytest.fixture
def bwrap():
    problem = bwrap_problem()
    if problem:
        pytest.skip(f"no bubblewrap sandbox here: {problem} (install the Debian package bubblewrap)")


@pytest.fixture
def code(ember_home, workspace):
    """code(language, source, config="...", **arguments) -> ToolResult, with config.toml as given."""
    registry = builtin_registry(plugins=False)

    def _run(language: str, source: str, config: str = "", approver: Approver | None = None, **arguments) -> ToolResult:
        (ember_home / "config.toml").write_text(config)
        ctx = ToolContext(workspace=workspace, settings=load_settings(), approver=approver or Approver())
        call = ToolCall(id="1", name="run_code", arguments={"language": language, "code": source, **arguments})
        return registry.execute(call, ctx)

    return _run


def test_python(bwrap, code):
    result = code("python", "import sys\nprint(sum(range(10)))\nprint('oops', file=sys.stderr)\nsys.exit(2)")
    assert result.content == "45\noops\n[exit code 2]" and not result.is_error


def test_javascript(bwrap, code):
    if shutil.which("node") is None:
        pytest.skip("node is not installed (Debian package nodejs)")
    assert code("javascript", "console.log([1, 2, 3].map(x => x * 2).join(','))").content == "2,4,6\n[exit code 0]"


def test_javascript_memory_limit_is_a_readable_error(bwrap, code):
    if shutil.which("node") is None:
        pytest.skip("node is not installed (Debian package nodejs)")
    result = code("javascript", "const a = []; while (true) a.push(new Array(1e6).fill(1.5));",
                  config="[sandbox]\nmemory_mb = 256\n", timeout=20)
    assert "heap" in result.content.lower() and "[exit code 0]" not in result.content


def test_shell(bwrap, code):
    result = code("shell", "echo hello > greeting; cat greeting; touch /etc/nope")
    assert result.content.startswith("hello\n") and "Read-only file system" in result.content
    assert result.content.endswith("[exit code 1]")


def test_timeout_comes_from_the_argument_or_the_config(bwrap, code):
    started = time.monotonic()
    result = code("python", "while True: pass", timeout=1)
    assert result.is_error and "[timed out after 1s" in result.content
    result = code("python", "import time; time.sleep(30)", config="[sandbox]\ntimeout = 0.5\n")
    assert "[timed out after 0.5s" in result.content
    assert time.monotonic() - started < 6


def test_a_signal_is_explained(bwrap, code):
    result = code("python", "while True: pass", config="[sandbox]\ncpu_seconds = 1\n", timeout=20)
    assert result.content.endswith("[exit code 152: SIGXCPU, CPU time limit reached]")


def test_long_output_is_cut(bwrap, code, workspace):
    registry = builtin_registry(plugins=False)
    ctx = ToolContext(workspace=workspace, max_output_chars=2000)
    result = registry.execute(
        ToolCall("1", "run_code", {"language": "python", "code": "print('A' * 500_000); print('END')"}), ctx
    )
    assert "cut from the middle" in result.content and result.content.endswith("END\n[exit code 0]")
    assert len(result.content) <= 2000


def test_none_mode_says_it_ran_unsandboxed(code, workspace):
    result = code("python", "import os; print(os.getuid() == os.geteuid())", config='[sandbox]\nmode = "none"\n')
    assert result.content.startswith('[ran WITHOUT a sandbox ([sandbox] mode = "none")')
    assert result.content.endswith("True\n[exit code 0]")


def test_unsandboxed_dangerous_shell_needs_approval(code, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    config = '[sandbox]\nmode = "none"\n'
    refused = code("shell", f"rm -rf {victim}", config=config)
    assert refused.is_error and "needs approval" in refused.content and victim.exists()
    approved = code("shell", f"rm -rf {victim}", config=config, approver=Approver(mode="auto"))
    assert approved.content.endswith("[exit code 0]") and not victim.exists()


def test_sandboxed_shell_needs_no_approval(bwrap, code, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    result = code("shell", f"rm -rf {victim}; echo tried")
    assert not result.is_error and "tried" in result.content
    assert victim.exists()  # the sandbox kept it safe (tmp_path is behind the sandbox's own /tmp)


def test_without_bubblewrap_auto_mode_refuses_with_instructions(code, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(shutil.which("python3"), bin_dir / "python3")
    monkeypatch.setenv("PATH", str(bin_dir))  # python3 but no bwrap
    result = code("python", "print(1)")
    assert result.is_error and "No sandbox to run code in" in result.content
    assert "apt install bubblewrap" in result.content and 'mode = "none"' in result.content


def test_a_missing_interpreter_says_what_to_install(code, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = code("javascript", "console.log(1)")
    assert result.is_error and "install Node.js" in result.content


def test_bad_config_names_the_key(code):
    result = code("python", "print(1)", config='[sandbox]\nmode = "vm"\n')
    assert result.is_error and "[sandbox].mode = 'vm'" in result.content


def test_unknown_language_is_refused_by_the_schema(code):
    result = code("ruby", "puts 1")
    assert result.is_error and "python" in result.content and "javascript" in result.content


def test_the_docs_config_examples_are_valid(tmp_path):
    import re
    import tomllib
    from pathlib import Path

    from ember.config import Settings
    from ember.security.sandbox import sandbox_settings
    from ember.tools.ssh_hosts import ssh_settings

    doc = Path(__file__).resolve().parents[2] / "docs" / "tools-processes-ssh-code.md"
    blocks = re.findall(r"```toml\n(.*?)```", doc.read_text(), re.S)
    assert len(blocks) == 2
    for block in blocks:
        raw = tomllib.loads(block)
        sandbox_settings(raw)
        ssh = ssh_settings(Settings(home=tmp_path, models={}, raw=raw))
    assert set(ssh_settings(Settings(home=tmp_path, models={}, raw=tomllib.loads(blocks[0]))).hosts) == {"web1", "nas"}
    assert sandbox_settings(tomllib.loads(blocks[1])).images["javascript"] == "node:22-slim"
    assert ssh.hosts == {}


def test_the_real_ember_executable_runs_code_for_the_model(bwrap, ember_home, tmp_path):
    from tests.e2e.conftest import EmberRunner
    from tests.fakes.openai_server import FakeOpenAI, Reply

    workspace = tmp_path / "project"
    workspace.mkdir()
    ember = EmberRunner(ember_home, workspace)
    script = [
        Reply(tool_calls=[{"name": "tools_load", "arguments": {"toolset": "code"}}]),
        Reply(tool_calls=[{"name": "run_code", "arguments": {"language": "python", "code": "print(2 ** 100)"}}]),
        Reply(text="Done."),
    ]
    with FakeOpenAI(script) as fake:
        ember.point_at(fake)
        ember.json("run", "--json", "compute 2**100")
    assert any(t["function"]["name"] == "run_code" for t in fake.requests[1]["tools"])  # loaded on demand
    result = [m for m in fake.requests[2]["messages"] if m["role"] == "tool"][-1]["content"]
    assert result == f"{2 ** 100}\n[exit code 0]"
