"""The skill library: ``EMBER_HOME/skills/<name>/SKILL.md`` folders, and their usage counts.

A skill is a folder in the Agent Skills format (``SKILL.md``, optional ``scripts/`` and
``references/``), so skills written by other Agent Skills tools work when copied in or installed
with ``ember skills install PATH``. Files a person reads and edits stay files; what is counted
(uses, successes, last use, archived) lives in the ``skill_stats`` table.

Skills are never deleted by Ember: a failing or long-unused skill moves to
``skills/.archive/<name>/`` and can be restored. Only ``ember skills remove`` deletes.

Everything Ember saves into a skill (learned, created by the model, installed) is validated
(front matter, name, size) and scanned (``ember.security.scan``) first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ember.memory.lessons import failing, keywords, overlap
from ember.memory.search.federated import register_source
from ember.memory.search.hits import Hit
from ember.memory.skills import stats as skill_stats
from ember.memory.skills.format import (
    MAX_LEARNED_CHARS,
    MAX_SKILL_CHARS,
    SkillDoc,
    SkillFormatError,
    front_matter_fields,
    parse_skill,
    render_skill,
    validate,
)

if TYPE_CHECKING:
    from ember.store.ports import Store

log = logging.getLogger(__name__)

ARCHIVE = ".archive"
MAX_INSTALL_BYTES = 5_000_000
_CODE_SUFFIXES = (".py", ".sh", ".js", ".ts")


class SkillError(ValueError):
    """A skill cannot be saved, installed or found; the message says why and what to do."""


class SecretsFound(SkillError):
    """A skill to install holds what look like real secrets; ``found`` lists them as ``FILE:LINE: what``."""

    def __init__(self, name: str, found: list[str]) -> None:
        self.name, self.found = name, found
        listed = "".join(f"\n  {line}" for line in found)
        super().__init__(f"{name} was not installed: it holds what look like real secrets "
                         f"(the agent would read them):{listed}")


@dataclass
class SkillInfo:
    """One skill folder as listed: its front matter, where it lives, and a problem if it is unusable.

    ``problem`` is why it is left out of the prompt: a SKILL.md that cannot be read, or one the scan
    refuses; ``refused`` is set in the second case (what the scan found).
    """

    name: str
    description: str
    path: Path
    archived: bool = False
    problem: str | None = None
    refused: str | None = None


def skills_dir(home: Path) -> Path:
    return Path(home) / "skills"


# --- reading -------------------------------------------------------------------------------------

_cache: dict[Path, tuple[int, int, SkillDoc | str]] = {}
_refused: dict[Path, tuple[int, int, str | None]] = {}


def _read_doc(skill_file: Path) -> SkillDoc | str:
    """The parsed SKILL.md, or why it cannot be read; cached by mtime so listing every turn is cheap."""
    try:
        stat = skill_file.stat()
    except OSError as exc:
        return str(exc)
    cached = _cache.get(skill_file)
    if cached and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    try:
        doc: SkillDoc | str = parse_skill(skill_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SkillFormatError) as exc:
        doc = str(exc)
    _cache[skill_file] = (stat.st_mtime_ns, stat.st_size, doc)
    return doc


def _refusal_of(home: Path, skill_file: Path, doc: SkillDoc) -> str | None:
    """Why the scan refuses this SKILL.md, or None.

    Every SKILL.md is scanned before its description reaches the prompt's index: one copied in by
    hand, or edited since Ember saved it, was never scanned otherwise. The verdict is kept by mtime
    and size (``scan_cache``), so a one-shot run does not scan the whole library again.
    """
    try:
        stat = skill_file.stat()
    except OSError:
        return None
    cached = _refused.get(skill_file)
    if cached and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    from ember.memory import scan_cache

    refused = scan_cache.verdict(home, skill_file, lambda: _refusal(doc, skill_file.read_text(encoding="utf-8")))
    _refused[skill_file] = (stat.st_mtime_ns, stat.st_size, refused)
    return refused


def _refusal(doc: SkillDoc, text: str) -> str | None:
    """What the scan finds in a skill (injected instructions, hidden text, a claim on every task...), or None."""
    from ember.security.scan import refusals

    return "; ".join(_merged(_front_problems(doc), refusals(text))) or None


def _front_problems(doc: SkillDoc) -> list[str]:
    """What the front matter says, read as the index shows it (unquoted and unescaped): a claim on
    every task, or what the scan refuses in the description."""
    from ember.security.directives import skill_claim
    from ember.security.scan import refusals

    claim = skill_claim(doc.name, doc.description, doc.body)
    return ([claim] if claim else []) + refusals(doc.description)


def _merged(first: list[str], then: list[str]) -> list[str]:
    return list(dict.fromkeys(first + then))


def list_skills(home: Path, *, archived: bool = False) -> list[SkillInfo]:
    """Skills in the library (or the archive), by name; broken ones carry their ``problem``."""
    root = skills_dir(home) / ARCHIVE if archived else skills_dir(home)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        skill_file = folder / "SKILL.md"
        if not skill_file.is_file():
            continue
        doc = _read_doc(skill_file)
        refused = None if isinstance(doc, str) else _refusal_of(home, skill_file, doc)
        if isinstance(doc, str):
            found.append(SkillInfo(folder.name, "", folder, archived, problem=doc))
        elif refused:
            found.append(SkillInfo(doc.name, doc.description, folder, archived,
                                   problem=f"left out of the prompt: it contains {refused}", refused=refused))
        else:
            found.append(SkillInfo(doc.name, doc.description, folder, archived))
    if _refused:
        from ember.memory import scan_cache

        scan_cache.flush(Path(home))
    return found


def find(home: Path, name: str, *, archived: bool = False) -> SkillInfo | None:
    for info in list_skills(home, archived=archived):
        if info.name == name or info.path.name == name:
            return info
    return None


def load(home: Path, name: str) -> SkillDoc:
    """The full skill; raises ``SkillError`` when there is none by that name (with the names there are)."""
    info = find(home, name)
    if info is None:
        known = ", ".join(i.name for i in list_skills(home) if not i.problem) or "none yet"
        raise SkillError(f"no skill named {name!r}; skills: {known}")
    doc = _read_doc(info.path / "SKILL.md")
    if isinstance(doc, str):
        raise SkillError(f"skill {name!r} is broken: {doc}")
    if info.refused:
        raise SkillError(f"skill {name!r} was not loaded: it contains {info.refused}. Tell the user; they can "
                         f"inspect it with `ember skills show {info.name}`.")
    return doc


def skill_files(folder: Path) -> list[str]:
    """The extra files a skill ships (``scripts/...``, ``references/...``), relative to its folder."""
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*")
        if p.is_file() and p.name != "SKILL.md" and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


# --- writing -------------------------------------------------------------------------------------


def _scan(text: str, what: str, secrets: Iterable[str], *, front: list[str] | None = None) -> str:
    """``text`` with secrets redacted; raises ``SkillError`` with every reason to refuse it (``front``: the
    front matter's, from ``_front_problems``)."""
    from ember.security.scan import scan  # its patterns compile only when something is saved

    result = scan(text, secrets=secrets)
    problems = _merged(front or [], result.problems)
    if problems:
        raise SkillError(f"{what} was refused: it contains {'; '.join(problems)}.")
    return result.text


def _kept_fields(skill_file: Path) -> dict[str, str]:
    """The existing SKILL.md's front matter fields, verbatim, so a rewrite keeps them (none if unreadable)."""
    if not skill_file.is_file() or isinstance(_read_doc(skill_file), str):
        return {}
    try:
        return front_matter_fields(skill_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SkillFormatError):
        return {}


def save(
    home: Path,
    store: Store | None,
    name: str,
    description: str,
    body: str,
    *,
    origin: str = "learned",
    secrets: Iterable[str] = (),
    max_chars: int = MAX_LEARNED_CHARS,
) -> Path:
    """Validate, scan and write ``skills/<name>/SKILL.md`` (replacing it if it exists); returns its path.

    Fields of an existing skill's front matter other than name and description (``license``,
    ``metadata``...) are kept. Raises ``SkillError`` with what is wrong.
    """
    text = render_skill(name, description, body)
    doc = SkillDoc(name=name, description=" ".join(description.split()), body=body.strip())
    problems = validate(doc, max_chars=max_chars, text=text)
    if problems:
        raise SkillError("invalid skill: " + "; ".join(problems))
    folder = skills_dir(home) / name
    raw = _kept_fields(folder / "SKILL.md")
    text = _scan(render_skill(name, doc.description, doc.body, raw=raw), f"skill {name!r}", secrets,
                 front=_front_problems(doc))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "SKILL.md"
    if target.is_file():
        _keep_previous(home, name, target)
    tmp = folder / f".SKILL.md.{os.getpid()}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    if store is not None:
        skill_stats.ensure(store, name, origin)
    return target


HISTORY = ".history"
_HISTORY_KEPT = 5


def _keep_previous(home: Path, name: str, skill_file: Path) -> None:
    """Keep the SKILL.md about to be replaced in ``skills/.history/<name>/``, so a change can be undone
    (``ember memory undo``); the newest few versions are kept."""
    folder = skills_dir(home) / HISTORY / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{time.time_ns()}.md").write_bytes(skill_file.read_bytes())
        for old in sorted(folder.glob("*.md"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)[:-_HISTORY_KEPT]:
            old.unlink()
    except OSError:
        log.warning("could not keep the previous version of skill %s", name, exc_info=True)


def previous_version(home: Path, name: str, before: float) -> str | None:
    """The text of skill ``name`` as it was before a change made at ``before`` (POSIX seconds), if kept."""
    folder = skills_dir(home) / HISTORY / name
    kept = [p for p in folder.glob("*.md") if p.stem.isdigit() and int(p.stem) <= before * 1e9] if folder.is_dir() else []
    if not kept:
        return None
    return max(kept, key=lambda p: int(p.stem)).read_text(encoding="utf-8")


def install(home: Path, source: Path, store: Store | None, *, secrets: Iterable[str] = (),
            replace: bool = False, confirm_secrets: Callable[[list[str]], bool] | None = None) -> SkillInfo:
    """Copy a skill folder (or the folder of a SKILL.md) into the library after validating and scanning it.

    Injected instructions, hidden text and exfiltration are refused outright. What looks like a real
    secret (a key format at its real length and randomness, a random assigned password, one of
    ``secrets``) is listed as ``FILE:LINE: what`` and handed to ``confirm_secrets``, after every other
    check passed; without it, or when it answers False, ``SecretsFound`` is raised. Placeholders
    (``sk-...``, ``<your-token>``, ``password = "changeme"``) pass.
    """
    source = Path(source).expanduser()
    folder = source.parent if source.name == "SKILL.md" else source
    skill_file = folder / "SKILL.md"
    if not skill_file.is_file():
        raise SkillError(f"{folder} has no SKILL.md; a skill is a folder with a SKILL.md in it")
    try:
        text = skill_file.read_text(encoding="utf-8")
        doc = parse_skill(text)
    except (OSError, UnicodeDecodeError, SkillFormatError) as exc:
        raise SkillError(f"{skill_file}: {exc}") from exc
    problems = validate(doc, max_chars=MAX_SKILL_CHARS, text=text)
    if problems:
        raise SkillError(f"{skill_file}: " + "; ".join(problems))
    from ember.security.scan import scan

    secrets = list(secrets)
    found: list[str] = []
    total = 0
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_symlink():
            raise SkillError(f"{relative} is a symbolic link; skills with links are refused (they can point anywhere)")
        if not path.is_file():
            continue
        total += path.stat().st_size
        if total > MAX_INSTALL_BYTES:
            raise SkillError(f"{folder} holds more than {MAX_INSTALL_BYTES // 1_000_000} MB; too big for a skill")
        content = _as_text(path)  # every file that is text, whatever its name: a prompt may read any of them
        if content is None:
            continue  # a binary asset: nothing a prompt would read
        is_code = relative.parts[0] == "scripts" or path.suffix.lower() in _CODE_SUFFIXES
        result = scan(content, secrets=secrets, code=is_code)
        problems = _merged(_front_problems(doc), result.problems) if relative == Path("SKILL.md") else result.problems
        if problems:
            raise SkillError(f"{relative} was refused: it contains {'; '.join(problems)}")
        found += [f"{relative.as_posix()}:{hit.line}: {hit.description}" for hit in result.secrets]
    target = skills_dir(home) / doc.name
    source_real, target_real = folder.resolve(), target.resolve()
    if source_real == target_real or source_real in target_real.parents or target_real in source_real.parents:
        raise SkillError(f"{folder} is the installed skill {doc.name!r} itself (or holds it); nothing to install")
    if target.exists() and not replace:
        raise SkillError(f"a skill named {doc.name!r} is already installed; use --force to replace it, "
                         "or remove or archive it first")
    if found and (confirm_secrets is None or not confirm_secrets(found)):
        raise SecretsFound(doc.name, found)
    _copy_in(folder, target)
    if store is not None:
        skill_stats.ensure(store, doc.name, "installed")
    return SkillInfo(doc.name, doc.description, target)


def _as_text(path: Path) -> str | None:
    """The file's text when it is UTF-8 text (no NUL bytes), else None."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _copy_in(folder: Path, target: Path) -> None:
    """Copy ``folder`` to ``target`` through a temporary folder beside it, then swap.

    A failure at any step leaves the skill that was there (if any) in place.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = f"{os.getpid()}-{time.monotonic_ns()}"
    fresh = target.parent / f".installing-{target.name}-{stamp}"
    old = target.parent / f".replaced-{target.name}-{stamp}"
    try:
        shutil.copytree(folder, fresh, ignore=shutil.ignore_patterns(".git", "__pycache__", ".DS_Store"))
    except OSError as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        raise SkillError(f"could not copy {folder}: {exc}") from exc
    had_old = target.exists()
    try:
        if had_old:
            os.replace(target, old)
        os.replace(fresh, target)
    except OSError as exc:
        if had_old and old.exists() and not target.exists():
            os.replace(old, target)
        shutil.rmtree(fresh, ignore_errors=True)
        raise SkillError(f"could not install into {target}: {exc}") from exc
    if had_old:
        shutil.rmtree(old, ignore_errors=True)


def archive(home: Path, name: str, store: Store | None, reason: str = "") -> Path:
    """Move a skill to ``skills/.archive/`` (a dated name if one is archived already); returns where."""
    info = find(home, name)
    if info is None:
        raise SkillError(f"no skill named {name!r} to archive")
    archive_root = skills_dir(home) / ARCHIVE
    archive_root.mkdir(parents=True, exist_ok=True)
    target = archive_root / info.path.name
    if target.exists():
        target = archive_root / f"{info.path.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    shutil.move(str(info.path), str(target))
    if store is not None:
        skill_stats.set_archived(store, info.name, True)
    log.info("skill %s archived%s", info.name, f" ({reason})" if reason else "")
    return target


def restore(home: Path, name: str, store: Store | None) -> Path:
    """Bring an archived skill back into the library, with a fresh record of recent outcomes."""
    info = find(home, name, archived=True)
    if info is None:
        raise SkillError(f"no archived skill named {name!r}")
    target = skills_dir(home) / info.name
    if target.exists():
        raise SkillError(f"a skill named {info.name!r} is active already")
    shutil.move(str(info.path), str(target))
    if store is not None:
        skill_stats.set_archived(store, info.name, False)
    return target


def remove(home: Path, name: str, store: Store | None) -> Path:
    """Delete a skill (active or archived) and its counts; the one destructive operation."""
    info = find(home, name) or find(home, name, archived=True)
    if info is None:
        raise SkillError(f"no skill named {name!r}")
    shutil.rmtree(info.path)
    if store is not None:
        skill_stats.delete(store, info.name)
    return info.path


# --- upkeep and ranking --------------------------------------------------------------------------


def archive_stale(home: Path, store: Store, *, unused_days: float = 90, window: int = 5,
                  below: float = 0.4, now: float | None = None) -> list[tuple[str, str]]:
    """Archive skills that keep failing or have not been used for ``unused_days``; returns (name, why)."""
    now = time.time() if now is None else now
    known = skill_stats.stats(store)
    archived = []
    for info in list_skills(home):
        if info.problem:
            continue
        record = known.get(info.name)
        if record is None:
            skill_stats.ensure(store, info.name, "local")  # its unused-clock starts when Ember first sees it
            continue
        why = ""
        if failing(record.recent, window, below):
            why = f"helped in {record.recent.count('1')} of its last {len(record.recent)} uses"
        elif now - skill_stats.idle_since(record) > unused_days * 86400:
            why = f"not used for {unused_days:g} days"
        if why:
            with contextlib.suppress(SkillError, OSError):
                archive(home, info.name, store, why)
                archived.append((info.name, why))
    return archived


def ranked(home: Path, store: Store | None, query: str = "") -> list[tuple[SkillInfo, int, float]]:
    """Active skills as ``(info, shared words, similarity)`` to ``query``, closest (then most successful) first."""
    counts = skill_stats.stats(store) if store is not None else {}
    wanted = set(keywords(query))
    scored = []
    for info in list_skills(home):
        if not info.problem:
            words = set(keywords(info.name.replace("-", " ") + " " + info.description))
            scored.append((info, *overlap(wanted, words)))
    successes = {name: record.successes for name, record in counts.items()}
    scored.sort(key=lambda item: (-item[2], -successes.get(item[0].name, 0), item[0].name))
    return scored


def search(home: Path, query: str, limit: int = 10) -> list[tuple[SkillInfo, float]]:
    """Skills whose name or description share words with ``query``, best first; for memory search."""
    return [(info, score) for info, shared, score in ranked(home, None, query) if shared][:limit]


def index_lines(home: Path, store: Store | None, query: str = "", limit: int = 20,
                description_chars: int = 160) -> list[str]:
    """``name: description`` for the prompt's skill index; the skills closest to ``query`` first."""
    lines = []
    for info, _, _ in ranked(home, store, query)[:limit]:
        description = info.description
        if len(description) > description_chars:
            description = description[: description_chars - 1].rstrip() + "…"
        lines.append(f"{info.name}: {description}")
    return lines


# --- `ember memory search` / `show` / `forget` see skills through this source ---------------------
# The store's home (EMBER_HOME) is where the skills are.


def _hits(store: Store, query: str, k: int, person: str | None = None) -> list[Hit]:
    # Skills are shared by every person: they are how-to, not personal data (docs/gateway.md).
    return [Hit(id=f"skills:{info.name}", score=score, source="skills", text=f"{info.name}: {info.description}")
            for info, score in search(store.home, query, k)]


def _forget(store: Store, name: str) -> bool:
    try:
        remove(store.home, name, store)
    except SkillError:
        return False
    return True


register_source(
    "skills", _hits,
    count=lambda store: sum(1 for s in list_skills(store.home) if not s.problem),
    forget=_forget,
)
