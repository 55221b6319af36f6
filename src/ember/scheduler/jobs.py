"""Jobs and their runs, kept in the store (``store.cron``, the ``CronStore`` port).

A run is claimed for one (job, due time, attempt): only one process can have it, so a job never
runs twice for one due time even with a gateway and a system timer ticking at once; a job whose
previous run is still going is not started again.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ember.scheduler.schedule import Schedule
from ember.store.cron_records import JobRecord, Run

if TYPE_CHECKING:
    from ember.store.ports import Store

__all__ = ["MISSED_POLICIES", "Job", "JobBook", "Run"]

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
    created_by: str  # "cli", "agent" (the owner's agent) or "agent:PERSON" (a gateway person's agent)
    created_at: float

    @property
    def person(self) -> str:
        """Whose job it is ("" the owner): its runs are that person's sessions, with their memory,
        USER.md and lessons, and only they (and the owner) see it from a chat."""
        return created_by_person(self.created_by)


def created_by(person: str) -> str:
    """The ``created_by`` of a job a person's agent made."""
    return f"agent:{person}" if person else "agent"


def created_by_person(created_by: str) -> str:
    kind, _, person = created_by.partition(":")
    return person if kind == "agent" else ""


def _job(record: JobRecord) -> Job:
    schedule = Schedule(record.schedule, record.kind, expr=record.expr, at=record.at, tz=record.tz)
    return Job(
        id=record.id, name=record.name, schedule=schedule, task=record.task, deliver=record.deliver,
        enabled=record.enabled, missed=record.missed, retries=record.retries, timeout=record.timeout,
        next_at=record.next_at, last_at=record.last_at, created_by=record.created_by, created_at=record.created_at,
    )


class JobBook:
    """Jobs and runs in one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- jobs -----------------------------------------------------------------------------------

    def add(self, schedule: Schedule, task: str, deliver: str, *, now: float, name: str = "", missed: str = "once",
            retries: int = 1, timeout: float = 600.0, created_by: str = "cli") -> Job:
        job_id = "j" + secrets.token_hex(3)
        self.store.cron.add_job(JobRecord(
            id=job_id, name=self.store.redact(name or task[:40]), schedule=schedule.text, kind=schedule.kind,
            expr=schedule.expr, at=schedule.at, tz=schedule.tz, task=self.store.redact(task), deliver=deliver,
            enabled=True, missed=missed, retries=retries, timeout=timeout, next_at=schedule.next_after(now),
            last_at=None, created_by=created_by, created_at=now,
        ))
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, ref: str) -> Job | None:
        """A job by id, or by its name when that is unique."""
        found = self.store.cron.job(ref)
        if found is not None:
            return _job(found)
        named = self.store.cron.jobs_named(ref)
        return _job(named[0]) if len(named) == 1 else None

    def all(self) -> list[Job]:
        return [_job(r) for r in self.store.cron.jobs()]

    def due(self, now: float) -> list[Job]:
        return [_job(r) for r in self.store.cron.due(now)]

    def next_due_at(self) -> float | None:
        return self.store.cron.next_due_at()

    def set_enabled(self, job_id: str, enabled: bool, now: float) -> None:
        job = self.get(job_id)
        if job is None:
            return
        next_at = job.schedule.next_after(now) if enabled else job.next_at
        self.store.cron.set_enabled(job.id, enabled, next_at)

    def advance(self, job_id: str, due_at: float, next_at: float | None) -> bool:
        """Move a job on from ``due_at`` to ``next_at`` (only if no one moved it first)."""
        return self.store.cron.advance(job_id, due_at, next_at)

    def remove(self, job_id: str) -> bool:
        return self.store.cron.remove(job_id)

    # --- runs -----------------------------------------------------------------------------------

    def claim(self, job: Job, due_at: float, attempt: int, now: float, status: str = "running") -> Run | None:
        """Take the run of ``job`` for ``due_at``: None when another process has it, or when the
        job's previous run is still going (and not past its timeout)."""
        owner = f"{os.uname().nodename}:{os.getpid()}"
        busy_since = now - job.timeout - 60 if status == "running" else None
        return self.store.cron.claim_run(job.id, due_at, attempt, status=status, owner=owner, now=now,
                                         busy_since=busy_since)

    def finish(self, run_id: int, status: str, *, session_id: str | None = None, error: str | None = None,
               input_tokens: int = 0, output_tokens: int = 0, cost: float = 0.0,
               outbox_ids: list[int] | None = None, now: float | None = None) -> None:
        self.store.cron.finish_run(run_id, status, finished_at=time.time() if now is None else now,
                                   session_id=session_id, error=error, input_tokens=input_tokens,
                                   output_tokens=output_tokens, cost=cost, outbox_ids=outbox_ids or [])

    def runs(self, job_id: str, limit: int = 50) -> list[Run]:
        return self.store.cron.runs(job_id, limit)

    def interrupted(self, now: float) -> list[Run]:
        """Runs still marked running past their job's timeout: their process died."""
        return self.store.cron.interrupted(now)

    def delivery_of(self, run: Run) -> str:
        """``delivered``, ``pending``, ``failed to deliver`` or ``local`` (nothing to deliver)."""
        if not run.outbox_ids:
            return "local"
        statuses = self.store.gateway.outbox_statuses(run.outbox_ids)
        states = set(statuses)
        if "failed" in states:
            return "failed to deliver"
        if states == {"delivered"} and len(statuses) == len(run.outbox_ids):
            return "delivered"
        return "pending"
