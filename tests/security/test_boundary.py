"""The sandbox is the boundary: every known way around the old denylist is contained or asked.

Each command below once deleted or wrote a folder outside the workspace without a question. Run
through the real shell tool with no one to ask (``ember run`` without ``--yes``), each must now
either be contained by the sandbox (the outside folder survives, the model sees the failure) or
be asked and refused. Ordinary work inside the workspace asks nothing.
"""

from __future__ import annotations

import base64
import http.server
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from ember.config import Settings, ToolSettings
from ember.models.base import ToolCall
from ember.security.approval import Approver
from ember.security.sandbox import bwrap_problem
from ember.tools.builtin import builtin_registry
from ember.tools.registry import ToolContext, ToolResult

pytestmark = pytest.mark.skipif(bwrap_problem() is not None, reason=f"no sandbox here: {bwrap_problem()}")


@pytest.fixture
def outside():
    """A folder outside the workspace and outside /tmp (which the sandbox replaces), with a file."""
    root = Path("/var/tmp") / f"ember-outside-{uuid.uuid4().hex[:10]}"
    (root / "dir").mkdir(parents=True)
    (root / "dir" / "precious.txt").write_text("keep me")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def home(ember_home):
    (ember_home / ".env").write_text("EMBER_API_KEY=sk-live-abcdefghijklmnopqrstuvwxyz0123\n")
    (ember_home / "config.toml").write_text("")
    return ember_home


@pytest.fixture
def agent_tools(home, tmp_path):
    """run(tool, **args) through the real registry, as `ember run` without --yes would."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    settings = Settings(home=home, models={}, tools=ToolSettings())
    registry = builtin_registry(settings, plugins=False)
    ctx = ToolContext(workspace=workspace, settings=settings, approver=Approver("deny"))

    def run(tool: str, **args) -> ToolResult:
        return registry.execute(ToolCall("c1", tool, args), ctx)

    run.ctx = ctx  # type: ignore[attr-defined]
    run.workspace = workspace  # type: ignore[attr-defined]
    return run


def _bypasses(d: Path) -> list[str]:
    b64 = base64.b64encode(f"rm -rf {d}".encode()).decode()
    hex_rm = "$'\\x72m'"
    return [
        f"bash -lc 'rm -rf {d}'",
        f'echo "rm -rf {d}" | bash',
        f"echo {b64} | base64 -d | sh",
        f"a=rm; $a -rf {d}",
        f"{hex_rm} -rf {d}",
        f"setsid rm -rf {d}",
        f"python3 -c \"import shutil; shutil.rmtree('{d}')\"",
        f"ln -s {d} l && rm -r l/",
        f"sh -xc 'rm -rf {d}'",
        f"bash -ec 'rm -rf {d}'",
        f"find {d} -exec sh -c 'rm -rf \"$0\"' {{}} \\;",
        f"env -S 'rm -rf {d}'",
        f"script -qc 'rm -rf {d}' /dev/null",
        f"flock /dev/null rm -rf {d}",
        f"unshare -r rm -rf {d}",
        f"timeout 2 watch -n 0.1 -e 'rm -rf {d}'",
        f"unlink {d}/precious.txt",
        f"perl -pi -e 's/keep/lost/' {d}/precious.txt",
        f"tar -C {d} -cf - . >/dev/null && tar -C {d} -xf /dev/null && touch {d}/new",
        f"curl -s -o {d}/precious.txt file:///etc/hostname",
        f"wget -q -O {d}/precious.txt file:///etc/hostname || cp /etc/hostname {d}/precious.txt",
        f"git clone -q /nonexistent {d}/clone || mkdir {d}/clone",
        f"cd {d} && echo lost > precious.txt",
        f"python3 -c \"open('{d}/precious.txt', 'w').write('lost')\"",
    ]


@pytest.mark.parametrize("index", range(24))
def test_every_known_bypass_is_contained_or_refused(agent_tools, outside, index):
    target = outside / "dir"
    command = _bypasses(target)[index]
    result = agent_tools("shell", command=command)
    assert (target / "precious.txt").read_text() == "keep me", (command, result.content)
    assert not (target / "new").exists() and not (target / "clone").exists(), command
    asked = "needs approval" in result.content
    contained = "[exit code" in result.content or "timed out" in result.content
    assert asked or contained, result.content


def test_ember_home_is_invisible_to_commands(agent_tools, home):
    (home / "ember.db").write_bytes(b"")
    for command in (
        f"cat {home}/.env", f"base64 {home}/.env", f"rev {home}/.env", f"sed p {home}/.env",
        f"ls -la {home}", "cat $EMBER_HOME/.env",
    ):
        result = agent_tools("shell", command=command)
        assert "sk-live-abcdefghijklmnopqrstuvwxyz0123" not in result.content, command
        assert base64.b64encode(b"sk-live").decode()[:8] not in result.content, command
    wrote = agent_tools("shell", command=f"echo 'allow_commands = [\"*\"]' >> {home}/config.toml; "
                                         f"sqlite3 {home}/ember.db \"CREATE TABLE x(a)\" 2>&1; true")
    assert "needs approval" in wrote.content or "[exit code" in wrote.content
    assert (home / "config.toml").read_text() == "" and (home / "ember.db").read_bytes() == b""


def test_file_tools_refuse_ember_home_for_reading_and_writing(agent_tools, home):
    for tool, args in (
        ("read_file", {"path": str(home / ".env")}),
        ("list_dir", {"path": str(home)}),
        ("write_file", {"path": str(home / "config.toml"), "content": 'allow_commands = ["*"]'}),
        ("read_file", {"path": "link/.env"}),
    ):
        if tool == "read_file" and args["path"] == "link/.env":
            (agent_tools.workspace / "link").symlink_to(home)
        result = agent_tools(tool, **args)
        assert result.is_error and "Ember's own folder" in result.content, (tool, result.content)
    assert (home / "config.toml").read_text() == ""


def test_credentials_are_hidden_and_private_tmp(agent_tools, tmp_path):
    ssh = Path.home() / ".ssh"
    if ssh.is_dir():
        listing = agent_tools("shell", command="ls -A ~/.ssh | wc -l")
        assert listing.content.startswith("0\n")
    marker = tmp_path / "host-tmp-file"
    marker.write_text("x")
    seen = agent_tools("shell", command=f"test -e {marker} && echo visible || echo hidden")
    assert seen.content.startswith("hidden")


def test_escaping_asks_and_without_a_person_is_refused(agent_tools, outside):
    target = outside / "dir"
    for command, args in (
        (f"rm -rf {target}", {}),
        (f"echo lost > {target}/precious.txt", {}),
        ("sudo true", {}),
        (f"touch {target}/new", {"outside_sandbox": True, "why": "write the report next to the data"}),
    ):
        result = agent_tools("shell", command=command, **args)
        assert result.is_error and "needs approval" in result.content and "outside the sandbox" in result.content
    assert (target / "precious.txt").read_text() == "keep me" and not (target / "new").exists()


def test_an_approved_escape_runs_outside_for_that_command_only(agent_tools, outside):
    target = outside / "dir"
    agent_tools.ctx.approver = Approver("auto")
    done = agent_tools("shell", command=f"touch {target}/new", outside_sandbox=True, why="test")
    assert done.content.startswith("[ran outside the sandbox, approved]") and (target / "new").exists()
    # Not asked for and not recognised by the parser: sandboxed again, so it fails and says how to ask.
    again = agent_tools("shell", command=f"python3 -c \"open('{target}/again', 'w')\"")
    assert not (target / "again").exists() and "outside_sandbox=true" in again.content


@pytest.fixture
def web(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("<h1>hello</h1>")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_ordinary_work_asks_nothing(agent_tools, web):
    import zipfile

    with zipfile.ZipFile(agent_tools.workspace / "tinypkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("tinypkg/__init__.py", "VALUE = 42\n")
        wheel.writestr("tinypkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
        wheel.writestr("tinypkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr("tinypkg-1.0.dist-info/RECORD", "")
    git = "git -c user.name=me -c user.email=me@example.com"
    commands = [
        "mkdir -p build && rm -rf build",
        "printf 'all:\\n\\techo built > out.txt\\n' > Makefile && make -s",
        "python3 -c 'print(6 * 7)'",
        f"git init -q && {git} add -A && {git} commit -qm first && git log --oneline | wc -l",
        f"curl -s -o page.html {web}/index.html && cat page.html",
        f"{sys.executable} -m pip install -q --no-index --no-deps --target .venv ./tinypkg-1.0-py3-none-any.whl "
        "&& PYTHONPATH=.venv python3 -c 'import tinypkg; print(tinypkg.VALUE)'",
        "rm -rf .venv && ls",
        "mkdir -p sub && cd sub && echo hi > a.txt && cat a.txt",
    ]
    for command in commands:
        result = agent_tools("shell", command=command, timeout=120)
        assert "needs approval" not in result.content, (command, result.content)
        assert result.content.rstrip().endswith("[exit code 0]") or "[working directory" in result.content, \
            (command, result.content)
    assert "hello" in (agent_tools.workspace / "page.html").read_text()


def test_no_sandbox_asks_before_every_command_that_is_not_read_only(agent_tools, home):
    (home / "config.toml").write_text('[sandbox]\nmode = "none"\n')
    from ember.config import load_settings

    agent_tools.ctx.settings = load_settings()
    read = agent_tools("shell", command="ls -la && cat /etc/hostname | wc -l")
    assert not read.is_error and "without a sandbox" in read.content
    wrote = agent_tools("shell", command="touch x.txt")
    assert wrote.is_error and "no sandbox on this machine" in wrote.content
    assert not (agent_tools.workspace / "x.txt").exists()


def test_sandbox_start_up_is_cheap():
    """Not a timing assertion: only that bubblewrap starts at all with our arguments (benchmarks
    /approvals.py measures the cost)."""
    from ember.security.boundary import Boundary

    argv = Boundary(workspace=Path.cwd(), home=Path("/nonexistent-home")).wrap(["true"], cwd=Path.cwd())
    assert subprocess.run(argv, capture_output=True).returncode == 0


def test_symlinked_home_and_workspace_work(tmp_path, monkeypatch):
    real_home, real_ws = tmp_path / "real-home", tmp_path / "real-ws"
    real_home.mkdir()
    real_ws.mkdir()
    (real_home / ".env").write_text("SECRET=abc\n")
    (tmp_path / "home-link").symlink_to(real_home)
    (tmp_path / "ws-link").symlink_to(real_ws)
    monkeypatch.setenv("EMBER_HOME", str(tmp_path / "home-link"))
    settings = Settings(home=tmp_path / "home-link", models={}, tools=ToolSettings())
    registry = builtin_registry(settings, plugins=False)
    ctx = ToolContext(workspace=tmp_path / "ws-link", settings=settings, approver=Approver("deny"))
    code = registry.execute(ToolCall("1", "run_code", {"language": "python", "code": "print(6 * 7)"}), ctx)
    assert code.content.startswith("42"), code.content
    shell = registry.execute(ToolCall("2", "shell", {"command": f"echo made > out.txt && cat {real_home}/.env"}), ctx)
    assert (real_ws / "out.txt").read_text() == "made\n" and "SECRET" not in shell.content


def test_network_can_be_turned_off_for_commands(agent_tools, web):
    fetched = agent_tools("shell", command=f"curl -s -o page.html {web}/index.html")
    assert fetched.content.endswith("[exit code 0]")
    agent_tools.ctx.settings.tools.network = False
    cut = agent_tools("shell", command=f"curl -s -m 5 -o page2.html {web}/index.html")
    assert not cut.content.endswith("[exit code 0]") and not (agent_tools.workspace / "page2.html").exists()
