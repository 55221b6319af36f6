"""The sandbox proves itself: real bubblewrap runs real programs that try to escape and fail.

Needs the ``bwrap`` binary (Debian package ``bubblewrap``); the Docker test runs only where a
Docker daemon answers and the image is already pulled.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ember.config import ConfigError
from ember.security.sandbox import (
    SandboxError,
    SandboxSettings,
    bwrap_problem,
    run_sandboxed,
    sandbox_settings,
)

PYTHON = sys.executable


@pytest.fixture
def bwrap():
    problem = bwrap_problem()
    if problem:
        pytest.skip(f"no bubblewrap sandbox here: {problem} (install the Debian package bubblewrap)")


def run_python(code: str, settings: SandboxSettings | None = None, timeout: float = 10, **kwargs):
    return run_sandboxed([PYTHON, "main.py"], {"main.py": code}, settings or SandboxSettings(),
                         timeout=timeout, output_limit=kwargs.pop("output_limit", 10_000), **kwargs)


def test_code_runs_in_a_writable_scratch_dir(bwrap):
    result = run_python("import os\nopen('out.txt', 'w').write('kept')\nprint(os.getcwd(), open('out.txt').read())\n"
                        "open('/tmp/also-ok', 'w').write('tmpfs')")
    assert result.mode == "bwrap"
    assert result.output == "/tmp/work kept\n" and result.exit_code == 0


def test_writing_outside_the_scratch_dir_fails(bwrap, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("readable")
    marker = f"ember-sandbox-escape-{time.time_ns()}"
    targets = [str(workspace / "new.txt"), str(workspace / "notes.txt"), f"/etc/{marker}",
               str(Path.home() / marker), f"/var/tmp/{marker}", f"/usr/{marker}"]
    code = (
        "import sys\n"
        f"print(open({str(workspace / 'notes.txt')!r}).read())\n"
        f"for target in {targets!r}:\n"
        "    try:\n"
        "        open(target, 'a').write('x')\n"
        "        print('WROTE', target)\n"
        "    except OSError as exc:\n"
        "        print('refused', exc.strerror)\n"
    )
    code += f"open({str(tmp_path / 'private.txt')!r}, 'w').write('lands in the sandbox tmpfs')\n"
    result = run_python(code, workspace=workspace)
    assert result.output.startswith("readable\n")
    assert "WROTE" not in result.output and result.output.count("refused") == len(targets)
    assert (workspace / "notes.txt").read_text() == "readable"
    assert not any(Path(t).exists() for t in targets if "notes" not in t)
    assert not (tmp_path / "private.txt").exists()  # /tmp inside is a tmpfs of its own


def test_ember_home_is_hidden_but_a_workspace_inside_it_is_readable(bwrap, ember_home):
    (ember_home / ".env").write_text("OPENAI_API_KEY=sk-secret-value\n")
    workspace = ember_home / "workspace"
    workspace.mkdir()
    (workspace / "data.csv").write_text("a,b\n")
    code = f"import os\nprint(sorted(os.listdir({str(ember_home)!r})), os.listdir({str(workspace)!r}))"
    assert run_python(code, home=ember_home, workspace=workspace).output == "['workspace'] ['data.csv']\n"


def test_an_ember_home_inside_the_workspace_is_hidden_too(bwrap, tmp_path):
    workspace = tmp_path / "project"
    home = workspace / ".ember"
    home.mkdir(parents=True)
    (home / ".env").write_text("OPENAI_API_KEY=sk-secret-value\n")
    (workspace / "main.c").write_text("int main;")
    code = f"import os\nprint(sorted(os.listdir({str(workspace)!r})), os.listdir({str(home)!r}))"
    assert run_python(code, home=home, workspace=workspace).output == "['.ember', 'main.c'] []\n"


def test_no_network_not_even_to_localhost(bwrap):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        port = server.getsockname()[1]
        code = (
            "import socket\n"
            f"for address in [('127.0.0.1', {port}), ('1.1.1.1', 80)]:\n"
            "    try:\n"
            "        socket.create_connection(address, timeout=3)\n"
            "        print('CONNECTED', address)\n"
            "    except OSError as exc:\n"
            "        print('no network:', type(exc).__name__)\n"
        )
        result = run_python(code)
        with pytest.raises(TimeoutError):
            server.accept()  # nothing ever reached the host's listener
    assert "CONNECTED" not in result.output and result.output.count("no network") == 2


def test_an_infinite_loop_is_killed_at_the_time_limit(bwrap):
    started = time.monotonic()
    result = run_python("while True:\n    pass\n", timeout=1)
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 10


def sleepers(duration: str) -> list[str]:
    """Host pids of live processes running exactly ``sleep DURATION``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (proc / "cmdline").read_bytes() == f"sleep\0{duration}\0".encode():
                found.append(proc.name)
        except OSError:
            continue
    return found


def test_children_are_killed_with_it(bwrap):
    duration = f"300.{time.time_ns() % 10**9}"  # marks our sleep among the host's processes
    code = f"import subprocess, time\nsubprocess.Popen(['sleep', '{duration}'])\nprint('started', flush=True)\ntime.sleep(300)"
    started = time.monotonic()
    result = run_python(code, timeout=1.5)
    assert result.timed_out and result.output == "started\n"
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 3
    while sleepers(duration) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sleepers(duration)


def test_cpu_time_is_limited_even_when_the_wall_clock_allows_more(bwrap):
    result = run_python("while True:\n    pass\n", SandboxSettings(cpu_seconds=1), timeout=20)
    assert not result.timed_out and result.signal == "SIGXCPU" and result.exit_code == 128 + 24


def test_a_memory_bomb_is_stopped(bwrap):
    started = time.monotonic()
    result = run_python("chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 * 1024))\n",
                        SandboxSettings(memory_mb=256), timeout=20)
    assert "MemoryError" in result.output and result.exit_code == 1
    assert time.monotonic() - started < 10


def test_file_size_is_limited(bwrap):
    result = run_python("open('big', 'wb').write(b'x' * 3 * 1024 * 1024)", SandboxSettings(max_file_mb=1))
    assert result.signal == "SIGXFSZ" or "File too large" in result.output


def test_output_is_cut_in_the_middle(bwrap):
    result = run_python("print('BEGIN'); print('x' * 2_000_000); print('END')", output_limit=3000)
    assert result.output.startswith("BEGIN\n") and result.output.rstrip().endswith("END")
    assert "bytes cut from the middle" in result.output and len(result.output) < 3500


def test_cancel_kills_it(bwrap):
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    result = run_python("import time\ntime.sleep(60)", cancel=cancel, timeout=30)
    assert result.cancelled and time.monotonic() - started < 15


def test_the_environment_is_clean(bwrap, monkeypatch):
    monkeypatch.setenv("SOME_API_TOKEN", "should-not-leak-123")
    result = run_python("import os\nprint(sorted(os.environ))")
    assert "SOME_API_TOKEN" not in result.output and "'HOME'" in result.output


def test_none_mode_runs_directly_and_says_so(tmp_path):
    result = run_python("import os\nprint(os.getcwd())", SandboxSettings(mode="none"))
    assert result.mode == "none" and result.exit_code == 0
    assert "ember-sandbox-" in result.output  # its own scratch dir on the real filesystem
    assert run_python("while True: pass", SandboxSettings(mode="none"), timeout=0.5).timed_out


def test_auto_refuses_without_bubblewrap_and_says_how_to_fix_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    with pytest.raises(SandboxError) as refused:
        run_python("print(1)")
    message = str(refused.value)
    assert "bubblewrap (bwrap) is not installed" in message and "apt install bubblewrap" in message
    assert 'mode = "none"' in message and 'mode = "docker"' in message


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"mode": "jail"}, "[sandbox].mode = 'jail'; use one of auto, bwrap, docker, none"),
        ({"memory_mb": "lots"}, "[sandbox].memory_mb has the wrong type"),
        ({"timeout": 0}, "[sandbox].timeout must be greater than 0"),
        ({"network": "yes"}, "[sandbox].network has the wrong type"),
        ({"memroy_mb": 5}, "unknown key [sandbox].memroy_mb"),
    ],
)
def test_bad_settings_name_the_key(table, message):
    with pytest.raises(ConfigError) as error:
        sandbox_settings({"sandbox": table})
    assert message in str(error.value)


def test_settings_are_read():
    settings = sandbox_settings({"sandbox": {"mode": "docker", "memory_mb": 256, "images": {"python": "py:1"}}})
    assert (settings.mode, settings.memory_mb, settings.images, settings.timeout) == ("docker", 256, {"python": "py:1"}, 30.0)


def _docker_image(image: str) -> bool:
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if info.returncode != 0:
        pytest.skip(f"no Docker daemon answers here: {(info.stderr or info.stdout).strip().splitlines()[-1]}")
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0


def test_docker_mode(tmp_path):
    image = "python:3.12-slim"
    if not _docker_image(image):
        pytest.skip(f"the image {image} is not pulled (docker pull {image}); tests download nothing")
    code = (
        "import socket\nopen('ok', 'w').write('1')\n"
        "try:\n    open('/etc/x', 'w')\nexcept OSError as exc:\n    print('refused', exc.strerror)\n"
        "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\nexcept OSError:\n    print('no network')\n"
    )
    result = run_sandboxed(["python3", "main.py"], {"main.py": code}, SandboxSettings(mode="docker"),
                           timeout=60, output_limit=5000, image=image)
    assert result.mode == "docker" and result.exit_code == 0
    assert "refused" in result.output and "no network" in result.output


def test_the_docker_command_locks_the_container_down(tmp_path):
    from ember.security.sandbox import docker_command

    workspace = tmp_path / "project"
    home = workspace / ".ember"
    home.mkdir(parents=True)
    settings = SandboxSettings(mode="docker", memory_mb=256)
    cmd = docker_command(["python3", "main.py"], tmp_path / "scratch", settings, image="python:3.12-slim",
                         name="ember-sandbox-x", timeout=10, env={"HOME": "/tmp/work"}, workspace=workspace, home=home)
    line = " ".join(cmd)
    for flag in ("--rm", "--read-only", "--network none", "--cap-drop ALL", "--security-opt no-new-privileges",
                 "--pull never", "--memory 256m --memory-swap 256m", "--user 65534:65534", "--ulimit cpu=10:11",
                 f"-v {workspace}:{workspace}:ro", f"--tmpfs {home}"):
        assert flag in line, flag
    assert line.endswith("python:3.12-slim python3 main.py")
    assert "--network" not in docker_command(["sh"], tmp_path, SandboxSettings(network=True), image="i", name="n",
                                             timeout=1, env={})


def test_docker_mode_without_a_daemon_explains_itself(tmp_path):
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        pytest.skip("a Docker daemon answers here; test_docker_mode covers it")
    with pytest.raises(SandboxError) as refused:
        run_sandboxed(["python3", "main.py"], {"main.py": "print(1)"}, SandboxSettings(mode="docker"),
                      timeout=30, output_limit=2000, image="python:3.12-slim")
    assert "docker could not start the container" in str(refused.value)
    assert "docker pull python:3.12-slim" in str(refused.value)
