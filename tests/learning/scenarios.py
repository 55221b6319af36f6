"""Scripted, prompt-following fake models for the learning loop (used by tests and benchmarks/learning.py).

Each scenario is a ``responder(request) -> Reply`` for ``FakeOpenAI``. It answers the agent's
requests from what is in the prompt, the way a real model would, and the learner's requests
(recognized by the ``Ember learning task: ...`` first line of their system prompt) with a lesson,
a SKILL.md or a condensed profile.

- ``ReportModel``: "prepare the weekly sales report". Without a skill for it in the prompt, the
  model explores: six tool calls, one of which fails and is fixed. With the skill's line in the
  Skills index, it loads the skill and runs the one command it names: two tool calls.
- ``ClassifierModel``: classifies an issue's severity. It says "high" for a typo unless a lesson
  in its prompt says typos are low; the user corrects it on day 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ember.memory.learning.prompts import LESSON_TAG, PROFILE_TAG, SKILL_TAG
from tests.fakes.openai_server import Reply

REPORT_TASK = "Prepare the weekly sales report from sales.csv into report.md"
REPORT_SKILL = "weekly-sales-report"

SALES_CSV = "region,amount\nnorth,120\nsouth,80\neast,200\nwest,100\n"
BROKEN_SCRIPT = "import sys\nrows = [l.split(',') for l in open(sys.argv[1])]\nprint('# Weekly sales')\nprint('Total:', sum(int(r[1]) for r in rows))\n"
FIXED_SCRIPT = BROKEN_SCRIPT.replace("open(sys.argv[1])]", "open(sys.argv[1])][1:]")

SKILL_MD = f"""---
name: {REPORT_SKILL}
description: Builds the weekly sales report (report.md) from sales.csv. Use when asked for the weekly sales report.
---
## When to use
The user asks for the weekly sales report and sales.csv is in the workspace.

## Steps
1. Run `python3 make_report.py sales.csv > report.md` with the shell tool (make_report.py is in the workspace).
2. Answer with the total from report.md.

## Pitfalls
- sales.csv starts with a header row; make_report.py skips it.
"""

CSV_LESSON = ("RULE: When a script reads a CSV file, skip the header row, not parse it as data.\n"
              "KEYWORDS: csv header script sales report parse")
TYPO_LESSON = ("RULE: When classifying the severity of an issue about a documentation typo, classify it as low, not high.\n"
               "KEYWORDS: classify severity issue typo documentation docs readme")


def prepare_report_workspace(workspace: Path) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "sales.csv").write_text(SALES_CSV)


def system_of(request: dict[str, Any]) -> str:
    messages = request.get("messages") or []
    return messages[0]["content"] if messages and messages[0]["role"] == "system" else ""


def turn_of(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of the current turn: those after the last user message."""
    messages = request.get("messages") or []
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=0)
    return messages[last_user + 1:]


def last_user(request: dict[str, Any]) -> str:
    users = [m["content"] for m in request.get("messages") or [] if m["role"] == "user"]
    return users[-1] if users else ""


def call(tool: str, **arguments: Any) -> Reply:
    return Reply(tool_calls=[{"name": tool, "arguments": arguments}])


class LearningModel:
    """Answers the learner's requests; subclasses answer the agent's."""

    lesson = "NONE"

    def __init__(self) -> None:
        self.learning_requests: list[str] = []  # the tag line of each learning request, in order

    def __call__(self, request: dict[str, Any]) -> Reply:
        system = system_of(request)
        for tag in (LESSON_TAG, SKILL_TAG, PROFILE_TAG):
            if system.startswith(tag):
                self.learning_requests.append(tag)
                return self.learn(tag, request)
        return self.agent(request, system)

    def learn(self, tag: str, request: dict[str, Any]) -> Reply:
        if tag == SKILL_TAG:
            return Reply(text=SKILL_MD)
        if tag == PROFILE_TAG:
            return Reply(text="NONE")
        return Reply(text=self.lesson)

    def agent(self, request: dict[str, Any], system: str) -> Reply:
        raise NotImplementedError


class ReportModel(LearningModel):
    lesson = CSV_LESSON

    def agent(self, request: dict[str, Any], system: str) -> Reply:
        done = [m for m in turn_of(request) if m["role"] == "tool"]
        if "weekly sales report" not in last_user(request).lower():
            return Reply(text="OK.")
        if REPORT_SKILL in system:  # the skill is in the index: the short path
            short = [
                call("skill_view", name=REPORT_SKILL),
                call("shell", command="python3 make_report.py sales.csv > report.md && cat report.md"),
            ]
            if len(done) < len(short):
                return short[len(done)]
            return Reply(text=f"The weekly report is in report.md. {_total(done[-1]['content'])}")
        long = [
            call("list_dir", path="."),
            call("read_file", path="sales.csv"),
            call("write_file", path="make_report.py", content=BROKEN_SCRIPT),
            call("shell", command="python3 make_report.py sales.csv"),  # fails: the header row is not a number
            call("write_file", path="make_report.py", content=FIXED_SCRIPT),
            call("shell", command="python3 make_report.py sales.csv > report.md && cat report.md"),
        ]
        if len(done) < len(long):
            return long[len(done)]
        return Reply(text=f"The weekly report is in report.md. {_total(done[-1]['content'])}")


class ClassifierModel(LearningModel):
    lesson = TYPO_LESSON

    def agent(self, request: dict[str, Any], system: str) -> Reply:
        message = last_user(request).lower()
        if message.startswith("no"):
            return Reply(text="Understood: low severity.")
        if "classify" in message:
            typo_is_low = "typo" in system and "classify it as low" in system
            return Reply(text="Severity: low" if typo_is_low else "Severity: high")
        return Reply(text="OK.")


def _total(output: str) -> str:
    return next((line for line in output.splitlines() if line.startswith("Total")), "(no total)")


def request_size(request: dict[str, Any]) -> int:
    return len(json.dumps(request.body if hasattr(request, "body") else request, separators=(",", ":")).encode())
