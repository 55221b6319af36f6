"""Episodic memory: one row per task (per turn), so Ember can learn from what happened.

An episode records what was asked, which tools ran with what result, the errors, the outcome
(``success``, ``failure``, ``corrected`` when the user's next message said the answer was
wrong, or ``cancelled`` when the user stopped the turn), and what it cost (model calls, tokens).
It also notes which lessons were in the prompt and which skills were loaded, so their counts can
follow the outcome, including a correction that arrives one turn later.

A turn that ended without an answer (the step limit, a provider failure, a cancel) is an episode
too, with no answer and its ``error``: the failures are what there is most to learn from. The
``errors`` column holds the failed tool calls, then that turn error.

What an episode keeps (task, answer, steps, errors) passes through the store's redactor when it is
recorded, like every message: no key reaches this table, whoever records an episode.

The episodes are kept by the store's ``EpisodeStore`` port (``store.episodes``); what an episode
is, and what is learned from it, is decided here.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ember.memory.search.federated import register_source
from ember.memory.search.hits import Hit
from ember.store.learning_records import Episode, Step

if TYPE_CHECKING:
    from ember.store.ports import Store
    from ember.store.records import StoredMessage


OUTCOMES = ("success", "failure", "corrected", "cancelled")
RESULT_CHARS = 300  # how much of each tool result an episode keeps: enough to learn from, not a copy
TASK_CHARS = 2000


def _shorten(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value[:20]]
    return value


_FAILED_COMMAND = re.compile(r"^\[(?:exit code [1-9]\d*|killed by signal \w+)\]", re.M)


def steps_of_turn(messages: list[StoredMessage]) -> list[Step]:
    """The tool calls of one turn (its messages after the user's), each paired with its result.

    A step failed when its result was an error, or when a command it ran exited non-zero: the
    shell reports ``[exit code 1]`` as output (the model reads it), but for learning it is a failure.
    """
    results = {m.message.tool_call_id: m.message for m in messages if m.message.role == "tool"}
    steps = []
    for stored in messages:
        for call in stored.message.tool_calls:
            result = results.get(call.id)
            content = result.content if result is not None else "(no result)"
            ok = result is not None and not result.is_error and not _FAILED_COMMAND.search(content[-300:])
            steps.append(Step(call.name, _shorten(call.arguments, 200), ok, _shorten(content.strip(), RESULT_CHARS)))
    return steps


def record(store: Store, episode: Episode) -> int:
    """Store ``episode`` and return its id; its texts are redacted in place, as stored."""
    if episode.outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {episode.outcome!r}")
    episode.task, episode.answer, episode.error = (store.redact(t) for t in (episode.task, episode.answer, episode.error))
    episode.steps = [Step(s.tool, store.redact_value(s.arguments), s.ok, store.redact(s.result)) for s in episode.steps]
    episode.created_at = time.time()
    episode.id = store.episodes.add(replace(episode, task=episode.task[:TASK_CHARS], answer=episode.answer[:TASK_CHARS]))
    return episode.id


def get(store: Store, episode_id: int) -> Episode | None:
    return store.episodes.get(episode_id)


def latest(store: Store, session_id: str, *, answered: bool = False) -> Episode | None:
    """The session's most recent episode; with ``answered``, the most recent one that has an answer:
    the one a correction in the next message refers to (a turn that failed has nothing to correct)."""
    return store.episodes.latest(session_id, answered=answered)


def previous_attempt(store: Store, task: str, before_id: int, *, person: str | None = None) -> Episode | None:
    """The latest episode before ``before_id`` for the same request (same text; any session of
    ``person``, or of anyone when None): when it failed and this one worked, the pair is a failure
    followed by a fix."""
    return store.episodes.previous_attempt(store.redact(task)[:TASK_CHARS], before_id, person=person)


def recent(store: Store, limit: int = 20) -> list[Episode]:
    return store.episodes.recent(limit)


def set_outcome(store: Store, episode_id: int, outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    store.episodes.set_outcome(episode_id, outcome)


def outcome_counts(store: Store) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    counts.update(store.episodes.outcome_counts())
    return counts


def search(store: Store, query: str, limit: int = 10, *, person: str | None = None) -> list[tuple[Episode, float]]:
    """Episodes whose task or answer match ``query`` (any word), best first, with a score (higher is
    better); ``person``: only that person's ("" the owner), None: everyone's."""
    return store.episodes.search(query, limit, person=person)


def delete(store: Store, episode_id: int) -> bool:
    return store.episodes.delete(episode_id)


# --- `ember memory search` / `show` / `forget` see episodes through this source ------------------


def _hits(store: Store, query: str, k: int, person: str | None = None) -> list[Hit]:
    return [
        Hit(id=f"episodes:{e.id}", score=score, source="episodes", text=e.summary[:600],
            session_id=e.session_id, created_at=e.created_at)
        for e, score in search(store, query, k, person=person)
    ]


register_source(
    "episodes", _hits,
    count=lambda store: sum(outcome_counts(store).values()),
    forget=lambda store, key: key.isdigit() and delete(store, int(key)),
)
