"""The ssh toolset: run commands on, and copy files to and from, the SSH hosts named in config.toml.

The model names a host from ``[ssh.hosts.NAME]`` (``ssh_hosts.py``); connections and host-key
checks live in ``ssh_client.py``, commands and SFTP copies in ``ssh_remote.py``. Remote commands go through the same
dangerous-command check as ``shell``; the patterns a person allows are scoped to the host
(``web1:rm -rf *`` allows nothing on another host or locally). A host with ``approve_all = true``
asks before every command and transfer. Uploading a local file from outside the workspace and
downloading to a path outside it need approval, as reading and writing there would.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ember.config import ConfigError
from ember.security.approval import ApprovalRequest, check_write, find_dangers
from ember.tools.base import ToolContext, ToolError, ToolResult, needs_extra, tool
from ember.tools.ssh_hosts import SshHost, SshSettings, ssh_settings

MAX_TIMEOUT = 3600.0
REQUIRES = (needs_extra("asyncssh", "ssh"),)  # also in catalog.TOOLSET_REQUIRES
MORE_HINT = "Redirect the remote output to a file (CMD > out.txt 2>&1), then ssh_download it or grep it."


def _settings(ctx: ToolContext) -> SshSettings:
    try:
        return ssh_settings(ctx.settings)
    except ConfigError as exc:
        raise ToolError(str(exc)) from exc


def _host(settings: SshSettings, name: str) -> SshHost:
    try:
        return settings.host(name)
    except LookupError as exc:
        raise ToolError(str(exc)) from exc


def _configured(args: dict[str, Any], ctx: ToolContext) -> SshHost | None:
    """The host an approval check is about; None when it is unknown (the tool then explains)."""
    try:
        return ssh_settings(ctx.settings).host(str(args.get("host", "")))
    except (ConfigError, LookupError):
        return None


def _run_approval(args: dict[str, Any], ctx: ToolContext) -> ApprovalRequest | None:
    host = _configured(args, ctx)
    if host is None:
        return None
    command = args["command"]
    dangers = find_dangers(command)
    if not dangers and not host.approve_all:
        return None
    reasons = [d.reason for d in dangers] or [f"every command on {host.name} needs approval (approve_all)"]
    subjects = [f"{host.name}:{d.subject}" for d in dangers] or [f"{host.name}:{command}"]
    return ApprovalRequest(
        tool="ssh_run", reason="; ".join(dict.fromkeys(reasons)), action=f"ssh {host.name}: {command}",
        subjects=list(dict.fromkeys(subjects)),
    )


def _transfer_approval(direction: str) -> Any:
    def check(args: dict[str, Any], ctx: ToolContext) -> ApprovalRequest | None:
        host = _configured(args, ctx)
        if host is None:
            return None
        local = str(ctx.resolve(args["local_path"]))
        reasons = []
        if direction == "upload" and check_write(local, ctx.workspace, ctx.cwd):
            reasons.append(f"sends a local file from outside the workspace ({local})")
        if direction == "download" and (reason := check_write(local, ctx.workspace, ctx.cwd)):
            reasons.append(reason)
        if host.approve_all:
            reasons.append(f"every transfer with {host.name} needs approval (approve_all)")
        if not reasons:
            return None
        arrow = f"{local} -> {host.name}:{args['remote_path']}" if direction == "upload" else (
            f"{host.name}:{args['remote_path']} -> {local}")
        return ApprovalRequest(tool=f"ssh_{direction}", reason="; ".join(reasons), action=arrow, subjects=[local])

    return check


def _call(ctx: ToolContext, host: SshHost, settings: SshSettings, operation: Any, limit: float) -> Any:
    from ember.tools.ssh_client import client

    ssh = client()
    coroutine = ssh.with_connection(host, settings, operation)
    return ssh.call(coroutine, ctx.cancel, limit + host.connect_timeout * 2 + 30)


@tool(toolset="ssh", needs_approval=_run_approval, more_hint=MORE_HINT, requires=REQUIRES)
def ssh_run(ctx: ToolContext, host: str, command: str, timeout: float | None = None) -> ToolResult:
    """Run a shell command on a configured SSH host; returns its output (stdout and stderr) and exit code.

    Args:
        host: The host's name from config.toml ([ssh.hosts.NAME]).
        command: The command line, run by the remote user's shell in their home directory, with no input.
        timeout: Seconds before the remote command is killed (default from [ssh] timeout, usually 120).
    """
    from ember.tools.ssh_remote import run_command

    if not command.strip():
        raise ToolError("command is empty.")
    settings = _settings(ctx)
    target = _host(settings, host)
    limit = min(max(float(settings.timeout if timeout is None else timeout), 0.1), MAX_TIMEOUT)
    keep = max(ctx.max_output_chars, 500)
    result, note = _call(ctx, target, settings, lambda conn: run_command(conn, command, limit, keep), limit)
    parts = [note] if note else []
    parts.append(result.output.render(max(ctx.max_output_chars - 300, 500), MORE_HINT).rstrip("\n") or "(no output)")
    if result.timed_out:
        parts.append(f"[timed out after {limit:g}s: the remote command was sent KILL and its channel closed]")
    elif result.exit_signal:
        parts.append(f"[killed by signal {result.exit_signal}]")
    else:
        parts.append(f"[exit code {result.exit_status}]")
    return ToolResult("\n".join(parts), is_error=result.timed_out)


def _remote(path: str) -> str:
    """SFTP paths are relative to the login directory; ``~/x`` means the same."""
    if path in ("~", "~/"):
        return "."
    return path[2:] if path.startswith("~/") else path


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


@tool(toolset="ssh", needs_approval=_transfer_approval("upload"), requires=REQUIRES)
def ssh_upload(ctx: ToolContext, host: str, local_path: str, remote_path: str) -> str:
    """Copy a local file or folder to a configured SSH host (SFTP).

    Args:
        host: The host's name from config.toml ([ssh.hosts.NAME]).
        local_path: File or folder on this machine, relative to the workspace.
        remote_path: Destination path, relative to the remote home; an existing folder receives the file inside it.
    """
    from ember.tools.ssh_remote import upload

    settings = _settings(ctx)
    target = _host(settings, host)
    local = ctx.resolve(local_path)
    if not local.exists():
        raise ToolError(f"{local_path} does not exist.")
    remote = _remote(remote_path)
    sent, note = _call(ctx, target, settings, lambda conn: upload(conn, local, remote, settings.transfer_timeout),
                       settings.transfer_timeout)
    return "\n".join(filter(None, [note, f"Uploaded {ctx.shown(local)} ({_size(sent)}) to {host}:{remote_path}."]))


@tool(toolset="ssh", needs_approval=_transfer_approval("download"), requires=REQUIRES)
def ssh_download(ctx: ToolContext, host: str, remote_path: str, local_path: str) -> str:
    """Copy a file or folder from a configured SSH host to this machine (SFTP).

    Args:
        host: The host's name from config.toml ([ssh.hosts.NAME]).
        remote_path: File or folder on the host, relative to the remote home.
        local_path: Destination, relative to the workspace; an existing folder receives the file inside it.
    """
    from ember.tools.ssh_remote import download

    settings = _settings(ctx)
    target = _host(settings, host)
    local = ctx.resolve(local_path)
    if not local.parent.is_dir():
        os.makedirs(local.parent, exist_ok=True)
    into_folder = local.is_dir()
    remote = _remote(remote_path)
    received, note = _call(
        ctx, target, settings, lambda conn: download(conn, remote, local, settings.transfer_timeout),
        settings.transfer_timeout,
    )
    shown = ctx.shown(local / Path(remote).name if into_folder else local)
    return "\n".join(filter(None, [note, f"Downloaded {host}:{remote_path} ({_size(received)}) to {shown}."]))
