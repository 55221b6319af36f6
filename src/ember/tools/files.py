"""Core file tools: read, write, edit, list and search files.

Paths are relative to the workspace (``~`` is expanded). Reads may go anywhere; writes outside
the workspace need approval. Outputs are sized for a prompt: pages of lines with numbers,
capped listings, and a note saying how to get the rest.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from pathlib import Path
from typing import Any

from ember.models.base import Cancelled
from ember.security.approval import ApprovalRequest
from ember.tools.base import ToolContext, ToolError, tool

PAGE_LINES = 2000
MAX_LINE_CHARS = 2000
GREP_MAX_BYTES = 5_000_000
SKIP_DIRS = {".git", "__pycache__", "node_modules", ".venv", "venv", ".mypy_cache", ".pytest_cache",
             ".ruff_cache", ".tox"}


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _is_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        chunk = fh.read(8192)
    if b"\0" in chunk:
        return True
    try:
        chunk.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        if exc.start >= len(chunk) - 3:  # a character cut by the 8 KB boundary
            return False
    controls = sum(1 for b in chunk if b < 32 and b not in b"\t\n\r\f\b\x1b")
    return controls > len(chunk) * 0.1


def _existing_file(ctx: ToolContext, path: str) -> Path:
    target = ctx.resolve(path)
    if target.is_dir():
        raise ToolError(f"{path} is a directory; use list_dir to see what it holds.")
    if not target.exists():
        parent = target.parent
        hint = ""
        if parent.is_dir():
            close = difflib.get_close_matches(target.name, os.listdir(parent), n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
        else:
            hint = f" The folder {ctx.shown(parent)} does not exist either."
        raise ToolError(f"No such file: {path}.{hint} Use list_dir or search_files to find it.")
    return target


def _refuse_binary(target: Path, path: str) -> None:
    if _is_binary(target):
        size = _size(target.stat().st_size)
        raise ToolError(
            f"{path} is a binary file ({size}); read_file only reads text. "
            "Inspect it with shell instead (e.g. `file`, `xxd | head`)."
        )


def _write_approval(args: dict[str, Any], ctx: ToolContext) -> ApprovalRequest | None:
    target = ctx.resolve(args["path"])
    from ember.security.dangerous import check_write  # the parser: only when a write is checked

    reason = check_write(target, ctx.workspace)
    if reason is None:
        return None
    return ApprovalRequest(tool="", reason=reason, action=f"write {target}", subjects=[str(target)])


@tool(more_hint="Call read_file with offset and limit to read a specific part.")
def read_file(ctx: ToolContext, path: str, offset: int = 0, limit: int = PAGE_LINES) -> str:
    """Read a text file; lines are shown with their numbers.

    Args:
        path: File path, relative to the workspace.
        offset: Number of lines to skip from the start.
        limit: Most lines to return.
    """
    target = _existing_file(ctx, path)
    _refuse_binary(target, path)
    offset, limit = max(offset, 0), max(limit, 1)
    budget = max(ctx.max_output_chars - 400, 1000)
    shown: list[str] = []
    used, total, next_line = 0, 0, None
    with target.open(encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh):
            total = i + 1
            if i < offset:
                continue
            if next_line is not None:
                if i - next_line > 1_000_000:  # counting a huge file's lines is not worth more time
                    total = -total
                    break
                continue
            text = line.rstrip("\r\n")
            if len(text) > MAX_LINE_CHARS:
                text = f"{text[:MAX_LINE_CHARS]}… [{len(text) - MAX_LINE_CHARS:,} more chars on this line]"
            entry = f"{i + 1:>6}\t{text}"
            if len(shown) >= limit or (shown and used + len(entry) > budget):
                next_line = i
                continue
            shown.append(entry)
            used += len(entry) + 1
    if total == 0:
        return f"({path} is empty)"
    if not shown:
        raise ToolError(f"offset {offset} is past the end of {path} ({total} lines).")
    if next_line is not None:
        of = f"more than {-total:,}" if total < 0 else f"{total:,}"
        shown.append(
            f"[showing lines {offset + 1}-{next_line} of {of}; "
            f"call read_file with offset={next_line} to continue]"
        )
    return "\n".join(shown)


@tool(needs_approval=_write_approval)
def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Create or overwrite a file with the given content; missing folders are created.

    Args:
        path: File path, relative to the workspace.
        content: The complete new content of the file.
    """
    target = ctx.resolve(path)
    if target.is_dir():
        raise ToolError(f"{path} is a directory; give a file path.")
    existed = target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8")
    target.write_bytes(data)
    lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
    verb = "Overwrote" if existed else "Created"
    return f"{verb} {ctx.shown(target)} ({len(data):,} bytes, {lines} lines)."


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _not_found_hint(text: str, old: str) -> str:
    lines = text.splitlines()
    wanted = [w.strip() for w in old.splitlines() if w.strip()]
    if not wanted:
        return ""
    stripped = [line.strip() for line in lines]
    for i in range(len(stripped)):
        window = [s for s in stripped[i : i + len(wanted) * 2] if s][: len(wanted)]
        if window == wanted:
            return f" Text that differs only in whitespace or indentation starts at line {i + 1}; copy it exactly."
    close = difflib.get_close_matches(wanted[0], stripped, n=1, cutoff=0.6)
    if close:
        return f" The closest line is {stripped.index(close[0]) + 1}: {close[0][:120]!r}."
    return " Read the file first and copy the exact text."


@tool(needs_approval=_write_approval)
def edit_file(ctx: ToolContext, path: str, old: str, new: str, replace_all: bool = False) -> str:
    """Replace exact text in a file; `old` must match exactly (whitespace included) and only once unless replace_all.

    Args:
        path: File path, relative to the workspace.
        old: The exact text to replace; include nearby lines to make it unique.
        new: The text to put in its place.
        replace_all: Replace every occurrence instead of requiring exactly one.
    """
    target = _existing_file(ctx, path)
    _refuse_binary(target, path)
    try:
        text = target.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{path} is not UTF-8 text; edit it with shell instead.") from exc
    if not old:
        raise ToolError("old is empty; give the text to replace (use write_file to create a file).")
    if old == new:
        raise ToolError("old and new are the same; nothing to change.")
    if "\r\n" in text and "\r\n" not in old and old.replace("\n", "\r\n") in text:
        old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")  # the file uses CRLF
    count = text.count(old)
    if count == 0:
        raise ToolError(f"old was not found in {path}.{_not_found_hint(text, old)}")
    if count > 1 and not replace_all:
        starts = [m.start() for m in re.finditer(re.escape(old), text)]
        where = ", ".join(str(_line_of(text, s)) for s in starts[:10])
        raise ToolError(
            f"old matches {count} places in {path} (lines {where}). Include more surrounding lines in "
            "old so it matches once, or set replace_all=true to replace them all."
        )
    first = _line_of(text, text.index(old))
    updated = text.replace(old, new) if replace_all else text.replace(old, new, 1)
    target.write_bytes(updated.encode("utf-8"))
    return f"Replaced {count if replace_all else 1} occurrence(s) in {ctx.shown(target)} (first at line {first})."


@tool
def list_dir(ctx: ToolContext, path: str = ".", depth: int = 1, hidden: bool = False, limit: int = 200) -> str:
    """List a directory: folders end with /, files show their size.

    Args:
        path: Directory, relative to the workspace.
        depth: Levels to descend (1 = only this directory).
        hidden: Include names starting with a dot.
        limit: Most entries to show.
    """
    root = ctx.resolve(path)
    if not root.is_dir():
        raise ToolError(f"{path} is {'a file' if root.exists() else 'not found'}; list_dir needs a directory.")
    lines: list[str] = [f"{ctx.shown(root)}/"]
    more = 0

    def walk(folder: Path, level: int) -> None:
        nonlocal more
        try:
            entries = sorted(os.scandir(folder), key=lambda e: (not e.is_dir(), e.name.lower()))
        except OSError as exc:
            lines.append(f"{'  ' * level}[cannot read: {exc.strerror}]")
            return
        for entry in entries:
            if not hidden and entry.name.startswith("."):
                continue
            if len(lines) > limit:
                more += 1
                continue
            pad = "  " * level
            if entry.is_symlink():
                lines.append(f"{pad}{entry.name} -> {os.readlink(entry.path)}")
            elif entry.is_dir():
                skipped = entry.name in SKIP_DIRS and level < depth
                lines.append(f"{pad}{entry.name}/" + (" (not expanded)" if skipped else ""))
                if level < depth and not skipped:
                    walk(Path(entry.path), level + 1)
            else:
                lines.append(f"{pad}{entry.name}  {_size(entry.stat().st_size)}")

    walk(root, 1)
    if len(lines) == 1:
        lines.append("  (empty)")
    if more:
        lines.append(f"[... {more} more entries not shown; raise limit or list a subfolder]")
    return "\n".join(lines)


def _glob_matches(pattern: str, rel: str) -> bool:
    if "/" not in pattern:
        return fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern)
    candidates = {pattern, pattern.replace("/**/", "/")}
    if pattern.startswith("**/"):
        candidates.add(pattern[3:])
    return any(fnmatch.fnmatch(rel, c) for c in candidates)


@tool(more_hint="Narrow the pattern, path or content, or lower the limit.")
def search_files(
    ctx: ToolContext, pattern: str, path: str = ".", content: str | None = None,
    ignore_case: bool = False, limit: int = 100,
) -> str:
    """Find files by name pattern, optionally only lines matching `content` (shown as file:line: text).

    Args:
        pattern: Glob on file names or paths, e.g. "*.py" or "src/**/test_*.py".
        path: Directory to search, relative to the workspace.
        content: Regular expression (or plain text) to find inside the files.
        ignore_case: Match content regardless of case.
        limit: Most results to return.
    """
    root = ctx.resolve(path)
    if not root.is_dir():
        raise ToolError(f"{path} is not a directory.")
    regex = None
    if content is not None:
        flags = re.IGNORECASE if ignore_case else 0
        try:
            regex = re.compile(content, flags)
        except re.error:
            regex = re.compile(re.escape(content), flags)
    results: list[str] = []
    truncated = False
    for folder, dirs, files in os.walk(root):
        if ctx.cancel.is_set():
            raise Cancelled("search cancelled")
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            full = Path(folder, name)
            if not _glob_matches(pattern, full.relative_to(root).as_posix()):
                continue
            if regex is None:
                results.append(ctx.shown(full))
            else:
                results += _grep(full, regex, ctx.shown(full), limit - len(results) + 1)
            if len(results) > limit:
                truncated = True
                break
        if truncated:
            break
    if not results:
        what = f"lines matching {content!r} in files" if content is not None else "files"
        return f"No {what} matching {pattern!r} under {ctx.shown(root)}."
    if truncated:
        results = results[:limit] + [f"[more results not shown (limit={limit}); narrow the search]"]
    return "\n".join(results)


def _grep(path: Path, regex: re.Pattern[str], shown: str, room: int) -> list[str]:
    try:
        if path.stat().st_size > GREP_MAX_BYTES or _is_binary(path):
            return []
        hits = []
        with path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if regex.search(line):
                    hits.append(f"{shown}:{number}: {line.strip()[:200]}")
                    if len(hits) >= room:
                        break
        return hits
    except OSError:
        return []
