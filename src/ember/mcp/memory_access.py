"""What ``ember mcp serve`` shares: memory search, the user profile (USER.md) and skills.

Each is one small function over the store or EMBER_HOME, so the MCP server does not care where
the data comes from:

- ``search_memory`` is Ember's own memory search (``ember.memory.search.federated``): past messages
  (BM25, plus embeddings when installed and not turned off with ``EMBER_EMBEDDINGS=off``,
  aware of speakers and dates), episodes, lessons and skills, fused into one ranking; ``scope``
  narrows it to one of them. Each hit keeps what a client needs to cite or forget it: its id,
  source, session, speaker, date, a snippet and its score.
- ``update_profile`` goes through the learning loop's USER.md merge (``ember.memory.profile``):
  an item that restates or changes an existing one replaces it, the file is changed as it is on
  disk (hand edits are kept) and kept within ``[memory] profile_max_chars``. Items are scanned
  first (``ember.security.scan``); injected instructions, hidden text, secrets, and orders that
  are not preferences about answers (run commands, read or send files, contact hosts, trust tool
  output, skip approvals: ``ember.memory.profile.refusal``) are refused and USER.md is left as it was.
- USER.md is read as the plain file it is; skills are those of the prompt's index (a skill the scan
  refuses, or one without valid front matter, is served to no client).

Everything returned passes through a redactor: another program asking Ember's memory must not
learn the secrets Ember knows. Snippets are redacted before they are cut, so a cut never leaves
half a key that the redactor would no longer recognise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.memory.search.hits import Hit
    from ember.store.ports import Store

PROFILE_FILE = "USER.md"
MAX_ITEM_CHARS = 300  # one short line, as the built-in user_profile tool takes
MAX_RESULTS = 50
SNIPPET_CHARS = 300
_SKILL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass
class MemoryHit:
    """One search result, as another program sees it."""

    id: str  # what `ember memory forget` takes: a message id, or "<source>:<id>"
    source: str  # messages, episodes, lessons or skills
    session_id: str | None
    who: str | None  # the speaker's name, else the role (user, assistant)
    when: str  # "YYYY-MM-DD HH:MM", or "" when the source has no date
    text: str
    score: float

    def line(self) -> str:
        """``[id · source · when · who · session S · score 0.0312] snippet``: one line per hit."""
        parts = [self.id, self.source, self.when, self.who or "",
                 f"session {self.session_id}" if self.session_id else "", f"score {self.score:g}"]
        return f"[{' · '.join(p for p in parts if p)}] {self.text}"


def _snippet(text: str, redact: Callable[[str], str]) -> str:
    text = " ".join(text.split())
    if text.endswith("…"):
        # Cut by the search already: its last word may be half a secret, which no redactor recognises.
        head = text[:-1].rstrip().rpartition(" ")[0]
        text = f"{head} …" if head else "…"
    text = redact(text)
    if len(text) > SNIPPET_CHARS:
        text = text[:SNIPPET_CHARS - 1].rpartition(" ")[0] or text[:SNIPPET_CHARS - 1]
        text += " …"
    return text


def _memory_hit(hit: Hit, redact: Callable[[str], str]) -> MemoryHit:
    from ember.memory.search.index import local_time

    moment = local_time(hit.created_at)
    when = moment.strftime("%Y-%m-%d %H:%M") if moment else ""
    return MemoryHit(
        id=hit.id, source=hit.source, session_id=hit.session_id, who=hit.speaker or hit.role, when=when,
        text=_snippet(hit.text, redact), score=round(hit.score, 4),
    )


def search_memory(
    store: Store, query: str, limit: int = 10, scope: str = "all", *,
    redact: Callable[[str], str] = lambda text: text,
) -> list[MemoryHit]:
    """The best ``limit`` hits (1 to 50) for ``query`` in ``scope``, best first, snippets redacted.

    ``scope`` is ``all``, ``messages``, ``episodes``, ``lessons`` or ``skills``
    (``ember.memory.search.federated.SCOPES``); an unknown one raises ValueError, as does an empty query.
    """
    from ember.memory.search.federated import search

    if not query.strip():
        raise ValueError("the query is empty: say what to look for")
    limit = max(1, min(int(limit), MAX_RESULTS))
    # The owner's memory (MCP clients are the owner's tools), never a gateway person's.
    return [_memory_hit(hit, redact) for hit in search(store, query, k=limit, scope=scope, person="")]


# --- USER.md -------------------------------------------------------------------------------------


def read_profile(home: Path) -> str:
    path = home / PROFILE_FILE
    return path.read_text(encoding="utf-8") if path.exists() else ""


@dataclass
class ProfileChange:
    """What ``update_profile`` did: the item as stored, its section, and whether USER.md changed."""

    item: str
    section: str
    changed: bool


def update_profile(
    home: Path, text: str, *, section: str = "Preferences", max_chars: int | None = None,
    secrets: Iterable[str] = (),
) -> ProfileChange:
    """Merge ``text`` into USER.md as one item of ``section``, the way the learning loop does.

    The item replaces one it restates or changes (in any section); an item already there changes
    nothing. The file is kept within ``max_chars`` (``[memory] profile_max_chars``). Raises
    ``ValueError`` (``UnsafeContent`` for what the security scan refuses, secrets included)
    before anything is written.
    """
    from ember.memory import profile
    from ember.security.scan import UnsafeContent, scan

    item = profile.tidy_item(text)
    if not item:
        raise ValueError("nothing to add: give the fact or preference to remember, in one short line")
    name = next((s for s in profile.SECTIONS if s.lower() == section.strip().lower()), None)
    if name is None:
        raise ValueError(f"unknown section {section!r}; use one of {', '.join(profile.SECTIONS)}")
    secrets = list(secrets)
    # The text as sent (line-anchored markers like "[SYSTEM]" show only there) and the item as stored.
    for candidate in dict.fromkeys((text, item)):
        result = scan(candidate, secrets=secrets)
        if result.refused:
            raise UnsafeContent(f"{result.explain('The profile item')} USER.md was not changed.")
        if result.redacted:
            raise UnsafeContent(f"The profile item was refused: it contains {', '.join(result.redacted)}, and "
                                "USER.md never holds secrets. USER.md was not changed.")
    why = profile.refusal(text) or profile.refusal(item)
    if why:  # an order to run, read, send or trust something is not a preference, whoever sends it
        raise UnsafeContent(f"The profile item was refused: {why}. USER.md was not changed.")
    if len(item) > MAX_ITEM_CHARS:
        raise ValueError(f"a profile item is one short line (at most {MAX_ITEM_CHARS} characters); "
                         "split or shorten it")
    budget = profile.DEFAULT_MAX_CHARS if max_chars is None else max_chars
    try:
        changed = profile.update(home, lambda p: profile.merge_item(p, name, item), max_chars=budget)
    except RuntimeError as exc:  # the file kept changing under us: nothing was written
        raise ValueError(str(exc)) from None
    return ProfileChange(item=item, section=name, changed=changed)


# --- skills -----------------------------------------------------------------------------------------


@dataclass
class Skill:
    name: str
    description: str
    path: Path


def list_skills(home: Path) -> list[Skill]:
    """The skills in the prompt's index, sorted by name: the library's own listing (``memory.skills``),
    so a skill the scan refuses, or one that cannot be read, is served to no MCP client either."""
    from ember.memory.skills import library

    return [Skill(name=info.name, description=info.description, path=info.path / "SKILL.md")
            for info in library.list_skills(home) if not info.problem]


def read_skill(home: Path, name: str) -> str:
    """The SKILL.md of the skill called ``name`` (its front-matter name or its folder name)."""
    if not _SKILL_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a skill name")
    for skill in list_skills(home):
        if name in (skill.name, skill.path.parent.name):
            return skill.path.read_text(encoding="utf-8")
    known = ", ".join(s.name for s in list_skills(home)) or "none yet"
    raise ValueError(f"no skill named {name!r}; skills: {known}")
