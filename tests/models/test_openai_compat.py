import json
import threading
import time
from email.utils import formatdate

import httpx
import pytest

from ember.models.base import (
    AuthError,
    BadRequestError,
    BadResponseError,
    Cancelled,
    ConnectError,
    Message,
    NotFoundError,
    Provider,
    RateLimitError,
    ReasoningDelta,
    ServerError,
    StreamDone,
    TextDelta,
    TimeoutError_,
    ToolCall,
    ToolCallStarted,
)
from ember.models.openai_compat import OpenAICompatProvider
from tests.fakes.openai_server import Reply
from tests.models.conftest import SECRET

TOOLS = [{"name": "read_file", "description": "Read a file", "parameters": {
    "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}]
HI = [Message("system", "Be brief."), Message("user", "hi")]


def collect(events):
    events = list(events)
    assert isinstance(events[-1], StreamDone)
    return events, events[-1].completion


@pytest.fixture
def provider(fake_openai, make_spec):
    p = OpenAICompatProvider(make_spec(fake_openai))
    yield p
    p.close()


def test_is_a_provider(provider):
    assert isinstance(provider, Provider)
    assert (provider.name, provider.model) == ("default", "fake-model")


def test_complete_text_reasoning_usage(provider, fake_openai):
    fake_openai.add(text="Hello!", reasoning="greet back", usage=(12, 3))
    result = provider.complete(HI, max_tokens=50, temperature=0.2)
    assert (result.text, result.reasoning, result.finish_reason) == ("Hello!", "greet back", "stop")
    assert result.usage.as_dict() == {"input_tokens": 12, "output_tokens": 3}
    assert result.model == "fake-model"
    body = fake_openai.last_request
    assert fake_openai.last_request.path == "/v1/chat/completions"
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert (body["max_tokens"], body["temperature"]) == (50, 0.2)
    assert "stream" not in body and "tools" not in body
    assert body.headers["authorization"] == f"Bearer {SECRET}"


def test_no_authorization_header_without_a_key(fake_openai, make_spec):
    fake_openai.add("ok")
    OpenAICompatProvider(make_spec(fake_openai, api_key=None)).complete(HI)
    assert "authorization" not in fake_openai.last_request.headers


def test_reasoning_field_named_reasoning(provider, fake_openai):
    fake_openai.add(text="4", reasoning="2+2", reasoning_field="reasoning")
    assert provider.complete(HI).reasoning == "2+2"


def test_tool_calls_json_and_stream(provider, fake_openai):
    call = {"name": "read_file", "arguments": {"path": "notes/a.txt"}, "id": "call_1"}
    fake_openai.add(text="Reading.", tool_calls=[call])
    fake_openai.add(text="Reading.", tool_calls=[call, {"name": "read_file", "arguments": {"path": "b"}}])
    result = provider.complete(HI, tools=TOOLS)
    assert result.tool_calls == [ToolCall("call_1", "read_file", {"path": "notes/a.txt"}, '{"path": "notes/a.txt"}')]
    assert result.finish_reason == "tool_calls"
    assert fake_openai.last_request["tools"] == [{"type": "function", "function": TOOLS[0]}]
    events, streamed = collect(provider.stream(HI, tools=TOOLS))
    assert [c.arguments for c in streamed.tool_calls] == [{"path": "notes/a.txt"}, {"path": "b"}]
    assert [(e.index, e.name) for e in events if isinstance(e, ToolCallStarted)] == [(0, "read_file"), (1, "read_file")]


def test_stream_text_reasoning_usage(provider, fake_openai):
    fake_openai.add(text="The answer is forty-two.", reasoning="deep thought", usage=(30, 9), chunk_size=3)
    events, result = collect(provider.stream(HI))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "The answer is forty-two."
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "deep thought"
    assert len([e for e in events if isinstance(e, TextDelta)]) > 3
    assert (result.text, result.usage.as_dict()) == ("The answer is forty-two.", {"input_tokens": 30, "output_tokens": 9})
    body = fake_openai.last_request
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body.headers["accept"] == "text/event-stream"


def test_images_become_image_url_parts_and_history_round_trips(provider, fake_openai):
    fake_openai.add("a cat")
    history = [
        Message("user", "what is this?", images=["data:image/png;base64,AAAA"]),
        Message("assistant", "", tool_calls=[ToolCall("c1", "read_file", {"path": "a"}),
                                             ToolCall("c2", "read_file", {}, raw_arguments="{bad", error="x")]),
        Message("tool", "contents", tool_call_id="c1"),
    ]
    provider.complete(history)
    user, assistant, tool = fake_openai.last_request["messages"]
    assert user["content"] == [{"type": "text", "text": "what is this?"},
                               {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    assert assistant["content"] is None
    assert [c["function"]["arguments"] for c in assistant["tool_calls"]] == ['{"path": "a"}', "{bad"]
    assert tool == {"role": "tool", "tool_call_id": "c1", "content": "contents"}


@pytest.mark.parametrize("stream", [False, True])
def test_rescue_hermes_tool_calls_from_content(provider, fake_openai, stream):
    text = ('<think>need the file</think>Let me read it.\n<tool_call>\n{"name": "read_file", '
            '"arguments": {"path": "a.txt",}}\n</tool_call>')
    fake_openai.add(text=text, chunk_size=5)
    result = collect(provider.stream(HI, tools=TOOLS))[1] if stream else provider.complete(HI, tools=TOOLS)
    assert result.text == "Let me read it."
    assert result.reasoning == "need the file"
    assert [(c.name, c.arguments, c.error) for c in result.tool_calls] == [("read_file", {"path": "a.txt"}, None)]
    assert result.finish_reason == "tool_calls"


def test_malformed_native_arguments_become_an_error_call(provider, fake_openai):
    fake_openai.add(tool_calls=[{"name": "read_file", "arguments": '{"path": "a'}])
    [call] = provider.complete(HI, tools=TOOLS).tool_calls
    assert call.error and call.raw_arguments == '{"path": "a'


def test_stream_accepts_a_json_reply(fake_openai, make_spec):
    fake_openai.add(Reply(body=json.dumps({"choices": [{"message": {"content": "plain"}, "finish_reason": "stop"}]}),
                          content_type="application/json"))
    _, result = collect(OpenAICompatProvider(make_spec(fake_openai)).stream(HI))
    assert result.text == "plain"


def test_list_models(provider, fake_openai):
    fake_openai.models = ["a", "b"]
    assert provider.list_models() == ["a", "b"]
    assert fake_openai.last_request.path == "/v1/models"


@pytest.mark.parametrize(
    ("status", "error_class", "hint"),
    [
        (400, BadRequestError, "too long"),
        (401, AuthError, "EMBER_API_KEY"),
        (403, AuthError, "EMBER_API_KEY"),
        (404, NotFoundError, "base_url"),
        (429, RateLimitError, "fallback"),
        (500, ServerError, "try again"),
        (503, ServerError, "try again"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_error_statuses(provider, fake_openai, status, error_class, hint, stream):
    fake_openai.add(Reply.fail(status, f"Incorrect API key provided: {SECRET}. Go away."))
    with pytest.raises(error_class) as info:
        if stream:
            list(provider.stream(HI))
        else:
            provider.complete(HI)
    message = str(info.value)
    assert hint.lower() in message.lower() and "Go away" in message
    assert SECRET not in message and SECRET[:12] not in message
    assert info.value.status == status
    assert info.value.retryable == (status in (429, 500, 503))


def test_retry_after_seconds_and_http_date(provider, fake_openai):
    fake_openai.add(Reply.fail(429, "slow down", retry_after=7))
    fake_openai.add(Reply.fail(429, "slow down", retry_after=formatdate(time.time() + 30, usegmt=True)))
    with pytest.raises(RateLimitError) as first:
        provider.complete(HI)
    assert first.value.retry_after == 7.0
    with pytest.raises(RateLimitError) as second:
        provider.complete(HI)
    assert 25 <= second.value.retry_after <= 30


@pytest.mark.parametrize(
    "reply",
    [
        Reply.garbage(),
        Reply.garbage(b"\x00\xff\xfe garbage", content_type="application/json"),
        Reply(body="data: {not json\n\n", content_type="text/event-stream"),
        Reply(body='data: {"choices": [{"delta": {"content": "cut"}}]}\n\n', content_type="text/event-stream"),
        Reply(body='{"unexpected": true}', content_type="application/json"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_garbage_is_a_bad_response(provider, fake_openai, reply, stream):
    fake_openai.add(reply)
    with pytest.raises(BadResponseError) as info:
        if stream:
            list(provider.stream(HI))
        else:
            provider.complete(HI)
    assert "base_url" in str(info.value)


def test_error_mid_stream(provider, fake_openai):
    fake_openai.add(text="partial", stream_error="upstream exploded")
    events = []
    with pytest.raises(ServerError, match="upstream exploded"):
        for event in provider.stream(HI):
            events.append(event)
    assert any(isinstance(e, TextDelta) for e in events)


@pytest.mark.parametrize("stream", [False, True])
def test_connection_refused(make_spec, dead_url, stream):
    provider = OpenAICompatProvider(make_spec(dead_url))
    with pytest.raises(ConnectError, match="is the server running") as info:
        if stream:
            list(provider.stream(HI))
        else:
            provider.complete(HI)
    assert dead_url in str(info.value)


def test_timeout(fake_openai, make_spec):
    fake_openai.add(text="late", delay=1.0)
    provider = OpenAICompatProvider(make_spec(fake_openai, timeout=0.2))
    with pytest.raises(TimeoutError_, match="timeout"):
        provider.complete(HI)


def _wait_for(condition, seconds=3.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_cancel_mid_stream_closes_the_response(provider, fake_openai):
    fake_openai.add(text="x" * 50, chunk_size=5, chunk_delay=0.01, hang=True)
    cancel = threading.Event()
    seen = []
    with pytest.raises(Cancelled):
        for event in provider.stream(HI, cancel=cancel):
            seen.append(event)
            if len(seen) == 2:
                cancel.set()
    assert len(seen) == 2
    assert _wait_for(lambda: fake_openai.disconnects == 1)


def test_cancel_before_sending(provider, fake_openai):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        provider.complete(HI, cancel=cancel)
    assert fake_openai.requests == []


def test_keyboard_interrupt_closes_the_response(provider, fake_openai):
    fake_openai.add(text="y" * 40, chunk_size=4, hang=True)
    stream = provider.stream(HI)
    assert isinstance(next(stream), TextDelta)
    with pytest.raises(KeyboardInterrupt):
        stream.throw(KeyboardInterrupt)
    assert _wait_for(lambda: fake_openai.disconnects == 1)


def test_injected_client_is_used_and_not_closed(fake_openai, make_spec):
    fake_openai.add("one")
    with httpx.Client(headers={"x-test": "yes"}) as client:
        provider = OpenAICompatProvider(make_spec(fake_openai), client=client)
        assert provider.complete(HI).text == "one"
        provider.close()
        assert not client.is_closed
    assert fake_openai.last_request.headers["x-test"] == "yes"


def test_extra_headers_from_spec(fake_openai, make_spec):
    fake_openai.add("ok")
    OpenAICompatProvider(make_spec(fake_openai, extra_headers={"HTTP-Referer": "https://ember.dev"})).complete(HI)
    assert fake_openai.last_request.headers["http-referer"] == "https://ember.dev"


def test_empty_script_fails_loudly(provider):
    with pytest.raises(ServerError, match="no scripted reply left"):
        provider.complete(HI)
