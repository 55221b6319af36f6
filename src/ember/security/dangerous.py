"""Which shell commands and file writes need a person's approval, and why.

``find_dangers`` reads a command the way bash would split it (``;``, ``&&``, ``|``, newlines,
``$( )``, backticks, ``bash -c``; see ``shell_parse``) and names every simple command that could
do damage that is hard to undo: forced recursive deletes, disk tools, root, force-pushes,
downloads piped into a shell, writes outside the workspace. Quoted text is data, so
``echo "rm -rf /"`` is harmless. Where the parse is unsure it errs towards asking: a needless
question costs a keystroke, a missed one can cost a disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ember.security.shell_parse import Command, parse_command

__all__ = ["Danger", "check_command", "check_write", "find_dangers", "suggest_pattern"]


@dataclass(frozen=True)
class Danger:
    """One reason a command needs approval; ``subject`` is the simple command that patterns must match."""

    subject: str
    reason: str


# --- paths ------------------------------------------------------------------------------------

_HARMLESS_TARGETS = re.compile(r"^/dev/(null|stdout|stderr|tty|fd/\d+)$|^/proc/self/fd/\d+$")
_DISK_DEVICE = re.compile(r"^/dev/(sd|hd|vd|xvd|nvme|mmcblk|disk|md|dm-|loop|sr)")


def _resolve(path: str, workspace: Path | None, cwd: Path | None) -> Path | None:
    """The real path a shell word names, or None when it depends on a variable we cannot know."""
    path = re.sub(r"^\$\{?HOME\}?(?=/|$)", "~", path)
    if "$" in path or "`" in path or "\0" in path:
        return None
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        base = cwd or workspace
        if base is None:
            return None
        path = os.path.join(base, path)
    return Path(os.path.realpath(path))


def _is_outside(path: str, workspace: Path | None, cwd: Path | None) -> bool:
    if workspace is None or _HARMLESS_TARGETS.match(path):
        return False
    real = _resolve(path, workspace, cwd)
    if real is None:
        return False
    root = Path(os.path.realpath(workspace))
    return not (real == root or real.is_relative_to(root))


def check_write(path: str | Path, workspace: Path | None = None, cwd: Path | None = None) -> str | None:
    """A reason when writing ``path`` needs approval: it lies outside the workspace."""
    if _is_outside(str(path), workspace, cwd):
        return f"writes outside the workspace ({path})"
    return None


# --- commands ---------------------------------------------------------------------------------

_ROOT = {"sudo", "doas", "pkexec", "su"}
_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh"}
_INTERPRETERS = {"python", "python3", "perl", "ruby", "node", "php"}
_DOWNLOADERS = {"curl", "wget", "fetch"}
_DISK_TOOLS = {"mkswap", "wipefs", "fdisk", "sfdisk", "cfdisk", "parted", "gdisk", "sgdisk", "mke2fs"}
_BAD_RM_TARGETS = {"/", "/*", "~", "~/", "~/*", "*", ".", "..", "./", "./*", "../", "$HOME", "${HOME}"}
_FORK_BOMB = re.compile(r"(\w+|:)\s*\(\)\s*\{\s*\1\s*\|\s*\1\s*&\s*\}")


def _flags(args: list[str]) -> tuple[set[str], list[str]]:
    """Split into flags (short clusters expanded to single letters) and operands."""
    flags: set[str] = set()
    operands: list[str] = []
    only_operands = False
    for arg in args:
        if only_operands or not arg.startswith("-") or arg == "-":
            operands.append(arg)
        elif arg == "--":
            only_operands = True
        elif arg.startswith("--"):
            flags.add(arg.split("=", 1)[0])
        else:
            flags.update(f"-{letter}" for letter in arg[1:])
    return flags, operands


class _Checker:
    def __init__(self, workspace: Path | None, cwd: Path | None, depth: int) -> None:
        self.workspace = workspace
        self.cwd = cwd
        self.cwd_known = True  # false after `cd $SOMEWHERE`: relative paths could point anywhere
        self.depth = depth

    def outside(self, path: str) -> bool:
        relative = not path.startswith(("/", "~", "$HOME", "${HOME}"))
        if relative and not self.cwd_known and self.workspace is not None:
            return True
        return _is_outside(path, self.workspace, self.cwd)

    def change_dir(self, args: list[str]) -> None:
        """Follow `cd` through the line, so `cd /etc && echo x > hosts` is seen as a write to /etc."""
        operands = _flags(args)[1]
        where = operands[0] if operands else "~"
        target = None if where == "-" else _resolve(where, self.workspace, self.cwd)
        self.cwd, self.cwd_known = (target, True) if target is not None else (self.cwd, False)

    def writes(self, targets: Iterable[str]) -> list[str]:
        reasons = []
        for target in targets:
            if _DISK_DEVICE.match(target):
                reasons.append(f"writes to the disk device {target}")
            elif self.outside(target):
                reasons.append(f"writes outside the workspace ({target})")
        return reasons

    def inner(self, text: str) -> list[str]:
        if self.depth >= 4:
            return []
        found = find_dangers(text, workspace=self.workspace, cwd=self.cwd, _depth=self.depth + 1)
        return [d.reason for d in found]

    def command(self, cmd: Command) -> list[str]:
        reasons = self.writes(cmd.writes)
        for sub in cmd.substitutions:
            reasons += self.inner(sub)
        argv = cmd.unwrapped
        prog = os.path.basename(argv[0]) if argv else ""
        if prog in {"cd", "pushd"}:
            self.change_dir(argv[1:])
        for name in dict.fromkeys([*cmd.wrappers, prog]):
            if name in _ROOT:
                reasons.append(f"{name}: runs with another user's (root) privileges")
        if prog in _SHELLS | {"eval", "source", "."} and any(
            (sub.split() or [""])[0] in _DOWNLOADERS for sub in cmd.substitutions
        ):
            reasons.append("runs a downloaded script")
        if prog == "eval":
            reasons += self.inner(" ".join(argv[1:]))
        elif prog in _SHELLS | {"su"} and "-c" in argv[:-1]:
            reasons += self.inner(argv[argv.index("-c") + 1])
        check = getattr(self, f"_{prog}", None) if re.fullmatch(r"[a-z][a-z0-9]*", prog) else None
        if check is not None:
            reasons += check(argv[1:])
        elif prog.startswith("mkfs") or prog in _DISK_TOOLS:
            reasons.append(f"{prog}: formats or repartitions a disk")
        return reasons

    # One method per program; each gets the arguments and returns reasons.

    def _rm(self, args: list[str]) -> list[str]:
        flags, targets = _flags(args)
        reasons = []
        if flags & {"-r", "-R", "--recursive"} and flags & {"-f", "--force"}:
            reasons.append("rm -rf: recursive forced delete")
        for target in targets:
            if target in _BAD_RM_TARGETS or target.rstrip("/") in {"", "~"}:
                reasons.append(f"rm of {target}")
            elif self.outside(target):
                reasons.append(f"deletes outside the workspace ({target})")
        return reasons

    _rmdir = _rm

    def _shred(self, args: list[str]) -> list[str]:
        return ["shred: destroys file contents beyond recovery"]

    def _dd(self, args: list[str]) -> list[str]:
        return self.writes(a[3:] for a in args if a.startswith("of="))

    def _tee(self, args: list[str]) -> list[str]:
        return self.writes(_flags(args)[1])

    _touch = _truncate = _mkdir = _tee

    def _cp(self, args: list[str]) -> list[str]:
        flags, operands = _flags(args)
        targets = operands[-1:] if len(operands) > 1 else []
        targets += [a.split("=", 1)[1] for a in args if a.startswith("--target-directory=")]
        if "-t" in flags:
            i = next((i for i, a in enumerate(args) if a.startswith("-") and "t" in a), -1)
            targets += args[i + 1 : i + 2]
        return self.writes(targets)

    _install = _ln = _rsync = _scp = _cp

    def _mv(self, args: list[str]) -> list[str]:
        operands = _flags(args)[1]
        moved = [f"moves from outside the workspace ({a})" for a in operands[:-1] if self.outside(a)]
        return moved + self._cp(args)

    def _chmod(self, args: list[str]) -> list[str]:
        flags, operands = _flags(args)
        reasons = []
        for target in operands[1:]:
            if target.rstrip("/") in {"", "~", "$HOME"}:
                reasons.append(f"changes permissions of {target}")
            elif self.outside(target):
                reasons.append(f"changes permissions outside the workspace ({target})")
        if reasons and flags & {"-R", "--recursive"}:
            reasons[0] = "recursive " + reasons[0]
        return reasons

    _chown = _chgrp = _chmod

    def _sed(self, args: list[str]) -> list[str]:
        flags, operands = _flags(args)
        if not ({"-i", "--in-place"} & flags or any(a.startswith("--in-place") for a in args)):
            return []
        return self.writes(operands if "-e" in flags else operands[1:])

    def _find(self, args: list[str]) -> list[str]:
        deletes = "-delete" in args or any(
            a in {"-exec", "-execdir", "-ok"} and os.path.basename(b) in {"rm", "shred"}
            for a, b in zip(args, args[1:], strict=False)
        )
        starts = []
        for arg in args:
            if arg.startswith(("-", "(", "!")):
                break
            starts.append(arg)
        if deletes and any(s.rstrip("/") in {"", "~"} or self.outside(s) for s in starts):
            return ["find deletes files outside the workspace"]
        return []

    def _git(self, args: list[str]) -> list[str]:
        while args and args[0].startswith("-"):  # global options: -C dir, -c k=v, --git-dir=...
            args = args[2:] if args[0] in {"-C", "-c"} else args[1:]
        if not args:
            return []
        sub, rest = args[0], args[1:]
        flags, operands = _flags(rest)
        if sub == "push" and (
            flags & {"-f", "--force", "--force-with-lease", "--mirror", "-d", "--delete"}
            or any(o.startswith(("+", ":")) for o in operands[1:])
        ):
            return ["git push that rewrites or deletes remote history"]
        if sub == "reset" and "--hard" in flags:
            return ["git reset --hard discards uncommitted work"]
        if sub == "clean" and flags & {"-f", "--force"}:
            return ["git clean deletes untracked files"]
        return []

    def _kill(self, args: list[str]) -> list[str]:
        if args[:1] in (["-s"], ["-n"]):
            args = args[2:]
        elif len(args) > 1 and args[0].startswith("-"):
            args = args[1:]  # the signal, or "--"
        return ["kill -1: signals every process you own"] if "-1" in args else []

    def _crontab(self, args: list[str]) -> list[str]:
        return ["crontab -r removes every scheduled job"] if "-r" in _flags(args)[0] else []

    def _systemctl(self, args: list[str]) -> list[str]:
        hit = {"poweroff", "reboot", "halt", "suspend", "hibernate", "kexec"} & set(args)
        return [f"systemctl {sorted(hit)[0]}: stops the machine"] if hit else []

    def _init(self, args: list[str]) -> list[str]:
        return ["init: changes the machine's run level"] if args[:1] in (["0"], ["6"]) else []

    _telinit = _init

    def _shutdown(self, args: list[str]) -> list[str]:
        return ["shuts down or restarts the machine"]

    _reboot = _halt = _poweroff = _shutdown


def find_dangers(
    command: str, *, workspace: Path | None = None, cwd: Path | None = None, _depth: int = 0
) -> list[Danger]:
    """Every part of ``command`` that needs approval, each with its reason."""
    checker = _Checker(workspace, cwd, _depth)
    found: list[Danger] = []
    if _FORK_BOMB.search(command):
        found.append(Danger(command.strip(), "fork bomb"))
    for pipeline in parse_command(command):
        progs = [os.path.basename(c.unwrapped[0]) if c.unwrapped else "" for c in pipeline]
        for i, prog in enumerate(progs):
            later = zip(progs[i + 1 :], pipeline[i + 1 :], strict=True)
            if prog in _DOWNLOADERS and any(
                p in _SHELLS or (p in _INTERPRETERS and _reads_stdin(c)) for p, c in later
            ):
                found.append(Danger(" | ".join(c.text for c in pipeline), "pipes a download into a shell"))
                break
        for cmd in pipeline:
            for reason in dict.fromkeys(checker.command(cmd)):
                found.append(Danger(cmd.text, reason))
    return list(dict.fromkeys(found))


def _reads_stdin(cmd: Command) -> bool:
    operands = _flags(cmd.unwrapped[1:])[1]
    return not operands or operands[0] == "-"


def check_command(command: str, workspace: Path | None = None, cwd: Path | None = None) -> str | None:
    """Why ``command`` needs approval (reasons joined), or None when it can run."""
    reasons = dict.fromkeys(d.reason for d in find_dangers(command, workspace=workspace, cwd=cwd))
    return "; ".join(reasons) or None


def suggest_pattern(subject: str) -> str:
    """A pattern a person would plausibly allow: ``git push *``, ``rm -rf *``, ``/etc/hosts.d/*``."""
    if subject.startswith(("/", "~")) and " " not in subject:
        return os.path.join(os.path.dirname(subject.rstrip("/")), "*")
    words = subject.split()
    if not words:
        return subject
    keep = words[:1]
    if len(words) > 1 and re.fullmatch(r"-[\w-]+|[A-Za-z][\w.:-]*", words[1]):
        keep.append(words[1])
    return " ".join(keep) + (" *" if len(words) > len(keep) else "")
