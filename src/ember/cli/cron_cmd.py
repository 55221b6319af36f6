"""``ember cron add|list|show|pause|resume|remove|run-now|runs|tick``: scheduled jobs (docs/cron.md)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import click

from ember.cli.errors import CliError
from ember.cli.group import DefaultGroup


def _book():
    from ember.config import load_settings
    from ember.runtime import open_store
    from ember.scheduler.jobs import JobBook

    settings = load_settings()
    return settings, JobBook(open_store(settings))


def _job_or_fail(book, ref: str):
    job = book.get(ref)
    if job is None:
        raise CliError(f"no job {ref!r}", "see `ember cron list`")
    return job


def _when(moment: float | None, tz: str = "") -> str:
    if moment is None:
        return "-"
    from ember.scheduler.schedule import zone

    return datetime.fromtimestamp(moment, zone(tz)).strftime("%Y-%m-%d %H:%M %Z").strip()


def _job_dict(job) -> dict:
    return {"id": job.id, "name": job.name, "schedule": job.schedule.text, "kind": job.schedule.kind,
            "cron": job.schedule.expr or None, "timezone": job.schedule.tz or None, "task": job.task,
            "deliver": job.deliver, "enabled": job.enabled, "missed": job.missed, "retries": job.retries,
            "timeout": job.timeout, "next_at": job.next_at, "last_at": job.last_at}


def _now(now: str | None) -> float:
    if not now:
        return time.time()
    try:
        moment = datetime.fromisoformat(now)
    except ValueError:
        raise click.BadParameter(f"{now!r} is not ISO-8601, e.g. 2026-12-07T09:00:00+01:00", param_hint="--now") from None
    return moment.timestamp() if moment.tzinfo else moment.astimezone().timestamp()


@click.group(cls=DefaultGroup, default_command="list")
def cron() -> None:
    """Scheduled jobs: a task on a schedule, its result delivered to a chat."""


@cron.command("add")
@click.argument("schedule")
@click.argument("task")
@click.option("--deliver", default="local", show_default=True,
              help="Where the result goes: PLATFORM:CHAT (telegram:123456789, slack:#team) or local.")
@click.option("--name", default="", help="A short name to refer to the job by.")
@click.option("--timezone", "tz", default="", help="An IANA time zone (default: the machine's, or one in SCHEDULE).")
@click.option("--missed", type=click.Choice(["skip", "once"]), default="once", show_default=True,
              help="A run missed while the machine was off: skip it, or run once when back.")
@click.option("--retries", type=click.IntRange(0, 10), default=1, show_default=True, help="Tries after a failed run.")
@click.option("--timeout", type=click.FloatRange(1, 86400), default=600, show_default=True, help="Seconds per run.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
def add(schedule: str, task: str, deliver: str, name: str, tz: str, missed: str, retries: int, timeout: float,
        as_json: bool) -> None:
    """Add a job: SCHEDULE ("every weekday at 9am", "0 9 * * 1-5") and TASK, what to do."""
    from ember.scheduler.runner import parse_target
    from ember.scheduler.schedule import ScheduleError, parse

    try:
        parse_target(deliver)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--deliver") from None
    now = time.time()
    try:
        parsed = parse(schedule, now, tz)
    except ScheduleError as exc:
        raise click.BadParameter(str(exc), param_hint="SCHEDULE") from None
    if not task.strip():
        raise click.UsageError("TASK is empty: say what the job should do")
    _, book = _book()
    try:
        job = book.add(parsed, task.strip(), deliver, now=now, name=name, missed=missed, retries=retries,
                       timeout=timeout)
    finally:
        book.store.close()
    if as_json:
        click.echo(json.dumps(_job_dict(job)))
        return
    click.echo(f"Added {job.id} ({job.name}): {job.schedule.describe()}, next run {_when(job.next_at, job.schedule.tz)}, "
               f"delivered to {job.deliver}.")


@cron.command("list")
@click.option("--json", "as_json", is_flag=True, help="As a JSON array.")
def list_jobs(as_json: bool) -> None:
    """Every job, its schedule, next run and delivery target."""
    _, book = _book()
    try:
        jobs = book.all()
    finally:
        book.store.close()
    if as_json:
        click.echo(json.dumps([_job_dict(j) for j in jobs]))
        return
    if not jobs:
        click.echo('No jobs yet. Add one: ember cron add "every weekday at 9am" "..." --deliver slack:#team')
        return
    for job in jobs:
        state = "" if job.enabled else " [paused]"
        click.echo(f"{job.id}  {job.name}{state}\n    {job.schedule.describe()}; next {_when(job.next_at, job.schedule.tz)};"
                   f" to {job.deliver}")


@cron.command("show")
@click.argument("job_ref")
@click.option("--json", "as_json", is_flag=True)
def show(job_ref: str, as_json: bool) -> None:
    """One job in full."""
    _, book = _book()
    try:
        job = _job_or_fail(book, job_ref)
    finally:
        book.store.close()
    data = _job_dict(job)
    if as_json:
        click.echo(json.dumps(data))
        return
    for key, value in data.items():
        shown = _when(value, job.schedule.tz) if key in ("next_at", "last_at") else value
        click.echo(f"{key:>9}: {shown}")


def _set_enabled(job_ref: str, enabled: bool) -> None:
    _, book = _book()
    try:
        job = _job_or_fail(book, job_ref)
        book.set_enabled(job.id, enabled, time.time())
    finally:
        book.store.close()
    click.echo(f"{'Resumed' if enabled else 'Paused'} {job.id} ({job.name}).")


@cron.command("pause")
@click.argument("job_ref")
def pause(job_ref: str) -> None:
    """Stop running a job until it is resumed."""
    _set_enabled(job_ref, False)


@cron.command("resume")
@click.argument("job_ref")
def resume(job_ref: str) -> None:
    """Run a paused job again (from its next scheduled time)."""
    _set_enabled(job_ref, True)


@cron.command("remove")
@click.argument("job_ref")
def remove(job_ref: str) -> None:
    """Delete a job and its run history."""
    _, book = _book()
    try:
        job = _job_or_fail(book, job_ref)
        book.remove(job.id)
    finally:
        book.store.close()
    click.echo(f"Removed {job.id} ({job.name}).")


@cron.command("runs")
@click.argument("job_ref")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def runs(job_ref: str, limit: int, as_json: bool) -> None:
    """A job's runs: status, duration, tokens, and whether the result was delivered."""
    _, book = _book()
    try:
        job = _job_or_fail(book, job_ref)
        rows = [(run, book.delivery_of(run)) for run in book.runs(job.id, limit)]
    finally:
        book.store.close()
    data = [{"id": r.id, "due_at": r.due_at, "attempt": r.attempt, "status": r.status, "delivery": delivery,
             "started_at": r.started_at, "finished_at": r.finished_at,
             "seconds": round(r.finished_at - r.started_at, 2) if r.finished_at and r.started_at else None,
             "input_tokens": r.input_tokens, "output_tokens": r.output_tokens, "cost": round(r.cost, 6),
             "session_id": r.session_id, "error": r.error} for r, delivery in rows]
    if as_json:
        click.echo(json.dumps(data))
        return
    if not data:
        click.echo(f"{job.id} has not run yet; next run {_when(job.next_at, job.schedule.tz)}.")
        return
    for row in data:
        took = f"{row['seconds']}s" if row["seconds"] is not None else "-"
        line = (f"{_when(row['due_at'], job.schedule.tz)}  {row['status']:<11} {row['delivery']:<17} {took:>7}  "
                f"{row['input_tokens'] + row['output_tokens']} tokens")
        click.echo(line + (f"  ({row['error']})" if row["error"] else ""))


def _scheduler(settings):
    """A runtime, a scheduler and an outbox for the configured channels (delivering here)."""
    from ember.config import ConfigError
    from ember.gateway.channels import build_channels, gateway_config
    from ember.gateway.ledger import Ledger
    from ember.gateway.outbox import Outbox
    from ember.runtime import build_runtime
    from ember.scheduler.runner import Scheduler

    try:
        config = gateway_config(settings)
    except ConfigError as exc:
        raise CliError(str(exc), "fix [gateway.*] (docs/gateway.md)") from None
    runtime = build_runtime(settings, interactive=False)
    channels = {name: ch for name, ch in build_channels(config, runtime.store, settings.workspace_dir / "incoming")
                .items() if name != "webhook"}
    outbox = Outbox(Ledger(runtime.store), channels, redact=runtime.agent.redact)
    return runtime, Scheduler(runtime, outbox), outbox


def _deliver_now(outbox, reports, wait: float) -> None:
    """Deliver the results of this tick before exiting (a system timer has no gateway running)."""
    from ember.gateway.status import running_gateway

    ids = [i for r in reports for i in (r.outbox_ids or [])]
    if not ids or running_gateway(outbox.ledger) is not None:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for platform in outbox.channels:
            outbox.deliver_due(platform)
        items = [outbox.ledger.outbox_item(i) for i in ids]
        if all(i is None or i.status != "pending" for i in items):
            return
        time.sleep(0.5)


def _report_json(reports) -> list[dict]:
    return [{"job": r.job_id, "name": r.name, "due_at": r.due_at, "status": r.status, "error": r.error,
             "run_id": r.run_id} for r in reports]


@cron.command("run-now")
@click.argument("job_ref")
@click.option("--wait", type=float, default=30.0, show_default=True, help="Seconds to spend delivering the result.")
@click.option("--json", "as_json", is_flag=True)
def run_now(job_ref: str, wait: float, as_json: bool) -> None:
    """Run a job at once (its schedule is unchanged) and deliver the result."""
    from ember.config import load_settings

    settings = load_settings()
    runtime, scheduler, outbox = _scheduler(settings)
    try:
        job = _job_or_fail(scheduler.book, job_ref)
        now = time.time()
        report = scheduler.run(job, now, now, manual=True)
        _deliver_now(outbox, [report], wait)
    finally:
        runtime.close()
    if as_json:
        click.echo(json.dumps(_report_json([report])[0]))
    elif report.status == "ran":
        click.echo(report.answer)
    else:
        raise CliError(f"{job.id} {report.status}: {report.error or 'another run of it is going on'}",
                       f"see `ember cron runs {job.id}`")


@cron.command("tick")
@click.option("--now", "now_text", default=None, help="Run what is due at this ISO-8601 time (tests, catching up).")
@click.option("--wait", type=float, default=30.0, show_default=True, help="Seconds to spend delivering results.")
@click.option("--json", "as_json", is_flag=True)
def tick(now_text: str | None, wait: float, as_json: bool) -> None:
    """Run every job that is due, deliver the results, exit (for a system timer)."""
    from ember.config import load_settings

    now = _now(now_text)
    settings = load_settings()
    runtime, scheduler, outbox = _scheduler(settings)
    try:
        reports = scheduler.tick(now)
        _deliver_now(outbox, reports, wait)
    finally:
        runtime.close()
    if as_json:
        click.echo(json.dumps(_report_json(reports)))
    else:
        for report in reports:
            click.echo(f"{report.job_id} ({report.name}): {report.status}" + (f": {report.error}" if report.error else ""))
    if any(r.status in ("failed", "interrupted") for r in reports):
        raise SystemExit(1)  # a system timer's log shows it; the failure was also sent to the job's target
