import pytest

from ember.models.base import Message, StreamDone, TextDelta, ToolCall, ToolCallStarted
from ember.models.catalog import build_provider
from ember.models.hermes import HermesProvider

TOOLS = [{"name": "read_file", "description": "Read a file",
          "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}]
HISTORY = [
    Message("system", "You are Ember."),
    Message("user", "Read a.txt"),
    Message("assistant", "", tool_calls=[ToolCall("c1", "read_file", {"path": "a.txt"})]),
    Message("tool", "hello world", tool_call_id="c1"),
]
CALL = [{"name": "read_file", "arguments": {"path": "b.txt"}}]


def run(provider, stream):
    if not stream:
        return [], provider.complete(HISTORY, tools=TOOLS)
    events = list(provider.stream(HISTORY, tools=TOOLS))
    assert isinstance(events[-1], StreamDone)
    return events, events[-1].completion


@pytest.mark.parametrize("stream", [False, True])
def test_chat_endpoint(fake_openai, make_spec, stream):
    provider = build_provider(make_spec(fake_openai, provider="hermes"))
    assert isinstance(provider, HermesProvider)
    fake_openai.add(text="Now b.", reasoning="a.txt said hello; b next", tool_calls=CALL, chunk_size=3)
    events, result = run(provider, stream)
    assert result.text == "Now b."
    assert result.reasoning == "a.txt said hello; b next"
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("read_file", {"path": "b.txt"})]
    assert result.finish_reason == "tool_calls"
    if stream:
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Now b."
        assert [e.name for e in events if isinstance(e, ToolCallStarted)] == ["read_file"]
    request = fake_openai.last_request
    assert request.path == "/v1/chat/completions"
    assert "tools" not in request
    system, user, assistant, tool = request["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("You are Ember.\n\nYou are a function calling AI model.")
    assert '"name": "read_file"' in system["content"].split("<tools>")[2]
    assert user == {"role": "user", "content": "Read a.txt"}
    assert assistant == {"role": "assistant",
                         "content": '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.txt"}}\n</tool_call>'}
    assert tool == {"role": "tool", "tool_call_id": "c1",
                    "content": '<tool_response>\n{"name": "read_file", "content": "hello world"}\n</tool_response>'}


@pytest.mark.parametrize("stream", [False, True])
def test_completion_endpoint(fake_openai, make_spec, stream):
    provider = HermesProvider(make_spec(fake_openai, provider="hermes", hermes_endpoint="completion",
                                        max_output_tokens=333))
    fake_openai.add(text="", tool_calls=CALL, usage=(50, 7), chunk_size=2)
    events, result = run(provider, stream)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("read_file", {"path": "b.txt"})]
    assert result.text == ""
    assert result.usage.as_dict() == {"input_tokens": 50, "output_tokens": 7}
    request = fake_openai.last_request
    assert request.path == "/v1/completions"
    assert "messages" not in request
    prompt = request["prompt"]
    assert prompt.startswith("<|im_start|>system\nYou are Ember.\n\nYou are a function calling AI model.")
    assert "<|im_start|>tool\n<tool_response>\n" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert request["stop"][0] == "<|im_end|>"
    assert request["max_tokens"] == 333


def test_completion_endpoint_plain_answer_and_user_stop(fake_openai, make_spec):
    provider = HermesProvider(make_spec(fake_openai, provider="hermes", hermes_endpoint="completion"))
    fake_openai.add(text="<think>easy</think>It says hello world.")
    result = provider.complete(HISTORY, stop="###")
    assert (result.text, result.reasoning, result.tool_calls) == ("It says hello world.", "easy", [])
    assert fake_openai.last_request["stop"] == ["<|im_end|>", "###"]


def test_without_tools_the_system_prompt_is_untouched(fake_openai, make_spec):
    provider = HermesProvider(make_spec(fake_openai, provider="hermes"))
    fake_openai.add("hi")
    provider.complete([Message("system", "You are Ember."), Message("user", "hi")])
    assert fake_openai.last_request["messages"][0] == {"role": "system", "content": "You are Ember."}


def test_malformed_hermes_call_comes_back_as_error(fake_openai, make_spec):
    provider = HermesProvider(make_spec(fake_openai, provider="hermes"))
    fake_openai.add(text='<tool_call>\n{"name": "read_file", "arguments": {"path": b.txt}}\n</tool_call>')
    [call] = provider.complete(HISTORY, tools=TOOLS).tool_calls
    assert call.name == "read_file" and call.error and call.raw_arguments
