"""Jobs and their runs, kept in the store (tables of migration ``cron_jobs_and_runs``).

A run is claimed by inserting its row (job, due time, attempt): the table's unique key lets only
one process have it, so a job never runs twice for one due time even with a gateway and a system
timer ticking at once; a job whose previous run is still going is not started again.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ember.scheduler.schedule import Schedule

if TYPE_CHECKING:
    from ember.memory.store import SQLiteStore

MISSED_POLICIES = ("skip", "once")  # a run missed while the machine was off: skip it, or run once


@dataclass
class Job:
    id: str
    name: str
    schedule: Schedule
    task: str
    deliver: str  # "PLATFORM:CHAT" or "local"
    enabled: bool
    missed: str
    retries: int
    timeout: float
    next_at: float | None
    last_at: float | None
    created_by: str
    created_at: float


@dataclass
class Run:
    id: int
    job_id: str
    due_at: float
    attempt: int
    status: str  # running, ran, failed, skipped (missed), interrupted
    started_at: float | None
    finished_at: float | None
    session_id: str | None
    input_tokens: int
    output_tokens: int
    cost: float
    error: str | None
    outbox_ids: list[int]


def _job(row: Any) -> Job:
    schedule = Schedule(row["schedule"], row["kind"], expr=row["expr"], at=row["at"], tz=row["tz"])
    return Job(
        id=row["id"], name=row["name"], schedule=schedule, task=row["task"], deliver=row["deliver"],
        enabled=bool(row["enabled"]), missed=row["missed"], retries=row["retries"], timeout=row["timeout"],
        next_at=row["next_at"], last_at=row["last_at"], created_by=row["created_by"], created_at=row["created_at"],
    )


def _run(row: Any) -> Run:
    return Run(
        id=row["id"], job_id=row["job_id"], due_at=row["due_at"], attempt=row["attempt"], status=row["status"],
        started_at=row["started_at"], finished_at=row["finished_at"], session_id=row["session_id"],
        input_tokens=row["input_tokens"], output_tokens=row["output_tokens"], cost=row["cost"], error=row["error"],
        outbox_ids=json.loads(row["outbox_ids"] or "[]"),
    )


class JobBook:
    """Jobs and runs in one store."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    # --- jobs -----------------------------------------------------------------------------------

    def add(self, schedule: Schedule, task: str, deliver: str, *, now: float, name: str = "", missed: str = "once",
            retries: int = 1, timeout: float = 600.0, created_by: str = "cli") -> Job:
        job_id = "j" + secrets.token_hex(3)
        next_at = schedule.next_after(now)
        with self.store._write() as db:
            db.execute(
                "INSERT INTO cron_jobs (id, name, schedule, kind, expr, at, tz, task, deliver, missed, retries, timeout,"
                " next_at, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, self.store.redact(name or task[:40]), schedule.text, schedule.kind, schedule.expr, schedule.at,
                 schedule.tz, self.store.redact(task), deliver, missed, retries, timeout, next_at, created_by, now),
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, ref: str) -> Job | None:
        """A job by id, or by its name when that is unique."""
        rows = self.store._read("SELECT * FROM cron_jobs WHERE id = ?", (ref,))
        if not rows:
            rows = self.store._read("SELECT * FROM cron_jobs WHERE name = ?", (ref,))
        return _job(rows[0]) if len(rows) == 1 else None

    def all(self) -> list[Job]:
        return [_job(r) for r in self.store._read("SELECT * FROM cron_jobs ORDER BY created_at")]

    def due(self, now: float) -> list[Job]:
        rows = self.store._read("SELECT * FROM cron_jobs WHERE enabled = 1 AND next_at IS NOT NULL AND next_at <= ?"
                                " ORDER BY next_at", (now,))
        return [_job(r) for r in rows]

    def next_due_at(self) -> float | None:
        rows = self.store._read("SELECT MIN(next_at) AS t FROM cron_jobs WHERE enabled = 1")
        return rows[0]["t"] if rows and rows[0]["t"] is not None else None

    def set_enabled(self, job_id: str, enabled: bool, now: float) -> None:
        job = self.get(job_id)
        if job is None:
            return
        next_at = job.schedule.next_after(now) if enabled else job.next_at
        with self.store._write() as db:
            db.execute("UPDATE cron_jobs SET enabled = ?, next_at = ? WHERE id = ?", (int(enabled), next_at, job.id))

    def advance(self, job_id: str, due_at: float, next_at: float | None) -> bool:
        """Move a job on from ``due_at`` to ``next_at`` (only if no one moved it first)."""
        with self.store._write() as db:
            cursor = db.execute("UPDATE cron_jobs SET next_at = ?, last_at = ? WHERE id = ? AND next_at = ?",
                                (next_at, due_at, job_id, due_at))
            return cursor.rowcount == 1

    def remove(self, job_id: str) -> bool:
        with self.store._write() as db:
            db.execute("DELETE FROM cron_runs WHERE job_id = ?", (job_id,))
            return db.execute("DELETE FROM cron_jobs WHERE id = ?", (job_id,)).rowcount > 0

    # --- runs -----------------------------------------------------------------------------------

    def claim(self, job: Job, due_at: float, attempt: int, now: float, status: str = "running") -> Run | None:
        """Take the run of ``job`` for ``due_at``: None when another process has it, or when the
        job's previous run is still going (and not past its timeout)."""
        owner = f"{os.uname().nodename}:{os.getpid()}"
        with self.store._write() as db:
            busy = db.execute(
                "SELECT 1 FROM cron_runs WHERE job_id = ? AND status = 'running' AND started_at > ?",
                (job.id, now - job.timeout - 60)).fetchone()
            if busy and status == "running":
                return None
            cursor = db.execute(
                "INSERT OR IGNORE INTO cron_runs (job_id, due_at, attempt, status, owner, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?)", (job.id, due_at, attempt, status, owner, now))
            if not cursor.rowcount:
                return None
            run_id = cursor.lastrowid
        rows = self.store._read("SELECT * FROM cron_runs WHERE id = ?", (run_id,))
        return _run(rows[0])

    def finish(self, run_id: int, status: str, *, session_id: str | None = None, error: str | None = None,
               input_tokens: int = 0, output_tokens: int = 0, cost: float = 0.0,
               outbox_ids: list[int] | None = None, now: float | None = None) -> None:
        with self.store._write() as db:
            db.execute(
                "UPDATE cron_runs SET status = ?, finished_at = ?, session_id = ?, error = ?, input_tokens = ?,"
                " output_tokens = ?, cost = ?, outbox_ids = ? WHERE id = ?",
                (status, time.time() if now is None else now, session_id, error, input_tokens, output_tokens, cost,
                 json.dumps(outbox_ids or []), run_id))

    def runs(self, job_id: str, limit: int = 50) -> list[Run]:
        rows = self.store._read("SELECT * FROM cron_runs WHERE job_id = ? ORDER BY id DESC LIMIT ?", (job_id, limit))
        return [_run(r) for r in rows]

    def interrupted(self, now: float) -> list[Run]:
        """Runs still marked running past their job's timeout: their process died."""
        rows = self.store._read(
            "SELECT r.* FROM cron_runs r JOIN cron_jobs j ON j.id = r.job_id WHERE r.status = 'running'"
            " AND r.started_at < ? - j.timeout - 60", (now,))
        return [_run(r) for r in rows]

    def delivery_of(self, run: Run) -> str:
        """``delivered``, ``pending``, ``failed to deliver`` or ``local`` (nothing to deliver)."""
        if not run.outbox_ids:
            return "local"
        marks = ",".join("?" * len(run.outbox_ids))
        rows = self.store._read(f"SELECT status FROM gateway_outbox WHERE id IN ({marks})", tuple(run.outbox_ids))
        states = {r["status"] for r in rows}
        if "failed" in states:
            return "failed to deliver"
        if states == {"delivered"} and len(rows) == len(run.outbox_ids):
            return "delivered"
        return "pending"
