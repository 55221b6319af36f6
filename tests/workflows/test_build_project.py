"""Workflow 3: "build a todo web app with login, with tests", then a similar app with the skill learned.

Two `ember run` sessions. The agent writes the code with the real `write_file`, runs the tests
with the real `shell` (in the sandbox, python3's unittest), and fixes the app when a test fails.
After that task the learning loop writes a SKILL.md; the second request finds it in the prompt's
skill index, loads it with `skill_view` and, because its pitfall says so, gets the login check
right the first time: fewer model calls. The fake model explores unless the skill is in its prompt.
"""

from __future__ import annotations

import re
from typing import Any

from ember.memory.learning.prompts import SKILL_TAG
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.learning.scenarios import LearningModel, call, turn_of
from tests.workflows.conftest import MODEL_TOML, cli_json, is_agent_request, last_user, section, tool_results
from tests.workflows.webapp_code import app_code, unit_tests_for

SKILL = "python-web-app-with-login"
PITFALL = "Check the login on every route"
TODO = "Build a todo web app with login, with tests, in the folder todo/."
NOTES = "Build a notes web app with login, with tests, in the folder notes/."


def skill_md(failed_test: str) -> str:
    return f"""---
name: {SKILL}
description: Builds a small Python web app with a login and unittest tests (WSGI, standard library). Use when asked for a small web app with login and tests.
---
## When to use
The user asks for a small web app with a login, and tests.

## Steps
1. Write FOLDER/app.py: a WSGI app with POST /login (pbkdf2 password hashes, a session cookie) and the routes of the resource.
2. Write FOLDER/test_app.py with unittest, calling the WSGI app directly (no server needed).
3. Run `python3 -m unittest` in FOLDER with the shell tool (cwd=FOLDER); all tests must pass.

## Pitfalls
- {PITFALL}, not only on /login: the first version served the list without it and {failed_test} failed.
"""


class BuilderModel(LearningModel):
    """Builds the app; with the skill in its prompt it loads it and follows it."""

    def learn(self, tag: str, request: dict[str, Any]) -> Reply:
        if tag == SKILL_TAG:  # phrased from the episode the learner shows it
            failed = re.search(r"FAIL: (test_\w+)", request["messages"][1]["content"])
            return Reply(text=skill_md(failed.group(1) if failed else "a test"))
        return Reply(text="NONE")

    def agent(self, request: dict[str, Any], system: str) -> Reply:
        wanted = re.search(r"Build a (\w+) web app with login, with tests, in the folder (\w+)/", last_user(request))
        if not wanted:
            return Reply(text="OK.")
        thing, folder = wanted.groups()
        resource = thing if thing.endswith("s") else thing + "s"
        results = tool_results(request)
        calls = [c["function"]["name"] for m in turn_of(request) if m["role"] == "assistant"
                 for c in m.get("tool_calls") or []]
        run_tests = call("shell", command="python3 -m unittest", cwd=folder)
        if SKILL in section(system, "Skills"):  # the short path: load the skill, follow it
            if not calls:
                return call("skill_view", name=SKILL)
            careful = PITFALL in results[0]
            plan = [call("write_file", path=f"{folder}/app.py", content=app_code(thing, resource, careful)),
                    call("write_file", path=f"{folder}/test_app.py", content=unit_tests_for(resource)), run_tests]
            done = len(calls) - 1
        else:  # explore, write, test
            plan = [call("list_dir", path="."),
                    call("write_file", path=f"{folder}/app.py", content=app_code(thing, resource, False)),
                    call("write_file", path=f"{folder}/test_app.py", content=unit_tests_for(resource)), run_tests]
            done = len(calls)
        if done < len(plan):
            return plan[done]
        if calls[-1] == "shell" and "FAILED" in results[-1]:  # read the failure, fix the app
            return call("write_file", path=f"{folder}/app.py", content=app_code(thing, resource, True))
        if calls[-1] == "write_file":
            return run_tests
        ran = re.search(r"Ran \d+ tests", results[-1])
        return Reply(text=f"The {thing} app is in {folder}/ (app.py, test_app.py). {ran.group(0) if ran else ''}: OK.")


def unittest_outputs(requests: list[dict[str, Any]]) -> list[str]:
    """The unittest outputs in the last agent request of a run (it carries the whole turn)."""
    last = [r for r in requests if is_agent_request(r)][-1]
    return [result for result in tool_results(last) if "Ran " in result]


def build(ember, text: str) -> dict[str, Any]:
    return cli_json(ember, "run", "--json", text)


def test_a_project_is_built_tested_fixed_and_the_next_one_uses_the_skill(ember):
    with FakeOpenAI(responder=BuilderModel()) as model:
        ember.config(MODEL_TOML.format(base_url=model.base_url))
        ember.env["EMBER_EMBEDDINGS"] = "off"

        first = build(ember, TODO)
        tools = [c["name"] for c in first["tool_calls"]]
        assert tools == ["list_dir", "write_file", "write_file", "shell", "write_file", "shell"]
        failed, passed = unittest_outputs(model.requests)  # what the model read from the shell
        assert "FAIL: test_todos_need_a_login" in failed and failed.endswith("FAILED (failures=1)\n[exit code 1]")
        assert "Ran 5 tests" in passed and "OK" in passed and "FAILED" not in passed
        assert "if user is None" in (ember.workspace / "todo" / "app.py").read_text()  # the fix is on disk
        first_calls = len([r for r in model.requests if is_agent_request(r)])
        assert first["usage"]["steps"] == first_calls == 7

        # The learning loop wrote a skill from that task, with the pitfall it met.
        (skill,) = cli_json(ember, "skills", "list", "--json")
        assert (skill["name"], skill["origin"], skill["uses"]) == (SKILL, "learned", 0)
        assert "test_todos_need_a_login failed" in (ember.home / "skills" / SKILL / "SKILL.md").read_text()

        start = len(model.requests)
        second = build(ember, NOTES)
        assert [c["name"] for c in second["tool_calls"]] == ["skill_view", "write_file", "write_file", "shell"]
        (tested,) = unittest_outputs(model.requests[start:])
        assert "Ran 5 tests" in tested and "FAILED" not in tested  # right the first time
        second_calls = len([r for r in model.requests[start:] if is_agent_request(r)])
        assert second["usage"]["steps"] == second_calls == 5 < first_calls
        first_prompt = next(r for r in model.requests if is_agent_request(r) and last_user(r) == NOTES)
        assert f"- {SKILL}: Builds a small Python web app" in section(first_prompt["messages"][0]["content"], "Skills")
    (skill,) = cli_json(ember, "skills", "list", "--json")
    assert (skill["uses"], skill["successes"]) == (1, 1)
