"""delegate: real sub-agents against a fake model that answers each sub-task in its own way."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from ember.config import load_settings
from ember.models.base import ToolCall
from ember.runtime import build_runtime
from ember.tools.base import ToolError
from ember.tools.delegate import DelegateLimits, delegate_limits
from tests.fakes.openai_server import FakeOpenAI, Reply

PARENT_TASK = "Count the fruit in the two baskets."


@pytest.fixture
def make_runtime(ember_home, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    opened = []

    def make(fake, config: str = "", auto_approve: bool = False):
        (ember_home / "config.toml").write_text(
            f'retries = 0\nworkspace = "{workspace}"\n[model]\nbase_url = "{fake.base_url}"\nmodel = "fake-model"\n'
            f"[agent]\nstream = false\n{config}"
        )
        runtime = build_runtime(load_settings(ember_home, env={}), interactive=False, auto_approve=auto_approve)
        opened.append(runtime)
        return runtime, workspace

    yield make
    for runtime in opened:
        runtime.close()


def task_of(request) -> str:
    """The first user message: the parent's request, or the task a sub-agent was given."""
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


def tool_results(request) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def tool_names(request) -> set[str]:
    return {t["function"]["name"] for t in request.get("tools", [])}


def loadable(request) -> list[str]:
    for t in request.get("tools", []):
        if t["function"]["name"] == "tools_load":
            return t["function"]["parameters"]["properties"]["toolset"]["enum"]
    return []


def delegate_call(tasks, **extra):
    return Reply(tool_calls=[{"name": "delegate", "arguments": {"tasks": tasks, **extra}}])


def test_two_children_run_concurrently_and_report_back(make_runtime):
    both_running = threading.Barrier(2, timeout=10)  # passes only if the two children ask at the same time

    def responder(request):
        task, results = task_of(request), tool_results(request)
        if task == PARENT_TASK:
            if not results:
                return delegate_call(["Count the apples in basket A.", "Count the pears in basket B."])
            return Reply(text="Summary:\n" + results[-1])
        both_running.wait()
        return Reply(text="Basket A holds 5 apples." if "apples" in task else "Basket B holds 7 pears.")

    with FakeOpenAI(responder=responder) as fake:
        runtime, _ = make_runtime(fake)
        parent = runtime.agent.new_session(source="cli")
        finished = runtime.agent.ask(parent, PARENT_TASK)
        children = runtime.store.list_sessions(source="delegate")
    assert "2 sub-agent(s) finished: 2 succeeded, 0 failed." in finished.answer
    assert "Basket A holds 5 apples." in finished.answer and "Basket B holds 7 pears." in finished.answer
    assert {c.title for c in children} == {"Count the apples in basket A.", "Count the pears in basket B."}
    for child in children:
        assert f"(session {child.id}, ok, 1 step(s))" in finished.answer
        roles = [m.message.role for m in runtime.store.get_messages(child.id)]
        assert roles == ["user", "assistant"]  # its own context: only its task, not the parent's talk
    child_requests = [r for r in fake.requests if task_of(r) != PARENT_TASK]
    assert len(child_requests) == 2
    assert all("sub-agent" in r["messages"][0]["content"] for r in child_requests)


def test_children_cannot_delegate_by_default(make_runtime):
    def responder(request):
        task, results = task_of(request), tool_results(request)
        if task == PARENT_TASK:
            return Reply(text=results[-1]) if results else delegate_call(["Split this further."])
        if not results:
            return delegate_call(["a grandchild task"])  # tries anyway, though it was not offered the tool
        return Reply(text=f"I could not delegate: {results[-1]}")

    with FakeOpenAI(responder=responder) as fake:
        runtime, _ = make_runtime(fake)
        finished = runtime.agent.ask(runtime.agent.new_session(), PARENT_TASK)
    child_first = next(r for r in fake.requests if task_of(r) == "Split this further.")
    assert "delegate" not in tool_names(child_first) and "delegate" not in loadable(child_first)
    assert "delegate" in loadable(fake.requests[0])  # the parent was offered it
    assert "I could not delegate" in finished.answer and "disabled" in finished.answer
    assert all(task_of(r) != "a grandchild task" for r in fake.requests)


def test_depth_limit_is_configurable(make_runtime):
    def responder(request):
        task, results = task_of(request), tool_results(request)
        if results:
            return Reply(text=results[-1])
        if task == PARENT_TASK:
            return delegate_call(["level one"])
        if task == "level one":
            return delegate_call(["level two"])
        return Reply(text="done at level two")

    with FakeOpenAI(responder=responder) as fake:
        runtime, _ = make_runtime(fake, "[delegate]\nmax_depth = 2\n")
        finished = runtime.agent.ask(runtime.agent.new_session(), PARENT_TASK)
    assert "done at level two" in finished.answer
    level_one = next(r for r in fake.requests if task_of(r) == "level one")
    level_two = next(r for r in fake.requests if task_of(r) == "level two")
    assert "delegate" in loadable(level_one)
    assert "delegate" not in loadable(level_two) and "delegate" not in tool_names(level_two)


def test_failures_are_reported_not_raised(make_runtime):
    def responder(request):
        task, results = task_of(request), tool_results(request)
        if task == PARENT_TASK:
            if results:
                return Reply(text=results[-1])
            return delegate_call(["loop forever", "hit a broken endpoint", "answer"], max_steps=2)
        if task == "loop forever":
            return Reply(tool_calls=[{"name": "list_dir", "arguments": {}}])
        if task == "hit a broken endpoint":
            return Reply.fail(400, "model overloaded with nonsense")
        return Reply(text="42")

    with FakeOpenAI(responder=responder) as fake:
        runtime, _ = make_runtime(fake)
        finished = runtime.agent.ask(runtime.agent.new_session(), PARENT_TASK)
    answer = finished.answer
    assert "3 sub-agent(s) finished: 1 succeeded, 2 failed." in answer
    assert "Failed: stopped after 2 model calls without a final answer" in answer
    assert "model overloaded with nonsense" in answer
    assert answer.rstrip().endswith("42")
    assert sum(1 for r in fake.requests if task_of(r) == "loop forever") == 2


def test_toolsets_are_limited_and_loaded(make_runtime):
    def responder(request):
        task, results = task_of(request), tool_results(request)
        if task == PARENT_TASK:
            return Reply(text=results[-1]) if results else delegate_call(["plan it"], toolsets=["planning"])
        return Reply(text="planned")

    with FakeOpenAI(responder=responder) as fake:
        runtime, _ = make_runtime(fake)
        finished = runtime.agent.ask(runtime.agent.new_session(), PARENT_TASK)
        bad = runtime.agent.registry.execute(
            ToolCall(id="x", name="delegate", arguments={"tasks": ["t"], "toolsets": ["teleport"]}),
            runtime.agent.tool_context(runtime.agent.new_session()),
        )
    assert "planned" in finished.answer
    child = next(r for r in fake.requests if task_of(r) == "plan it")
    assert tool_names(child) == {"read_file", "write_file", "edit_file", "list_dir", "search_files", "shell",
                                 "todo", "clarify"}
    assert bad.is_error and "teleport" in bad.content and "choose from" in bad.content


@pytest.mark.parametrize("auto_approve", [False, True])
def test_children_inherit_the_approver(make_runtime, auto_approve):
    def responder(request):
        task, results = task_of(request), tool_results(request)
        if task == PARENT_TASK:
            return Reply(text=results[-1]) if results else delegate_call(["remove old.log"], toolsets=["files"])
        if not results:
            return Reply(tool_calls=[{"name": "delete_file", "arguments": {"path": "old.log"}}])
        return Reply(text=f"delete said: {results[-1]}")

    with FakeOpenAI(responder=responder) as fake:
        runtime, workspace = make_runtime(fake, auto_approve=auto_approve)
        (workspace / "old.log").write_text("x")
        finished = runtime.agent.ask(runtime.agent.new_session(), PARENT_TASK)
    if auto_approve:
        assert not (workspace / "old.log").exists() and "Deleted old.log" in finished.answer
    else:
        assert (workspace / "old.log").exists() and "needs approval" in finished.answer
        refused = finished.approvals.refused  # the child's refusal counts in the parent's turn
        assert refused and refused[0].tool == "delete_file" and refused[0].how == "no one to ask"


def test_documented_defaults_are_the_defaults(ember_home):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "tools-planning-delegate.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", doc, re.S)
    (ember_home / "config.toml").write_text(block)
    assert delegate_limits(load_settings(ember_home, env={})) == DelegateLimits()
    (ember_home / "config.toml").write_text("[delegate]\nmax_depth = -1\n")
    with pytest.raises(ToolError, match="max_depth must be a whole number >= 0"):
        delegate_limits(load_settings(ember_home, env={}))
