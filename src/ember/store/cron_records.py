"""Cron's records, as the store keeps them: a job's stored fields and each run of it.

``ember.scheduler.jobs`` turns a ``JobRecord`` into a ``Job`` (with its parsed ``Schedule``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class JobRecord:
    id: str
    name: str
    schedule: str  # the schedule as written ("every weekday at 9am", a cron expression)
    kind: str  # "cron" or "once"
    expr: str  # the cron expression ("" for once)
    at: float | None  # a once job's time (UTC seconds)
    tz: str  # IANA name; "" is the machine's local zone
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
