"""Jobs and their runs on PostgreSQL (tables of migration ``cron_jobs_and_runs``): the
``CronStore`` port.

A run is claimed by inserting its row (job, due time, attempt): the unique key lets one worker
have it. Whether an earlier run of the job still runs is read and the claim written under a
per-job advisory lock, so two workers cannot both see "not busy" and both start one."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ember.store.cron_records import JobRecord, Run

if TYPE_CHECKING:
    from ember.store.postgres.database import Database

_JOB = ("id, name, schedule, kind, expr, at, tz, task, deliver, enabled, missed, retries, timeout, next_at, last_at,"
        " created_by, created_at")
_RUN = ("id, job_id, due_at, attempt, status, owner, started_at, finished_at, session_id, input_tokens,"
        " output_tokens, cost, error, outbox_ids")


def _job(row: Any) -> JobRecord:
    return JobRecord(
        id=row["id"], name=row["name"], schedule=row["schedule"], kind=row["kind"], expr=row["expr"], at=row["at"],
        tz=row["tz"], task=row["task"], deliver=row["deliver"], enabled=bool(row["enabled"]), missed=row["missed"],
        retries=row["retries"], timeout=row["timeout"], next_at=row["next_at"], last_at=row["last_at"],
        created_by=row["created_by"], created_at=row["created_at"],
    )


def _run(row: Any) -> Run:
    return Run(
        id=row["id"], job_id=row["job_id"], due_at=row["due_at"], attempt=row["attempt"], status=row["status"],
        started_at=row["started_at"], finished_at=row["finished_at"], session_id=row["session_id"],
        input_tokens=row["input_tokens"], output_tokens=row["output_tokens"], cost=row["cost"], error=row["error"],
        outbox_ids=json.loads(row["outbox_ids"] or "[]"),
    )


class PostgresCron:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- jobs ------------------------------------------------------------------------------------------

    def add_job(self, job: JobRecord) -> None:
        with self._db._write() as db:
            db.execute(
                "INSERT INTO cron_jobs (id, name, schedule, kind, expr, at, tz, task, deliver, missed, retries,"
                " timeout, next_at, created_by, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (job.id, job.name, job.schedule, job.kind, job.expr, job.at, job.tz, job.task, job.deliver, job.missed,
                 job.retries, job.timeout, job.next_at, job.created_by, job.created_at),
            )

    def job(self, job_id: str) -> JobRecord | None:
        rows = self._db._read(f"SELECT {_JOB} FROM cron_jobs WHERE id = %s", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs_named(self, name: str) -> list[JobRecord]:
        return [_job(r) for r in self._db._read(f"SELECT {_JOB} FROM cron_jobs WHERE name = %s ORDER BY seq",
                                                (name,))]

    def jobs(self) -> list[JobRecord]:
        return [_job(r) for r in self._db._read(f"SELECT {_JOB} FROM cron_jobs ORDER BY created_at, seq")]

    def due(self, now: float) -> list[JobRecord]:
        rows = self._db._read(f"SELECT {_JOB} FROM cron_jobs WHERE enabled = 1 AND next_at IS NOT NULL"
                              " AND next_at <= %s ORDER BY next_at, seq", (now,))
        return [_job(r) for r in rows]

    def next_due_at(self) -> float | None:
        return self._db._value("SELECT min(next_at) FROM cron_jobs WHERE enabled = 1")

    def set_enabled(self, job_id: str, enabled: bool, next_at: float | None) -> None:
        with self._db._write() as db:
            db.execute("UPDATE cron_jobs SET enabled = %s, next_at = %s WHERE id = %s", (int(enabled), next_at, job_id))

    def advance(self, job_id: str, due_at: float, next_at: float | None) -> bool:
        with self._db._write() as db:
            cursor = db.execute("UPDATE cron_jobs SET next_at = %s, last_at = %s WHERE id = %s AND next_at = %s",
                                (next_at, due_at, job_id, due_at))
            return cursor.rowcount == 1

    def remove(self, job_id: str) -> bool:
        with self._db._write() as db:
            db.execute("DELETE FROM cron_runs WHERE job_id = %s", (job_id,))
            return db.execute("DELETE FROM cron_jobs WHERE id = %s", (job_id,)).rowcount > 0

    # --- runs ------------------------------------------------------------------------------------------

    def claim_run(self, job_id: str, due_at: float, attempt: int, *, status: str, owner: str, now: float,
                  busy_since: float | None = None) -> Run | None:
        with self._db._write() as db:
            db.execute("SELECT pg_advisory_xact_lock(hashtextextended('ember-cron:' || %s, 0))", (job_id,))
            if busy_since is not None and db.execute(
                    "SELECT 1 FROM cron_runs WHERE job_id = %s AND status = 'running' AND started_at > %s",
                    (job_id, busy_since)).fetchone():
                return None
            row = db.execute(
                "INSERT INTO cron_runs (job_id, due_at, attempt, status, owner, started_at)"
                f" VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING {_RUN}",
                (job_id, due_at, attempt, status, owner, now)).fetchone()
        return _run(row) if row else None

    def finish_run(self, run_id: int, status: str, *, finished_at: float, session_id: str | None,
                   error: str | None, input_tokens: int, output_tokens: int, cost: float,
                   outbox_ids: list[int]) -> None:
        with self._db._write() as db:
            db.execute(
                "UPDATE cron_runs SET status = %s, finished_at = %s, session_id = %s, error = %s, input_tokens = %s,"
                " output_tokens = %s, cost = %s, outbox_ids = %s WHERE id = %s",
                (status, finished_at, session_id, error, input_tokens, output_tokens, cost, json.dumps(outbox_ids),
                 run_id))

    def runs(self, job_id: str, limit: int) -> list[Run]:
        rows = self._db._read(f"SELECT {_RUN} FROM cron_runs WHERE job_id = %s ORDER BY id DESC LIMIT %s",
                              (job_id, limit))
        return [_run(r) for r in rows]

    def interrupted(self, now: float) -> list[Run]:
        rows = self._db._read(
            f"SELECT {', '.join('r.' + c.strip() for c in _RUN.split(','))} FROM cron_runs r"
            " JOIN cron_jobs j ON j.id = r.job_id WHERE r.status = 'running'"
            " AND r.started_at < %s - j.timeout - 60 ORDER BY r.id", (now,))
        return [_run(r) for r in rows]
