"""The planning toolset: a task list that survives resume, and questions that reach a person."""

from __future__ import annotations

import json

import pytest

from ember.config import load_settings
from ember.models.base import ToolCall
from ember.runtime import build_runtime
from tests.e2e.conftest import EmberRunner
from tests.fakes.openai_server import FakeOpenAI, Reply


@pytest.fixture
def open_runtime(ember_home, tmp_path):
    """open_runtime() -> a Runtime on the test's EMBER_HOME (a second call is like a new process)."""
    (tmp_path / "ws").mkdir()
    (ember_home / "config.toml").write_text(f'workspace = "{tmp_path / "ws"}"\n[model]\nbase_url = "http://127.0.0.1:9/v1"\n')
    opened = []

    def open_():
        runtime = build_runtime(load_settings(ember_home, env={}), interactive=False)
        opened.append(runtime)
        return runtime

    yield open_
    for runtime in opened:
        runtime.close()


def run_tool(runtime, session: str, name: str, door=None, **arguments):
    ctx = runtime.agent.tool_context(session)
    ctx.door = door  # as Agent.run sets it for each turn
    return runtime.agent.registry.execute(ToolCall(id="t", name=name, arguments=arguments), ctx)


def test_todo_tracks_tasks_and_survives_a_resume(open_runtime):
    first = open_runtime()
    session = first.agent.new_session(source="test")
    added = run_tool(first, session, "todo", action="add", items=["read the spec", "write tests", "ship"])
    assert added.content == "Tasks (0 done, 3 open):\n[ ] 1. read the spec\n[ ] 2. write tests\n[ ] 3. ship"
    run_tool(first, session, "todo", action="update", ids=[1], status="done")
    updated = run_tool(first, session, "todo", action="update", ids=[2], status="in_progress")
    assert "[x] 1. read the spec\n[>] 2. write tests\n[ ] 3. ship" in updated.content
    first.close()

    resumed = open_runtime()  # a new process: fresh ToolContext, same database
    listed = run_tool(resumed, session, "todo", action="list")
    assert listed.content == updated.content
    run_tool(resumed, session, "todo", action="add", items=["celebrate"])
    cleared = run_tool(resumed, session, "todo", action="clear")
    assert cleared.content == "Tasks (0 done, 3 open):\n[>] 2. write tests\n[ ] 3. ship\n[ ] 4. celebrate"
    stored = json.loads(resumed.store.get_meta(f"todo:{session}"))
    assert [item["id"] for item in stored["items"]] == [2, 3, 4]
    other = resumed.agent.new_session(source="test")
    assert run_tool(resumed, other, "todo", action="list").content == "The task list is empty."


def test_todo_explains_bad_calls(open_runtime):
    runtime = open_runtime()
    session = runtime.agent.new_session(source="test")
    run_tool(runtime, session, "todo", action="add", items=["one"])
    unknown = run_tool(runtime, session, "todo", action="update", ids=[7], status="done")
    assert unknown.is_error and "No task numbered 7; the tasks are 1" in unknown.content
    empty = run_tool(runtime, session, "todo", action="add", items=[])
    assert empty.is_error and "add needs items" in empty.content
    no_status = run_tool(runtime, session, "todo", action="update", ids=[1])
    assert no_status.is_error and "status" in no_status.content


def test_clarify_asks_through_the_door_and_maps_option_numbers(open_runtime):
    runtime = open_runtime()
    asked = []
    answers = iter(["2", "green, please", ""])
    from ember.agent.door import Attended

    door = Attended(approver=lambda request: "deny",
                    asker=lambda question, options: asked.append((question, options)) or next(answers))
    session = runtime.agent.new_session(source="test")
    picked = run_tool(runtime, session, "clarify", door=door, question="Which colour?", options=["red", "blue"])
    free = run_tool(runtime, session, "clarify", door=door, question="Which colour?", options=["red", "blue"])
    silent = run_tool(runtime, session, "clarify", door=door, question="Anything else?")
    assert picked.content == "The user answered: blue"
    assert free.content == "The user answered: green, please"
    assert not silent.is_error and "no answer" in silent.content
    assert asked[0] == ("Which colour?", ["red", "blue"]) and asked[2] == ("Anything else?", [])


def test_clarify_without_a_person_tells_the_model_to_go_on(open_runtime):
    runtime = open_runtime()
    session = runtime.agent.new_session(source="test")
    result = run_tool(runtime, session, "clarify", question="Which colour?")
    assert result.is_error
    assert "not interactive" in result.content and "most reasonable assumption" in result.content


def _echo_tool_result(request):
    results = [m["content"] for m in request["messages"] if m["role"] == "tool"]
    return Reply(text=f"Noted: {results[-1]}")


CLARIFY_CALL = Reply(tool_calls=[{"name": "clarify", "arguments": {"question": "Which colour?",
                                                                   "options": ["red", "blue"]}}])


@pytest.fixture
def ember(ember_home, tmp_path):
    workspace = tmp_path / "cli-ws"
    workspace.mkdir()
    return EmberRunner(ember_home, workspace)


def test_chat_asks_the_person_and_run_does_not(ember):
    with FakeOpenAI([CLARIFY_CALL], responder=_echo_tool_result) as fake:
        ember.point_at(fake)
        chat = ember("chat", input="Paint the fence\n2\n/exit\n")
        assert chat.returncode == 0, chat.stderr
        assert "Which colour?" in chat.stdout and "2. blue" in chat.stdout
        assert "Noted: The user answered: blue" in chat.stdout
        fake.add(CLARIFY_CALL)
        run = ember("run", "Paint the fence")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Noted: No one can answer questions here")
