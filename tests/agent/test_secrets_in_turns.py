"""Through the real Agent, tools, store and learning loop, against the scripted fake model: a key
in the user's message, the model's reasoning, its tool-call arguments, a file a tool reads and the
final answer reaches neither the model's next requests nor the database."""

from __future__ import annotations

import json
import sqlite3

import pytest

from ember.agent.events import Compacted, ToolFinished, TurnFinished
from ember.config import load_settings
from ember.runtime import build_runtime
from ember.security.sandbox import bwrap_problem
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.memory.test_stored_secrets import HF, JWT, KEY, STRIPE, URL, URL_PASSWORD

SECRETS = (KEY, HF, STRIPE, JWT, URL_PASSWORD)
NOTES = f"deploy notes\nHF_TOKEN={HF}\nstripe: {STRIPE}\nsession {JWT}\nremote {URL}\n"


@pytest.fixture
def fake():
    with FakeOpenAI(api_key=KEY) as server:
        yield server


@pytest.fixture
def runtime(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("EMBER_BASE_URL", fake.base_url)
    monkeypatch.setenv("EMBER_MODEL", "fake-model")
    monkeypatch.setenv("EMBER_API_KEY", KEY)
    monkeypatch.setenv("EMBER_WORKSPACE", str(tmp_path / "ws"))
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "notes.txt").write_text(NOTES)
    rt = build_runtime(load_settings(), interactive=False)
    yield rt
    rt.close()


def _assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} in {where}"


def _database_text(runtime) -> str:
    """Every byte of ember.db and its WAL, after a checkpoint, as text."""
    path = runtime.store.path
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(FULL)")
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))).decode("latin-1")


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("tool", ["read_file", "shell"])
def test_secrets_in_a_tool_turn_reach_neither_the_model_nor_the_store(runtime, fake, stream, tool):
    if tool == "shell" and bwrap_problem():
        pytest.skip(f"no sandbox here: {bwrap_problem()}")
    arguments = {"path": "notes.txt"} if tool == "read_file" else {"command": "cat notes.txt"}
    fake.add(Reply(text=f"Reading it, key {KEY}.", reasoning=f"The user's key is {KEY}; also {HF}",
                   tool_calls=[{"name": tool, "arguments": arguments},
                               {"name": "write_file", "arguments": {"path": "out.txt", "content": f"token {STRIPE}"}}]))
    fake.add(Reply(text=f"Done. Your key is {KEY}, the tokens are {HF} and {STRIPE}. Docs use <your-token>.",
                   reasoning=f"I read {JWT}"))
    agent = runtime.agent
    session = agent.new_session()
    events = list(agent.run(session, f"My key is {KEY}. Read notes.txt and tell me what is in it.", stream=stream))

    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert finished.answer == ("Done. Your key is [REDACTED], the tokens are [REDACTED] and [REDACTED]. "
                               "Docs use <your-token>.")
    _assert_clean(json.dumps(finished.tool_calls), "the turn's tool calls")
    result = next(e for e in events if isinstance(e, ToolFinished))
    assert "HF_TOKEN=[REDACTED]" in result.content and "deploy:[REDACTED]@git.internal" in result.content
    _assert_clean(result.content, "the tool result shown")

    assert len(fake.requests) == 2
    for number, request in enumerate(fake.requests):
        _assert_clean(json.dumps(request.body), f"request {number} to the model")
    sent = fake.requests[1]["messages"]
    assert sent[1]["content"].startswith("My key is [REDACTED]. Read notes.txt")
    assert "HF_TOKEN=[REDACTED]" in next(m["content"] for m in sent if m["role"] == "tool")

    stored = runtime.store.get_messages(session)
    assert [m.message.role for m in stored] == ["user", "assistant", "tool", "tool", "assistant"]
    assert stored[1].message.tool_calls[1].arguments["content"] == "token [REDACTED]"
    assert (runtime.settings.workspace_dir / "out.txt").read_text() == f"token {STRIPE}"  # the tool got it whole
    _assert_clean(json.dumps([
        [m.message.content, m.message.reasoning, m.message.reasoning_blocks,
         [c.arguments for c in m.message.tool_calls]] for m in stored
    ]), "the stored messages")
    assert stored[1].message.reasoning == "The user's key is [REDACTED]; also [REDACTED]"

    assert runtime.learning.wait(30)
    rows = runtime.store._read("SELECT task, answer, steps, errors FROM episodes")
    assert len(rows) == 1 and rows[0]["task"].startswith("My key is [REDACTED].")
    assert [step["tool"] for step in json.loads(rows[0]["steps"])] == [tool, "write_file"]  # found by its answer
    _assert_clean(json.dumps([dict(r) for r in rows]), "the episode")
    _assert_clean(_database_text(runtime), "ember.db")


def test_a_summary_is_stored_masked(runtime, fake):
    runtime.settings.default_model.context_window = 2000
    runtime.settings.agent.keep_recent_turns = 1

    def responder(request):
        if request["messages"][0]["content"].startswith("You compact a conversation"):
            return Reply(text=f"**Facts** the user's key is {KEY} and their token {HF}.")
        return Reply(text="noted " + "z" * 300)

    fake.responder = responder
    session = runtime.agent.new_session()
    compacted = []
    for i in range(6):
        compacted += [e for e in runtime.agent.run(session, f"message {i} " + "x" * 1500) if isinstance(e, Compacted)]
    assert compacted and compacted[0].summary == "**Facts** the user's key is [REDACTED] and their token [REDACTED]."
    assert runtime.store.latest_summary(session)[0] == compacted[-1].summary
    for request in fake.requests:
        _assert_clean(json.dumps(request.body), "a request")
    _assert_clean(_database_text(runtime), "ember.db")
