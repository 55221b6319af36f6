"""One Agent, many people at once: 20 sessions in parallel, each with its own door.

Every session asks its own question (clarify) and its own approval (a warning-level command);
even sessions approve, odd ones refuse. Nothing may cross: each history is intact and in order,
each turn's approvals name only its own command, and each clarify answer reaches only its own
session.
"""

from __future__ import annotations

import re
import threading

import pytest

from ember.agent.door import Attended
from ember.config import load_settings
from ember.runtime import build_runtime
from tests.fakes.openai_server import FakeOpenAI, Reply

SESSIONS = 20
TURNS = 2


def _tag(request) -> str:
    users = [m["content"] for m in request["messages"] if m["role"] == "user"]
    return re.search(r"tag-\d+-\d+", users[-1]).group(0)


def responder(request):
    messages = request["messages"]
    tag = _tag(request)
    if messages[-1]["role"] == "user":
        return Reply(tool_calls=[
            {"name": "clarify", "arguments": {"question": f"which colour for {tag}?"}},
            {"name": "shell", "arguments": {"command": f"git reset --hard  # {tag}"}},
        ])
    results = [m["content"] for m in messages[messages.index(next(
        m for m in reversed(messages) if m["role"] == "user")):] if m["role"] == "tool"]
    return Reply(text=f"done {tag}: " + " | ".join(r.splitlines()[0] for r in results))


@pytest.fixture
def runtime(monkeypatch, tmp_path):
    with FakeOpenAI(responder=responder) as fake:
        monkeypatch.setenv("EMBER_BASE_URL", fake.base_url)
        monkeypatch.setenv("EMBER_MODEL", "fake-model")
        monkeypatch.setenv("EMBER_WORKSPACE", str(tmp_path / "ws"))
        (tmp_path / "ws").mkdir()
        rt = build_runtime(load_settings(), interactive=False)
        yield rt
        rt.close()


def test_twenty_sessions_at_once_keep_their_histories_answers_and_approvals(runtime):
    agent = runtime.agent
    asked: dict[int, list[str]] = {i: [] for i in range(SESSIONS)}
    results: dict[int, list] = {i: [] for i in range(SESSIONS)}
    errors: list[BaseException] = []
    sessions = [agent.new_session(source="test") for _ in range(SESSIONS)]

    def person(i: int) -> Attended:
        def approve(request):
            asked[i].append(request.action)
            return "once" if i % 2 == 0 else "deny"

        return Attended(approver=approve, asker=lambda question, options: f"colour-{i}")

    def talk(i: int) -> None:
        try:
            door = person(i)
            for turn in range(TURNS):
                results[i].append(agent.ask(sessions[i], f"please work tag-{i}-{turn}", door=door))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=talk, args=(i,)) for i in range(SESSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    for i, session in enumerate(sessions):
        # The door of session i was asked only about session i's own commands.
        assert asked[i] == [f"git reset --hard  # tag-{i}-{t}" for t in range(TURNS)]
        for turn, finished in enumerate(results[i]):
            tag = f"tag-{i}-{turn}"
            assert finished.answer.startswith(f"done {tag}: The user answered: colour-{i} | ")
            records = finished.approvals.records
            assert [(r.action, r.approved) for r in records] == [(f"git reset --hard  # {tag}", i % 2 == 0)]
            assert ("The user refused" in finished.answer) == (i % 2 == 1)
        # The history: every turn whole and in order, nothing of another session.
        stored = [m.message for m in runtime.store.get_messages(session)]
        assert [m.role for m in stored] == ["user", "assistant", "tool", "tool", "assistant"] * TURNS
        for turn in range(TURNS):
            block = stored[turn * 5:(turn + 1) * 5]
            assert all(f"tag-{i}-{turn}" in (m.content or "") + str([c.arguments for c in m.tool_calls])
                       for m in (block[0], block[1], block[4]))
            assert f"colour-{i}" in block[2].content


def test_two_turns_of_one_session_never_interleave(runtime):
    agent = runtime.agent
    session = agent.new_session(source="test")
    door = Attended(approver=lambda request: "once", asker=lambda question, options: "blue")
    threads = [threading.Thread(target=agent.ask, args=(session, f"work tag-{n}-0"), kwargs={"door": door})
               for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    stored = [m.message for m in runtime.store.get_messages(session)]
    assert [m.role for m in stored] == ["user", "assistant", "tool", "tool", "assistant"] * 4
    for turn in range(4):
        tag = re.search(r"tag-\d+-0", stored[turn * 5].content).group(0)
        assert all(tag in (m.content or "") + str([c.arguments for c in m.tool_calls])
                   for m in (stored[turn * 5 + 1], stored[turn * 5 + 4]))


def test_per_session_state_is_bounded(runtime, monkeypatch):
    from ember.agent import loop

    monkeypatch.setattr(loop, "MAX_CACHED_SESSIONS", 5)
    agent = runtime.agent
    for _ in range(12):
        agent.tool_context(agent.new_session(source="test"))
    assert len(agent._tool_contexts) == 5
