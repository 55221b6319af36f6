"""Through the real Agent: an empty answer fails the turn in words and leaves the session usable;
a session is titled by its first message, with secrets masked."""

from __future__ import annotations

import pytest

from ember.agent.events import Notice, TurnFinished
from ember.config import load_settings
from ember.models.base import EmptyAnswerError
from ember.runtime import build_runtime
from ember.store.records import session_title
from tests.fakes.openai_server import FakeOpenAI, Reply


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def runtime(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("EMBER_BASE_URL", fake.base_url)
    monkeypatch.setenv("EMBER_MODEL", "fake-model")
    monkeypatch.setenv("EMBER_API_KEY", "known-secret-value-42")
    monkeypatch.setenv("EMBER_WORKSPACE", str(tmp_path / "ws"))
    rt = build_runtime(load_settings(), interactive=False)
    yield rt
    rt.close()


@pytest.mark.parametrize("stream", [False, True])
def test_an_empty_answer_fails_the_turn_and_the_session_goes_on(runtime, fake, stream):
    fake.add("").add(Reply(body='{"choices": []}') if not stream else "")
    agent = runtime.agent
    session = agent.new_session()
    notices: list[str] = []
    with pytest.raises(EmptyAnswerError, match="the model returned an empty answer"):
        for event in agent.run(session, "hello?", stream=stream):
            if isinstance(event, Notice):
                notices.append(event.text)
    assert notices == ["model default (fake-model): empty answer, asking once more"]
    fake.add("here I am")
    finished = [e for e in agent.run(session, "hello again", stream=stream) if isinstance(e, TurnFinished)]
    assert finished[0].answer == "here I am"
    roles = [m.message.role for m in runtime.store.get_messages(session)]
    assert roles == ["user", "user", "assistant"]  # the failed turn stored its question, no blank answer


def test_an_empty_step_after_a_tool_call_is_asked_again(runtime, fake):
    fake.add(tool_calls=[{"name": "list_dir", "arguments": {"path": "."}}]).add("").add("done")
    assert runtime.agent.ask(runtime.agent.new_session(), "look").answer == "done"


def test_the_first_message_titles_the_session(runtime, fake):
    fake.add("one").add("two")
    agent = runtime.agent
    session = agent.new_session(source="run")
    agent.ask(session, "\n  Plan the move of the build server to the new rack and tell me what breaks\nmore")
    agent.ask(session, "a second message changes nothing")
    title = runtime.store.get_session(session).title
    assert title == "Plan the move of the build server to the new rack and tell…"


def test_a_title_never_holds_a_secret(runtime, fake):
    fake.add("a").add("b")
    agent = runtime.agent
    first = agent.new_session()
    agent.ask(first, "use sk-proj-abcdefghijklmnopqrstuvwxyz0123 for the call")
    second = agent.new_session()
    agent.ask(second, "the key is known-secret-value-42, keep it")
    titles = [runtime.store.get_session(s).title for s in (first, second)]
    assert titles == ["use [REDACTED] for the call", "the key is [REDACTED], keep it"]


def test_a_title_set_before_is_kept(runtime, fake):
    fake.add("ok")
    session = runtime.agent.new_session(title="Nightly report")
    runtime.agent.ask(session, "write the report")
    assert runtime.store.get_session(session).title == "Nightly report"


@pytest.mark.parametrize(("text", "title"), [
    ("short", "short"),
    ("   \n\n  two   spaces\tand a tab  \nsecond line", "two spaces and a tab"),
    ("x" * 100, "x" * 60 + "…"),
    ("word " * 30, "word word word word word word word word word word word word…"),
    ("Summarise: " + "a" * 80, "Summarise: " + "a" * 49 + "…"),
    ("", None),
    ("\n \n", None),
])
def test_session_title_shapes(text, title):
    assert session_title(text) == title
    assert title is None or len(title) <= 61


def test_session_title_masks_before_it_cuts():
    secret = "s3cr3t-" * 12
    title = session_title(f"token {secret} here", redact=lambda line: line.replace(secret, "[REDACTED]"))
    assert title == "token [REDACTED] here"
