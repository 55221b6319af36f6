"""The ``files`` toolset: patch, move and delete files; read PDFs; describe images.

``apply_patch`` forgives what models get wrong in a unified diff (line numbers that are off, hunk
counts that do not add up, missing ``\\ No newline`` markers) but never guesses at content: a hunk
whose lines are not in the file is refused with the closest place and what differs there, and no
file is touched unless every hunk fits. Writes outside the workspace need approval, like
``write_file``; ``delete_file`` always does.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.security.approval import ApprovalRequest, check_write
from ember.tools.base import ToolContext, ToolError, needs_extra, tool
from ember.tools.media import describe_image

# --- apply_patch: parsing -------------------------------------------------------------------------

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class _Hunk:
    header: str
    old_start: int | None  # 1-based line of the first old line; None when the header has no numbers
    old: list[str] = field(default_factory=list)  # context and removed lines: what the file must hold
    new: list[str] = field(default_factory=list)  # context and added lines: what replaces them
    old_no_eol: bool = False  # "\ No newline at end of file" after an old line
    new_no_eol: bool = False


@dataclass
class _FilePatch:
    old_path: str | None  # None: /dev/null (a new file)
    new_path: str | None  # None: /dev/null (a deleted file)
    hunks: list[_Hunk] = field(default_factory=list)


def _header_path(raw: str) -> str | None:
    path = raw.split("\t", 1)[0].strip().strip('"')  # "--- a/x.py\t2024-01-01 10:00" names a/x.py
    return None if path == "/dev/null" else path


def _is_file_header(lines: list[str], i: int) -> bool:
    return lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")


def _parse_hunk(lines: list[str], i: int) -> tuple[_Hunk, int]:
    match = _HUNK.match(lines[i])
    hunk = _Hunk(header=lines[i].strip(), old_start=int(match[1]) if match else None)
    old_left = (int(match[2]) if match[2] is not None else 1) if match else 0
    new_left = (int(match[4]) if match[4] is not None else 1) if match else 0
    last_tag = " "
    i += 1
    while i < len(lines):
        line = lines[i]
        counted = old_left > 0 or new_left > 0  # trust the header while its counts last
        if line.startswith("@@") or (not counted and (_is_file_header(lines, i) or line.startswith("diff "))):
            break
        if line.startswith("\\"):
            hunk.old_no_eol |= last_tag in " -"
            hunk.new_no_eol |= last_tag in " +"
            i += 1
            continue
        if (not line and not counted) or (line and line[0] not in " -+"):
            break  # the end of the hunk, or prose after it
        tag, text = (line[0], line[1:]) if line else (" ", "")  # editors strip a context line's space
        if tag in " -":
            hunk.old.append(text)
            old_left -= 1
        if tag in " +":
            hunk.new.append(text)
            new_left -= 1
        last_tag = tag
        i += 1
    return hunk, i


def parse_patch(text: str) -> list[_FilePatch]:
    """The files and hunks of a unified diff (git or plain ``diff -u``); prose around it is skipped."""
    if "GIT binary patch" in text or re.search(r"^Binary files .* differ$", text, re.M):
        raise ToolError("Binary patches are not supported; write binary files another way.")
    lines = text.splitlines()
    files: list[_FilePatch] = []
    i = 0
    while i < len(lines):
        if _is_file_header(lines, i):
            old, new = _header_path(lines[i][4:]), _header_path(lines[i + 1][4:])
            if (old or "a/").startswith("a/") and (new or "b/").startswith("b/"):  # git's markers, not folders
                old, new = old and old[2:], new and new[2:]
            files.append(_FilePatch(old, new))
            i += 2
        elif lines[i].startswith("@@"):
            if not files:
                raise ToolError("The patch has a hunk before any file header; start each file with "
                                "'--- a/PATH' and '+++ b/PATH' lines.")
            hunk, i = _parse_hunk(lines, i)
            files[-1].hunks.append(hunk)
        else:
            i += 1
    if not files:
        raise ToolError("No unified diff found: each file needs '--- a/PATH' and '+++ b/PATH' header lines "
                        "followed by '@@ -start,count +start,count @@' hunks.")
    for patch in files:
        if patch.old_path is None and patch.new_path is None:
            raise ToolError("A file header names /dev/null on both sides.")
        if not patch.hunks and patch.old_path is not None and patch.new_path is not None:
            raise ToolError(f"The patch for {patch.new_path} has no hunks; to rename a file use move_file.")
    return files


# --- apply_patch: applying ------------------------------------------------------------------------


def _locate(lines: list[str], hunk: _Hunk, start: int, offset: int) -> int | None:
    """Where the hunk's old lines sit (exactly, else ignoring trailing spaces), nearest to where it says."""
    if not hunk.old:  # a pure insertion: "@@ -5,0 +6,2 @@" inserts after line 5
        where = len(lines) if hunk.old_start is None else hunk.old_start + offset
        return min(max(where, start), len(lines))
    size = len(hunk.old)
    expected = start if hunk.old_start is None else max(hunk.old_start - 1 + offset, start)
    positions = sorted(range(start, len(lines) - size + 1), key=lambda k: (abs(k - expected), k))
    for same in (lambda a, b: a == b, lambda a, b: a.rstrip() == b.rstrip()):
        for k in positions:
            if all(same(lines[k + j], hunk.old[j]) for j in range(size)):
                return k
    return None


def _misfit(lines: list[str], hunk: _Hunk, start: int, number: int, shown: str) -> ToolError:
    """Why a hunk does not fit: the closest place and the first line that differs there."""
    size, best, best_score = len(hunk.old), None, 0
    if len(lines) * size <= 4_000_000:
        for k in range(start, max(len(lines) - size + 1, start)):
            score = sum(lines[k + j].strip() == hunk.old[j].strip() for j in range(size))
            if score > best_score:
                best, best_score = k, score
    where = ""
    if best is not None:
        j = next(j for j in range(size) if lines[best + j] != hunk.old[j])
        where = (f" The closest place is line {best + 1}; there line {best + j + 1} is "
                 f"{lines[best + j][:120]!r} but the hunk expects {hunk.old[j][:120]!r}.")
    return ToolError(
        f"Hunk {number} of {shown} ({hunk.header}) does not apply: its context and removed lines are not in "
        f"the file.{where} Read the file and rebuild the hunk from its current text (or use edit_file). "
        "No file was changed."
    )


def _apply_hunks(text: str, hunks: list[_Hunk], shown: str) -> tuple[str, list[str]]:
    """The patched text, and notes on where hunks moved."""
    kept = text.splitlines(keepends=True)
    lines = [line.rstrip("\r\n") for line in kept]
    eol = "\r\n" if "\r\n" in text else "\n"
    ends_with_eol = not text or text.endswith(("\n", "\r"))
    out: list[str] = []
    notes: list[str] = []  # hunks that applied away from where their header said
    pos = offset = 0
    for number, hunk in enumerate(hunks, 1):
        at = _locate(lines, hunk, pos, offset)
        if at is None:
            raise _misfit(lines, hunk, pos, number, shown)
        if hunk.old_start is not None and hunk.old:
            moved = at - (hunk.old_start - 1)
            if moved != offset:
                notes.append(f"hunk {number} applied at line {at + 1} ({moved:+d} from its header)")
            offset = moved
        out += kept[pos:at]
        if out and hunk.new and not out[-1].endswith(("\n", "\r")):
            out[-1] += eol  # inserting after a last line that had no newline
        out += [line + eol for line in hunk.new]
        pos = at + len(hunk.old)
        if pos == len(lines) and (hunk.old_no_eol or hunk.new_no_eol):
            ends_with_eol = not hunk.new_no_eol
    result = "".join(out + kept[pos:])
    if pos == len(lines) and not ends_with_eol and result.endswith(eol):
        result = result[: -len(eol)]
    return result, notes


def _patch_approval(args: dict[str, Any], ctx: ToolContext) -> ApprovalRequest | None:
    try:
        files = parse_patch(args["patch"])
    except ToolError:
        return None  # the tool itself reports the problem
    paths = {ctx.resolve(p) for f in files for p in (f.old_path, f.new_path) if p}
    outside = sorted(str(p) for p in paths if check_write(p, ctx.workspace) is not None)
    return ApprovalRequest(tool="", reason=f"writes outside the workspace ({', '.join(outside)})",
                           action=f"apply_patch to {', '.join(outside)}", subjects=outside) if outside else None


def _old_text(ctx: ToolContext, source: Path | None, dest: Path | None, pending: dict[Path, str | None]) -> str:
    """What a file's hunks apply to: nothing for a new file, else its text (as patched so far)."""
    if source is None:
        if dest is not None and (pending.get(dest) is not None or (dest.exists() and dest.stat().st_size)):
            raise ToolError(f"The patch creates {ctx.shown(dest)}, which already exists. No file was changed.")
        return ""
    if pending.get(source) is not None:
        return pending[source]  # type: ignore[return-value]
    if not source.is_file() or source in pending:
        raise ToolError(f"The patch changes {ctx.shown(source)}, which is not a file. No file was changed.")
    try:
        return source.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{ctx.shown(source)} is not UTF-8 text; a patch cannot change it.") from exc


@tool(toolset="files", needs_approval=_patch_approval)
def apply_patch(ctx: ToolContext, patch: str) -> str:
    """Apply a unified diff (as from `diff -u` or `git diff`) to files; all hunks must fit or nothing changes.

    Args:
        patch: The diff: per file '--- a/PATH' and '+++ b/PATH' lines, then '@@ -l,n +l,n @@' hunks. Use /dev/null to create or delete a file.
    """
    pending: dict[Path, str | None] = {}  # new content, None to delete; written only when all fit
    report: list[str] = []
    for file_patch in parse_patch(patch):
        source, dest = (ctx.resolve(p) if p else None for p in (file_patch.old_path, file_patch.new_path))
        shown = ctx.shown(dest or source)  # type: ignore[arg-type]
        result, notes = _apply_hunks(_old_text(ctx, source, dest, pending), file_patch.hunks, shown)
        if source is not None and source != dest:
            pending[source] = None  # deleted, or renamed
        if dest is not None:
            pending[dest] = result
        added = sum(len(h.new) - len(h.old) for h in file_patch.hunks)
        what = f"{len(file_patch.hunks)} hunk(s), {added:+d} lines"
        what = "deleted" if dest is None else "created" if source is None else what
        if source is not None and dest is not None and source != dest:
            what += f", renamed from {ctx.shown(source)}"
        report.append(f"{shown} ({'; '.join([what, *notes])})")
    for target, content in pending.items():
        if content is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode("utf-8"))
    return f"Patched {len(report)} file(s): " + ", ".join(report) + "."


# --- move and delete ------------------------------------------------------------------------------


def _move_target(ctx: ToolContext, src: str, dst: str) -> tuple[Path, Path]:
    source, dest = ctx.resolve(src), ctx.resolve(dst)
    return source, dest / source.name if dest.is_dir() else dest  # like mv: into an existing folder


def _move_approval(args: dict[str, Any], ctx: ToolContext) -> ApprovalRequest | None:
    source, dest = _move_target(ctx, args["src"], args["dst"])
    outside = [str(p) for p in (source, dest) if check_write(p, ctx.workspace) is not None]
    return ApprovalRequest(tool="", reason=f"moves files outside the workspace ({', '.join(outside)})",
                           action=f"move {source} -> {dest}", subjects=outside) if outside else None


@tool(toolset="files", needs_approval=_move_approval)
def move_file(ctx: ToolContext, src: str, dst: str, overwrite: bool = False) -> str:
    """Move or rename a file or folder; into dst when dst is an existing folder.

    Args:
        src: What to move, relative to the workspace.
        dst: The new path, or an existing folder to move it into.
        overwrite: Replace an existing file at dst.
    """
    source, dest = _move_target(ctx, src, dst)
    if not source.exists() and not source.is_symlink():
        raise ToolError(f"No such file or folder: {src}. Use list_dir to find it.")
    if dest == source:
        raise ToolError(f"{src} and {dst} are the same path; nothing to move.")
    if source.is_dir() and dest.is_relative_to(source):
        raise ToolError(f"Cannot move the folder {src} into itself.")
    if dest.is_dir():
        raise ToolError(f"{ctx.shown(dest)} is an existing folder; choose another name or delete it first.")
    if dest.exists() and not overwrite:
        raise ToolError(f"{ctx.shown(dest)} already exists; set overwrite=true to replace it.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(dest))
    return f"Moved {ctx.shown(source)} to {ctx.shown(dest)}."


def _delete_refusal(ctx: ToolContext, target: Path, path: str, recursive: bool) -> str | None:
    """Why a delete cannot even be asked for (the model can fix these), or None."""
    if not target.exists() and not target.is_symlink():
        return f"No such file or folder: {path}."
    real = Path(os.path.realpath(target))
    protected = {Path("/"), Path.home(), Path(os.path.realpath(ctx.workspace))}
    if not target.is_symlink() and (real in protected or real.parent == Path("/")):
        return f"Refusing to delete {target}: it is the workspace, your home, or a top-level system folder."
    if target.is_dir() and not target.is_symlink() and not recursive:
        return f"{path} is a folder; set recursive=true to delete it and everything in it."
    return None


def _delete_approval(args: dict[str, Any], ctx: ToolContext) -> ApprovalRequest | None:
    target = ctx.resolve(args["path"])
    if _delete_refusal(ctx, target, args["path"], bool(args.get("recursive"))) is not None:
        return None  # nothing to approve: the tool explains what is wrong
    if target.is_dir() and not target.is_symlink():
        count = sum(len(files) for _, _, files in os.walk(target))
        reason = f"deletes the folder {target} and the {count} file(s) in it"
        action = f"delete_file --recursive {target}"
    else:
        reason, action = f"deletes {target}", f"delete_file {target}"
    return ApprovalRequest(tool="", reason=reason, action=action)


@tool(toolset="files", needs_approval=_delete_approval)
def delete_file(ctx: ToolContext, path: str, recursive: bool = False) -> str:
    """Delete a file, or a folder with recursive=true; always asks the user first.

    Args:
        path: What to delete, relative to the workspace.
        recursive: Needed to delete a folder and everything in it.
    """
    target = ctx.resolve(path)
    refusal = _delete_refusal(ctx, target, path, recursive)
    if refusal is not None:
        raise ToolError(refusal)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
        return f"Deleted the folder {ctx.shown(target)} and everything in it."
    target.unlink()
    return f"Deleted {ctx.shown(target)}."


# --- PDFs -------------------------------------------------------------------------------------------


def _page_numbers(spec: str | None, count: int) -> list[int]:
    """1-based page numbers from "3", "1-4,7" or "5-" (to the end)."""
    numbers: list[int] = []
    for part in ((spec or "").strip() or f"1-{count}").replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d*))?", part)
        if not match:
            raise ToolError(f"pages {spec!r}: use numbers and ranges like '1-3,7' (first page is 1).")
        first, last = int(match[1]), int(match[2] or count) if match[2] is not None else int(match[1])
        if first < 1 or last > count or first > last:
            raise ToolError(f"pages {spec!r}: the document has pages 1 to {count}.")
        numbers += [n for n in range(first, last + 1) if n not in numbers]
    return numbers


@tool(toolset="files", more_hint="Call read_pdf with pages to read a specific range.",
      requires=(needs_extra("pypdf", "pdf"),))
def read_pdf(ctx: ToolContext, path: str, pages: str | None = None) -> str:
    """Extract the text of a PDF, page by page.

    Args:
        path: PDF file, relative to the workspace.
        pages: Pages to read, e.g. "1-3,7" (first page is 1); all pages when omitted.
    """
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError as exc:
        raise ToolError("read_pdf needs pypdf: pip install 'ember-agent[pdf]'") from exc
    target = ctx.resolve(path)
    if not target.is_file():
        raise ToolError(f"No such file: {path}. Use search_files(pattern='*.pdf') to find it.")
    try:
        reader = PdfReader(target)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ToolError(f"{path} is password-protected; Ember cannot read it.")
        count = len(reader.pages)
        parts = [f"{ctx.shown(target)}: {count} page(s)"]
        for number in _page_numbers(pages, count):
            text = (reader.pages[number - 1].extract_text() or "").strip()
            parts.append(f"--- page {number} ---\n" + (text or "(no text on this page; it may be a scanned image)"))
    except (PyPdfError, ValueError, KeyError, struct.error) as exc:
        raise ToolError(f"{path} is not a readable PDF ({type(exc).__name__}: {exc}).") from exc
    return "\n\n".join(parts)


# --- images -----------------------------------------------------------------------------------------


@tool(toolset="files")
def image_info(ctx: ToolContext, path: str) -> str:
    """Describe an image file: format, width and height, colour mode, frames. EXIF (camera, GPS) is not shown.

    Args:
        path: Image file, relative to the workspace.
    """
    target = ctx.resolve(path)
    if not target.is_file():
        raise ToolError(f"No such file: {path}. Use search_files to find it.")
    info = describe_image(target)
    if info is None:
        raise ToolError(f"{path} is not an image Ember recognizes (PNG, JPEG, GIF, WebP, BMP).")
    extra = "".join(f", {k} {v}" for k, v in info.items() if k not in ("format", "width", "height"))
    size = target.stat().st_size / 1024
    return f"{ctx.shown(target)}: {info['format']}, {info['width']}x{info['height']}, {size:.1f} KB{extra}"
