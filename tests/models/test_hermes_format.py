import json

import pytest

from ember.models.assembly import CompletionBuilder
from ember.models.base import Message, ReasoningDelta, StreamDone, TextDelta, ToolCall, ToolCallStarted
from ember.models.hermes_format import (
    TagStreamParser,
    render_chatml,
    render_tools_prompt,
    split_tagged_text,
    to_hermes_messages,
)

SAMPLES = [
    "Plain answer with no tags at all.",
    "<think>\nThe user wants the weather.\n</think>\nLet me check.\n<tool_call>\n"
    '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    '<tool_call>{"name": "a", "arguments": {}}</tool_call>\n<tool_call>{"name": "b", "arguments": {"x": "<t>"}}</tool_call>',
    "Comparisons like a < b and <b>html</b> and <thinking> are text, as is <tool.",
    "<think>unclosed reasoning that runs to the end",
    '<tool_call>\n{"name": "f", "arguments": {"x": 1}}',  # stopped before </tool_call>
    'first</think> then <tool_call>{"name": "a", "arguments": {}}<tool_call>{"name": "b", "arguments": {}}</tool_call>',
    "<<think>>x</think></tool_call>tail <",
]


def _merge(segments):
    merged = []
    for kind, text in segments:
        if merged and kind != "tool_call" and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged


@pytest.mark.parametrize("text", SAMPLES)
def test_split_at_every_character_boundary_gives_the_same_result(text):
    reference = _merge(split_tagged_text(text))
    for cut in range(len(text) + 1):
        parser = TagStreamParser()
        segments = parser.feed(text[:cut]) + parser.feed(text[cut:]) + parser.finish()
        assert _merge(segments) == reference, f"cut at {cut}"


@pytest.mark.parametrize("text", SAMPLES)
def test_character_by_character_stream_never_shows_a_tag(text):
    parser = TagStreamParser()
    segments = []
    for ch in text:
        segments += parser.feed(ch)
    segments += parser.finish()
    assert _merge(segments) == _merge(split_tagged_text(text))
    shown = "".join(t for kind, t in segments if kind != "tool_call")
    for tag in ("<think>", "</think>", "<tool_call>", "</tool_call>"):
        assert tag not in shown


def test_partial_tag_is_held_back_until_resolved():
    parser = TagStreamParser()
    assert parser.feed("Hello <tool_") == [("text", "Hello ")]
    assert parser.feed("box> done") == [("text", "<tool_box> done")]
    assert parser.feed("<thi") == []
    assert parser.feed("nk>hm") == [("reasoning", "hm")]
    assert parser.feed("</thi") == []
    assert parser.finish() == [("reasoning", "</thi")]


def test_sample_segments():
    assert split_tagged_text(SAMPLES[1]) == [
        ("reasoning", "\nThe user wants the weather.\n"),
        ("text", "\nLet me check.\n"),
        ("tool_call", '\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'),
    ]
    assert [k for k, _ in split_tagged_text(SAMPLES[6])] == ["text", "text", "tool_call", "tool_call"]


def _run_builder(chunks):
    builder = CompletionBuilder(parse_tags=True)
    events = []
    for chunk in chunks:
        events += builder.text(chunk)
    events += builder.finish()
    return events


@pytest.mark.parametrize("text", SAMPLES)
def test_streamed_deltas_add_up_to_the_completion_for_every_split(text):
    whole = _run_builder([text])[-1].completion
    for cut in range(len(text) + 1):
        events = _run_builder([text[:cut], text[cut:]])
        done = events[-1]
        assert isinstance(done, StreamDone)
        completion = done.completion
        assert completion.text == whole.text
        assert completion.reasoning == whole.reasoning
        assert [(c.name, c.arguments, c.error is None) for c in completion.tool_calls] == [
            (c.name, c.arguments, c.error is None) for c in whole.tool_calls
        ]
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == completion.text
        assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == completion.reasoning
        started = [e.name for e in events if isinstance(e, ToolCallStarted)]
        assert started == [c.name for c in completion.tool_calls]


def test_builder_result_for_a_typical_hermes_reply():
    completion = _run_builder([SAMPLES[1]])[-1].completion
    assert completion.text == "Let me check."
    assert completion.reasoning == "The user wants the weather."
    [call] = completion.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    assert completion.finish_reason == "tool_calls"


def test_tools_prompt_has_the_trained_instructions():
    prompt = render_tools_prompt([{"name": "f", "description": "does f", "parameters": {"type": "object"}}])
    assert prompt.startswith("You are a function calling AI model.")
    assert "<tools>\n" in prompt and "\n</tools>" in prompt
    tools_json = prompt.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
    assert json.loads(tools_json) == {
        "type": "function", "function": {"name": "f", "description": "does f", "parameters": {"type": "object"}}
    }
    assert '<tool_call>\n{"name": <function-name>, "arguments": <args-dict>}\n</tool_call>' in prompt


def test_history_becomes_hermes_text_and_chatml():
    history = [
        Message("system", "You are Ember."),
        Message("user", "Weather in Paris and Rome?"),
        Message("assistant", "Checking.", tool_calls=[
            ToolCall("c1", "get_weather", {"city": "Paris"}), ToolCall("c2", "get_weather", {"city": "Rome"})]),
        Message("tool", "18C", tool_call_id="c1"),
        Message("tool", "boom", tool_call_id="c2", is_error=True),
    ]
    turns = to_hermes_messages(history, [{"name": "get_weather", "description": "", "parameters": {}}])
    assert [t.role for t in turns] == ["system", "user", "assistant", "tool", "tool"]
    assert turns[0].content.startswith("You are Ember.\n\nYou are a function calling AI model.")
    assert turns[2].content == (
        'Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>'
    )
    assert turns[3].content == '<tool_response>\n{"name": "get_weather", "content": "18C"}\n</tool_response>'
    assert '"is_error": true' in turns[4].content
    prompt = render_chatml(turns)
    assert prompt.startswith("<|im_start|>system\nYou are Ember.")
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.count("<|im_start|>tool\n") == 1  # consecutive results share one turn
