"""The code toolset: run a snippet of Python, JavaScript or shell in a sandbox and read its output.

The snippet is written to a file in a fresh scratch directory and run there by the sandbox of
``ember.security.sandbox`` (bubblewrap by default, Docker, or an explicit ``none``): no network,
the rest of the machine read-only, CPU, memory and file-size limits, and a wall-clock timeout
that kills everything it started. Because the sandbox contains it, a snippet needs no approval;
only in ``none`` mode does shell code go through the same dangerous-command check as ``shell``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

from ember.config import ember_home
from ember.models.base import Cancelled
from ember.security.approval import ApprovalRequest, command_approval
from ember.security.sandbox import MAX_TIMEOUT, SandboxError, SandboxResult, run_sandboxed, sandbox_settings
from ember.tools.base import ToolContext, ToolError, ToolResult, tool

# language -> (file name, interpreter on this machine, interpreter inside a docker image, default image)
LANGUAGES: dict[str, tuple[str, str, str, str]] = {
    "python": ("main.py", "python3", "python3", "python:3.12-slim"),
    "javascript": ("main.js", "node", "node", "node:22-slim"),
    "shell": ("main.sh", "bash", "sh", "debian:bookworm-slim"),
}
INSTALL = {"python3": "Python 3", "node": "Node.js (Debian/Ubuntu: apt install nodejs)", "bash": "bash"}
SIGNAL_MEANING = {"SIGXCPU": "CPU time limit reached", "SIGXFSZ": "file size limit reached",
                  "SIGKILL": "killed, possibly for using too much memory", "SIGSEGV": "crashed"}


def _settings(ctx: ToolContext) -> Any:
    from ember.config import ConfigError

    try:
        return sandbox_settings(ctx.settings.raw if ctx.settings is not None else None)
    except ConfigError as exc:
        raise ToolError(str(exc)) from exc


def _approval(args: dict[str, Any], ctx: ToolContext) -> ApprovalRequest | None:
    """Only unsandboxed shell code is checked: inside a sandbox it cannot do lasting harm."""
    if args.get("language") != "shell":
        return None
    try:
        if _settings(ctx).mode != "none":
            return None
    except ToolError:
        return None  # the tool itself reports the configuration problem
    return command_approval("run_code", args["code"], workspace=ctx.workspace, cwd=ctx.cwd,
                            note=" (unsandboxed: [sandbox] mode = none)")


def _report(result: SandboxResult, limit: float) -> ToolResult:
    parts = []
    if result.mode == "none":
        parts.append('[ran WITHOUT a sandbox ([sandbox] mode = "none"): it had full access to this machine]')
    parts.append(result.output.rstrip("\n") or "(no output)")
    if result.timed_out:
        parts.append(f"[timed out after {limit:g}s: the code and everything it started were killed. "
                     "Pass a larger timeout or make the code faster]")
    elif result.signal:
        meaning = SIGNAL_MEANING.get(result.signal, "killed by a signal")
        parts.append(f"[exit code {result.exit_code}: {result.signal}, {meaning}]")
    else:
        parts.append(f"[exit code {result.exit_code}]")
    return ToolResult("\n".join(parts), is_error=result.timed_out)


@tool(toolset="code", needs_approval=_approval)
def run_code(
    ctx: ToolContext, language: Literal["python", "javascript", "shell"], code: str, timeout: float | None = None,
) -> ToolResult:
    """Run code in a sandbox (no network; files can be written only in its temporary working dir) and return its output.

    Args:
        language: python (python3), javascript (node) or shell (bash).
        code: The program's source; print what you want to see.
        timeout: Seconds before it is killed (default from [sandbox] timeout, usually 30).
    """
    if language not in LANGUAGES:
        raise ToolError(f"language must be one of {', '.join(LANGUAGES)}.")
    if not code.strip():
        raise ToolError("code is empty.")
    if ctx.cancel.is_set():
        raise Cancelled("the turn was cancelled before the code ran")
    settings = _settings(ctx)
    filename, interpreter, in_image, default_image = LANGUAGES[language]
    limit = float(settings.timeout if timeout is None else timeout)
    if settings.mode == "docker":
        argv = [in_image, filename]
    else:
        found = shutil.which(interpreter)
        if found is None:
            raise ToolError(f"{language} needs {interpreter}, which is not installed here: install "
                            f"{INSTALL[interpreter]}.")
        argv = [found, filename]
    env = {}
    if language == "javascript":  # a heap limit below the sandbox's, so Node fails with a readable error
        env["NODE_OPTIONS"] = f"--max-old-space-size={max(settings.memory_mb * 3 // 4, 16)}"
    home = ctx.settings.home if ctx.settings is not None else ember_home()
    try:
        result = run_sandboxed(
            argv, {filename: code}, settings, timeout=limit,
            output_limit=max(ctx.max_output_chars - 400, 500),
            image=settings.images.get(language) or settings.image or default_image,
            env=env, home=Path(home), workspace=ctx.workspace, cancel=ctx.cancel,
        )
    except SandboxError as exc:
        raise ToolError(str(exc)) from exc
    if result.cancelled:
        raise Cancelled("the code was cancelled")
    return _report(result, min(max(limit, 0.1), MAX_TIMEOUT))
