"""The real Agent, store, router and registry against the fake OpenAI server (in process)."""

from __future__ import annotations

import json

import pytest

from ember.agent.events import Compacted, ModelCalled, TextChunk, ToolFinished, TurnFinished
from ember.config import load_settings
from ember.runtime import build_runtime
from tests.fakes.openai_server import FakeOpenAI, Reply


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def runtime(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("EMBER_BASE_URL", fake.base_url)
    monkeypatch.setenv("EMBER_MODEL", "fake-model")
    monkeypatch.setenv("EMBER_WORKSPACE", str(tmp_path / "ws"))
    rt = build_runtime(load_settings(), interactive=False)
    yield rt
    rt.close()


def test_events_of_a_tool_turn(runtime, fake):
    fake.add(tool_calls=[{"name": "write_file", "arguments": {"path": "a.txt", "content": "hi"}}])
    fake.add("wrote it")
    session = runtime.agent.new_session()
    events = list(runtime.agent.run(session, "write a.txt"))
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("ModelCalled") == 2
    assert isinstance(events[-1], TurnFinished) and events[-1].answer == "wrote it"
    assert any(isinstance(e, ToolFinished) and not e.is_error for e in events)
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "wrote it"
    assert runtime.store.usage_totals(session).calls == 2
    roles = [m.message.role for m in runtime.store.get_messages(session)]
    assert roles == ["user", "assistant", "tool", "assistant"]


def test_turn_listeners_run_and_their_failures_are_contained(runtime, fake):
    fake.add("one")
    fake.add("two")
    seen = []

    def broken(*args):
        raise RuntimeError("listener bug")

    runtime.agent.turn_listeners += [broken, lambda sid, msg, fin: seen.append((msg, fin.answer))]
    session = runtime.agent.new_session()
    assert runtime.agent.ask(session, "first").answer == "one"
    assert runtime.agent.ask(session, "second", stream=False).answer == "two"
    assert seen == [("first", "one"), ("second", "two")]


def test_long_sessions_are_compacted_and_history_kept(runtime, fake):
    settings = runtime.settings
    settings.default_model.context_window = 2000
    settings.agent.keep_recent_turns = 1
    summaries = []

    def responder(request):
        system = request["messages"][0]["content"]
        if system.startswith("You compact a conversation"):
            summaries.append(request["messages"][1]["content"])
            return Reply(text="**Decisions** none. **Facts** the user likes long messages. **Open tasks** none.")
        return Reply(text="noted " + "z" * 300)

    fake.responder = responder
    session = runtime.agent.new_session()
    compacted = []
    for i in range(8):
        for event in runtime.agent.run(session, f"message {i} " + "x" * 1500):
            if isinstance(event, Compacted):
                compacted.append(event)
    assert compacted, "a long session must be compacted"
    assert "USER: message 0" in summaries[0]
    last = fake.requests[-1]["messages"]
    assert any("[Summary of our earlier conversation]" in m["content"] for m in last)
    assert not any(m["content"].startswith("message 0 ") for m in last)
    # nothing was deleted from the store
    assert len([m for m in runtime.store.get_messages(session) if m.message.role == "user"]) == 8
    assert runtime.store.latest_summary(session) is not None


def test_loaded_toolsets_survive_a_resume(runtime, fake):
    fake.add(tool_calls=[{"name": "tools_load", "arguments": {"toolset": "planning"}}])
    fake.add("loaded")
    session = runtime.agent.new_session()
    runtime.agent.ask(session, "load planning")
    fresh = build_runtime(runtime.settings, interactive=False, store=runtime.store)
    assert "planning" in fresh.agent.tool_context(session).loaded_toolsets


def test_first_request_with_every_toolset_fits_the_budget(runtime, fake):
    fake.add("hello")
    runtime.agent.ask(runtime.agent.new_session(), "hi")
    size = len(json.dumps(fake.requests[0].body, separators=(",", ":")).encode())
    assert size <= 12_000, size
    tool_names = {t["function"]["name"] for t in fake.requests[0]["tools"]}
    assert "shell" in tool_names and "tools_load" in tool_names
    assert "browser_click" not in tool_names  # other toolsets are listed, not sent


def test_usage_cost_is_priced_from_config(runtime, fake):
    from ember.config import Price

    runtime.settings.prices["fake-model"] = Price(input=1.0, output=2.0)
    fake.add(Reply(text="priced", usage=(1000, 500)))
    finished = runtime.agent.ask(runtime.agent.new_session(), "price me")
    assert finished.cost == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1_000_000)
    assert isinstance(finished, TurnFinished)
    assert ModelCalled
