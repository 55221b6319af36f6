"""The memory_search tool, called the way the agent calls it: through the built-in registry."""

from __future__ import annotations

import json

import pytest

from ember.memory.importer import ImportReport, import_messages, read_jsonl
from ember.models.base import Message, ToolCall
from ember.tools.base import ToolContext
from ember.tools.builtin import builtin_registry


@pytest.fixture
def run(store, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_EMBEDDINGS", "off")  # this test is about the tool, not the vectors
    registry = builtin_registry(plugins=False)
    ctx = ToolContext(workspace=tmp_path, store=store)

    def call(**arguments):
        return registry.execute(ToolCall(id="c1", name="memory_search", arguments=arguments), ctx)

    return call


def test_the_model_gets_compact_hits(store, run):
    raw = [json.dumps({"id": "D1:1", "session": "S1", "speaker": "Ana", "content": "My kitten Pixel chewed the cable.",
                       "timestamp": "2023-07-20T10:00:00"}),
           json.dumps({"id": "D1:2", "session": "S1", "speaker": "Ben", "content": "Rex, my dog, ignores cables.",
                       "timestamp": "2023-07-20T10:01:00"})]
    report = ImportReport()
    import_messages(store, read_jsonl(raw, report), report)
    session = store.create_session()
    store.add_message(session.id, Message(role="user", content="Note: the kitten vet visit is on Friday."))
    result = run(query="what did Ana's kitten do?", k=2)
    assert not result.is_error
    lines = result.content.splitlines()
    assert lines[0].startswith("2 result(s)")
    assert lines[1].startswith("- [D1:1 · 2023-07-20 · Ana · session ") and "chewed the cable" in lines[1]
    only = run(query="kitten vet", session=session.id)
    assert "vet visit" in only.content and "Pixel" not in only.content


def test_mistakes_come_back_as_errors_the_model_can_fix(run):
    assert run(query="  ").is_error
    assert "between 1 and 30" in run(query="x", k=99).content
    assert "no session" in run(query="x", session="nope").content
    assert run(query="nothing like this", k=3).content.startswith("Nothing found")


def test_a_long_hit_shows_the_part_that_matched(store, run):
    session = store.create_session()
    finding = "Evidence: the sparse model used 60% less memory at 32k tokens."
    store.add_message(session.id, Message(role="assistant", content="Summary of the paper. "
                                          + "It revisits attention over long documents. " * 4 + finding))
    store.add_message(session.id, Message(role="user", content="A short note about memory."))
    lines = run(query="memory use of long-context models", k=2).content.splitlines()[1:]
    long_hit = next(line for line in lines if "Evidence" in line)
    assert finding in long_hit and "] …" in long_hit  # the start was left out, not the finding
    assert any(line.endswith("] A short note about memory.") for line in lines)  # short: whole
