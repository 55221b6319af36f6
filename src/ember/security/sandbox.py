"""Run untrusted code where it cannot hurt the machine: bubblewrap, Docker, or (explicitly) nothing.

``[sandbox] mode`` picks how:

- ``bwrap`` (bubblewrap): the host's root is mounted read-only, ``/tmp`` is an empty tmpfs, the
  code's working directory is a fresh scratch dir (the only writable place it shares with the
  host, deleted afterwards), the network is a namespace with only a loopback of its own, Ember's
  home and well-known credential folders are hidden, every capability is dropped, and the sandbox
  dies with Ember. CPU time, memory (``RLIMIT_DATA``: ``RLIMIT_AS`` would stop Node.js from
  reserving its address space) and file size are capped with rlimits set before ``exec``.
- ``docker``: a throwaway ``--read-only`` container with no network, memory/pids/CPU limits, no
  capabilities, as ``nobody``; the image must already be pulled (``--pull never``).
- ``none``: the code runs directly on this machine (rlimits and the timeout still apply). Only
  when a person asked for it; every result says so.
- ``auto`` (default): ``bwrap`` when it is installed and works, else a refusal that explains how
  to install it or opt into another mode; code never silently runs unsandboxed.

Every mode has a wall-clock timeout that kills everything the code started, and output is read
keeping only its head and tail, so a program printing gigabytes cannot exhaust memory.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.security.boundary import INSTALL_HINT, bwrap_problem
from ember.textio import HeadTail

log = logging.getLogger(__name__)

MODES = ("auto", "bwrap", "docker", "none")
WORKDIR = "/tmp/work"  # where the scratch dir appears inside bwrap and docker
MAX_TIMEOUT = 600.0
KILL_GRACE = 1.0


class SandboxError(Exception):
    """The sandbox cannot run anything (not installed, misconfigured); the message says what to do."""


@dataclass
class SandboxSettings:
    """The ``[sandbox]`` table of config.toml."""

    mode: str = "auto"
    timeout: float = 30.0  # default seconds of wall-clock time per run
    memory_mb: int = 512
    cpu_seconds: float | None = None  # default: the run's timeout
    max_file_mb: int = 64
    network: bool = False
    images: dict[str, str] = field(default_factory=dict)  # docker image per language
    image: str | None = None  # docker image for every language


def sandbox_settings(raw: Mapping[str, Any] | None) -> SandboxSettings:
    """Read and check ``[sandbox]`` from the parsed config; ``ConfigError`` names a bad key."""
    from ember.config import ConfigError

    table = (raw or {}).get("sandbox", {})
    if not isinstance(table, dict):
        raise ConfigError("config.toml: [sandbox] must be a table")
    known = {f for f in SandboxSettings.__dataclass_fields__}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"config.toml: unknown key [sandbox].{unknown[0]}; known keys: {', '.join(sorted(known))}")

    def get(key: str, kind: type | tuple[type, ...], default: Any, positive: bool = False) -> Any:
        value = table.get(key, default)
        if value is default:
            return value
        wrong_type = not isinstance(value, kind) or isinstance(value, bool) and kind is not bool
        if wrong_type:
            raise ConfigError(f"config.toml: [sandbox].{key} has the wrong type: {value!r}")
        if positive and value <= 0:
            raise ConfigError(f"config.toml: [sandbox].{key} must be greater than 0, got {value!r}")
        return value

    settings = SandboxSettings(
        mode=get("mode", str, "auto"),
        timeout=float(get("timeout", (int, float), 30.0, positive=True)),
        memory_mb=get("memory_mb", int, 512, positive=True),
        cpu_seconds=get("cpu_seconds", (int, float), None, positive=True),
        max_file_mb=get("max_file_mb", int, 64, positive=True),
        network=get("network", bool, False),
        images=dict(get("images", dict, {})),
        image=get("image", str, None),
    )
    if settings.mode not in MODES:
        raise ConfigError(f"config.toml: [sandbox].mode = {settings.mode!r}; use one of {', '.join(MODES)}")
    if not all(isinstance(v, str) for v in settings.images.values()):
        raise ConfigError("config.toml: [sandbox].images maps a language to an image name (strings)")
    return settings


@dataclass
class SandboxResult:
    output: str  # stdout and stderr interleaved, cut in the middle when long
    exit_code: int | None  # None when it was killed by the timeout or a cancel
    mode: str  # the mode that actually ran it: bwrap, docker or none
    timed_out: bool = False
    cancelled: bool = False
    signal: str | None = None  # e.g. "SIGXCPU" when a signal ended it


# --- choosing a mode ----------------------------------------------------------------------------

def resolve_mode(settings: SandboxSettings) -> str:
    """The mode that will run code: ``auto`` becomes ``bwrap``, or ``SandboxError`` explains the way out."""
    if settings.mode in ("auto", "bwrap"):
        problem = bwrap_problem()
        if problem:
            raise SandboxError(f"No sandbox to run code in: {problem}. To fix it, {INSTALL_HINT}.")
        return "bwrap"
    if settings.mode == "docker" and shutil.which("docker") is None:
        raise SandboxError("[sandbox] mode = \"docker\" but the docker command is not installed.")
    return settings.mode


# --- building the command -----------------------------------------------------------------------


def _boundary(home: Path | None, workspace: Path | None, network: bool) -> Any:
    from ember.config import ember_home
    from ember.security.boundary import Boundary

    return Boundary(workspace=workspace, home=home or ember_home(), network=network)


def bwrap_command(
    argv: list[str], scratch: Path, settings: SandboxSettings, *, env: Mapping[str, str],
    home: Path | None = None, workspace: Path | None = None,
) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` (absolute paths) in ``WORKDIR`` = ``scratch``.

    The same boundary as commands (``boundary.Boundary``: homes and secrets hidden, /tmp
    private, real paths so a symlinked home or workspace mounts cleanly), except that the
    workspace is read-only and the code writes only in its scratch dir.
    """
    cmd = [shutil.which("bwrap") or "bwrap", *_boundary(home, workspace, settings.network).mounts(writable=False)]
    # An interpreter installed under /tmp (a virtualenv in a CI checkout) would vanish under the
    # tmpfs on /tmp: show its installation read-only again.
    program = Path(argv[0])
    if program.is_absolute() and program.is_relative_to("/tmp"):
        root = program.parent.parent if program.parent.name == "bin" else program.parent
        cmd += ["--ro-bind", os.path.realpath(root), os.path.realpath(root)]
    cmd += ["--bind", os.path.realpath(scratch), WORKDIR, "--chdir", WORKDIR]
    cmd += ["--unshare-all", "--share-net"] if settings.network else ["--unshare-all"]
    cmd += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv"]
    for name, value in env.items():
        cmd += ["--setenv", name, value]
    return [*cmd, "--", *argv]


def docker_command(
    argv: list[str], scratch: Path, settings: SandboxSettings, *, image: str, name: str, timeout: float,
    env: Mapping[str, str], workspace: Path | None = None, home: Path | None = None,
) -> list[str]:
    """The ``docker run`` command line for a throwaway, locked-down container named ``name``."""
    memory = f"{settings.memory_mb}m"
    cpu = math.ceil(settings.cpu_seconds or timeout)
    cmd = [
        "docker", "run", "--rm", "--name", name, "--pull", "never", "--read-only",
        "--tmpfs", "/tmp:rw,exec,size=64m", "--memory", memory, "--memory-swap", memory,
        "--pids-limit", "256", "--cpus", "1", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--ulimit", f"cpu={cpu}:{cpu + 1}", "--ulimit", f"fsize={settings.max_file_mb * 1024 * 1024}",
        "--user", "65534:65534", "-v", f"{scratch}:{WORKDIR}", "-w", WORKDIR,
    ]
    if not settings.network:
        cmd += ["--network", "none"]
    if workspace is not None and workspace.is_dir():
        cmd += ["-v", f"{workspace}:{workspace}:ro"]
        real = Path(os.path.realpath(workspace))
        for path in _boundary(home, workspace, settings.network).hidden():  # an EMBER_HOME kept in the workspace
            if path.is_relative_to(real) and path != real:
                cmd += ["--tmpfs", str(path)] if path.is_dir() else ["-v", f"/dev/null:{path}:ro"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    return [*cmd, image, *argv]


def _limits(settings: SandboxSettings, timeout: float) -> list[tuple[int, tuple[int, int]]]:
    import resource

    # Without its own setting the CPU limit is a second past the wall-clock timeout, so a busy
    # loop is stopped by the timer (reported as a timeout), not by a race with SIGXCPU.
    cpu = math.ceil(settings.cpu_seconds or timeout + 1)
    memory = settings.memory_mb * 1024 * 1024
    size = settings.max_file_mb * 1024 * 1024
    return [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_DATA, (memory, memory)),
        (resource.RLIMIT_FSIZE, (size, size)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]


# --- running ------------------------------------------------------------------------------------


def _kill(proc: subprocess.Popen[bytes], container: str | None) -> None:
    if container:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(["docker", "kill", container], capture_output=True, timeout=10)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=KILL_GRACE)
            return


def _signal_name(code: int | None, mode: str) -> str | None:
    """The signal that ended the code: negative codes from Popen, 128+N from bwrap and docker."""
    if code is None:
        return None
    number = -code if code < 0 else code - 128 if mode != "none" and 128 < code <= 128 + 64 else 0
    try:
        return signal.Signals(number).name if number else None
    except ValueError:
        return None


def run_sandboxed(
    argv: list[str],
    files: Mapping[str, str],
    settings: SandboxSettings,
    *,
    timeout: float,
    output_limit: int,
    image: str | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    workspace: Path | None = None,
    cancel: threading.Event | None = None,
) -> SandboxResult:
    """Write ``files`` into a fresh scratch dir and run ``argv`` there under ``settings``' sandbox.

    ``argv[0]`` is an absolute path for bwrap and none (the host's interpreter), a name inside the
    image for docker. Raises ``SandboxError`` when no sandbox can run it.
    """
    mode = resolve_mode(settings)
    timeout = min(max(timeout, 0.1), MAX_TIMEOUT)
    scratch = Path(tempfile.mkdtemp(prefix="ember-sandbox-"))
    container = None
    try:
        for name, content in files.items():
            (scratch / name).write_text(content, encoding="utf-8")
        inside = WORKDIR if mode != "none" else str(scratch)
        child_env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": inside, "TMPDIR": "/tmp",
            "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", **(env or {}),
        }
        if mode == "bwrap":
            command = bwrap_command(argv, scratch, settings, env=child_env, home=home, workspace=workspace)
        elif mode == "docker":
            os.chmod(scratch, 0o777)  # the container runs as nobody
            container = f"ember-sandbox-{uuid.uuid4().hex[:12]}"
            child_env.pop("PATH")
            command = docker_command(argv, scratch, settings, image=image or "", name=container,
                                     timeout=timeout, env=child_env, workspace=workspace, home=home)
        else:
            log.warning("running code WITHOUT a sandbox ([sandbox] mode = \"none\")")
            command = list(argv)
        limits = _limits(settings, timeout) if mode != "docker" else []
        result = _run(command, mode, limits, timeout, output_limit, container, cancel,
                      cwd=scratch, env=child_env if mode == "none" else None)
        if mode == "docker" and result.exit_code == 125:  # docker's own failure, not the code's
            raise SandboxError(f"docker could not start the container: {result.output.strip()} (is the daemon "
                               f"running? is the image pulled? docker pull {image})")
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(
    command: list[str], mode: str, limits: list[tuple[int, tuple[int, int]]], timeout: float, output_limit: int,
    container: str | None, cancel: threading.Event | None, *, cwd: Path, env: Mapping[str, str] | None,
) -> SandboxResult:
    def apply_limits() -> None:  # runs in the child between fork and exec: syscalls only
        import resource

        for which, pair in limits:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(which, pair)

    try:
        proc = subprocess.Popen(
            command, cwd=cwd, env=dict(env) if env is not None else None, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=apply_limits if limits else None,
        )
    except OSError as exc:
        raise SandboxError(f"could not start {command[0]}: {exc}") from exc
    assert proc.stdout is not None
    output = HeadTail(output_limit)
    reader = output.read_in_thread(proc.stdout)
    deadline = time.monotonic() + timeout
    timed_out = cancelled = False
    while True:
        try:
            proc.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel.is_set():
            cancelled = True
        elif time.monotonic() >= deadline:
            timed_out = True
        if timed_out or cancelled:
            _kill(proc, container)
            break
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever it left running in the background
    reader.join(KILL_GRACE)
    text = output.render(output_limit, "write large results to a file and print a summary")
    code = None if timed_out or cancelled else proc.returncode
    return SandboxResult(text, code, mode, timed_out=timed_out, cancelled=cancelled,
                         signal=_signal_name(code, mode))
