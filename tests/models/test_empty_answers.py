"""An empty answer (no text, no tool call) is asked for once more, then fails in words, in the router,
so every door and every task kind gets the same."""

import json

import pytest

from ember.config import Settings
from ember.models.base import EmptyAnswerError, Message, ReasoningDelta, StreamDone
from ember.models.router import Router
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import Reply

from .test_router import HI, models_asked

NO_CHOICES = Reply(body=json.dumps({"id": "x", "object": "chat.completion", "model": "main-1", "choices": []}))
NO_CHOICES_STREAM = Reply(body='data: {"id": "x", "choices": []}\n\ndata: [DONE]\n\n', content_type="text/event-stream")


@pytest.fixture
def settings(tmp_path, fake_openai, make_spec):
    models = {"default": make_spec(fake_openai, name="default", model="main-1"),
              "backup": make_spec(fake_openai, name="backup", model="backup-1")}
    return Settings(home=tmp_path, models=models, retries=2)


def ask(router, stream, notices):
    if stream:
        events = list(router.stream("chat", HI, on_notice=notices.append))
        assert isinstance(events[-1], StreamDone)
        return events[-1].completion
    return router.complete("chat", HI, on_notice=notices.append)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("empty", ["", "  \n", NO_CHOICES, NO_CHOICES_STREAM, Reply(reasoning="hmm, nothing to say")],
                         ids=["content", "blanks", "choices", "choices-stream", "reasoning-only"])
def test_an_empty_answer_is_asked_for_once_more_at_once(router, fake_openai, sleeps, stream, empty):
    if empty is NO_CHOICES_STREAM and not stream:
        pytest.skip("a stream answers only a streamed request")
    fake_openai.add(empty).add("the answer")
    notices: list[str] = []
    assert ask(router, stream, notices).text == "the answer"
    assert notices == ["model default (main-1): empty answer, asking once more"]
    assert sleeps == [] and models_asked(fake_openai) == ["main-1", "main-1"]


@pytest.mark.parametrize("stream", [False, True])
def test_two_empty_answers_fail_with_a_clear_error(router, fake_openai, sleeps, stream):
    fake_openai.add("").add("").add("never asked")
    with pytest.raises(EmptyAnswerError) as info:
        ask(router, stream, [])
    assert str(info.value).startswith("the model returned an empty answer (no text and no tool call; model default")
    assert fake_openai.pending == 1 and sleeps == []


def test_an_answer_cut_at_the_output_limit_says_so(router, fake_openai):
    fake_openai.add(Reply(reasoning="long thoughts", finish_reason="length")).add(Reply(finish_reason="length"))
    with pytest.raises(EmptyAnswerError, match="raise max_output_tokens"):
        router.complete("chat", HI)


def test_a_tool_call_without_text_is_an_answer(router, fake_openai):
    fake_openai.add(Reply(tool_calls=[{"name": "list_dir", "arguments": {"path": "."}}]))
    assert router.complete("chat", HI).tool_calls[0].name == "list_dir"
    assert fake_openai.pending == 0 and len(fake_openai.requests) == 1


def test_after_two_empty_answers_the_fallback_answers(router, settings, fake_openai):
    settings.fallback = ["backup"]
    fake_openai.add("").add("").add("from backup")
    notices: list[str] = []
    assert router.complete("chat", HI, on_notice=notices.append).text == "from backup"
    assert notices[-1] == "model default (main-1) failed (empty answer, 2 attempts); falling back to backup (backup-1)"
    assert models_asked(fake_openai) == ["main-1", "main-1", "backup-1"]


def test_retries_0_means_no_second_ask(router, settings, fake_openai):
    settings.retries = 0
    fake_openai.add("").add("unused")
    with pytest.raises(EmptyAnswerError):
        router.complete("chat", HI)
    assert len(fake_openai.requests) == 1


def test_only_reasoning_was_streamed_before_the_second_ask(router, fake_openai):
    fake_openai.add(Reply(reasoning="thinking")).add("answer")
    kinds = [type(e).__name__ for e in router.stream("chat", HI)]
    assert kinds[0] == ReasoningDelta.__name__ and kinds[-1] == "StreamDone" and "TextDelta" in kinds


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_content_without_blocks_is_empty(tmp_path, make_spec, stream):
    with FakeAnthropic() as fake:
        spec = make_spec(fake, provider="anthropic", name="default", model="claude-x")
        router = Router(Settings(home=tmp_path, models={"default": spec}, retries=2), sleep=lambda s: None)
        fake.add("").add("")
        with pytest.raises(EmptyAnswerError, match="the model returned an empty answer"):
            ask(router, stream, [])
        fake.add("").add("hello")
        assert ask(router, stream, []).text == "hello"
        router.close()


def test_the_empty_call_is_still_counted(router, fake_openai):
    fake_openai.add(Reply(text="", usage=(10, 0))).add(Reply(text="ok", usage=(12, 1)))
    router.complete("chat", [Message("user", "hi")])
    assert [r.usage.input_tokens for r in router.records] == [10, 12]
