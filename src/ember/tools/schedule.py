"""The ``schedule`` toolset: the agent sets up, lists and cancels scheduled jobs when asked.

"Every morning, send me the new issues" in a chat becomes a job whose result is delivered to
that chat (the turn's door says where: ``door.reply_to``); from the terminal it is delivered
``local`` unless the person named a target. Jobs run inside ``ember gateway run`` or from
``ember cron tick`` (docs/cron.md).
"""

from __future__ import annotations

import time

from ember.tools.base import ToolContext, ToolError, tool


def _person(ctx: ToolContext) -> str:
    """Whose turn this is ("" the owner): a person's jobs run as them and are theirs to list and cancel."""
    return ctx.store.person_of(ctx.session_id) if ctx.store is not None and ctx.session_id else ""


def _mine(ctx: ToolContext, job) -> bool:
    person = _person(ctx)
    return not person or job.person == person


def _book(ctx: ToolContext):
    from ember.scheduler.jobs import JobBook

    if ctx.store is None:
        raise ToolError("scheduling needs Ember's store; it is not available here.")
    return JobBook(ctx.store)


@tool(toolset="schedule")
def schedule_job(ctx: ToolContext, when: str, task: str, deliver: str | None = None, name: str | None = None) -> str:
    """Schedule a task to run later or repeatedly; its result is delivered to a chat.

    Args:
        when: When it runs: "every weekday at 9am", "every monday 08:30 Europe/Berlin", "in 2 hours", "tomorrow at 8am", or a cron expression.
        task: What to do at each run, as a complete instruction (the run sees nothing of this conversation).
        deliver: Where the result goes: PLATFORM:CHAT such as slack:#team, or local; default: this chat.
        name: A short name for the job.
    """
    from ember.scheduler.jobs import created_by
    from ember.scheduler.runner import parse_target
    from ember.scheduler.schedule import ScheduleError, parse

    target = deliver or getattr(ctx.door, "reply_to", None) or "local"
    try:
        parse_target(target)
        schedule = parse(when, time.time())
    except (ScheduleError, ValueError) as exc:
        raise ToolError(str(exc)) from exc
    if not task.strip():
        raise ToolError("task is empty: say what each run should do.")
    job = _book(ctx).add(schedule, task.strip(), target, now=time.time(), name=name or "",
                         created_by=created_by(_person(ctx)))
    when_next = time.strftime("%Y-%m-%d %H:%M", time.localtime(job.next_at)) if job.next_at else "never"
    return (f"Scheduled {job.id} ({job.name}): {schedule.describe()}; next run {when_next}; results go to "
            f"{target}. The user can see it with `ember cron list` and stop it with `ember cron remove {job.id}`.")


@tool(toolset="schedule")
def list_jobs(ctx: ToolContext) -> str:
    """The scheduled jobs: id, name, schedule, next run and where results go."""
    jobs = [job for job in _book(ctx).all() if _mine(ctx, job)]
    if not jobs:
        return "No scheduled jobs."
    lines = []
    for job in jobs:
        when_next = time.strftime("%Y-%m-%d %H:%M", time.localtime(job.next_at)) if job.next_at else "-"
        state = "" if job.enabled else " (paused)"
        lines.append(f"{job.id} {job.name}{state}: {job.schedule.describe()}, next {when_next}, to {job.deliver}")
    return "\n".join(lines)


@tool(toolset="schedule")
def cancel_job(ctx: ToolContext, id: str) -> str:
    """Cancel a scheduled job for good.

    Args:
        id: The job's id (j1a2b3c) or its name.
    """
    book = _book(ctx)
    job = book.get(id)
    if job is None or not _mine(ctx, job):
        raise ToolError(f"No job {id!r}; list_jobs shows them.")
    book.remove(job.id)
    return f"Cancelled {job.id} ({job.name})."
