"""The official SDKs run against our fakes: proof that the fakes speak the real wire format.

If the fakes drifted from the real protocols, the adapter tests would prove nothing; these tests
parse the fakes' JSON and SSE with the vendors' own clients (test-only dependencies).
"""

import json
import subprocess
import sys

import httpx
import pytest

from tests.fakes.anthropic_server import Reply as AnthropicReply
from tests.fakes.openai_server import Reply

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


@pytest.fixture
def openai_client(fake_openai):
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-fake", max_retries=0)
    yield client
    client.close()


@pytest.fixture
def anthropic_client(fake_anthropic):
    client = anthropic.Anthropic(base_url=fake_anthropic.base_url, api_key="sk-ant-fake", max_retries=0)
    yield client
    client.close()


def test_openai_sdk_json(openai_client, fake_openai):
    fake_openai.add(text="Checking.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}],
                    usage=(21, 9))
    reply = openai_client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking."
    [call] = choice.message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (21, 9)
    assert fake_openai.last_request.headers["authorization"] == "Bearer sk-fake"


def test_openai_sdk_stream(openai_client, fake_openai):
    fake_openai.add(text="Two calls coming.", reasoning="both cities",
                    tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}},
                                {"name": "get_weather", "arguments": {"city": "Rome"}}],
                    usage=(30, 12), chunk_size=4)
    stream = openai_client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER],
        stream=True, stream_options={"include_usage": True})
    text, args, names, finish, usage = "", {}, {}, None, None
    for chunk in stream:
        if chunk.usage:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                if call.function.name:
                    names[call.index] = call.function.name
                args[call.index] = args.get(call.index, "") + (call.function.arguments or "")
            finish = choice.finish_reason or finish
    assert text == "Two calls coming."
    assert names == {0: "get_weather", 1: "get_weather"}
    assert [json.loads(args[i]) for i in (0, 1)] == [{"city": "Paris"}, {"city": "Rome"}]
    assert (finish, usage) == ("tool_calls", (30, 12))


def test_openai_sdk_completions_models_and_errors(openai_client, fake_openai):
    fake_openai.add("raw completion text")
    fake_openai.add(text="streamed raw", chunk_size=3)
    fake_openai.add(Reply.fail(429, "slow down", retry_after=2))
    assert openai_client.completions.create(model="m", prompt="<|im_start|>user\nhi").choices[0].text == (
        "raw completion text")
    pieces = [c.choices[0].text for c in openai_client.completions.create(model="m", prompt="x", stream=True)
              if c.choices]
    assert "".join(pieces) == "streamed raw"
    assert [m.id for m in openai_client.models.list()] == ["fake-model"]
    with pytest.raises(openai.RateLimitError) as info:
        openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 429 and "slow down" in str(info.value)


def test_anthropic_sdk_json(anthropic_client, fake_anthropic):
    fake_anthropic.add(text="Checking.", reasoning="need weather",
                       tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}], usage=(40, 11))
    message = anthropic_client.messages.create(
        model="claude-test", max_tokens=100, system="Be brief.", messages=[{"role": "user", "content": "weather?"}],
        tools=[{"name": "get_weather", "description": "Weather", "input_schema": WEATHER["function"]["parameters"]}])
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].thinking == "need weather"
    assert message.content[2].input == {"city": "Paris"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (40, 11)
    # Recent SDKs send the key as a Bearer token; Ember's adapter uses the documented x-api-key.
    headers = fake_anthropic.last_request.headers
    assert "sk-ant-fake" in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))


def test_anthropic_sdk_stream(anthropic_client, fake_anthropic):
    fake_anthropic.add(text="Looking it up now.", reasoning="Paris, metric",
                       tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris", "units": "C"}}],
                       usage=(50, 13), chunk_size=3)
    with anthropic_client.messages.stream(
        model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "weather?"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Looking it up now."
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[0].thinking == "Paris, metric"
    assert final.content[2].input == {"city": "Paris", "units": "C"}
    assert (final.stop_reason, final.usage.output_tokens) == ("tool_use", 13)


def test_anthropic_sdk_errors_and_models(anthropic_client, fake_anthropic):
    fake_anthropic.add(AnthropicReply.fail(529, "Overloaded"))
    fake_anthropic.add(text="partial", stream_error="Overloaded")
    with pytest.raises(anthropic.APIStatusError) as info:
        anthropic_client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 529
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        with anthropic_client.messages.stream(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            stream.get_final_message()
    assert [m.id for m in anthropic_client.models.list()] == ["fake-model"]


def test_fake_runs_from_the_command_line(tmp_path):
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(["first", {"text": "second", "usage": [5, 2]}]))
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--script", str(script)],
                            stdout=subprocess.PIPE, text=True)
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        texts = [httpx.post(f"{base_url}/chat/completions", json=body).json()["choices"][0]["message"]["content"]
                 for _ in range(2)]
        assert texts == ["first", "second"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_thinking_round_trip(anthropic_client, fake_anthropic, stream):
    """The SDK reads the fake's signed thinking and redacted_thinking blocks (JSON, and SSE with
    signature_delta); echoed back as the SDK holds them they pass the fake's check, and without
    the thinking blocks the fake answers 400 as the API does."""
    fake_anthropic.add(text="Checking.", reasoning="Paris, metric", redacted_thinking="hidden",
                       tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "toolu_1"}],
                       chunk_size=4)
    fake_anthropic.add(text="18C.")
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER["function"]["parameters"]}]
    ask = {"model": "claude-test", "max_tokens": 3000, "tools": tools,
           "thinking": {"type": "enabled", "budget_tokens": 2000}}
    first = [{"role": "user", "content": "weather?"}]
    if stream:
        with anthropic_client.messages.stream(messages=first, **ask) as events:
            message = events.get_final_message()
    else:
        message = anthropic_client.messages.create(messages=first, **ask)
    assert [b.type for b in message.content] == ["thinking", "redacted_thinking", "text", "tool_use"]
    assert message.content[0].thinking == "Paris, metric" and message.content[0].signature
    assert message.content[1].data
    results = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]}
    follow = [*first, {"role": "assistant", "content": message.content}, results]
    assert anthropic_client.messages.create(messages=follow, **ask).content[0].text == "18C."
    dropped = [*first, {"role": "assistant", "content": message.content[2:]}, results]
    with pytest.raises(anthropic.BadRequestError, match="Expected `thinking` or `redacted_thinking`"):
        anthropic_client.messages.create(messages=dropped, **ask)
