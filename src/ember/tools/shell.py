"""The shell tool: run a bash command in the session's working directory, inside the sandbox.

The sandbox (``security/boundary.py``) is the boundary: the workspace writable, the rest
read-only, Ember's home and credentials hidden. A command that needs more is asked of the
person, and only then runs outside, once (``plan``). Each command runs as ``bash -c`` in its own
process group with stdin from /dev/null, so it can
never sit waiting for input, and a timeout or a cancel kills everything it started, not just
bash. Secrets Ember knows are removed from its environment and pagers are turned off. A ``cd``
persists for the session's next command, as in a terminal. Output is read in a thread that keeps
only the head and the tail, so a command printing gigabytes cannot exhaust memory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.models.base import Cancelled
from ember.security.approval import ApprovalRequest
from ember.textio import HeadTail
from ember.tools.base import ToolContext, ToolError, ToolResult, tool

if TYPE_CHECKING:
    from ember.security.boundary import Boundary, CommandPlan

DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 3600.0
KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL
DRAIN_GRACE = 0.3  # how long output may still arrive after bash exits
MORE_HINT = "Redirect the output to a file (CMD > out.txt 2>&1), then use read_file or search_files on it."
OUTSIDE_HINT = (
    "[the sandbox keeps everything outside the workspace read-only and hides credentials: if this "
    "command really must act outside, call it again with outside_sandbox=true and why=\"...\"; the user is asked]"
)
_SANDBOX_FAILURES = ("Read-only file system", "Operation not permitted", "no new privileges", "Permission denied")
# Runs after the command (on its own line, so a trailing comment cannot swallow it) to learn
# where a `cd` left the shell; the command's exit status is kept.
_TRAILER = '\n__ember_status=$?\npwd -P > "$EMBER_CWD_FILE" 2>/dev/null\nexit $__ember_status\n'


def boundary(ctx: ToolContext) -> Boundary:
    from ember.config import ember_home
    from ember.security.boundary import Boundary

    network = ctx.settings.tools.network if ctx.settings is not None else True
    home = ctx.settings.home if ctx.settings is not None else ember_home()
    return Boundary(workspace=ctx.workspace, home=Path(home), network=network)


def plan(tool: str, ctx: ToolContext, command: str, run_dir: Path, outside: bool, why: str | None) -> CommandPlan:
    """Where ``command`` runs and what to ask first; the approval check and the run agree on it."""
    from ember.config import ConfigError
    from ember.security.boundary import plan_command, sandbox_problem
    from ember.security.sandbox import sandbox_settings

    try:
        mode = sandbox_settings(ctx.settings.raw if ctx.settings is not None else None).mode
    except ConfigError:
        mode = "auto"  # run_code reports a broken [sandbox] table; commands stay sandboxed
    return plan_command(tool, command, workspace=ctx.workspace, cwd=run_dir, problem=sandbox_problem(mode),
                        outside=bool(outside), why=why or "")


def _approval(args: dict[str, Any], ctx: ToolContext) -> ApprovalRequest | None:
    run_dir = ctx.resolve(args["cwd"]) if args.get("cwd") else ctx.cwd
    return plan("shell", ctx, args["command"], run_dir, args.get("outside_sandbox", False), args.get("why")).request


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group, then SIGKILL whatever is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        if sig == signal.SIGTERM:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=KILL_GRACE)
    proc.wait()


def _wait(proc: subprocess.Popen[bytes], limit: float, ctx: ToolContext) -> bool:
    """Wait for bash to exit; True when it timed out. Cancel kills the group and raises Cancelled."""
    deadline = time.monotonic() + limit
    try:
        while True:
            try:
                proc.wait(timeout=0.05)
                return False
            except subprocess.TimeoutExpired:
                pass
            if ctx.cancel.is_set():
                _kill_group(proc)
                raise Cancelled("the shell command was cancelled")
            if time.monotonic() >= deadline:
                _kill_group(proc)
                return True
    except KeyboardInterrupt:
        _kill_group(proc)
        raise


def child_environment(ctx: ToolContext) -> dict[str, str]:
    env = dict(os.environ)
    if ctx.settings is not None:
        names, values = set(ctx.settings.secrets), set(ctx.settings.secret_values())
        env = {k: v for k, v in env.items() if k not in names and v not in values}
    env.update(PAGER="cat", GIT_PAGER="cat", GIT_TERMINAL_PROMPT="0", TERM="dumb")
    return env


def _run_dir(ctx: ToolContext, cwd: str | None) -> tuple[Path, str]:
    if cwd:
        target = ctx.resolve(cwd)
        if not target.is_dir():
            raise ToolError(f"cwd {cwd} is not a directory.")
        return target, ""
    if ctx.cwd.is_dir():
        return ctx.cwd, ""
    note = ""
    if ctx.cwd != ctx.workspace:
        note = f"[the working directory {ctx.cwd} is gone; running in the workspace]\n"
    ctx.workspace.mkdir(parents=True, exist_ok=True)
    ctx.cwd = ctx.workspace
    return ctx.workspace, note


@tool(needs_approval=_approval, more_hint=MORE_HINT)
def shell(
    ctx: ToolContext, command: str, timeout: float | None = None, cwd: str | None = None,
    outside_sandbox: bool = False, why: str | None = None,
) -> ToolResult:
    """Run a bash command in the sandbox (workspace writable, rest read-only); returns output and exit code; cd persists.

    Args:
        command: The bash command line; it runs with no terminal and no input.
        timeout: Seconds before it and its child processes are killed (default from settings).
        cwd: Working directory, relative to the workspace (default: where the last cd left off).
        outside_sandbox: Run on the machine itself, outside the sandbox; the user is asked first. Only for a command that must write outside the workspace, use sudo or a device, or use credentials such as ~/.ssh.
        why: With outside_sandbox: what the command needs outside, in a few words for the user.
    """
    if not command.strip():
        raise ToolError("command is empty.")
    if ctx.cancel.is_set():
        raise Cancelled("the turn was cancelled before the command started")
    run_dir, note = _run_dir(ctx, cwd)
    how = plan("shell", ctx, command, run_dir, outside_sandbox, why)
    default = ctx.settings.tools.shell_timeout if ctx.settings is not None else DEFAULT_TIMEOUT
    limit = min(max(float(default if timeout is None else timeout), 0.1), MAX_TIMEOUT)
    handle, cwd_file = tempfile.mkstemp(prefix="ember-cwd-")
    os.close(handle)
    argv = [shutil.which("bash") or "/bin/sh", "-c", command + _TRAILER]
    if how.sandboxed:
        argv = boundary(ctx).wrap(argv, cwd=run_dir, keep=[Path(cwd_file)])
    elif how.note:
        note += how.note + "\n"
    try:
        proc = subprocess.Popen(
            argv,
            cwd=run_dir,
            env={**child_environment(ctx), "EMBER_CWD_FILE": cwd_file},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        output = HeadTail(ctx.max_output_chars)
        reader = output.read_in_thread(proc.stdout)
        timed_out = _wait(proc, limit, ctx)
        reader.join(KILL_GRACE if timed_out else DRAIN_GRACE)
        new_cwd = Path(Path(cwd_file).read_text().strip() or run_dir)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(cwd_file)
    parts = [note + (output.render(max(ctx.max_output_chars - 300, 500), MORE_HINT).rstrip("\n") or "(no output)")]
    if reader.is_alive():
        parts.append("[background processes are still running; output they write later is not shown]")
    if timed_out:
        parts.append(
            f"[timed out after {limit:g}s: the command and its child processes were killed. "
            "Pass a larger timeout, or run it in the background: nohup CMD > out.log 2>&1 &]"
        )
    elif proc.returncode < 0:
        parts.append(f"[killed by signal {signal.Signals(-proc.returncode).name}]")
    else:
        parts.append(f"[exit code {proc.returncode}]")
        if proc.returncode and how.sandboxed and any(f in parts[0] for f in _SANDBOX_FAILURES):
            parts.append(OUTSIDE_HINT)
    if not timed_out and new_cwd.is_dir() and new_cwd != Path(os.path.realpath(run_dir)):
        ctx.cwd = new_cwd
        parts.append(f"[working directory is now {ctx.shown(new_cwd)}]")
    return ToolResult("\n".join(parts), is_error=timed_out)
