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

These functions use the store's own connection and lock (package-internal ``_read``/``_write``)
so that episodes commit like every other row and share its crash safety.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ember.memory.hits import Hit
from ember.memory.search import register_source

if TYPE_CHECKING:
    from ember.memory.records import StoredMessage
    from ember.memory.store import SQLiteStore

OUTCOMES = ("success", "failure", "corrected", "cancelled")
RESULT_CHARS = 300  # how much of each tool result an episode keeps: enough to learn from, not a copy
TASK_CHARS = 2000


@dataclass
class Step:
    """One tool call of a task: its name, arguments, whether it worked, and the start of its result."""

    tool: str
    arguments: dict[str, Any]
    ok: bool
    result: str

    def as_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "arguments": self.arguments, "ok": self.ok, "result": self.result}


@dataclass
class Episode:
    task: str
    session_id: str | None = None
    answer: str = ""
    steps: list[Step] = field(default_factory=list)
    outcome: str = "success"
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    lessons_used: list[int] = field(default_factory=list)
    skills_used: list[str] = field(default_factory=list)
    error: str = ""  # why the turn ended without an answer; "" when it answered
    id: int = 0
    created_at: float = 0.0

    @property
    def errors(self) -> list[str]:
        """The failed tool calls, then the turn's own error, if any."""
        return [f"{s.tool}: {s.result}" for s in self.steps if not s.ok] + ([self.error] if self.error else [])

    @property
    def summary(self) -> str:
        """Task and result in a few lines (memory search hits): the answer, or how it ended without one."""
        if self.error:
            return f"{self.task}\n✗ {self.outcome}: {self.error}"
        return f"{self.task}\n→ {self.answer}"

    @property
    def tool_calls(self) -> int:
        return len(self.steps)


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


def record(store: SQLiteStore, episode: Episode) -> int:
    """Store ``episode`` and return its id; its texts are redacted in place, as stored."""
    if episode.outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {episode.outcome!r}")
    episode.task, episode.answer, episode.error = (store.redact(t) for t in (episode.task, episode.answer, episode.error))
    episode.steps = [Step(s.tool, store.redact_value(s.arguments), s.ok, store.redact(s.result)) for s in episode.steps]
    now = time.time()
    with store._write() as db:
        cursor = db.execute(
            """INSERT INTO episodes (session_id, task, answer, steps, errors, outcome, tool_calls, model_calls,
                   input_tokens, output_tokens, lessons_used, skills_used, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                episode.session_id, episode.task[:TASK_CHARS], episode.answer[:TASK_CHARS],
                json.dumps([s.as_dict() for s in episode.steps], ensure_ascii=False),
                json.dumps(episode.errors, ensure_ascii=False), episode.outcome, episode.tool_calls,
                episode.model_calls, episode.input_tokens, episode.output_tokens,
                json.dumps(episode.lessons_used), json.dumps(episode.skills_used), now, now,
            ),
        )
        episode.id = int(cursor.lastrowid or 0)
    episode.created_at = now
    return episode.id


def _from_row(row: Any) -> Episode:
    steps = [Step(**s) for s in json.loads(row["steps"])]
    errors = json.loads(row["errors"])
    # ``record`` writes one error per failed step, then the turn's error: one more means there was one.
    turn_error = errors[-1] if len(errors) > sum(not s.ok for s in steps) else ""
    return Episode(
        id=row["id"], session_id=row["session_id"], task=row["task"], answer=row["answer"],
        steps=steps, outcome=row["outcome"], error=turn_error,
        model_calls=row["model_calls"], input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
        lessons_used=json.loads(row["lessons_used"]), skills_used=json.loads(row["skills_used"]),
        created_at=row["created_at"],
    )


def get(store: SQLiteStore, episode_id: int) -> Episode | None:
    rows = store._read("SELECT * FROM episodes WHERE id = ?", (episode_id,))
    return _from_row(rows[0]) if rows else None


def latest(store: SQLiteStore, session_id: str, *, answered: bool = False) -> Episode | None:
    """The session's most recent episode; with ``answered``, the most recent one that has an answer:
    the one a correction in the next message refers to (a turn that failed has nothing to correct)."""
    where = " AND answer != ''" if answered else ""
    rows = store._read(f"SELECT * FROM episodes WHERE session_id = ?{where} ORDER BY id DESC LIMIT 1", (session_id,))
    return _from_row(rows[0]) if rows else None


def previous_attempt(store: SQLiteStore, task: str, before_id: int, *, person: str | None = None) -> Episode | None:
    """The latest episode before ``before_id`` for the same request (same text; any session of
    ``person``, or of anyone when None): when it failed and this one worked, the pair is a failure
    followed by a fix."""
    rows = store._read(
        "SELECT * FROM episodes WHERE task = ? AND id < ?"
        " AND (? IS NULL OR session_id IN (SELECT id FROM sessions WHERE person = ?)) ORDER BY id DESC LIMIT 1",
        (store.redact(task)[:TASK_CHARS], before_id, person, person))
    return _from_row(rows[0]) if rows else None


def recent(store: SQLiteStore, limit: int = 20) -> list[Episode]:
    rows = store._read("SELECT * FROM episodes ORDER BY id DESC LIMIT ?", (limit,))
    return [_from_row(r) for r in rows]


def set_outcome(store: SQLiteStore, episode_id: int, outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    with store._write() as db:
        db.execute("UPDATE episodes SET outcome = ?, updated_at = ? WHERE id = ?", (outcome, time.time(), episode_id))


def outcome_counts(store: SQLiteStore) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for row in store._read("SELECT outcome, COUNT(*) AS n FROM episodes GROUP BY outcome"):
        counts[row["outcome"]] = row["n"]
    return counts


def search(store: SQLiteStore, query: str, limit: int = 10, *, person: str | None = None
           ) -> list[tuple[Episode, float]]:
    """Episodes whose task or answer match ``query`` (any word), best first, with a score (higher is
    better); ``person``: only that person's ("" the owner), None: everyone's."""
    from ember.memory.store import fts_query

    match = fts_query(query, any_terms=True)
    if not match:
        return []
    rows = store._read(
        """SELECT e.*, bm25(episodes_fts) AS score FROM episodes_fts JOIN episodes e ON e.id = episodes_fts.rowid
           WHERE episodes_fts MATCH ?
             AND (? IS NULL OR e.session_id IN (SELECT id FROM sessions WHERE person = ?))
           ORDER BY score LIMIT ?""",
        (match, person, person, limit),
    )
    return [(_from_row(r), -r["score"]) for r in rows]


def delete(store: SQLiteStore, episode_id: int) -> bool:
    with store._write() as db:
        return db.execute("DELETE FROM episodes WHERE id = ?", (episode_id,)).rowcount > 0


# --- `ember memory search` / `show` / `forget` see episodes through this source ------------------


def _hits(store: SQLiteStore, query: str, k: int, person: str | None = None) -> list[Hit]:
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
