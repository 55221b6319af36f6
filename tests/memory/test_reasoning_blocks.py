"""``Message.reasoning_blocks`` (a provider's signed thinking) survives the SQLite store byte for byte,
and a database from before the column existed is upgraded by its own appended migration.

The end-to-end proof: a tool loop with Anthropic thinking on, interrupted after the tool ran, is
resumed from the database file by a fresh store and continued; the fake Anthropic server checks
the thinking blocks' signatures like the real API, so any change on the way fails with 400.
"""

from __future__ import annotations

import sqlite3

import pytest

from ember.config import ModelSpec
from ember.models.anthropic import AnthropicProvider
from ember.models.base import Message, StreamDone, ToolCall
from ember.store.sqlite.migrations import MIGRATIONS, message_reasoning_blocks
from ember.store.sqlite.opening import apply_migrations
from ember.store.sqlite.store import open_store
from tests.fakes.anthropic_server import FakeAnthropic

BLOCKS = [
    {"type": "thinking", "thinking": "  héllo 🙂 \ud800 wörld\n", "signature": "EqQBCkgIARABGAIiQL+/=="},
    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
    {"type": "thinking", "thinking": "", "signature": "", "extra": {"n": [1, 2.5, None, True]}},
]
TOOLS = [{"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


@pytest.mark.sqlite_only
def test_reasoning_blocks_round_trip_exactly(store, db_path):
    session = store.create_session()
    with_blocks = Message("assistant", "Checking.", tool_calls=[ToolCall("t1", "get_weather", {"city": "Paris"})],
                          reasoning="héllo", reasoning_blocks=[dict(b) for b in BLOCKS])
    plain = Message("assistant", "no thinking here")
    store.add_message(session.id, with_blocks)
    store.add_message(session.id, plain)
    raw = [r[0] for r in store._conn().execute("SELECT reasoning_blocks FROM messages ORDER BY id")]
    assert raw[1] is None and raw[0].isascii()  # escaped JSON: even a lone surrogate survives
    store.close()
    with open_store(db_path) as reopened:
        stored = [m.message for m in reopened.get_messages(session.id)]
        hits = reopened.search_messages("Checking")
    assert stored == [with_blocks, plain]
    assert stored[0].reasoning_blocks == BLOCKS and stored[1].reasoning_blocks == []
    assert hits[0].message.message.reasoning_blocks == BLOCKS


def test_an_older_database_gains_the_column_and_keeps_its_messages(db_path):
    before = MIGRATIONS.index(message_reasoning_blocks)  # the schema of the release before it
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path, isolation_level=None)
    apply_migrations(db, MIGRATIONS[:before])
    db.execute("INSERT INTO sessions (id, source, created_at, updated_at) VALUES ('s1', 'cli', 1, 1)")
    db.execute("INSERT INTO messages (session_id, role, content, created_at) VALUES ('s1', 'assistant', 'old', 1)")
    db.close()
    with open_store(db_path) as store:
        assert store.schema_version()[before] == "message_reasoning_blocks"
        [old] = store.get_messages("s1")
        assert (old.message.content, old.message.reasoning_blocks) == ("old", [])
        store.add_message("s1", Message("assistant", "new", reasoning_blocks=BLOCKS[:1]))
        assert store.get_messages("s1")[-1].message.reasoning_blocks == BLOCKS[:1]


@pytest.mark.sqlite_only
def test_unreadable_blocks_are_dropped_not_fatal(store):
    session = store.create_session()
    store.add_message(session.id, Message("assistant", "x", reasoning_blocks=BLOCKS[:1]))
    with store._write() as db:
        db.execute("UPDATE messages SET reasoning_blocks = '{not json'")
    assert store.get_messages(session.id)[0].message.reasoning_blocks == []


def _complete(provider: AnthropicProvider, messages: list[Message], stream: bool):
    if not stream:
        return provider.complete(messages, TOOLS)
    events = list(provider.stream(messages, TOOLS))
    assert isinstance(events[-1], StreamDone)
    return events[-1].completion


@pytest.mark.parametrize("stream", [False, True])
def test_a_thinking_tool_loop_resumed_from_sqlite_continues(db_path, stream):
    thought = "  Paris first, then Rome. \n"
    paris = {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "toolu_1"}
    with FakeAnthropic() as fake:
        fake.add(text="Checking.", reasoning=thought, redacted_thinking="opaque", tool_calls=[paris])
        spec = ModelSpec(name="default", provider="anthropic", model="claude-sonnet-4-5", base_url=fake.base_url,
                         api_key="sk-ant-test-123456", timeout=5.0, reasoning="medium")
        provider = AnthropicProvider(spec)
        store = open_store(db_path)
        session = store.create_session().id
        store.add_message(session, Message("user", "weather in Paris and Rome?"))
        completion = _complete(provider, [m.message for m in store.get_messages(session)], stream)
        store.add_message(session, completion.to_message())
        store.add_message(session, Message("tool", "18C", tool_call_id="toolu_1", name="get_weather"))
        store.close()  # the process ends here, between the tool and the next model call
        provider.close()

        fake.add(tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome"}, "id": "toolu_2"}])
        fake.add(text="Paris 18C, Rome 24C.")
        provider = AnthropicProvider(spec)
        with open_store(db_path) as resumed:
            history = [m.message for m in resumed.get_messages(session)]
            assert history[1].reasoning_blocks == completion.reasoning_blocks
            second = _complete(provider, history, stream)
            resumed.add_message(session, second.to_message())
            resumed.add_message(session, Message("tool", "24C", tool_call_id="toolu_2", name="get_weather"))
            final = _complete(provider, [m.message for m in resumed.get_messages(session)], stream)
        provider.close()
    assert final.text == "Paris 18C, Rome 24C."
    for request in fake.requests[1:]:
        assert request["thinking"]["type"] == "enabled"
        assert request["messages"][1]["content"][:2] == completion.reasoning_blocks
    assert fake.requests[1]["messages"][1]["content"][0]["thinking"] == thought  # untrimmed, as signed
