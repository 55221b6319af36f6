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
from collections.abc import Callable
from typing import TYPE_CHECKING

from ember.memory.search.federated import register_source
from ember.memory.search.hits import Hit
from ember.store.learning_records import Lesson

if TYPE_CHECKING:
    from ember.store.ports import Store

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


def words_of(lesson: Lesson) -> set[str]:
    """The content words of a lesson's rule and keywords (see ``keywords``)."""
    return set(keywords(lesson.rule + " " + lesson.keywords))


def get(store: Store, lesson_id: int) -> Lesson | None:
    return store.lessons.get(lesson_id)


def list_lessons(store: Store, *, include_retired: bool = False) -> list[Lesson]:
    return store.lessons.all(include_retired=include_retired)


def _candidates(store: Store, words: list[str], *, include_retired: bool, limit: int = 30,
                person: str | None = None) -> list[Lesson]:
    return store.lessons.candidates(words[:32], include_retired=include_retired, limit=limit, person=person)


def relevant(store: Store, text: str, k: int = 3, *, person: str | None = None) -> list[Lesson]:
    """The active lessons relevant to ``text``, best first; none when nothing is close enough.

    ``person``: only that person's lessons ("" the owner); None: everyone's (``ember memory``).
    """
    words = keywords(text)
    wanted = set(words)
    scored = []
    for lesson in _candidates(store, words, include_retired=False, person=person):
        shared, cosine = overlap(wanted, words_of(lesson))
        if shared >= MIN_SHARED and shared / min(len(wanted), len(words_of(lesson))) >= MIN_OVERLAP:
            scored.append((cosine, lesson.confirmations, lesson))
    scored.sort(key=lambda item: (-item[0], -item[1]))
    return [lesson for *_, lesson in scored[:k]]


def search(store: Store, query: str, limit: int = 10, *, person: str | None = None) -> list[tuple[Lesson, float]]:
    """Lessons (retired too) matching any word of ``query``, with a similarity score; for memory search."""
    wanted = set(keywords(query))
    found = [(lesson, overlap(wanted, words_of(lesson))[1]) for lesson in
             _candidates(store, keywords(query), include_retired=True, limit=limit * 3, person=person)]
    found.sort(key=lambda item: -item[1])
    return found[:limit]


def add(store: Store, rule: str, words: str = "", *, kind: str = "correction",
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
    for existing in _candidates(store, keywords(rule + " " + words), include_retired=True, limit=10, person=person):
        if overlap(new_words, words_of(existing))[1] >= SAME_LESSON:
            merged = " ".join(dict.fromkeys((existing.keywords + " " + words).split()))
            store.lessons.reinforce(existing.id, rule, merged[:300], episode_id)
            updated = get(store, existing.id)
            assert updated is not None
            return updated, False
    lesson_id = store.lessons.add(rule, words[:300], kind=kind, episode_id=episode_id, person=person)
    created = get(store, lesson_id)
    assert created is not None
    return created, True


def _retirement(window: int, below: float) -> Callable[[str], str | None]:
    """Why a lesson with these recent outcomes is retired, or None while it still helps."""

    def reason(recent: str) -> str | None:
        if not failing(recent, window, below):
            return None
        return f"helped in {recent.count('1')} of its last {len(recent)} uses"

    return reason


def record_outcome(store: Store, lesson_ids: list[int], helped: bool, *, window: int = 5,
                   below: float = 0.4) -> list[int]:
    """Count one use of each lesson and whether the task then went well; return the ids retired."""
    return store.lessons.record_outcome(lesson_ids, helped, window=window, retire=_retirement(window, below))


def record_correction(store: Store, lesson_ids: list[int], *, window: int = 5, below: float = 0.4) -> list[int]:
    """The task that used these lessons was corrected by the user: its success did not count."""
    return store.lessons.record_correction(lesson_ids, retire=_retirement(window, below))


def failing(recent: str, window: int, below: float) -> bool:
    """At least three uses in the window (or the whole window, if smaller), and too few helped.

    Shared by lessons (retired) and skills (archived); ``recent`` is "1"/"0" outcomes, oldest first.
    """
    needed = min(3, max(window, 1))
    return len(recent) >= needed and recent.count("1") / len(recent) < below


def set_retired(store: Store, lesson_id: int, retired: bool, reason: str = "retired by the user") -> bool:
    """Retire or restore a lesson by hand; False when there is no such lesson."""
    return store.lessons.set_retired(lesson_id, retired, reason)


def delete(store: Store, lesson_id: int) -> bool:
    return store.lessons.delete(lesson_id)


def counts(store: Store) -> dict[str, int]:
    return store.lessons.counts()


# --- `ember memory search` / `show` / `forget` see lessons through this source -------------------


def _hits(store: Store, query: str, k: int, person: str | None = None) -> list[Hit]:
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
