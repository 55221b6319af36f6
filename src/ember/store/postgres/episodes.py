"""Episodes on PostgreSQL (``episodes`` with its generated ``fts``): the ``EpisodeStore`` port."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from ember.store.learning_records import Episode, Step
from ember.store.postgres.queries import text_query, words_query

if TYPE_CHECKING:
    from ember.store.postgres.database import Database

# A session's episodes are a person's when the session is (the person None: anyone's).
_OF_PERSON = "(%(person)s::text IS NULL OR session_id IN (SELECT id FROM sessions WHERE person = %(person)s))"
_COLUMNS = ("id, session_id, task, answer, steps, errors, outcome, tool_calls, model_calls, input_tokens,"
            " output_tokens, lessons_used, skills_used, created_at, updated_at")


def _episode(row: Any) -> Episode:
    steps = [Step(**s) for s in json.loads(row["steps"])]
    errors = json.loads(row["errors"])
    # ``add`` writes one error per failed step, then the turn's error: one more means there was one.
    turn_error = errors[-1] if len(errors) > sum(not s.ok for s in steps) else ""
    return Episode(
        id=row["id"], session_id=row["session_id"], task=row["task"], answer=row["answer"],
        steps=steps, outcome=row["outcome"], error=turn_error,
        model_calls=row["model_calls"], input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
        lessons_used=json.loads(row["lessons_used"]), skills_used=json.loads(row["skills_used"]),
        created_at=row["created_at"],
    )


class PostgresEpisodes:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, episode: Episode) -> int:
        with self._db._write() as db:
            row = db.execute(
                """INSERT INTO episodes (session_id, task, answer, steps, errors, outcome, tool_calls, model_calls,
                       input_tokens, output_tokens, lessons_used, skills_used, created_at, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (
                    episode.session_id, episode.task, episode.answer,
                    json.dumps([s.as_dict() for s in episode.steps], ensure_ascii=False),
                    json.dumps(episode.errors, ensure_ascii=False), episode.outcome, episode.tool_calls,
                    episode.model_calls, episode.input_tokens, episode.output_tokens,
                    json.dumps(episode.lessons_used), json.dumps(episode.skills_used),
                    episode.created_at, episode.created_at,
                ),
            ).fetchone()
            return int(row["id"])

    def get(self, episode_id: int) -> Episode | None:
        rows = self._db._read(f"SELECT {_COLUMNS} FROM episodes WHERE id = %s", (episode_id,))
        return _episode(rows[0]) if rows else None

    def latest(self, session_id: str, *, answered: bool = False) -> Episode | None:
        where = " AND answer <> ''" if answered else ""
        rows = self._db._read(f"SELECT {_COLUMNS} FROM episodes WHERE session_id = %s{where} ORDER BY id DESC LIMIT 1",
                              (session_id,))
        return _episode(rows[0]) if rows else None

    def previous_attempt(self, task: str, before_id: int, *, person: str | None) -> Episode | None:
        rows = self._db._read(
            f"SELECT {_COLUMNS} FROM episodes WHERE task = %(task)s AND id < %(before)s AND {_OF_PERSON}"
            " ORDER BY id DESC LIMIT 1", {"task": task, "before": before_id, "person": person})
        return _episode(rows[0]) if rows else None

    def recent(self, limit: int) -> list[Episode]:
        return [_episode(r) for r in self._db._read(f"SELECT {_COLUMNS} FROM episodes ORDER BY id DESC LIMIT %s",
                                                    (limit,))]

    def set_outcome(self, episode_id: int, outcome: str) -> None:
        with self._db._write() as db:
            db.execute("UPDATE episodes SET outcome = %s, updated_at = %s WHERE id = %s",
                       (outcome, time.time(), episode_id))

    def outcome_counts(self) -> dict[str, int]:
        return {r["outcome"]: int(r["n"])
                for r in self._db._read("SELECT outcome, count(*) AS n FROM episodes GROUP BY outcome")}

    def search(self, query: str, limit: int, *, person: str | None) -> list[tuple[Episode, float]]:
        match = text_query(query)
        if match is None:
            return []
        rows = self._db._read(
            f"""SELECT {', '.join('e.' + c.strip() for c in _COLUMNS.split(','))}, ts_rank_cd(e.fts, q.query) AS score
                FROM episodes e, (SELECT {words_query('ember_plain', '|')} AS query) q
                WHERE e.fts @@ q.query AND {_OF_PERSON.replace("session_id", "e.session_id")}
                ORDER BY score DESC, e.id DESC LIMIT %(limit)s""",
            {**match, "person": person, "limit": limit},
        )
        return [(_episode(r), float(r["score"])) for r in rows]

    def delete(self, episode_id: int) -> bool:
        with self._db._write() as db:
            return db.execute("DELETE FROM episodes WHERE id = %s", (episode_id,)).rowcount > 0

    def person_of(self, episode_id: int) -> str:
        value = self._db._value("SELECT s.person FROM episodes e JOIN sessions s ON s.id = e.session_id"
                                " WHERE e.id = %s", (episode_id,))
        return value or ""
