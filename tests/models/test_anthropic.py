import threading
import time

import pytest

from ember.models.anthropic import AnthropicProvider
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
    ToolCall,
    ToolCallStarted,
)
from tests.fakes.anthropic_server import Reply
from tests.models.conftest import SECRET

TOOLS = [{"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
HI = [Message("system", "Be brief."), Message("system", "Use metric."), Message("user", "hi")]


@pytest.fixture
def provider(fake_anthropic, make_spec):
    p = AnthropicProvider(make_spec(fake_anthropic, provider="anthropic", model="claude-test", max_output_tokens=900))
    yield p
    p.close()


def collect(events):
    events = list(events)
    assert isinstance(events[-1], StreamDone)
    return events, events[-1].completion


def test_request_shape_and_headers(provider, fake_anthropic):
    fake_anthropic.add("Hello!")
    assert isinstance(provider, Provider)
    result = provider.complete(HI, tools=TOOLS, temperature=0.1, stop="END")
    assert result.text == "Hello!" and result.finish_reason == "stop"
    request = fake_anthropic.last_request
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == SECRET
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert request["system"] == "Be brief.\n\nUse metric."
    assert request["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert request["max_tokens"] == 900
    assert request["tools"] == [{"name": "get_weather", "description": "Weather for a city",
                                 "input_schema": TOOLS[0]["parameters"]}]
    assert (request["temperature"], request["stop_sequences"]) == (0.1, ["END"])


def test_base_url_with_v1_is_tolerated(fake_anthropic, make_spec):
    fake_anthropic.add("ok")
    AnthropicProvider(make_spec(fake_anthropic.base_url + "/v1", provider="anthropic")).complete(HI)
    assert fake_anthropic.last_request.path == "/v1/messages"


def test_tool_results_are_merged_into_one_user_message(provider, fake_anthropic):
    fake_anthropic.add("done")
    history = [
        Message("user", "weather in Paris and Rome?", images=["data:image/jpeg;base64,QUJD", "https://x.test/a.png"]),
        Message("assistant", "Checking.", tool_calls=[ToolCall("t1", "get_weather", {"city": "Paris"}),
                                                      ToolCall("t2", "get_weather", {"city": "Rome"})]),
        Message("tool", "18C", tool_call_id="t1"),
        Message("tool", "no data", tool_call_id="t2", is_error=True),
        Message("user", "and tomorrow?"),
    ]
    provider.complete(history)
    user, assistant, results = fake_anthropic.last_request["messages"]
    assert user["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
        {"type": "text", "text": "weather in Paris and Rome?"},
    ]
    assert assistant == {"role": "assistant", "content": [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {"city": "Rome"}},
    ]}
    assert results == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "t2", "content": "no data", "is_error": True},
        {"type": "text", "text": "and tomorrow?"},
    ]}


@pytest.mark.parametrize("stream", [False, True])
def test_text_thinking_tool_use_usage(provider, fake_anthropic, stream):
    fake_anthropic.add(text="Let me check the weather.", reasoning="User wants weather.",
                       tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "toolu_1"}],
                       usage=(100, 20), chunk_size=4)
    if stream:
        events, result = collect(provider.stream(HI, tools=TOOLS))
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me check the weather."
        assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "User wants weather."
        assert [e.name for e in events if isinstance(e, ToolCallStarted)] == ["get_weather"]
        assert fake_anthropic.last_request["stream"] is True
    else:
        result = provider.complete(HI, tools=TOOLS)
    assert result.text == "Let me check the weather."
    assert result.reasoning == "User wants weather."
    assert [(c.id, c.name, c.arguments, c.error) for c in result.tool_calls] == [
        ("toolu_1", "get_weather", {"city": "Paris"}, None)]
    assert result.usage.as_dict() == {"input_tokens": 100, "output_tokens": 20}
    assert (result.finish_reason, result.model) == ("tool_calls", "claude-test")


def test_tool_use_without_input_deltas(provider, fake_anthropic):
    fake_anthropic.add(tool_calls=[{"name": "get_weather", "arguments": {}}])
    _, result = collect(provider.stream(HI, tools=TOOLS))
    assert result.tool_calls[0].arguments == {} and result.tool_calls[0].error is None


def test_broken_input_json_is_an_error_call(provider, fake_anthropic):
    fake_anthropic.add(tool_calls=[{"name": "get_weather", "arguments": '{"city": "Par'}])
    _, result = collect(provider.stream(HI, tools=TOOLS))
    [call] = result.tool_calls
    assert call.error and call.raw_arguments == '{"city": "Par'


def test_list_models(provider, fake_anthropic):
    fake_anthropic.models = ["claude-a", "claude-b"]
    assert provider.list_models() == ["claude-a", "claude-b"]


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(400, BadRequestError), (401, AuthError), (404, NotFoundError), (429, RateLimitError),
     (500, ServerError), (529, ServerError)],
)
@pytest.mark.parametrize("stream", [False, True])
def test_error_statuses(provider, fake_anthropic, status, error_class, stream):
    fake_anthropic.add(Reply.fail(status, f"invalid x-api-key {SECRET}", retry_after=3 if status == 429 else None))
    with pytest.raises(error_class) as info:
        list(provider.stream(HI)) if stream else provider.complete(HI)
    assert SECRET not in str(info.value)
    if status == 429:
        assert info.value.retry_after == 3.0


def test_error_event_mid_stream(provider, fake_anthropic):
    fake_anthropic.add(text="partial", stream_error="Overloaded")
    with pytest.raises(ServerError, match="Overloaded"):
        list(provider.stream(HI))


@pytest.mark.parametrize(
    "reply",
    [
        Reply.garbage(),
        Reply(body="event: message_start\ndata: {oops\n\n", content_type="text/event-stream"),
        Reply(body='event: ping\ndata: {"type": "ping"}\n\n', content_type="text/event-stream"),
    ],
)
def test_garbage_stream(provider, fake_anthropic, reply):
    fake_anthropic.add(reply)
    with pytest.raises(BadResponseError):
        list(provider.stream(HI))


def test_garbage_json(provider, fake_anthropic):
    fake_anthropic.add(Reply(body='{"type": "message"}'))
    with pytest.raises(BadResponseError):
        provider.complete(HI)


def test_connection_refused(make_spec, dead_url):
    with pytest.raises(ConnectError):
        AnthropicProvider(make_spec(dead_url.removesuffix("/v1"), provider="anthropic")).complete(HI)


def test_cancel_mid_stream(provider, fake_anthropic):
    fake_anthropic.add(text="z" * 40, chunk_size=4, chunk_delay=0.01, hang=True)
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        for event in provider.stream(HI, cancel=cancel):
            if isinstance(event, TextDelta):
                cancel.set()
    deadline = time.monotonic() + 3
    while fake_anthropic.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake_anthropic.disconnects == 1
