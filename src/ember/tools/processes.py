"""The processes toolset: start commands in the background, read their output, stop them.

A background process is ``bash -c COMMAND`` in its own process group (so stopping it stops
everything it started), in the session's working directory, with the same cleaned environment,
the same sandbox and the same approvals as ``shell`` (``shell.plan``). Its output goes to a log file under
``EMBER_HOME/processes/``, so nothing is lost however much it prints and the model reads it in
pages. Each session keeps its own table of processes in ``ctx.state``.

None outlives Ember. A normal exit (or Ctrl-C) kills every group through ``atexit``; for a crash
or a ``kill -9``, each process has a tiny watchdog (``sh`` in its own session) that waits on a
pipe only Ember holds: when Ember dies, however it dies, the pipe closes and the watchdog kills
the group.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.config import ember_home
from ember.models.base import Cancelled
from ember.security.approval import ApprovalRequest
from ember.tools.base import ToolContext, ToolError, tool
from ember.tools.shell import boundary, child_environment, plan

MAX_RUNNING = 16  # per session
KILL_GRACE = 2.0
MAX_WAIT = 600.0
STARTUP_PEEK = 0.3  # a command that fails at once is reported by process_start itself
LOG_RETENTION_DAYS = 7
MORE_HINT = "Use process_output with offset to page through the log."
# Waits until its stdin (a pipe only Ember holds) closes, then kills the process group "$1".
_WATCHDOG = 'read _ignored; kill -TERM "-$1" 2>/dev/null; sleep 1; kill -KILL "-$1" 2>/dev/null'


@dataclass(eq=False)
class BackgroundProcess:
    id: str
    name: str
    command: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    cwd: Path
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    watchdog: subprocess.Popen[bytes] | None = None
    killed: bool = False

    def poll(self) -> int | None:
        code = self.proc.poll()
        if code is not None and self.ended is None:
            self.ended = time.monotonic()
        if code is not None and self.watchdog is not None and not _group_alive(self.proc.pid):
            self._retire_watchdog()  # nothing left to guard
        return code

    def status(self) -> str:
        code = self.poll()
        seconds = (self.ended or time.monotonic()) - self.started
        if code is None:
            return f"running for {_duration(seconds)}"
        how = (f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}")
        return f"{'stopped' if self.killed else how} after {_duration(seconds)}"

    def label(self) -> str:
        return f"{self.id} ({self.name})" if self.name != self.id else self.id

    def stop(self) -> None:
        """SIGTERM the whole group, SIGKILL what is left, then retire the watchdog."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
            if sig == signal.SIGTERM:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=KILL_GRACE)
        self.proc.wait()
        self.poll()
        self._retire_watchdog()

    def _retire_watchdog(self) -> None:
        """Kill the watchdog first: closing its pipe while it lives would make it kill the group."""
        watchdog, self.watchdog = self.watchdog, None
        if watchdog is not None:
            with contextlib.suppress(ProcessLookupError):
                watchdog.kill()
            watchdog.wait()
            if watchdog.stdin is not None:
                with contextlib.suppress(OSError):
                    watchdog.stdin.close()
        _LIVE.discard(self)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m{seconds % 60:02d}s"


_LIVE: set[BackgroundProcess] = set()  # across sessions, for the exit handler


@atexit.register
def stop_all() -> None:
    """Stop every background process Ember started (runs when Ember exits normally)."""
    for process in list(_LIVE):
        with contextlib.suppress(Exception):
            process.stop()


class ProcessTable:
    """One session's background processes, by id (``p1``, ``p2``...) and name."""

    def __init__(self) -> None:
        self.processes: dict[str, BackgroundProcess] = {}
        self.counter = 0
        self.lock = threading.Lock()

    def find(self, key: str) -> BackgroundProcess:
        key = key.strip()
        found = self.processes.get(key) or next((p for p in self.processes.values() if p.name == key), None)
        if found is None:
            known = ", ".join(p.label() for p in self.processes.values()) or "none yet"
            raise ToolError(f"No background process {key!r} in this session (known: {known}).")
        return found


def _table(ctx: ToolContext) -> ProcessTable:
    return ctx.state.setdefault("processes", ProcessTable())


def _log_dir(ctx: ToolContext) -> Path:
    home = ctx.settings.home if ctx.settings is not None else ember_home()
    folder = Path(home) / "processes"
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    else:  # drop logs of processes from long ago
        cutoff = time.time() - LOG_RETENTION_DAYS * 86400
        for old in folder.glob("*.log"):
            with contextlib.suppress(OSError):
                if old.stat().st_mtime < cutoff:
                    old.unlink()
    return folder


def _run_dir(ctx: ToolContext) -> Path:
    return ctx.cwd if ctx.cwd.is_dir() else ctx.workspace


def _approval(args: dict[str, Any], ctx: ToolContext) -> ApprovalRequest | None:
    return plan("process_start", ctx, args["command"], _run_dir(ctx), args.get("outside_sandbox", False),
                args.get("why")).request


def _start_watchdog(pgid: int) -> subprocess.Popen[bytes] | None:
    try:
        return subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG, "ember-watchdog", str(pgid)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
    except OSError:
        return None  # atexit still covers a normal exit


def _read_log(path: Path, offset: int | None, tail: int, budget: int) -> tuple[str, str]:
    """(text, note): from ``offset`` (bytes) up to ``budget``, or the last ``tail`` lines."""
    try:
        size = path.stat().st_size
        with path.open("rb") as log:
            if offset is not None:
                start = min(max(offset, 0), size)
                log.seek(start)
                data = log.read(budget)
                end = start + len(data)
                more = f"; more from offset {end}" if end < size else ""
                return data.decode("utf-8", "replace"), f"[bytes {start}-{end} of {size}{more}]"
            start = max(0, size - budget)
            log.seek(start)
            lines = log.read().decode("utf-8", "replace").splitlines()
    except OSError as exc:
        raise ToolError(f"cannot read the log {path}: {exc}") from exc
    if start > 0 and lines:
        lines = lines[1:]  # the first line is probably cut
    shown = lines[-tail:] if tail > 0 else []
    earlier = start > 0 or len(shown) < len(lines)
    note = f"[last {len(shown)} lines of {size} bytes; use offset=0 for the beginning]" if earlier else ""
    return "\n".join(shown), note


@tool(toolset="processes", needs_approval=_approval)
def process_start(
    ctx: ToolContext, command: str, name: str | None = None, outside_sandbox: bool = False, why: str | None = None,
) -> str:
    """Start a bash command in the background (a server, a watcher, a long build) in the sandbox and return its id at once.

    Args:
        command: The bash command line; it runs with no terminal and no input, in the shell's working directory.
        name: A short name to refer to it by instead of its id, e.g. "devserver".
        outside_sandbox: Run on the machine itself, outside the sandbox; the user is asked first. Only when it must act outside the workspace.
        why: With outside_sandbox: what the command needs outside, in a few words for the user.
    """
    if not command.strip():
        raise ToolError("command is empty.")
    if ctx.cancel.is_set():
        raise Cancelled("the turn was cancelled before the process started")
    table = _table(ctx)
    with table.lock:
        running = [p for p in table.processes.values() if p.poll() is None]
        if len(running) >= MAX_RUNNING:
            raise ToolError(f"{len(running)} background processes are running already; stop one with process_kill.")
        if name and any(p.name == name for p in running):
            raise ToolError(f"A running process is already named {name!r}; pick another name or stop it.")
        table.counter += 1
        pid_label = f"p{table.counter}"
        cwd = _run_dir(ctx)
        cwd.mkdir(parents=True, exist_ok=True)
        how = plan("process_start", ctx, command, cwd, outside_sandbox, why)
        argv = [shutil.which("bash") or "/bin/sh", "-c", command]
        if how.sandboxed:
            argv = boundary(ctx).wrap(argv, cwd=cwd)
        log_path = _log_dir(ctx) / f"{ctx.session_id or 'session'}-{os.getpid()}-{pid_label}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=child_environment(ctx),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        process = BackgroundProcess(pid_label, name or pid_label, command, proc, log_path, cwd)
        process.watchdog = _start_watchdog(proc.pid)
        table.processes[pid_label] = process
        _LIVE.add(process)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STARTUP_PEEK)
    where = "" if how.sandboxed else f" {how.note}"
    head = f"Started {process.label()}, pid {proc.pid}, in {ctx.shown(cwd)}{where}."
    if process.poll() is None:
        return f"{head}\nRead it with process_output(id=\"{process.id}\"); stop it with process_kill."
    text, _ = _read_log(log_path, None, 40, max(ctx.max_output_chars - 500, 500))
    return f"{head}\nIt already {process.status()}:\n{text or '(no output)'}"


@tool(toolset="processes", more_hint=MORE_HINT)
def process_output(
    ctx: ToolContext, id: str, tail: int = 100, offset: int | None = None, wait: float = 0,
) -> str:
    """Status and output of a background process: its last lines, or the log from a byte offset.

    Args:
        id: The id from process_start (p1, p2...) or its name.
        tail: How many of the last lines to show (ignored when offset is given).
        offset: Byte offset in the log to read from, to page through everything it printed.
        wait: Seconds to wait first for the process to finish (at most 600).
    """
    process = _table(ctx).find(id)
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
    while process.poll() is None and time.monotonic() < deadline:
        if ctx.cancel.is_set():
            raise Cancelled("stopped waiting for the process")
        time.sleep(0.05)
    text, note = _read_log(process.log_path, offset, tail, max(ctx.max_output_chars - 500, 500))
    header = f"{process.label()} {process.status()}, pid {process.proc.pid}: {process.command}"
    return "\n".join(part for part in (header, note, text or "(no output yet)") if part)


@tool(toolset="processes")
def process_kill(ctx: ToolContext, id: str) -> str:
    """Stop a background process and everything it started (SIGTERM, then SIGKILL after 2 seconds).

    Args:
        id: The id from process_start (p1, p2...) or its name.
    """
    process = _table(ctx).find(id)
    was_running = process.poll() is None
    process.killed = was_running
    process.stop()  # also clears children of an exited leader that still hold the group
    text, _ = _read_log(process.log_path, None, 20, 4000)
    note = "" if was_running else " (it had already finished)"
    return f"{process.label()} {process.status()}{note}. Last output:\n{text or '(no output)'}"


@tool(toolset="processes")
def process_list(ctx: ToolContext) -> str:
    """The background processes of this session: id, name, status, command."""
    processes = list(_table(ctx).processes.values())
    if not processes:
        return "No background processes in this session."
    return "\n".join(
        f"{p.label()}: {p.status()}, pid {p.proc.pid}, in {ctx.shown(p.cwd)}: {p.command}" for p in processes
    )
