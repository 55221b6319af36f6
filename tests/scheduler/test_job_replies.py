"""A job's posted result is the start of a conversation: the run's time and its last run are in its
prompt, a reply to the post (in its thread) continues the run's session, and only for the job's
person. The real Gateway, Scheduler (its clock set by the test) and Slack channel, a fake Slack."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("websockets", reason="the gateway extra is not installed")

from ember.config import load_settings  # noqa: E402
from ember.gateway.channels import build_channels, gateway_config  # noqa: E402
from ember.gateway.service import Gateway  # noqa: E402
from ember.runtime import build_runtime  # noqa: E402
from ember.scheduler.schedule import parse  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Reply  # noqa: E402
from tests.fakes.slack_server import FakeSlack  # noqa: E402

OWNER, OTHER = "U0OWNER1", "U0OTHER2"


def users_of(request) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def answer(request) -> Reply:
    said = users_of(request)[-1]
    results = [m["content"] for m in request["messages"] if m["role"] == "tool"]
    if results and request["messages"][-1]["role"] == "tool":
        return Reply(text=results[-1])
    if said.startswith("schedule:"):
        return Reply(tool_calls=[{"name": "schedule_job", "arguments": {
            "when": "every day at 9am UTC", "task": said.removeprefix("schedule:").strip(), "name": "digest"}}])
    if said.startswith("cancel "):
        return Reply(tool_calls=[{"name": "cancel_job", "arguments": {"id": said.removeprefix("cancel ")}}])
    if said == "my jobs?":
        return Reply(tool_calls=[{"name": "list_jobs", "arguments": {}}])
    if said.startswith("[Scheduled job"):
        return Reply(text="Report for " + re.search(r"This run is for (\S+?);", said).group(1))
    return Reply(text=f"I see {len(users_of(request))} message(s) from you here.")


@pytest.fixture
def running(ember_home, monkeypatch):
    with FakeSlack() as slack, FakeOpenAI(responder=answer) as model:
        for name, value in {"EMBER_BASE_URL": model.base_url, "EMBER_MODEL": "fake-model",
                            "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token,
                            "EMBER_SLACK_API_BASE": slack.api_base, "EMBER_SLACK_ALLOW": f"{OWNER},{OTHER}"}.items():
            monkeypatch.setenv(name, value)
        (ember_home / "config.toml").write_text("[memory]\nlearning = false\n")
        settings = load_settings()
        config = gateway_config(settings)
        runtime = build_runtime(settings, interactive=False)
        gateway = Gateway(runtime, config, build_channels(config, runtime.store, settings.workspace_dir / "incoming"))
        gateway.start()
        slack.wait_connected(1)
        gateway.ledger.allow_sender("slack", OWNER, "owner", "linked")  # `ember gateway link slack:U0OWNER1 --person owner`
        try:
            yield gateway, slack, model
        finally:
            gateway.stop()
            runtime.close()


def test_a_reply_to_a_jobs_post_continues_its_run_for_the_owner_only(running):
    gateway, slack, model = running
    team = slack.add_channel("team")
    now = datetime.now(UTC)
    job = gateway.scheduler.book.add(parse("every day at 9am", now.timestamp(), "UTC"), "Report", "slack:#team",
                                     now=now.timestamp(), name="report")
    first = datetime.fromtimestamp(job.next_at, UTC)
    gateway.scheduler.tick(first.timestamp())
    gateway.scheduler.tick((first + timedelta(days=1)).timestamp())
    prompts = [users_of(r)[-1] for r in model.requests]
    assert f"This run is for {first.isoformat()}; it is the job's first run." in prompts[0]
    assert f"its last run was for {first.isoformat()}." in prompts[1]
    posts = slack.wait_posted(2)
    assert posts[1]["text"] == f"Report for {(first + timedelta(days=1)).isoformat()}"

    slack.mention(team, OWNER, "why?", thread_ts=posts[1]["ts"])  # the owner replies in the post's thread
    assert slack.wait_posted(3, timeout=15)[2]["text"] == "I see 2 message(s) from you here."
    slack.mention(team, OTHER, "and me?", thread_ts=posts[1]["ts"])  # someone else: a conversation of their own
    assert slack.wait_posted(4, timeout=15)[3]["text"] == "I see 1 message(s) from you here."
    assert "Report" not in str(model.requests[-1]["messages"])


def test_a_job_a_person_schedules_runs_as_them_and_only_they_see_it(running):
    gateway, slack, model = running
    store = gateway.runtime.store
    other_dm = slack.add_dm(OTHER)
    slack.user_says(other_dm, OTHER, "schedule: Summarise my day")
    scheduled = slack.wait_posted(1, timeout=15)[0]["text"]
    assert scheduled.startswith("Scheduled j"), scheduled
    job = gateway.scheduler.book.get("digest")
    assert job is not None and job.person == f"slack:{OTHER}" and job.deliver == f"slack:{other_dm}"

    gateway.scheduler.tick(job.next_at)
    run = gateway.scheduler.book.runs(job.id)[0]
    assert run.status == "ran" and store.person_of(run.session_id) == f"slack:{OTHER}"  # their memory, their USER.md

    assert slack.wait_posted(2, timeout=15)[1]["text"].startswith("Report for")  # delivered to their DM

    def reply(dm: str, user: str, text: str) -> str:
        count = len(slack.posted) + 1
        slack.user_says(dm, user, text)
        return slack.wait_posted(count, timeout=15)[count - 1]["text"]

    owner_dm = slack.add_dm(OWNER)  # linked as the owner: sees and runs as the terminal's user
    assert reply(owner_dm, OWNER, "schedule: Check the backups").startswith("Scheduled j")
    owners = next(j for j in gateway.scheduler.book.all() if j.id != job.id)
    assert owners.person == ""
    listed = reply(other_dm, OTHER, "my jobs?")
    assert job.id in listed and owners.id not in listed
    assert "No job" in reply(other_dm, OTHER, f"cancel {owners.id}")
    listed = reply(owner_dm, OWNER, "my jobs?")
    assert job.id in listed and owners.id in listed
    assert reply(other_dm, OTHER, f"cancel {job.id}").startswith(f"Cancelled {job.id}")
