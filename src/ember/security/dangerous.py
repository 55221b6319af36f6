"""The second line of defence: what a command line says it will do, read before it runs.

The sandbox (``boundary.py``) is what keeps a command inside the workspace; no parser can be
complete (``a=rm; $a -rf DIR`` or base64 piped into ``sh`` defeat any). This module reads a
command the way bash would split it (``;``, ``&&``, ``|``, newlines, ``$( )``, backticks,
``bash -c``; see ``shell_parse``) for two purposes:

- ``ESCAPE``: the command plainly needs more than the sandbox gives (root, a disk device, a
  write or delete outside the workspace, stopping the machine). Rather than let it fail inside,
  Ember asks the person whether to run that one command outside the sandbox.
- ``WARN``: the command is destructive inside the workspace, where the sandbox lets it act (the
  whole workspace deleted, history rewritten, a download piped into a shell, a fork bomb). Ember
  asks before running it, still sandboxed.

Quoted text is data, so ``echo "rm -rf /"`` is harmless. ``is_read_only`` says whether a line
only reads; where no sandbox exists, everything else asks. Each finding's ``subject`` is the
simple command with its path operands resolved (symlinks and ``..`` followed), which is what
allow-patterns are matched against (see ``patterns.py``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ember.security.shell_parse import Command, parse_command

__all__ = [
    "ESCAPE", "WARN", "Danger", "check_command", "check_write", "command_subjects", "find_dangers", "is_read_only",
    "shown_path",
]

ESCAPE = "escape"  # needs the machine outside the sandbox: run outside it only if a person says so
WARN = "warn"  # destructive inside the workspace: ask first, then run in the sandbox


@dataclass(frozen=True)
class Danger:
    """One reason a command needs approval; ``subject`` is the simple command that patterns must match."""

    subject: str
    reason: str
    kind: str = ESCAPE


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


def shown_path(real: Path, workspace: Path | None) -> str:
    """How a resolved path appears in a subject: relative inside the workspace, else absolute.

    The workspace root itself stays absolute, so a ``*`` in a pattern (which never matches a
    ``/``) can never stand for the whole workspace, nor for anything outside it.
    """
    if workspace is not None:
        root = Path(os.path.realpath(workspace))
        if real != root and real.is_relative_to(root):
            return str(real.relative_to(root))
    return str(real)


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
_WHOLE_FOLDER = {"*", ".", "./", "./*", ".*"}
# Reasons from the per-program checks that are about the workspace itself (the sandbox lets them
# act): asked as warnings, then run sandboxed. Every other reason needs the machine outside.
_WARNINGS = {
    "shred: destroys file contents beyond recovery",
    "git push that rewrites or deletes remote history",
    "git reset --hard discards uncommitted work",
    "git clean deletes untracked files",
}
_WARNING_PREFIXES = ("deletes everything in the working directory", "deletes the whole workspace")
_FORK_BOMB = re.compile(r"(\w+|:)\s*\(\)\s*\{\s*\1\s*\|\s*\1\s*&\s*\}")


# A word that names a path to resolve: has a slash, starts with ~ or $HOME, or is . or .. (not a
# URL, and not an option's value such as dd's of=/dev/sda, which stays as written)
_PATHLIKE = re.compile(r"^(?!.*://)(?!\w+=)(.*/|~|\$\{?HOME\b|\.\.?$)")
_REDIRECT_WORDS = {">", ">>", ">|", "&>", "&>>", "<>", "<", "2>", "2>>"}


def _quoted(word: str) -> str:
    import shlex

    return word if word and not re.search(r"[\s'\"\\]", word) else shlex.quote(word)


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

    def subject(self, cmd: Command) -> str:
        """``cmd`` as allow-patterns see it: its words, path operands resolved (``shown_path``)."""
        words: list[str] = []
        after_redirect = False
        for i, word in enumerate(cmd.words):
            if after_redirect or (i > 0 and not word.startswith("-") and _PATHLIKE.search(word)):
                real = _resolve(word, self.workspace, self.cwd) if self.cwd_known or word.startswith(("/", "~")) else None
                word = shown_path(real, self.workspace) if real is not None else word
            words.append(word)
            after_redirect = word in _REDIRECT_WORDS
        return " ".join(_quoted(w) for w in words)

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

    def inner(self, text: str) -> list[tuple[str, str]]:
        if self.depth >= 4:
            return []
        found = find_dangers(text, workspace=self.workspace, cwd=self.cwd, _depth=self.depth + 1)
        return [(d.reason, d.kind) for d in found]

    def command(self, cmd: Command) -> list[tuple[str, str]]:
        """(reason, kind) for every way ``cmd`` needs approval."""
        found = [(r, ESCAPE) for r in self.writes(cmd.writes)]
        for sub in cmd.substitutions:
            found += self.inner(sub)
        argv = cmd.unwrapped
        prog = os.path.basename(argv[0]) if argv else ""
        if prog in {"cd", "pushd"}:
            self.change_dir(argv[1:])
        for name in dict.fromkeys([*cmd.wrappers, prog]):
            if name in _ROOT:
                found.append((f"{name}: runs with another user's (root) privileges", ESCAPE))
        if prog in _SHELLS | {"eval", "source", "."} and any(
            (sub.split() or [""])[0] in _DOWNLOADERS for sub in cmd.substitutions
        ):
            found.append(("runs a downloaded script", WARN))
        if prog == "eval":
            found += self.inner(" ".join(argv[1:]))
        elif prog in _SHELLS | {"su"} and "-c" in argv[:-1]:
            found += self.inner(argv[argv.index("-c") + 1])
        check = getattr(self, f"_{prog}", None) if re.fullmatch(r"[a-z][a-z0-9]*", prog) else None
        if check is not None:
            found += [(r, WARN if r in _WARNINGS or r.startswith(_WARNING_PREFIXES) else ESCAPE) for r in check(argv[1:])]
        elif prog.startswith("mkfs") or prog in _DISK_TOOLS:
            found.append((f"{prog}: formats or repartitions a disk", ESCAPE))
        return found

    # One method per program; each gets the arguments and returns reasons.

    def _rm(self, args: list[str]) -> list[str]:
        flags, targets = _flags(args)
        reasons = []
        if self.workspace is None and flags & {"-r", "-R", "--recursive"} and flags & {"-f", "--force"}:
            reasons.append("rm -rf: recursive forced delete")  # on a machine with no workspace or sandbox (ssh)
        for target in targets:
            if target.rstrip("/") in {"", "~", "$HOME", "${HOME}", "..", "/*", "~/*"}:
                reasons.append(f"rm of {target}")
            elif target in _WHOLE_FOLDER:
                reasons.append(f"deletes everything in the working directory (rm {target})")
            elif self.outside(target):
                reasons.append(f"deletes outside the workspace ({target})")
            elif self.is_workspace_root(target):
                reasons.append(f"deletes the whole workspace (rm {target})")
        return reasons

    _rmdir = _rm

    def is_workspace_root(self, path: str) -> bool:
        real = _resolve(path, self.workspace, self.cwd)
        return real is not None and self.workspace is not None and real == Path(os.path.realpath(self.workspace))

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
        found.append(Danger(command.strip(), "fork bomb", WARN))
    for pipeline in parse_command(command):
        progs = [os.path.basename(c.unwrapped[0]) if c.unwrapped else "" for c in pipeline]
        for i, prog in enumerate(progs):
            later = zip(progs[i + 1 :], pipeline[i + 1 :], strict=True)
            if prog in _DOWNLOADERS and any(
                p in _SHELLS or (p in _INTERPRETERS and _reads_stdin(c)) for p, c in later
            ):
                whole = " | ".join(checker.subject(c) for c in pipeline)
                found.append(Danger(whole, "pipes a download into a shell", WARN))
                break
        for cmd in pipeline:
            subject = checker.subject(cmd)  # before cmd's own `cd` moves the checker
            for reason, kind in dict.fromkeys(checker.command(cmd)):
                found.append(Danger(subject, reason, kind))
    return list(dict.fromkeys(found))


def command_subjects(command: str, *, workspace: Path | None = None, cwd: Path | None = None) -> list[str]:
    """Every simple command of ``command`` as allow-patterns see it (paths resolved)."""
    checker = _Checker(workspace, cwd, 0)
    subjects = []
    for pipeline in parse_command(command):
        for cmd in pipeline:
            subjects.append(checker.subject(cmd))
            checker.command(cmd)  # follows `cd` for the next one
    return list(dict.fromkeys(subjects))


def _reads_stdin(cmd: Command) -> bool:
    operands = _flags(cmd.unwrapped[1:])[1]
    return not operands or operands[0] == "-"


def check_command(command: str, workspace: Path | None = None, cwd: Path | None = None) -> str | None:
    """Why ``command`` needs approval (reasons joined), or None when it can run."""
    reasons = dict.fromkeys(d.reason for d in find_dangers(command, workspace=workspace, cwd=cwd))
    return "; ".join(reasons) or None


# --- read-only commands -----------------------------------------------------------------------------

# Programs that only read (with the option checks below). Where there is no sandbox, every other
# command line asks first; this list is what keeps looking around free.
_READERS = {
    "ls", "cat", "head", "tail", "less", "more", "wc", "grep", "egrep", "fgrep", "rg", "ag", "pwd", "echo",
    "printf", "which", "type", "file", "stat", "du", "df", "date", "uname", "whoami", "id", "hostname",
    "tree", "cut", "tr", "uniq", "nl", "diff", "cmp", "comm", "basename", "dirname", "realpath", "readlink",
    "md5sum", "sha1sum", "sha256sum", "sha512sum", "jq", "column", "true", "false", "test", "[", "cd",
    "pushd", "popd", "seq", "expr", "env", "printenv", "uptime", "free", "ps", "tac", "rev", "fold", "fmt",
    "od", "xxd", "hexdump", "strings", "man", "locale", "nproc", "lsb_release", "sleep",
}
_GIT_READERS = {"status", "log", "diff", "show", "blame", "rev-parse", "ls-files", "describe", "shortlog",
                "grep", "cat-file", "ls-tree", "reflog", "remote", "branch", "tag", "config"}
_FIND_WRITERS = {"-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls"}


def _reads_only(cmd: Command, workspace: Path | None, cwd: Path | None) -> bool:
    if any(not _HARMLESS_TARGETS.match(t) for t in cmd.writes) or cmd.wrappers:
        return False
    if not all(is_read_only(sub, workspace, cwd) for sub in cmd.substitutions):
        return False
    argv = cmd.unwrapped
    if not argv:
        return True
    prog, args = os.path.basename(argv[0]), argv[1:]
    if prog == "git":
        while args and args[0].startswith("-"):
            args = args[2:] if args[0] in {"-C", "-c"} else args[1:]
        sub = args[0] if args else "status"
        rest = args[1:]
        if sub in {"branch", "tag", "remote", "config"}:  # listing forms only
            return all(a.startswith("-") and a not in {"-d", "-D", "-m", "-M", "--delete", "--unset", "--add"}
                       for a in rest) and not (sub == "config" and len([a for a in rest if not a.startswith("-")]) > 1)
        return sub in _GIT_READERS
    if prog == "find":
        return not (set(args) & _FIND_WRITERS)
    if prog == "sed":
        return not any(a.startswith(("-i", "--in-place")) for a in args)
    if prog == "sort":
        return not any(a.startswith(("-o", "--output")) for a in args)
    if prog == "env":
        return not [a for a in args if not a.startswith("-") and "=" not in a]  # env alone prints
    return prog in _READERS


def is_read_only(command: str, workspace: Path | None = None, cwd: Path | None = None) -> bool:
    """True when every simple command of ``command`` only reads (and writes nothing through ``>``)."""
    try:
        pipelines = parse_command(command)
    except Exception:
        return False
    return bool(pipelines) and all(_reads_only(c, workspace, cwd) for p in pipelines for c in p)
