"""Workflow 1: daily GitHub issue triage posted to Slack, corrected in Slack, right the next days.

Real processes: `ember gateway run` (Slack over Socket Mode, against the fake Slack) and `ember
cron tick --now` (the clock set by the test). The agent reaches the fake GitHub with the real
`http_request` tool and a named credential. The fake model triages from what Ember puts in its
prompt: it asks for what is new since the last run named in the job's prompt, follows the `Link`
header's next page, skips pull requests, and calls an issue about a typo "low" only when a lesson
saying so is in its prompt. Otherwise it takes "error" in a typo report for "critical".
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

pytest.importorskip("websockets", reason="the gateway extra is not installed")

from ember.memory.learning.prompts import LESSON_TAG, PROFILE_TAG, SKILL_TAG  # noqa: E402
from tests.e2e.conftest import EMBER  # noqa: E402
from tests.fakes.github_server import FakeGitHub  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Reply  # noqa: E402
from tests.fakes.slack_server import FakeSlack  # noqa: E402
from tests.learning.scenarios import call  # noqa: E402
from tests.workflows.conftest import (  # noqa: E402
    MODEL_TOML,
    cli_json,
    is_agent_request,
    last_user,
    section,
    system_of,
    tool_results,
    wait_until,
)

OWNER = "U0OWNER1"
TASK = ("Pull the new GitHub issues of acme/widgets from {api} (credential github), classify each by severity "
        "(critical, high, medium or low), write a one-line summary of each, and post the list.")
CORRECTION = "No, #12 is not critical, it's low: a typo."
TYPO_RULE = ("When classifying the severity of new GitHub issues, classify a typo (in the docs or in a message) "
             "as low, not critical.")


def day(n: int, hour: int = 9, minute: int = 0) -> datetime:
    """Day 1 is tomorrow: `ember cron add` computes the first run from the real clock."""
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=n)
    return base.replace(hour=hour, minute=minute)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class TriageModel:
    """The agent's side from its prompt; the learner's side phrases the correction as a rule."""

    def __init__(self, github: FakeGitHub) -> None:
        self.github = github

    def __call__(self, request: dict[str, Any]) -> Reply:
        system = system_of(request)
        if system.startswith(LESSON_TAG):
            facts = request["messages"][1]["content"]
            if "typo" in facts and "low" in facts:
                return Reply(text=f"RULE: {TYPO_RULE}\nKEYWORDS: classify severity github issues typo low critical")
            return Reply(text="NONE")
        if system.startswith((SKILL_TAG, PROFILE_TAG)):
            return Reply(text="NONE")
        message = last_user(request)
        if message.lower().startswith("no"):
            return Reply(text="Thanks, noted: #12 is low (a documentation typo). Typos will be low from now on.")
        if "[Scheduled job" not in message:
            return Reply(text="OK.")
        return self.triage(message, system, tool_results(request))

    def triage(self, message: str, system: str, results: list[str]) -> Reply:
        this_run = datetime.fromisoformat(re.search(r"This run is for (\S+?);", message).group(1))
        last = re.search(r"its last run was for (\S+?)\.", message)
        since = datetime.fromisoformat(last.group(1)) if last else this_run - timedelta(days=1)
        if not results:
            url = (f"{self.github.api_base}/repos/acme/widgets/issues?state=open&per_page=3"
                   f"&since={stamp(since.astimezone(UTC))}")
            return call("http_request", url=url, credential="github")
        following = re.search(r'<([^>]+)>; rel="next"', results[-1])
        if following:
            return call("http_request", url=following.group(1), credential="github")
        issues = [issue for result in results for issue in json.loads(result[result.index("\n["):])]
        lessons = section(system, "Lessons")
        typos_are_low = "typo" in lessons and "as low" in lessons
        lines = []
        for issue in sorted(issues, key=lambda i: i["number"]):
            created = datetime.fromisoformat(issue["created_at"].replace("Z", "+00:00"))
            if "pull_request" in issue or created < since:
                continue  # a pull request, or an old issue someone commented on
            text = f"{issue['title']} {issue['body'] or ''}".lower()
            if "typo" in text and typos_are_low:
                severity = "low"
            elif any(word in text for word in ("crash", "data loss", "error")):
                severity = "critical"
            elif "slow" in text:
                severity = "medium"
            else:
                severity = "low"
            summary = (issue["body"] or issue["title"]).split(". ")[0].rstrip(".")
            lines.append(f"- #{issue['number']} [{severity}] {issue['title']}: {summary}.")
        head = f"Issue triage for acme/widgets, {len(lines)} new since {stamp(since.astimezone(UTC))}:"
        return Reply(text="\n".join([head, *lines]) if lines else "No new issues in acme/widgets today.")


@pytest.fixture
def services():
    with FakeGitHub() as github, FakeSlack() as slack, FakeOpenAI() as model:
        model.responder = TriageModel(github)
        yield github, slack, model


def configure(ember, github: FakeGitHub, slack: FakeSlack, model: FakeOpenAI) -> None:
    """What docs/workflows.md has the user write: the model, the GitHub credential, Slack, the secrets."""
    ember.config(MODEL_TOML.format(base_url=model.base_url) + f"""
[http.credentials.github]
value = "Bearer ${{GITHUB_TOKEN}}"
hosts = ["{github.host}"]

[gateway.slack]
api_base = "{slack.api_base}"
allow = ["{OWNER}"]
""")
    (ember.home / ".env").write_text(f"GITHUB_TOKEN={github.token}\nSLACK_BOT_TOKEN={slack.bot_token}\n"
                                     f"SLACK_APP_TOKEN={slack.app_token}\n")
    ember.env["EMBER_EMBEDDINGS"] = "off"


@pytest.fixture
def gateway(ember, services, tmp_path):
    """`ember gateway run` as a process, until the test ends."""
    github, slack, model = services
    configure(ember, github, slack, model)
    log = (tmp_path / "gateway.log").open("w")
    process = subprocess.Popen([EMBER, "gateway", "run"], env=ember.env,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ember.workspace)
    try:
        slack.wait_connected(1, timeout=20)
        wait_until(lambda: cli_json(ember, "gateway", "status", "--json")["running"], what="the gateway's heartbeat")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def top_level_posts(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    with slack.lock:
        return [p for p in slack.posted if p.get("channel") == channel and not p.get("thread_ts")]


def tick(ember, moment: datetime) -> list[dict[str, Any]]:
    return cli_json(ember, "cron", "tick", "--now", moment.isoformat(), "--json")


def cron_prompts(model: FakeOpenAI) -> list[dict[str, Any]]:
    """The first agent request of each cron run, in order."""
    return [r for r in model.requests if is_agent_request(r) and "[Scheduled job" in last_user(r)
            and r["messages"][-1]["role"] == "user"]


def test_daily_triage_learns_from_a_correction_in_slack(ember, services, gateway):
    github, slack, model = services
    team = slack.add_channel("team")
    assert ember("gateway", "link", f"slack:{OWNER}", "--person", "owner").returncode == 0
    job = cli_json(ember, "cron", "add", "every day at 9am", TASK.format(api=github.api_base), "--name", "issue-triage",
                   "--deliver", "slack:#team", "--timezone", "UTC", "--json")
    assert job["deliver"] == "slack:#team"

    # Before day 1: one old issue, three new ones and a pull request (which GitHub lists as an issue).
    github.add_issue(9, "Add a dark theme", created=stamp(day(1, 9) - timedelta(days=5)), body="It would be nice.")
    github.add_issue(10, "App crashes when the config file is empty", created=stamp(day(1, 6)),
                     body="Running widgets sync with an empty widgets.toml crashes with a KeyError. Seen on 2.1.",
                     labels=["bug"])
    github.add_issue(11, "Sync is slow on large folders", created=stamp(day(1, 6, 30)),
                     body="Syncing 10,000 files takes 20 minutes. It used to take two.")
    github.add_issue(12, "Typo in the install guide", created=stamp(day(1, 7)),
                     body="The guide says 'recieve' where it means 'receive'. The error message example has it too.",
                     labels=["docs"])
    github.add_issue(13, "Bump httpx to 0.28", created=stamp(day(1, 7, 30)), pull_request=True)

    # Day 1, 09:00: the run asks for the last day's issues, page by page, with the token.
    assert [r["status"] for r in tick(ember, day(1, 9))] == ["ran"]
    (post1,) = wait_until(lambda: top_level_posts(slack, team) or None, what="day 1's post")
    assert "#10 [critical]" in post1["text"] and "#11 [medium]" in post1["text"]
    assert "#12 [critical]" in post1["text"]  # wrong: it is a typo
    assert "#13" not in post1["text"] and "#9 " not in post1["text"]  # a pull request; an old issue
    day1_queries = github.issue_requests()
    assert [q.get("page", "1") for q in day1_queries] == ["1", "2"]  # followed the Link header
    assert day1_queries[0]["since"] == stamp(day(0, 9)) and day1_queries[1]["since"] == stamp(day(0, 9))
    assert all(r.headers["authorization"] == f"Bearer {github.token}" for r in github.requests)
    assert tick(ember, day(1, 9, 30)) == []  # once a day
    wait_until(lambda: cli_json(ember, "cron", "runs", "issue-triage", "--json")[0]["delivery"] == "delivered",
               what="day 1 delivered")

    # The owner corrects it in the post's thread; the reply continues the run's conversation.
    slack.mention(team, OWNER, CORRECTION, thread_ts=post1["ts"])
    answer = wait_until(lambda: [p for p in slack.posted if p.get("thread_ts") == post1["ts"]], what="a reply")[0]
    assert "#12 is low" in answer["text"]
    correction_turn = next(r for r in model.requests if is_agent_request(r) and last_user(r).endswith(CORRECTION))
    assert post1["text"].splitlines()[0] in json.dumps(correction_turn["messages"])  # it saw its own report
    lessons = wait_until(lambda: cli_json(ember, "memory", "lessons", "--json"), what="the lesson")
    assert [(x["kind"], x["rule"]) for x in lessons] == [("correction", TYPO_RULE)]

    # Day 2: a typo report and a real emergency, and someone commented on #12 (GitHub's `since` is
    # about updates, so #12 comes back; it is not new).
    github.add_issue(14, "Typo in the error message of widgets sync", created=stamp(day(1, 14)),
                     body="It prints 'Could not conect' instead of 'Could not connect'.")
    github.add_issue(15, "Data loss when two syncs run at once", created=stamp(day(1, 16)),
                     body="Two overlapping syncs delete each other's files.", labels=["bug"])
    github.update_issue(12, stamp(day(1, 15)))
    before = len(github.issue_requests())
    assert [r["status"] for r in tick(ember, day(2, 9))] == ["ran"]
    day2_queries = github.issue_requests()[before:]
    assert {q["since"] for q in day2_queries} == {stamp(day(1, 9))}  # the last run's time
    day2_prompt = system_of(cron_prompts(model)[-1])
    assert TYPO_RULE in section(day2_prompt, "Lessons")  # retrieved for this run
    post2 = wait_until(lambda: top_level_posts(slack, team)[1:] or None, what="day 2's post")[0]
    assert "#14 [low]" in post2["text"] and "#15 [critical]" in post2["text"]
    assert "#12" not in post2["text"] and "#10" not in post2["text"]

    # Day 3: the lesson keeps working.
    github.add_issue(16, "Typo in widgets --help: 'overwite'", created=stamp(day(2, 11)),
                     body="The help text has an error: 'overwite' should be 'overwrite'.")
    assert [r["status"] for r in tick(ember, day(3, 9))] == ["ran"]
    post3 = wait_until(lambda: top_level_posts(slack, team)[2:] or None, what="day 3's post")[0]
    assert "#16 [low]" in post3["text"] and "#14" not in post3["text"]
    assert {q["since"] for q in github.issue_requests()[len(day1_queries) + len(day2_queries):]} == {stamp(day(2, 9))}

    assert len(top_level_posts(slack, team)) == 3  # one post a day
    runs = wait_until(lambda: [r for r in cli_json(ember, "cron", "runs", "issue-triage", "--json")
                               if r["delivery"] == "delivered"][2:] and
                      cli_json(ember, "cron", "runs", "issue-triage", "--json"), what="every run delivered")
    assert [(r["status"], r["delivery"]) for r in runs] == [("ran", "delivered")] * 3
    [lesson] = cli_json(ember, "memory", "lessons", "--json")
    assert (lesson["uses"], lesson["successes"]) == (2, 2)
    assert github.token not in json.dumps([r.body for r in model.requests])  # the model never saw the token
