"""Lessons: short rules ("when X, do Y, not Z") learned from corrections and fixed failures.

A lesson keeps its source episode, how often it was put in a prompt (``uses``), how often the
task then succeeded without a correction (``successes``), and its latest outcomes (``recent``).
When its success rate over the last ``window`` uses falls below ``below`` it is retired: kept for
the record, never injected again (until the user corrects the same thing once more).

Retrieval for the prompt is two-stage: FTS5 (BM25) finds candidates among active lessons, then a
keyword-overlap score decides relevance. BM25 alone cannot be thresholded on a small table (with
a handful of lessons its IDF is near zero for every term), while "shares at least two content
words, and a fair share of them" is stable at any size and keeps unrelated lessons out.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ember.memory.hits import Hit
from ember.memory.search import register_source

if TYPE_CHECKING:
    from ember.memory.store import SQLiteStore

KINDS = ("correction", "failure", "manual")
MIN_SHARED = 2  # content words a lesson must share with the message
MIN_OVERLAP = 0.25  # ... and this share of the smaller of the two word sets
SAME_LESSON = 0.8  # similarity (cosine of the word sets) above which a new rule restates an existing lesson

_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing don done down during each else even ever every few for from
    further get got had has have having he her here hers him his how i if in into is it its itself just let like
    may me might more most must my no nor not now of off on once only or other our ours out over own please
    rather same shall she should so some such than that the their theirs them then there these they this those
    through to too under until up upon us very was we were what when where whether which while who whom why will
    with would yes yet you your yours instead always never use using used when whenever do don't dont one thing
    le la les un une des et ou de du en est pas que qui pour dans sur avec""".split()
)


def keywords(text: str) -> list[str]:
    """Content words of ``text``, crudely stemmed (plural ``s`` dropped, cut to six letters), in order.

    Six-letter prefixes make "classify", "classified" and "classification" one word, which is
    what matching a lesson to a new task needs, in any language FTS5's tokenizer splits.
    """
    seen: dict[str, None] = {}
    for word in re.findall(r"[^\W_]+", text.lower()):
        if len(word) < 3 or word in _STOPWORDS or word.isdigit():
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        seen.setdefault(word[:6], None)
    return list(seen)


def overlap(a: set[str], b: set[str]) -> tuple[int, float]:
    """(shared words, cosine of the two word sets)."""
    shared = len(a & b)
    return shared, (shared / math.sqrt(len(a) * len(b)) if a and b else 0.0)


@dataclass
class Lesson:
    id: int
    rule: str
    keywords: str
    kind: str
    episode_id: int | None
    uses: int
    successes: int
    recent: str
    confirmations: int
    retired_at: float | None
    retired_reason: str | None
    created_at: float

    @property
    def active(self) -> bool:
        return self.retired_at is None

    @property
    def words(self) -> set[str]:
        return set(keywords(self.rule + " " + self.keywords))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "rule": self.rule, "keywords": self.keywords, "kind": self.kind,
            "episode_id": self.episode_id, "uses": self.uses, "successes": self.successes,
            "confirmations": self.confirmations, "active": self.active, "retired_reason": self.retired_reason,
            "created_at": self.created_at,
        }


def _from_row(row: Any) -> Lesson:
    return Lesson(
        id=row["id"], rule=row["rule"], keywords=row["keywords"], kind=row["kind"], episode_id=row["episode_id"],
        uses=row["uses"], successes=row["successes"], recent=row["recent"], confirmations=row["confirmations"],
        retired_at=row["retired_at"], retired_reason=row["retired_reason"], created_at=row["created_at"],
    )


def get(store: SQLiteStore, lesson_id: int) -> Lesson | None:
    rows = store._read("SELECT * FROM lessons WHERE id = ?", (lesson_id,))
    return _from_row(rows[0]) if rows else None


def list_lessons(store: SQLiteStore, *, include_retired: bool = False) -> list[Lesson]:
    where = "" if include_retired else "WHERE retired_at IS NULL"
    return [_from_row(r) for r in store._read(f"SELECT * FROM lessons {where} ORDER BY id")]


def _candidates(store: SQLiteStore, words: list[str], *, include_retired: bool, limit: int = 30,
                person: str | None = None) -> list[Lesson]:
    if not words:
        return []
    match = " OR ".join(f'"{w}"*' for w in words[:32])
    rows = store._read(
        """SELECT l.* FROM lessons_fts JOIN lessons l ON l.id = lessons_fts.rowid
           WHERE lessons_fts MATCH ? AND (? OR l.retired_at IS NULL) AND (? IS NULL OR l.person = ?)
           ORDER BY bm25(lessons_fts) LIMIT ?""",
        (match, include_retired, person, person, limit),
    )
    return [_from_row(r) for r in rows]


def relevant(store: SQLiteStore, text: str, k: int = 3, *, person: str | None = None) -> list[Lesson]:
    """The active lessons relevant to ``text``, best first; none when nothing is close enough.

    ``person``: only that person's lessons ("" the owner); None: everyone's (``ember memory``).
    """
    words = keywords(text)
    wanted = set(words)
    scored = []
    for lesson in _candidates(store, words, include_retired=False, person=person):
        shared, cosine = overlap(wanted, lesson.words)
        if shared >= MIN_SHARED and shared / min(len(wanted), len(lesson.words)) >= MIN_OVERLAP:
            scored.append((cosine, lesson.confirmations, lesson))
    scored.sort(key=lambda item: (-item[0], -item[1]))
    return [lesson for *_, lesson in scored[:k]]


def search(store: SQLiteStore, query: str, limit: int = 10, *, person: str | None = None) -> list[tuple[Lesson, float]]:
    """Lessons (retired too) matching any word of ``query``, with a similarity score; for memory search."""
    wanted = set(keywords(query))
    found = [(lesson, overlap(wanted, lesson.words)[1]) for lesson in
             _candidates(store, keywords(query), include_retired=True, limit=limit * 3, person=person)]
    found.sort(key=lambda item: -item[1])
    return found[:limit]


def add(store: SQLiteStore, rule: str, words: str = "", *, kind: str = "correction",
        episode_id: int | None = None, person: str = "") -> tuple[Lesson, bool]:
    """Store a lesson; returns ``(lesson, created)``.

    A rule that restates an existing lesson (retired or not) reinforces it instead: the newer
    wording replaces the old one, ``confirmations`` goes up, and a retired lesson comes back with a
    clean record, since the user needed it again.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    rule, words = " ".join(rule.split()), " ".join(words.split())
    new_words = set(keywords(rule + " " + words))
    now = time.time()
    for existing in _candidates(store, keywords(rule + " " + words), include_retired=True, limit=10, person=person):
        if overlap(new_words, existing.words)[1] >= SAME_LESSON:
            merged = " ".join(dict.fromkeys((existing.keywords + " " + words).split()))
            with store._write() as db:
                db.execute(
                    """UPDATE lessons SET rule = ?, keywords = ?, confirmations = confirmations + 1,
                       episode_id = COALESCE(?, episode_id), retired_at = NULL, retired_reason = NULL,
                       recent = CASE WHEN retired_at IS NULL THEN recent ELSE '' END, updated_at = ?
                       WHERE id = ?""",
                    (rule, merged[:300], episode_id, now, existing.id),
                )
            updated = get(store, existing.id)
            assert updated is not None
            return updated, False
    with store._write() as db:
        cursor = db.execute(
            """INSERT INTO lessons (rule, keywords, kind, episode_id, created_at, updated_at, person)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (rule, words[:300], kind, episode_id, now, now, person),
        )
        lesson_id = int(cursor.lastrowid or 0)
    created = get(store, lesson_id)
    assert created is not None
    return created, True


def record_outcome(store: SQLiteStore, lesson_ids: list[int], helped: bool, *, window: int = 5,
                   below: float = 0.4) -> list[int]:
    """Count one use of each lesson and whether the task then went well; return the ids retired."""
    retired = []
    now = time.time()
    with store._write() as db:
        for lesson_id in dict.fromkeys(lesson_ids):
            row = db.execute("SELECT recent, retired_at FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
            if row is None:
                continue
            recent = (row["recent"] + ("1" if helped else "0"))[-max(window, 1):]
            db.execute(
                "UPDATE lessons SET uses = uses + 1, successes = successes + ?, recent = ?, updated_at = ? WHERE id = ?",
                (1 if helped else 0, recent, now, lesson_id),
            )
            if row["retired_at"] is None and _retire_if_failing(db, lesson_id, recent, window, below, now):
                retired.append(lesson_id)
    return retired


def _retire_if_failing(db: Any, lesson_id: int, recent: str, window: int, below: float, now: float) -> bool:
    """Retire a lesson whose recent uses helped too rarely; True when it was retired."""
    if not failing(recent, window, below):
        return False
    db.execute(
        "UPDATE lessons SET retired_at = ?, retired_reason = ? WHERE id = ?",
        (now, f"helped in {recent.count('1')} of its last {len(recent)} uses", lesson_id),
    )
    return True


def record_correction(store: SQLiteStore, lesson_ids: list[int], *, window: int = 5, below: float = 0.4) -> list[int]:
    """The task that used these lessons was corrected by the user: its success did not count."""
    retired = []
    now = time.time()
    with store._write() as db:
        for lesson_id in dict.fromkeys(lesson_ids):
            row = db.execute("SELECT recent, retired_at FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
            if row is None or not row["recent"].endswith("1"):
                continue
            recent = row["recent"][:-1] + "0"
            db.execute(
                "UPDATE lessons SET successes = MAX(successes - 1, 0), recent = ?, updated_at = ? WHERE id = ?",
                (recent, now, lesson_id),
            )
            if row["retired_at"] is None and _retire_if_failing(db, lesson_id, recent, window, below, now):
                retired.append(lesson_id)
    return retired


def failing(recent: str, window: int, below: float) -> bool:
    """At least three uses in the window (or the whole window, if smaller), and too few helped.

    Shared by lessons (retired) and skills (archived); ``recent`` is "1"/"0" outcomes, oldest first.
    """
    needed = min(3, max(window, 1))
    return len(recent) >= needed and recent.count("1") / len(recent) < below


def set_retired(store: SQLiteStore, lesson_id: int, retired: bool, reason: str = "retired by the user") -> bool:
    """Retire or restore a lesson by hand; False when there is no such lesson."""
    with store._write() as db:
        if retired:
            cursor = db.execute(
                "UPDATE lessons SET retired_at = ?, retired_reason = ? WHERE id = ?", (time.time(), reason, lesson_id)
            )
        else:
            cursor = db.execute(
                "UPDATE lessons SET retired_at = NULL, retired_reason = NULL, recent = '' WHERE id = ?", (lesson_id,)
            )
        return cursor.rowcount > 0


def delete(store: SQLiteStore, lesson_id: int) -> bool:
    with store._write() as db:
        return db.execute("DELETE FROM lessons WHERE id = ?", (lesson_id,)).rowcount > 0


def counts(store: SQLiteStore) -> dict[str, int]:
    row = store._read(
        "SELECT COUNT(*) AS total, SUM(retired_at IS NULL) AS active FROM lessons"
    )[0]
    total, active = row["total"] or 0, row["active"] or 0
    return {"active": active, "retired": total - active}


# --- `ember memory search` / `show` / `forget` see lessons through this source -------------------


def _hits(store: SQLiteStore, query: str, k: int, person: str | None = None) -> list[Hit]:
    return [
        Hit(id=f"lessons:{lesson.id}", score=score, source="lessons",
            text=lesson.rule + ("" if lesson.active else " (retired)"), created_at=lesson.created_at)
        for lesson, score in search(store, query, k, person=person) if score > 0
    ]


register_source(
    "lessons", _hits,
    count=lambda store: counts(store)["active"],
    forget=lambda store, key: key.isdigit() and delete(store, int(key)),
)
