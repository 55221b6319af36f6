"""What ``ember mcp serve`` shares: memory search, the user profile (USER.md) and skills.

Each is one small function over EMBER_HOME, so the MCP server does not care where the data
comes from. Today ``search_memory`` is the store's full-text search over past messages; when
the memory layer offers a richer search (episodes, lessons, skills, embeddings), only that
function changes. USER.md and ``skills/<name>/SKILL.md`` are read as the plain files they are.

Everything returned passes through a redactor first: another program asking Ember's memory
must not learn the secrets Ember knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.memory.store import SQLiteStore

PROFILE_FILE = "USER.md"
MAX_PROFILE_CHARS = 20_000  # USER.md is in every prompt; a shared writer must not bloat it
_SKILL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass
class MemoryHit:
    """One search result, as another program sees it."""

    session_id: str
    role: str
    when: str
    text: str
    score: float


def search_memory(store: SQLiteStore, query: str, limit: int = 10) -> list[MemoryHit]:
    """Past messages matching ``query``, best first: all words if that finds anything, else any word."""
    limit = max(1, min(limit, 50))
    hits = store.search_messages(query, limit=limit) or store.search_messages(query, limit=limit, any_terms=True)
    return [
        MemoryHit(
            session_id=hit.message.session_id,
            role=hit.message.message.role,
            when=datetime.fromtimestamp(hit.message.created_at).strftime("%Y-%m-%d %H:%M"),
            text=hit.snippet or hit.message.message.content[:300],
            score=round(hit.score, 3),
        )
        for hit in hits
    ]


# --- USER.md -------------------------------------------------------------------------------------


def read_profile(home: Path) -> str:
    path = home / PROFILE_FILE
    return path.read_text(encoding="utf-8") if path.exists() else ""


def update_profile(home: Path, text: str, *, replace: bool = False) -> str:
    """Append ``text`` as a line of USER.md (or replace the whole file); returns the new content."""
    text = text.strip()
    if not text and not replace:
        raise ValueError("nothing to add: give the fact or preference to remember")
    current = read_profile(home)
    if replace:
        new = text + "\n" if text else ""
    else:
        line = text if text.startswith(("-", "*", "#")) else f"- {text}"
        new = (current.rstrip("\n") + "\n" if current.strip() else "") + line + "\n"
    if len(new) > MAX_PROFILE_CHARS:
        raise ValueError(f"USER.md would exceed {MAX_PROFILE_CHARS:,} characters; shorten it or replace it")
    from ember.mcp.config_edit import write_atomically

    write_atomically(home / PROFILE_FILE, new)
    return new


# --- skills -----------------------------------------------------------------------------------------


@dataclass
class Skill:
    name: str
    description: str
    path: Path


def front_matter(text: str) -> dict[str, str]:
    """The ``key: value`` pairs of a ``---`` YAML front matter block; never raises.

    Only what SKILL.md needs: plain and quoted scalars, and ``>``/``|`` blocks folded into one
    line. Anything else is skipped rather than misread.
    """
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    values: dict[str, str] = {}
    key = None
    for line in lines[1:]:
        if line.strip() in ("---", "..."):
            break
        match = re.match(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$", line)
        if match and not line[0].isspace():
            key, value = match.group(1), match.group(2).strip()
            if value in (">", "|", ">-", "|-", ""):
                values[key] = ""
                continue
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key] = value
            key = None
        elif key is not None and line.strip():
            values[key] = f"{values[key]} {line.strip()}".strip()
    return values


def _first_paragraph(text: str) -> str:
    body = re.sub(r"\A---.*?^---\s*$", "", text, count=1, flags=re.S | re.M)
    for line in body.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line[:200]
    return ""


def list_skills(home: Path) -> list[Skill]:
    """Every ``skills/<name>/SKILL.md``, sorted by name; unreadable ones are skipped."""
    root = home / "skills"
    skills = []
    for path in sorted(root.glob("*/SKILL.md")) if root.is_dir() else []:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        meta = front_matter(text)
        name = meta.get("name") or path.parent.name
        skills.append(Skill(name=name, description=meta.get("description") or _first_paragraph(text), path=path))
    return skills


def read_skill(home: Path, name: str) -> str:
    """The SKILL.md of the skill called ``name`` (its front-matter name or its folder name)."""
    if not _SKILL_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a skill name")
    for skill in list_skills(home):
        if name in (skill.name, skill.path.parent.name):
            return skill.path.read_text(encoding="utf-8")
    known = ", ".join(s.name for s in list_skills(home)) or "none yet"
    raise ValueError(f"no skill named {name!r}; skills: {known}")
