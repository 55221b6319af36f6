"""The user model: ``EMBER_HOME/USER.md``, a Markdown file the user can read and edit.

It has sections (Preferences, Language, Formats, Terms, Constraints) of ``- item`` lines, and is
put in every prompt. Ember adds to it from what the user states ("always answer in French",
"dates as YYYY-MM-DD") and from what they keep correcting, merging instead of appending: a new
item that restates an old one, or changes it ("answer in English" after "answer in French",
"never use tabs" after "always use tabs"), replaces it where it stands.

The file belongs to the user. Every change is made to the file as it is on disk at that moment
(read, change, then replace only if it is still what was read, else start over), under a lock
shared by every Ember process, so a hand edit made while Ember runs is never overwritten from a
stale copy. Lines Ember does not understand (free text, other headings) are kept as they are.

Size: the file is kept within ``[memory] profile_max_chars`` (default 2,000 characters). Over
budget, the cheap model condenses it when one can be asked; otherwise the oldest items of the
longest section are dropped first.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

SECTIONS = ("Preferences", "Language", "Formats", "Terms", "Constraints")
TITLE = "# User profile"
INTRO = "<!-- Ember keeps this file in every prompt and honours it. Edit it freely: your edits are kept. -->"
DEFAULT_MAX_CHARS = 2000
FILENAME = "USER.md"

Condense = Callable[[str, int], str | None]
"""``condense(text, max_chars)``: a shorter version of the profile, or None (e.g. the model is down)."""


@dataclass
class Section:
    name: str
    lines: list[str] = field(default_factory=list)

    @property
    def items(self) -> list[str]:
        return [_item_text(line) for line in self.lines if _item_text(line) is not None]  # type: ignore[misc]


@dataclass
class Profile:
    """A parsed USER.md: what comes before the first ``##`` heading, then the sections in order."""

    preamble: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def section(self, name: str, *, create: bool = False) -> Section | None:
        for section in self.sections:
            if section.name.lower() == name.lower():
                return section
        if not create:
            return None
        new = Section(next((s for s in SECTIONS if s.lower() == name.lower()), name.strip().title()))
        order = {s: i for i, s in enumerate(SECTIONS)}
        position = len(self.sections)
        if new.name in order:  # keep the standard sections in their usual order
            for i, existing in enumerate(self.sections):
                if order.get(existing.name, -1) > order[new.name]:
                    position = i
                    break
        self.sections.insert(position, new)
        return new

    def items(self) -> list[tuple[str, str]]:
        return [(s.name, item) for s in self.sections for item in s.items]


def _item_text(line: str) -> str | None:
    match = re.match(r"^\s*[-*+]\s+(.*\S)\s*$", line)
    return match.group(1) if match else None


def parse(text: str) -> Profile:
    profile = Profile()
    current: Section | None = None
    for line in text.splitlines():
        heading = re.match(r"^##\s+(.+?)\s*#*\s*$", line)
        if heading:
            current = Section(heading.group(1))
            profile.sections.append(current)
        elif current is None:
            profile.preamble.append(line)
        else:
            current.lines.append(line)
    return profile


def render(profile: Profile) -> str:
    preamble = "\n".join(profile.preamble).strip() or f"{TITLE}\n\n{INTRO}"
    parts = [preamble]
    for section in profile.sections:
        body = "\n".join(section.lines).strip("\n")
        parts.append(f"## {section.name}\n{body}" if body else f"## {section.name}")
    return "\n\n".join(parts).rstrip() + "\n"


def for_prompt(text: str, keep: Callable[[str], bool] | None = None) -> str:
    """The profile as the model sees it: without the title, HTML comments and empty sections.

    ``keep(line)`` (e.g. ``screen``'s) leaves out the lines it answers False for.
    """
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    profile = parse(text)
    kept = keep or (lambda line: True)
    lines = [line for line in profile.preamble if line.strip() and not line.startswith("# ") and kept(line)]
    for section in profile.sections:
        body = [line for line in section.lines if line.strip() and kept(line)]
        if body:
            lines += [f"{section.name}:", *body]
    return "\n".join(lines).strip()


# --- what may be a preference --------------------------------------------------------------------

KIND = "preferences about answers (language, format, terms, constraints)"
_SAID_BY_SCAN = {  # what the injection scan calls the same order
    "tells the agent to trust tool output or web pages": "an instruction to trust tool output or web pages",
    "tells the agent to skip approvals": "an instruction to skip approvals or the sandbox",
}


def refusal(item: str) -> str | None:
    """Why ``item`` may not be in USER.md, or None.

    Refused: what the injection scan refuses (in every spelling and encoding), and an order to the
    agent rather than a preference: running commands, reading or sending files, contacting hosts,
    trusting tool output, skipping approvals (``ember.security.directives``).
    """
    from ember.security.directives import preference_problem
    from ember.security.scan import refusals

    order = preference_problem(item)
    problems = refusals(item)
    if order:  # said once: "it tells the agent to trust tool output", not that and "an instruction to trust..."
        problems = [p for p in problems if p.split(" (hidden")[0] != _SAID_BY_SCAN.get(order)]
    reasons = ([f"it {order}, and USER.md holds only {KIND}"] if order else []) + (
        [f"it contains {'; '.join(problems)}"] if problems else [])
    return "; ".join(reasons) or None


def check_item(item: str, *, secrets: Iterable[str] = ()) -> str:
    """``item`` tidied, secrets redacted, ready for USER.md; raises ``UnsafeContent`` saying why it is refused.

    The message is written for the model that tried to save it: what was found, that nothing was
    saved, and what to do instead.
    """
    from ember.security.scan import UnsafeContent, check

    tidy = tidy_item(item)
    why = refusal(item) or (refusal(tidy) if tidy != item else None)
    if why:
        raise UnsafeContent(f"The profile item was refused: {why}. Nothing was saved. Do not store it another "
                            "way; if the user asked for it, tell them it cannot be a standing preference.")
    return check(tidy, "The profile item", secrets=secrets)


def screen(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(the profile for the prompt, the ``(line, why)`` left out of it): USER.md as the model sees it.

    A line that ``refusal`` refuses is left out, whoever wrote it (an older Ember, a script, a hand
    edit that pasted a web page).
    """
    left_out: list[tuple[str, str]] = []

    def keep(line: str) -> bool:
        why = refusal(_item_text(line) or line.strip())
        if why:
            left_out.append((line.strip(), why))
        return why is None

    return for_prompt(text, keep), left_out


def screened(home: Path) -> tuple[str, list[tuple[str, str]]]:
    """``screen`` of USER.md in ``home``; the verdict is kept by the file's mtime and size (``scan_cache``),
    so a prompt does not scan an unchanged file again."""
    from ember.memory import scan_cache

    text = read_text(home)
    left_out = scan_cache.verdict(home, path_in(home), lambda: screen(text)[1])
    scan_cache.flush(home)
    dropped = {line for line, _ in left_out}
    return for_prompt(text, lambda line: line.strip() not in dropped), [(line, why) for line, why in left_out]


# --- merging -------------------------------------------------------------------------------------

_LEAD = re.compile(r"^(?:(?:please|always|never|do not|don't|i prefer|prefer|i want|use|write|give|show|format|put|"
                   r"keep|make)\s+)+", re.I)
_SUBJECT_SPLIT = re.compile(r"\s+(?:as|in|like|using|with|should be|must be|=)\s+|\s*:\s*", re.I)
_ANSWER_LANGUAGE = re.compile(r"\b(?:answer|reply|respond|write|speak|talk)\b.*\bin\s+[A-Za-z]+", re.I)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s/:-]", " ", text.lower()).split())


def _core(text: str) -> str:
    """The item without its polarity and politeness: "Never use tabs" and "always use tabs" share one core."""
    return _norm(re.sub(r"^(?:please\s+)?(?:always|never|do not|don't)\s+", "", text.strip(), flags=re.I))


def _subject(text: str) -> str | None:
    """What the item is about when it says "<subject> as/in/: <value>" ("Dates as YYYY-MM-DD" -> "dates")."""
    stripped = _LEAD.sub("", text.strip())
    parts = _SUBJECT_SPLIT.split(stripped, maxsplit=1)
    if len(parts) < 2 or not parts[1].strip():
        return None
    subject = _norm(parts[0])
    return subject if 0 < len(subject.split()) <= 3 else None


def _restates(old: str, new: str) -> bool:
    """``new`` says the same thing as ``old`` or replaces it (same subject, another value)."""
    if _norm(old) == _norm(new) or _core(old) == _core(new):
        return True
    if _ANSWER_LANGUAGE.search(old) and _ANSWER_LANGUAGE.search(new):
        return True
    subject_old, subject_new = _subject(old), _subject(new)
    if subject_old and subject_old == subject_new:
        return True
    return SequenceMatcher(None, _norm(old), _norm(new)).ratio() >= 0.85


def tidy_item(text: str) -> str:
    """One line, no bullet or final period, capitalised."""
    text = " ".join(text.replace("\n", " ").split()).strip(" -*+")
    text = text.rstrip(".")
    return text[:1].upper() + text[1:]


def merge_item(profile: Profile, section: str, text: str) -> bool:
    """Put ``text`` into ``section``, replacing an item it restates (in any section); True if changed."""
    item = tidy_item(text)
    if not item:
        return False
    for existing_section in profile.sections:
        for i, line in enumerate(existing_section.lines):
            old = _item_text(line)
            if old is None or not _restates(old, item):
                continue
            if old == item:
                return False
            if existing_section.name.lower() == section.lower():
                existing_section.lines[i] = f"- {item}"
                return True
            del existing_section.lines[i]  # it moves: "always X" (Preferences) became "never X" (Constraints)
            break
    target = profile.section(section, create=True)
    assert target is not None
    while target.lines and not target.lines[-1].strip():
        target.lines.pop()
    target.lines.append(f"- {item}")
    return True


def remove_item(profile: Profile, text: str, *, exact: bool = False) -> bool:
    """Remove the item that ``text`` names (exactly, or restated unless ``exact``); True if one was removed."""
    for section in profile.sections:
        for i, line in enumerate(section.lines):
            old = _item_text(line)
            if old is not None and (_norm(old) == _norm(text) or not exact and _core(old) == _core(text)):
                del section.lines[i]
                return True
    return False


def trim(profile: Profile, max_chars: int) -> list[str]:
    """Drop the oldest items of the longest section until the file fits; returns what was dropped."""
    dropped = []
    while len(render(profile)) > max_chars:
        sections = [s for s in profile.sections if s.items]
        if not sections:
            break
        longest = max(sections, key=lambda s: (len(s.items), s.name not in ("Language", "Constraints")))
        index = next(i for i, line in enumerate(longest.lines) if _item_text(line) is not None)
        dropped.append(_item_text(longest.lines.pop(index)) or "")
    return dropped


# --- the file ------------------------------------------------------------------------------------


def home_of(home: Path, person: str = "") -> Path:
    """The folder of ``person``'s USER.md: ``EMBER_HOME`` for the owner (""), else
    ``EMBER_HOME/people/<person>/``: each person of a gateway has a profile of their own."""
    if not person:
        return Path(home)
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in person).strip("._") or "person"
    return Path(home) / "people" / safe


def path_in(home: Path) -> Path:
    return Path(home) / FILENAME


def read_text(home: Path) -> str:
    try:
        return path_in(home).read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """An exclusive lock between Ember processes (chat and gateway on one home) while USER.md changes."""
    lock_path = Path(home) / ".USER.md.lock"
    Path(home).mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: the compare-before-replace below still protects hand edits
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def update(
    home: Path,
    change: Callable[[Profile], bool],
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    condense: Condense | None = None,
    attempts: int = 3,
) -> bool:
    """Apply ``change`` to USER.md as it is on disk now; True when the file was rewritten.

    ``change(profile)`` edits the parsed profile and returns whether it changed anything. If the
    file changes on disk while we work (the user saved an edit), we start over from their version.
    """
    path = path_in(home)
    with _locked(home):
        for _ in range(attempts):
            before = read_text(home)
            profile = parse(before)
            if not change(profile):
                return False
            text = render(profile)
            if len(text) > max_chars:
                text = fit(profile, max_chars, condense)
            if read_text(home) != before:
                continue  # edited by hand meanwhile: redo the change on the new contents
            _write_atomically(path, text)
            return True
    raise RuntimeError(f"{path} kept changing while Ember tried to update it; nothing was written")


def fit(profile: Profile, max_chars: int, condense: Condense | None = None) -> str:
    """The profile within ``max_chars``: condensed by the model when that works, else trimmed."""
    text = render(profile)
    if condense is not None:
        shorter = condense(text, max_chars)
        if shorter and len(shorter) <= max_chars and parse(shorter).items():
            return shorter if shorter.endswith("\n") else shorter + "\n"
    trim(profile, max_chars)
    return render(profile)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    if path.exists():
        os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)


# --- what the user states ------------------------------------------------------------------------

LANGUAGES = frozenset(
    """english french german spanish italian portuguese dutch swedish norwegian danish finnish polish czech
    russian ukrainian greek turkish arabic hebrew hindi chinese mandarin cantonese japanese korean vietnamese
    thai indonesian romanian hungarian catalan""".split()
)

_LANGUAGE = re.compile(r"\b(?:answer|reply|respond|write|speak|talk)(?:\s+to\s+me)?\s+(?:only\s+)?in\s+([A-Za-z]+)", re.I)
_FORMAT = re.compile(
    r"\b(dates?|times?|numbers?|currenc(?:y|ies)|units?|amounts?|timestamps?|tables?|lists?|code)\b"
    r"(?:\s+\w+){0,2}?\s+(as|in|like|using|formatted as)\s+([^,;]+)", re.I)
_ALWAYS = re.compile(r"^(?:please\s+)?(?:always|from now on,?)\s+(.+)", re.I)
_NEVER = re.compile(r"^(?:please\s+)?(?:never|don't ever|do not ever)\s+(.+)", re.I)
_PREFER = re.compile(r"^(?:i(?:'d| would)? prefer|i like it when you)\s+(.+)", re.I)
_CALL_ME = re.compile(r"\b(?i:call me|my name is)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?)")
_TERM = re.compile(r"(?:\bby\s+[\"“']?([^\"”']{1,40}?)[\"”']?\s+i mean\s+(.+)|[\"“]([^\"”]{1,40})[\"”]\s+means\s+(.+))", re.I)


def stated_preferences(message: str) -> list[tuple[str, str]]:
    """(section, item) pairs for the standing preferences a message states; questions are skipped."""
    found: list[tuple[str, str]] = []
    for raw in re.split(r"(?<=[.!?;])\s+|\n+", message):
        sentence = raw.strip()
        if not sentence or sentence.endswith("?") or len(sentence) > 200:
            continue
        body = re.sub(r",?\s+please$", "", sentence.rstrip(".!;"), flags=re.I)
        language = _LANGUAGE.search(body)
        fmt = _FORMAT.search(body)
        term = _TERM.search(body)
        standing = _ALWAYS.match(body) or _NEVER.match(body) or _PREFER.match(body) or re.search(
            r"\b(?:always|from now on|by default|every time)\b", body, re.I)
        before = len(found)
        if language and language.group(1).lower() in LANGUAGES and standing:
            found.append(("Language", f"Answer in {language.group(1).title()}"))
        if fmt and (standing or fmt.group(0) == body or re.match(r"^(?:please\s+)?(?:write|format|give|show|put)\b",
                                                                 body, re.I)):
            found.append(("Formats", f"{fmt.group(1).capitalize()} {fmt.group(2).lower()} {fmt.group(3).strip()}"))
        if term:
            word, meaning = (term.group(1), term.group(2)) if term.group(1) else (term.group(3), term.group(4))
            found.append(("Terms", f'"{word.strip()}" means {meaning.strip()}'))
        if len(found) > before:
            continue
        if _NEVER.match(body):
            found.append(("Constraints", body))
        elif _ALWAYS.match(body) or _PREFER.match(body):
            found.append(("Preferences", body))
        elif _CALL_ME.search(body):
            found.append(("Preferences", f"Call me {_CALL_ME.search(body).group(1)}"))  # type: ignore[union-attr]
    return found
