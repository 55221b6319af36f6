"""The boundary around commands: the sandbox that ``shell`` and ``process_start`` run in.

This is what keeps a command, whatever it says, inside its lane (the design of Claude Code's
bubblewrap sandbox and Codex CLI's workspace-write mode):

- the workspace is writable, the rest of the file system read-only;
- ``EMBER_HOME`` (config, ``.env``, the database, USER.md, skills), credential folders (``~/.ssh``,
  ``~/.aws``, ``~/.config/gcloud``...), token caches (``~/.cache``: Hugging Face and others) and
  other users' homes are hidden; ``~/.cache`` and ``~/.npm`` come back empty and writable, so
  package managers still work, and forget it afterwards;
- ``/tmp`` is private; devices are the minimal set bubblewrap gives (null, zero, random, tty);
- no capabilities and no new privileges (``sudo`` cannot work inside);
- the network is shared by default (an agent fetches things) or cut with ``[tools] network = false``.

Commands that plainly need more (``dangerous.ESCAPE``) or that the model asks to run outside are
asked of the person; only an approved command runs outside, and only that once. Where bubblewrap
is missing or cannot create namespaces, there is no boundary: every command that does not only
read asks first (``plan_command``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ember.security.approval import ApprovalRequest
from ember.security.dangerous import ESCAPE, command_subjects, find_dangers, is_read_only
from ember.security.private import CREDENTIAL_PATHS, private_reason, real

__all__ = ["CREDENTIAL_PATHS", "Boundary", "CommandPlan", "plan_command", "private_reason", "sandbox_problem"]

# Emptied and writable inside: caches that hold tokens, and that tools expect to write.
SCRATCH_PATHS = (".cache", ".npm")
# How to get a sandbox where there is none (doctor and run_code say it).
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap; "
    "Arch: pacman -S bubblewrap), or set [sandbox] mode = \"docker\" in config.toml, or, to run code "
    "on this machine without isolation, mode = \"none\""
)


@dataclass(frozen=True)
class Boundary:
    """What a sandboxed command may touch."""

    workspace: Path | None  # None: nothing of the user's is writable (run_code's scratch dir only)
    home: Path  # EMBER_HOME
    network: bool = True
    user_home: Path = field(default_factory=Path.home)

    def hidden(self) -> list[Path]:
        """Paths the command must not see, real and existing, EMBER_HOME first."""
        paths = [real(self.home), *(real(self.user_home / p) for p in CREDENTIAL_PATHS)]
        return [p for p in dict.fromkeys(paths) if p.exists()]

    def mounts(self, *, writable: bool = True) -> list[str]:
        """bubblewrap's file-system arguments: root read-only, /tmp private, homes and secrets
        hidden, the workspace bound (read-write unless ``writable`` is False)."""
        args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        # A virtualenv or toolchain installed under /tmp (a CI checkout) would vanish under that
        # tmpfs: show what PATH points at there read-only again.
        for entry in os.environ.get("PATH", "").split(os.pathsep):
            if entry.startswith("/tmp/") and os.path.isdir(entry):
                root = Path(entry).parent if Path(entry).name == "bin" else Path(entry)
                args += ["--ro-bind", str(real(root)), str(real(root))]
        user_home = real(self.user_home)
        workspace = real(self.workspace) if self.workspace is not None else None
        # Other people's homes: /home is emptied, our own home shown again (read-only).
        if Path("/home").is_dir():
            args += ["--tmpfs", "/home"]
            if user_home.is_relative_to("/home") and user_home.is_dir():
                args += ["--ro-bind", str(user_home), str(user_home)]
        if Path("/root").is_dir() and user_home != Path("/root"):
            args += ["--tmpfs", "/root"]
        for name in SCRATCH_PATHS:
            if (user_home / name).is_dir():
                args += ["--tmpfs", str(user_home / name)]
        hidden = self.hidden()
        # Mounts apply in order: hide what contains the workspace, show the workspace, then hide
        # what lies inside it (an EMBER_HOME kept in the workspace).
        above = [h for h in hidden if workspace is not None and workspace.is_relative_to(h)]
        for path in above:
            args += _hide(path)
        if workspace is not None and workspace.is_dir():
            args += ["--bind" if writable else "--ro-bind", str(workspace), str(workspace)]
        for path in hidden:
            if path not in above:
                args += _hide(path)
        return args

    def wrap(self, argv: list[str], *, cwd: Path, keep: Iterable[Path] = ()) -> list[str]:
        """The command line that runs ``argv`` in ``cwd`` inside the boundary.

        ``keep``: files of ours under /tmp the command must still reach (the shell's cwd file).
        """
        args = [bwrap_path(), *self.mounts()]
        for path in keep:
            args += ["--bind", str(path), str(path)]
        args += ["--chdir", str(real(cwd))]
        args += ["--unshare-all", "--share-net"] if self.network else ["--unshare-all"]
        args += ["--die-with-parent", "--cap-drop", "ALL"]
        return [*args, "--", *argv]


def _hide(path: Path) -> list[str]:
    return ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]


def bwrap_path() -> str:
    return shutil.which("bwrap") or "bwrap"


def sandbox_problem(mode: str) -> str | None:
    """Why commands cannot be sandboxed here, or None when they can.

    ``mode`` is ``[sandbox] mode``: ``none`` means the person chose to run without one; ``docker``
    applies to ``run_code`` only, commands then use bubblewrap when it works.
    """
    if mode == "none":
        return '[sandbox] mode = "none" in config.toml'
    return bwrap_problem()


# Whether bubblewrap works, by the path of the bwrap found: probed once per process.
_bwrap_probe: dict[str, str | None] = {}


def bwrap_problem() -> str | None:
    """Why bubblewrap cannot run here (not installed, no user namespaces...), or None when it works."""
    path = shutil.which("bwrap")
    if path is None:
        return "bubblewrap (bwrap) is not installed"
    if path not in _bwrap_probe:
        try:
            probe = subprocess.run(
                [path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
                 "--die-with-parent", "--cap-drop", "ALL", "true"],
                capture_output=True, text=True, timeout=10,
            )
            _bwrap_probe[path] = None if probe.returncode == 0 else (
                f"bwrap is installed but cannot create a sandbox here: {probe.stderr.strip()} "
                "(it needs unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1, "
                "or a setuid bwrap)"
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _bwrap_probe[path] = f"bwrap failed to start: {exc}"
    return _bwrap_probe[path]


@dataclass(frozen=True)
class CommandPlan:
    """How one command line runs: inside the boundary or not, and what to ask first."""

    sandboxed: bool
    request: ApprovalRequest | None
    note: str = ""  # a line for the result when it does not run in the sandbox


def plan_command(
    tool: str, command: str, *, workspace: Path, cwd: Path, problem: str | None,
    outside: bool = False, why: str = "",
) -> CommandPlan:
    """Decide where ``command`` runs and whether a person must say yes first.

    ``problem``: why there is no sandbox (``sandbox_problem``), or None. ``outside``: the model
    asked to run it outside the sandbox, giving ``why``.
    """
    dangers = find_dangers(command, workspace=workspace, cwd=cwd)
    escapes = [d for d in dangers if d.kind == ESCAPE]
    warnings = [d for d in dangers if d.kind != ESCAPE]

    def request(reason: str, subjects: list[str]) -> ApprovalRequest:
        return ApprovalRequest(tool=tool, reason=reason, action=command, subjects=list(dict.fromkeys(subjects)))

    if problem is not None:
        note = f"[ran without a sandbox: {problem}]"
        if is_read_only(command, workspace, cwd) and not dangers:
            return CommandPlan(False, None, note)
        reasons = "; ".join(dict.fromkeys(d.reason for d in dangers)) or "it may change files"
        return CommandPlan(False, request(
            f"no sandbox on this machine ({problem}), so it runs directly: {reasons}",
            command_subjects(command, workspace=workspace, cwd=cwd) or [command]), note)
    if outside or escapes:
        needs = "; ".join(dict.fromkeys(d.reason for d in dangers))
        asked = f"the model asks to run it outside the sandbox: {why.strip() or 'no reason given'}" if outside else ""
        reason = "runs outside the sandbox, on this machine: " + "; ".join(x for x in (asked, needs) if x)
        subjects = command_subjects(command, workspace=workspace, cwd=cwd) if outside else [d.subject for d in dangers]
        return CommandPlan(False, request(reason, subjects or [command]), "[ran outside the sandbox, approved]")
    if warnings:
        return CommandPlan(True, request("; ".join(dict.fromkeys(d.reason for d in warnings)),
                                         [d.subject for d in warnings]))
    return CommandPlan(True, None)
