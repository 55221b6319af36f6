"""Running what is due: one ``tick`` claims each due job's run, runs it as an agent turn, and
queues its result (or its failure: never silent) in the outbox for its delivery target.

``ember cron tick`` calls ``tick`` once (``--now`` sets the clock); ``ember gateway run`` calls it
from a thread whenever a job comes due. A run missed by more than ``GRACE`` seconds (the machine
was off) follows its job's policy: ``skip`` records it as skipped, ``once`` runs it once now
(however many were missed). A failed run is tried again up to the job's ``retries``; a run whose
process died is found after its timeout, recorded as interrupted and reported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ember.scheduler.jobs import Job, JobBook, Run

if TYPE_CHECKING:
    from ember.gateway.ledger import OutboxItem
    from ember.gateway.outbox import Outbox
    from ember.runtime import Runtime

log = logging.getLogger(__name__)

GRACE = 300.0  # a run later than this is "missed" and follows the job's missed-run policy
REPLY_KEY = "cron.reply:{}"  # meta: an outbox id of a job's result -> the session of the run


@dataclass
class RunReport:
    job_id: str
    name: str
    due_at: float
    status: str  # ran, failed, skipped, busy
    answer: str = ""
    error: str | None = None
    run_id: int | None = None
    outbox_ids: list[int] | None = None


def parse_target(target: str) -> tuple[str, str] | None:
    """``"slack:#team"`` -> ("slack", "#team"); ``"local"`` -> None (stored only)."""
    if target == "local":
        return None
    platform, _, chat = target.partition(":")
    if not platform or not chat:
        raise ValueError(f"{target!r}: write PLATFORM:CHAT (telegram:123456789, slack:#team, email:a@b.c) or local")
    return platform, chat


class Scheduler:
    def __init__(self, runtime: Runtime, outbox: Outbox | None, *, clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.outbox = outbox
        self.clock = clock
        self.book = JobBook(runtime.store)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        if outbox is not None:
            outbox.delivered_listeners.append(self._delivered)

    # --- one pass ------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[RunReport]:
        """Run every job that is due at ``now``; what happened to each."""
        now = self.clock() if now is None else now
        reports = [self._interrupted(run, now) for run in self.book.interrupted(now)]
        for job in self.book.due(now):
            assert job.next_at is not None
            due = job.next_at
            next_at = job.schedule.next_after(max(now, due))
            if now - due > GRACE and job.missed == "skip":
                run = self.book.claim(job, due, 1, now, status="skipped")
                if run is not None and self.book.advance(job.id, due, next_at):
                    self.book.finish(run.id, "skipped", error=f"missed (due {time.ctime(due)}; the machine was off)",
                                     now=now)
                    reports.append(RunReport(job.id, job.name, due, "skipped"))
                continue
            reports.append(self.run(job, due, now, next_at=next_at))
        return reports

    def run(self, job: Job, due: float, now: float, *, next_at: float | None = None, attempt: int = 1,
            manual: bool = False) -> RunReport:
        """Run ``job`` for its due time ``due`` (``manual``: ``run-now``, which leaves the schedule as it is)."""
        run = self.book.claim(job, due, attempt, now)
        if run is None:
            return RunReport(job.id, job.name, due, "busy")
        if not manual:
            self.book.advance(job.id, due, next_at)
        report = self._turn(job, run, due)
        if report.status == "failed" and attempt <= job.retries and not self._stop.is_set():
            log.info("job %s failed (%s); trying again (%d of %d)", job.id, report.error, attempt, job.retries)
            return self.run(job, due, self.clock(), next_at=next_at, attempt=attempt + 1, manual=True)
        return report

    def _turn(self, job: Job, run: Run, due: float) -> RunReport:
        from ember.agent.door import Unattended
        from ember.models.base import Cancelled

        agent = self.runtime.agent
        session = agent.new_session(source="cron", title=f"{job.name} ({job.schedule.describe()})", person=job.person)
        cancel = threading.Event()
        timer = threading.Timer(job.timeout, cancel.set)
        timer.daemon = True
        timer.start()
        prompt = (f"[Scheduled job {job.name!r}, {job.schedule.describe()}. {self._when(job, due)} Your final "
                  f"answer is delivered to {job.deliver}: make it the result itself, ready to read.]\n\n{job.task}")
        answer, error, usage, cost = "", None, None, 0.0
        try:
            finished = agent.ask(session, prompt, cancel=cancel, door=Unattended())
            answer, usage, cost = finished.answer.strip(), finished.usage, finished.cost
            if not answer:
                error = "the job finished without an answer"
        except (Cancelled, KeyboardInterrupt):
            error = f"timed out after {job.timeout:g}s" if not self._stop.is_set() else "stopped"
        except Exception as exc:  # the model endpoint, the step limit...: recorded and reported
            error = agent.redact(str(exc).strip() or type(exc).__name__)
        finally:
            timer.cancel()
        status = "failed" if error else "ran"
        last_try = status == "ran" or run.attempt > job.retries
        text = answer if not error else f"Scheduled job {job.name!r} failed: {error}"
        outbox_ids = self._deliver(job, text, session) if last_try else []
        self.book.finish(run.id, status, session_id=session, error=error,
                         input_tokens=usage.input_tokens if usage else 0,
                         output_tokens=usage.output_tokens if usage else 0, cost=cost, outbox_ids=outbox_ids,
                         now=self.clock())
        return RunReport(job.id, job.name, due, status, answer, error, run.id, outbox_ids)

    def _when(self, job: Job, due: float) -> str:
        """The run's own time and its last finished run's, so that "what is new since the last run"
        can be asked of an API (the clock the model sees is the machine's, not the run's)."""
        from datetime import datetime

        tz = job.schedule.zone()
        last = next((run.due_at for run in self.book.runs(job.id) if run.status == "ran" and run.due_at < due), None)
        this = f"This run is for {datetime.fromtimestamp(due, tz).isoformat(timespec='seconds')};"
        if last is None:
            return f"{this} it is the job's first run."
        return f"{this} its last run was for {datetime.fromtimestamp(last, tz).isoformat(timespec='seconds')}."

    def _deliver(self, job: Job, text: str, session: str | None = None) -> list[int]:
        target = parse_target(job.deliver)
        if target is None:
            return []
        platform, chat = target
        if self.outbox is None:
            log.warning("job %s: no outbox here to deliver to %s", job.id, job.deliver)
            return []
        ids = self.outbox.queue(platform, chat, text, kind="cron")
        if session is not None:  # whichever process delivers it ties the post to the run
            for outbox_id in ids:
                self.runtime.store.set_meta(REPLY_KEY.format(outbox_id), session)
        return ids

    def _delivered(self, item: OutboxItem, ack: str) -> None:
        """A job's result was posted: a reply to it continues the run's session, in the message's
        thread (Slack) and as the chat's next message (a DM, Telegram), so the agent knows what it
        posted and a correction there is learned for the job's next runs. Called by the outbox."""
        session = self.runtime.store.get_meta(REPLY_KEY.format(item.id)) if item.kind == "cron" else None
        if not session or self.outbox is None:
            return
        from ember.gateway.ledger import Ledger

        channel = self.outbox.channels.get(item.platform)
        try:
            chat = channel.resolve_chat(item.chat) if channel is not None else item.chat
        except Exception:  # the post went out, so the name resolved a moment ago; keep it as written
            chat = item.chat
        ledger, person = Ledger(self.runtime.store), self.runtime.store.person_of(session)
        for thread in dict.fromkeys([ack, None]):
            ledger.set_session(item.platform, chat, thread, session, person)

    def _interrupted(self, run: Run, now: float) -> RunReport:
        job = self.book.get(run.job_id)
        name = job.name if job else run.job_id
        error = "interrupted: the process running it stopped"
        ids = self._deliver(job, f"Scheduled job {name!r} was interrupted and did not finish.") if job else []
        self.book.finish(run.id, "interrupted", error=error, outbox_ids=ids, now=now)
        return RunReport(run.job_id, name, run.due_at, "interrupted", error=error, run_id=run.id, outbox_ids=ids)

    # --- in the gateway ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick")
            next_at = self.book.next_due_at()
            wait = 30.0 if next_at is None else min(max(next_at - self.clock(), 0.5), 30.0)
            self._wake.wait(wait)
            self._wake.clear()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
