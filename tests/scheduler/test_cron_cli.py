"""`ember cron` end to end: the real executable, a fake model, and a clock set with --now."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import EmberRunner
from tests.fakes.openai_server import FakeOpenAI, Reply


def iso(moment: datetime) -> str:
    return moment.isoformat()


def tomorrow_at(hour: int, minute: int = 0, days: int = 1) -> datetime:
    base = datetime.now(UTC) + timedelta(days=days)
    return base.replace(hour=hour, minute=minute, second=0, microsecond=0)


def add(ember: EmberRunner, *args: str) -> dict:
    result = ember("cron", "add", *args, "--timezone", "UTC", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_job_runs_when_due_once_and_its_runs_are_listed(ember):
    with FakeOpenAI(responder=lambda request: Reply(text="Good morning, all 3 builds are green.")) as fake:
        ember.point_at(fake)
        job = add(ember, "every day at 9am", "Summarise the builds", "--name", "builds")
        assert job["cron"] == "0 9 * * *" and job["deliver"] == "local"
        early = ember.json("cron", "tick", "--now", iso(tomorrow_at(8, 59)), "--json")
        assert early == [] and fake.requests == []
        ran = ember.json("cron", "tick", "--now", iso(tomorrow_at(9, 0, )), "--json")
        assert [(r["job"], r["status"]) for r in ran] == [(job["id"], "ran")]
        again = ember.json("cron", "tick", "--now", iso(tomorrow_at(9, 1)), "--json")
        assert again == []  # advanced to the next day
        asked = [m["content"] for m in fake.requests[0]["messages"] if m["role"] == "user"][-1]
        assert "Summarise the builds" in asked and "Scheduled job 'builds'" in asked
    runs = ember.json("cron", "runs", "builds", "--json")
    assert len(runs) == 1 and runs[0]["status"] == "ran" and runs[0]["delivery"] == "local"
    assert runs[0]["input_tokens"] > 0 and runs[0]["session_id"]
    listed = ember.json("cron", "list", "--json")
    assert listed[0]["next_at"] == tomorrow_at(9, 0, days=2).timestamp()


def test_two_processes_ticking_at_once_run_a_job_once(ember):
    with FakeOpenAI(responder=lambda request: Reply(text="done", chunk_delay=0.05)) as fake:
        ember.point_at(fake)
        job = add(ember, "every day at 9am", "Do the thing")
        now = iso(tomorrow_at(9, 0))
        procs = [ember.popen("cron", "tick", "--now", now, "--json") for _ in range(3)]
        outputs = [json.loads(p.communicate(timeout=60)[0] or "[]") for p in procs]
    ran = [r for out in outputs for r in out if r["status"] == "ran"]
    assert len(ran) == 1 and ran[0]["job"] == job["id"]
    assert len(ember.json("cron", "runs", job["id"], "--json")) == 1


def test_missed_runs_follow_the_job_policy(ember):
    with FakeOpenAI(responder=lambda request: Reply(text="caught up")) as fake:
        ember.point_at(fake)
        skip = add(ember, "every day at 9am", "Skipped when missed", "--missed", "skip", "--name", "skipper")
        once = add(ember, "every day at 9am", "Run once when back", "--missed", "once", "--name", "catcher")
        three_days_late = iso(tomorrow_at(12, 0, days=3))  # the machine was off for three mornings
        reports = {r["job"]: r["status"] for r in ember.json("cron", "tick", "--now", three_days_late, "--json")}
        assert reports == {skip["id"]: "skipped", once["id"]: "ran"}
        assert len(fake.requests) == 1  # one catch-up run, not three
    assert ember.json("cron", "runs", "skipper", "--json")[0]["error"].startswith("missed")
    next_at = {j["id"]: j["next_at"] for j in ember.json("cron", "list", "--json")}
    assert next_at[once["id"]] == next_at[skip["id"]] == tomorrow_at(9, 0, days=4).timestamp()


def test_a_failing_run_is_retried_then_recorded_as_failed(ember):
    with FakeOpenAI([Reply.fail(400, "model exploded"), Reply.fail(400, "model exploded again")]) as fake:
        ember.point_at(fake)
        job = add(ember, "every day at 9am", "Fail please", "--retries", "1")
        result = ember("cron", "tick", "--now", iso(tomorrow_at(9, 0)), "--json")
    assert result.returncode == 1
    runs = ember.json("cron", "runs", job["id"], "--json")
    assert [(r["attempt"], r["status"]) for r in runs] == [(2, "failed"), (1, "failed")]
    assert "model exploded" in runs[0]["error"]


def test_a_run_that_takes_too_long_is_stopped(ember):
    with FakeOpenAI([Reply(text="x" * 500, chunk_delay=0.05, hang=True)]) as fake:
        ember.point_at(fake)
        job = add(ember, "every day at 9am", "Take forever", "--timeout", "2", "--retries", "0")
        started = time.monotonic()
        result = ember("cron", "tick", "--now", iso(tomorrow_at(9, 0)), "--json")
        assert time.monotonic() - started < 25
    assert result.returncode == 1
    (run,) = ember.json("cron", "runs", job["id"], "--json")
    assert run["status"] == "failed" and "timed out after 2s" in run["error"]


def test_pause_resume_remove_and_bad_input(ember):
    job = add(ember, "every weekday at 9am", "Stand-up notes", "--name", "standup")
    assert ember("cron", "pause", "standup").returncode == 0
    assert ember.json("cron", "show", job["id"], "--json")["enabled"] is False
    assert ember("cron", "resume", "standup").returncode == 0
    bad = ember("cron", "add", "whenever you like", "x")
    assert bad.returncode == 2 and "every weekday at 9am" in bad.stderr
    target = ember("cron", "add", "every day at 9", "x", "--deliver", "nowhere")
    assert target.returncode == 2 and "PLATFORM:CHAT" in target.stderr
    assert ember("cron", "remove", "standup").returncode == 0
    assert ember("cron", "show", "standup").returncode == 2
    assert ember.json("cron", "list", "--json") == []


def test_the_agent_schedules_a_job_when_asked(ember):
    script = [Reply(tool_calls=[{"name": "schedule_job", "arguments": {
        "when": "every monday 08:30 Europe/Berlin", "task": "Post the week's plan", "name": "weekly"}}]),
        Reply(text="Done: every Monday at 08:30.")]
    with FakeOpenAI(script) as fake:
        ember.point_at(fake)
        result = ember("run", "every monday at 8:30 post the week's plan")
    assert result.returncode == 0, result.stderr
    (job,) = ember.json("cron", "list", "--json")
    assert job["name"] == "weekly" and job["cron"] == "30 8 * * 1" and job["timezone"] == "Europe/Berlin"
    assert job["deliver"] == "local"  # asked from the terminal
