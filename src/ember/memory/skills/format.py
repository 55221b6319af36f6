"""The Agent Skills file format: ``SKILL.md`` = YAML front matter + Markdown body.

::

    ---
    name: weekly-report            # 1-64 chars: lowercase letters, digits, single hyphens
    description: Builds the weekly sales report from data.csv. Use when asked for the weekly report.
    license: MIT                   # optional fields are kept as they are
    metadata:
      author: someone
    ---
    # Weekly report
    ...

Front matter is read with a small parser for the part of YAML that skill files use (plain,
quoted and block scalars, nested maps, lists) rather than a YAML library: Ember only needs
``name`` and ``description`` out of it, it never evaluates anything, and it adds no dependency
and no import time to the prompt path, which lists every skill. A skill written by another
Agent Skills tool is read, never rewritten, so its own fields survive untouched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_NAME = 64
MAX_DESCRIPTION = 1024
MAX_SKILL_CHARS = 40_000  # a SKILL.md from elsewhere; the spec suggests well under 500 lines
MAX_LEARNED_CHARS = 8_000  # what Ember writes itself: a recipe, not a manual


class SkillFormatError(ValueError):
    """A SKILL.md that does not follow the format; the message says what to fix."""


@dataclass
class SkillDoc:
    name: str
    description: str
    body: str
    front: dict[str, Any] = field(default_factory=dict)


# --- a small YAML subset -------------------------------------------------------------------------

_QUOTED = {'"': re.compile(r'"(?:\\.|[^"\\])*"'), "'": re.compile(r"'(?:''|[^'])*'")}


def _unquote(value: str, lineno: int) -> str:
    quoted = _QUOTED.get(value[:1])
    closed = quoted.match(value) if quoted else None
    if closed and closed.end() < len(value):
        raise SkillFormatError(f"front matter line {lineno}: {value[closed.end():].strip()[:40]!r} after the closing "
                               f"quote; put it inside the quotes, or make it a comment with ' # '")
    if value.startswith('"'):
        if not value.endswith('"') or len(value) < 2:
            raise SkillFormatError(f"front matter line {lineno}: unterminated double-quoted string")
        try:
            return json.loads(value)
        except ValueError:
            return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if value.startswith("'"):
        if not value.endswith("'") or len(value) < 2:
            raise SkillFormatError(f"front matter line {lineno}: unterminated single-quoted string")
        return value[1:-1].replace("''", "'")
    return value


def _strip_comment(value: str) -> str:
    """``value`` without a trailing ``# comment``: YAML's, a ``#`` after whitespace and outside quotes.

    A quoted scalar (or a quoted item of a ``[...]`` list) keeps every ``#`` inside its quotes and
    may be followed by a comment: ``description: "x" # note``. A quote counts only where a
    scalar starts (in ``it's # x`` and ``a "b # c"`` the ``#`` starts a comment).
    """
    i = 0
    while i < len(value):
        char = value[i]
        if char in _QUOTED and (i == 0 or value[0] == "[" and value[:i].rstrip()[-1:] in ("[", ",")):
            closed = _QUOTED[char].match(value, i)
            if closed is None:
                return value.rstrip()  # no closing quote: _unquote says so
            i = closed.end()
            continue
        if char == "#" and i > 0 and value[i - 1] in " \t":
            return value[:i].rstrip()
        i += 1
    return value.rstrip()


def _scalar(value: str, lineno: int) -> Any:
    value = _strip_comment(value.strip())
    if value.startswith("[") and value.endswith("]"):
        inner = value[1:-1].strip()
        return [_unquote(part.strip(), lineno) for part in re.findall(r"'[^']*'|\"[^\"]*\"|[^,]+", inner)] if inner else []
    return _unquote(value, lineno)


def _block(lines: list[tuple[int, str]], style: str) -> str:
    """A ``|`` (literal) or ``>`` (folded) block scalar from its indented lines."""
    texts = [text for _, text in lines]
    indent = min((len(t) - len(t.lstrip()) for t in texts if t.strip()), default=0)
    texts = [t[indent:] for t in texts]
    if style.startswith(">"):
        out, paragraph = [], []
        for text in texts:
            if text.strip():
                paragraph.append(text.strip())
            else:
                out.append(" ".join(paragraph))
                paragraph = []
        out.append(" ".join(paragraph))
        value = "\n".join(out)
    else:
        value = "\n".join(texts)
    if "-" in style:
        return value.rstrip("\n")
    if "+" in style:
        return value + "\n"
    return value.rstrip("\n") + "\n"


def parse_yaml_map(lines: list[tuple[int, str]]) -> dict[str, Any]:
    """Parse ``key: value`` lines (already de-indented to their own level) into a dict."""
    result: dict[str, Any] = {}
    i = 0
    while i < len(lines):
        lineno, line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.match(r"^([^\s:#][^:]*?|\"[^\"]+\"|'[^']+')\s*:(?:\s+(.*))?$", line)
        if not match or line[:1].isspace():
            raise SkillFormatError(f"front matter line {lineno}: expected 'key: value', got {line.strip()[:60]!r}")
        key, value = _unquote(match.group(1).strip(), lineno), (match.group(2) or "").strip()
        nested: list[tuple[int, str]] = []
        while i < len(lines) and (not lines[i][1].strip() or lines[i][1][:1].isspace()):
            nested.append(lines[i])
            i += 1
        while nested and not nested[-1][1].strip():
            nested.pop()
        if value[:1] in ("|", ">") and re.fullmatch(r"[|>][+-]?\d?", _strip_comment(value)):
            result[key] = _block(nested, value)
        elif value:
            continuation = " ".join(text.strip() for _, text in nested if text.strip())
            result[key] = _scalar(f"{value} {continuation}" if continuation else value, lineno)
        elif nested and nested[0][1].strip().startswith("- ") or (nested and nested[0][1].strip() == "-"):
            result[key] = [_scalar(text.strip()[1:], n) for n, text in nested if text.strip().startswith("-")]
        elif nested:
            indent = min(len(t) - len(t.lstrip()) for _, t in nested if t.strip())
            result[key] = parse_yaml_map([(n, t[indent:]) for n, t in nested])
        else:
            result[key] = None
    return result


def split_front_matter(text: str) -> tuple[list[tuple[int, str]], str]:
    """(front matter lines with their line numbers, body); raises when there is no front matter."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise SkillFormatError("SKILL.md must start with YAML front matter: a '---' line, name, description, '---'")
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            front = [(n + 1, lines[n]) for n in range(1, end)]
            return front, "\n".join(lines[end + 1:]).strip("\n")
    raise SkillFormatError("the front matter of SKILL.md has no closing '---' line")


def parse_skill(text: str) -> SkillDoc:
    """Read a SKILL.md; raises ``SkillFormatError`` saying what is wrong."""
    front_lines, body = split_front_matter(text)
    front = parse_yaml_map(front_lines)
    name, description = front.get("name"), front.get("description")
    if not isinstance(name, str) or not name.strip():
        raise SkillFormatError("the front matter needs a 'name'")
    if not isinstance(description, str) or not description.strip():
        raise SkillFormatError("the front matter needs a 'description'")
    return SkillDoc(name=name.strip(), description=" ".join(description.split()), body=body, front=front)


# --- writing and validating ----------------------------------------------------------------------


def _yaml_string(value: str) -> str:
    plain = re.fullmatch(r"[A-Za-z0-9][^:#\n'\"{}\[\],&*!|>%@`]*", value) and not value.endswith(" ")
    return value if plain else json.dumps(value, ensure_ascii=False)


def front_matter_fields(text: str) -> dict[str, str]:
    """Each top-level front matter field of a SKILL.md as its verbatim YAML text (key line + indented lines).

    Used to rewrite a skill's name, description or body while keeping every other field
    (``metadata`` maps, ``allowed-tools``, lists, comments) exactly as it was written.
    """
    front, _ = split_front_matter(text)
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for _, line in front:
        match = re.match(r"^([^\s:#][^:]*?|\"[^\"]+\"|'[^']+')\s*:(?:\s|$)", line)
        if match and not line[:1].isspace():
            current = fields.setdefault(_unquote(match.group(1).strip(), 0), [])
            current.clear()
            current.append(line)
        elif current is not None:
            current.append(line)
    out = {}
    for key, lines in fields.items():
        while lines and not lines[-1].strip():
            lines.pop()
        out[key] = "\n".join(lines)
    return out


def render_skill(name: str, description: str, body: str, extra: dict[str, str] | None = None,
                 raw: dict[str, str] | None = None) -> str:
    """A SKILL.md for ``name``; ``extra`` adds simple string fields (e.g. ``license``), ``raw`` adds
    fields as verbatim YAML text (from ``front_matter_fields``)."""
    lines = ["---", f"name: {name}", f"description: {_yaml_string(' '.join(description.split()))}"]
    for key, value in (extra or {}).items():
        if key not in ("name", "description") and isinstance(value, str) and key not in (raw or {}):
            lines.append(f"{key}: {_yaml_string(value)}")
    for key, value in (raw or {}).items():
        if key not in ("name", "description"):
            lines.append(value)
    lines.append("---")
    return "\n".join(lines) + "\n\n" + body.strip() + "\n"


def validate_name(name: str) -> str | None:
    """None when ``name`` is a valid skill name, else why not."""
    if not name or len(name) > MAX_NAME:
        return f"a skill name has 1 to {MAX_NAME} characters"
    if not NAME_RE.match(name):
        return "a skill name uses lowercase letters, digits and single hyphens, e.g. 'weekly-report'"
    return None


def validate(doc: SkillDoc, *, max_chars: int = MAX_SKILL_CHARS, text: str | None = None) -> list[str]:
    """Every problem with ``doc`` (empty when it is a valid skill)."""
    problems = []
    name_problem = validate_name(doc.name)
    if name_problem:
        problems.append(f"name {doc.name!r}: {name_problem}")
    if not doc.description or len(doc.description) > MAX_DESCRIPTION:
        problems.append(f"the description must have 1 to {MAX_DESCRIPTION} characters (it has {len(doc.description)})")
    if not doc.body.strip():
        problems.append("the body (the instructions after the front matter) is empty")
    size = len(text) if text is not None else len(doc.body)
    if size > max_chars:
        problems.append(f"SKILL.md has {size:,} characters; the limit is {max_chars:,}")
    return problems


def slugify(text: str) -> str:
    """A valid skill name made from free text ("Weekly Sales report!" -> "weekly-sales-report")."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    name = ""
    for word in words:
        candidate = f"{name}-{word}" if name else word
        if len(candidate) > 40:
            break
        name = candidate
    return name or "skill"
