"""Per-model reasoning settings: config.toml, the request each adapter sends, and Anthropic's
thinking blocks kept verbatim from a reply (JSON and SSE) and sent back while a tool loop goes on.

Everything runs against the fake servers over HTTP; the Anthropic fake refuses, like the real API,
a tool loop whose thinking blocks were dropped, reordered or changed (proved here too).
"""

from __future__ import annotations

import copy
import json

import httpx
import pytest
from click.testing import CliRunner

from ember.config import REASONING_BUDGETS, ConfigError, load_settings
from ember.models.anthropic import AnthropicProvider, thinks_adaptively
from ember.models.anthropic_wire import anthropic_request
from ember.models.base import BadRequestError, Message, StreamDone, ToolCall
from ember.models.hermes import HermesProvider
from ember.models.openai_compat import OpenAICompatProvider
from tests.fakes.anthropic_server import FakeAnthropic, thinking_problem

TOOLS = [{"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
ASK = [Message("system", "Be brief."), Message("user", "weather in Paris?")]
PARIS = {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "toolu_1"}
THOUGHT = "  The user wants Paris.\n I will call get_weather.  \n"  # untrimmed on purpose: it is signed as is


def write_config(home, text: str) -> None:
    (home / "config.toml").write_text(text, encoding="utf-8")


def run(provider, messages, stream: bool, tools=TOOLS, **opts):
    if not stream:
        return provider.complete(messages, tools, **opts)
    events = list(provider.stream(messages, tools, **opts))
    assert isinstance(events[-1], StreamDone)
    return events[-1].completion


BUDGET_MODEL = "claude-sonnet-4-5"  # thinks with a fixed budget
ADAPTIVE_MODEL = "claude-opus-4-7"  # thinks adaptively, and refuses a fixed budget


@pytest.fixture
def anthropic(fake_anthropic, make_spec):
    """``anthropic(**spec_fields)``: an AnthropicProvider on the fake, closed after the test."""
    made = []

    def build(**fields):
        values = {"provider": "anthropic", "model": BUDGET_MODEL, "max_output_tokens": 900, **fields}
        made.append(AnthropicProvider(make_spec(fake_anthropic, **values)))
        return made[-1]

    yield build
    for provider in made:
        provider.close()


# --- config.toml ---------------------------------------------------------------------------------


def test_reasoning_levels_parse_for_every_model_table(ember_home):
    write_config(ember_home, """
[model]
provider = "anthropic"
reasoning = "high"
[models.quick]
provider = "openai"
reasoning = "Low"
[models.plain]
provider = "openai"
[models.local]
provider = "hermes"
reasoning = "medium"
[models.big]
provider = "anthropic"
reasoning = "medium"
reasoning_budget = 30000
[models.none]
provider = "openai"
reasoning = false
""")
    models = load_settings(ember_home, env={"ANTHROPIC_API_KEY": "ant-123456"}).models
    assert {name: spec.reasoning for name, spec in models.items()} == {
        "default": "high", "quick": "low", "plain": "off", "local": "medium", "big": "medium", "none": "off"}
    assert models["big"].reasoning_budget == 30000 and models["default"].reasoning_budget is None


@pytest.mark.parametrize(("line", "message"), [
    ('reasoning = "max"', r'\[models.x\].reasoning must be one of "off", "low", "medium", "high", got \'max\''),
    ("reasoning = 3", r"\[models.x\].reasoning must be one of .*, got 3"),
    ("reasoning = true", r"\[models.x\].reasoning must be one of .*, got True"),
    ('reasoning = "high"\nreasoning_budget = 500', r"\[models.x\].reasoning_budget must be at least 1024 .*got 500"),
    ('reasoning = "high"\nreasoning_budget = "lots"', r"\[models.x\].reasoning_budget must be an integer, got 'lots'"),
    ("reasoning_budget = 4096", r"\[models.x\].reasoning_budget is set but reasoning is off"),
])
def test_bad_reasoning_settings_are_clear_errors(ember_home, line, message):
    write_config(ember_home, f'[models.x]\nprovider = "anthropic"\n{line}\n')
    with pytest.raises(ConfigError, match=f"^config.toml: {message}"):
        load_settings()


def test_bad_reasoning_in_the_default_model_names_its_table(ember_home):
    write_config(ember_home, '[model]\nreasoning = "extreme"\n')
    with pytest.raises(ConfigError, match=r"^config.toml: \[model\].reasoning must be one of"):
        load_settings()


# --- the request body, per provider and level ---------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("level", ["off", "low", "medium", "high"])
def test_anthropic_body_for_each_level(anthropic, fake_anthropic, level, stream):
    fake_anthropic.add(text="18C", reasoning="easy" if level != "off" else "")
    result = run(anthropic(reasoning=level), ASK, stream, temperature=0.3)
    body = fake_anthropic.last_request
    assert result.text == "18C"  # the fake, which checks the thinking setup like the API, accepted it
    if level == "off":
        assert "thinking" not in body
        assert (body["max_tokens"], body["temperature"]) == (900, 0.3)
    else:
        budget = REASONING_BUDGETS[level]
        assert budget >= 1024
        assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
        assert body["max_tokens"] == budget + 900  # above the budget, with 900 tokens left to answer
        assert "temperature" not in body  # the API refuses temperature with thinking on


@pytest.mark.parametrize("model, adaptive", [
    ("claude-3-7-sonnet-20250219", False), ("anthropic/claude-3.5-haiku", False), ("claude-sonnet-4-20250514", False),
    ("claude-opus-4-1-20250805", False), ("claude-sonnet-4-5", False), ("claude-haiku-4-5-20251001", False),
    ("claude-opus-4-6", True), ("claude-sonnet-4-6", True), ("anthropic.claude-opus-4-7", True),
    ("anthropic/claude-opus-4.7", True), ("claude-opus-5", True), ("claude-fable-5", True),
    ("claude-haiku-5-5", True), ("my-proxy-alias", True),
])
def test_which_models_think_adaptively(model, adaptive):
    assert thinks_adaptively(model) is adaptive


@pytest.mark.parametrize("level", ["low", "medium", "high"])
@pytest.mark.parametrize("stream", [False, True])
def test_current_models_get_adaptive_thinking_with_effort(anthropic, fake_anthropic, level, stream):
    fake_anthropic.add(text="18C", reasoning="easy")
    result = run(anthropic(model=ADAPTIVE_MODEL, reasoning=level), ASK, stream, temperature=0.3)
    body = fake_anthropic.last_request
    assert result.text == "18C"  # the fake refuses a fixed budget on this model, as the API does
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": level}
    assert body["max_tokens"] == 900  # no budget to stay above
    assert "temperature" not in body


def test_a_configured_budget_asks_for_a_fixed_budget_on_any_model(anthropic, fake_anthropic):
    fake_anthropic.add("a")
    anthropic(model="claude-opus-4-6", reasoning="medium", reasoning_budget=4096).complete(ASK)
    body = fake_anthropic.last_request
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096} and "output_config" not in body


def test_the_fake_refuses_the_wrong_kind_of_thinking_like_the_api():
    ask = [{"role": "user", "content": "x"}]
    assert "not supported" in thinking_problem({"model": ADAPTIVE_MODEL, "max_tokens": 4000, "messages": ask,
                                                "thinking": {"type": "enabled", "budget_tokens": 2048}})
    assert "not supported" in thinking_problem({"model": BUDGET_MODEL, "max_tokens": 4000, "messages": ask,
                                                "thinking": {"type": "adaptive"}})
    assert "effort" in thinking_problem({"model": ADAPTIVE_MODEL, "max_tokens": 4000, "messages": ask,
                                         "thinking": {"type": "adaptive"}, "output_config": {"effort": "extreme"}})


def test_anthropic_budget_override_large_max_tokens_and_caller_thinking(anthropic, fake_anthropic):
    fake_anthropic.add("a")
    fake_anthropic.add("b")
    fake_anthropic.add("c")
    anthropic(reasoning="low", reasoning_budget=3000).complete(ASK)
    assert fake_anthropic.last_request["thinking"]["budget_tokens"] == 3000
    assert fake_anthropic.last_request["max_tokens"] == 3900
    anthropic(reasoning="high", max_output_tokens=32000).complete(ASK)
    assert fake_anthropic.last_request["max_tokens"] == 32000  # already above the budget: unchanged
    anthropic(reasoning="off").complete(ASK, thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=8)
    assert fake_anthropic.last_request["thinking"]["budget_tokens"] == 1024
    assert fake_anthropic.last_request["max_tokens"] == 1032


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("level", ["off", "low", "medium", "high"])
def test_openai_compatible_sends_reasoning_effort(fake_openai, make_spec, level, stream):
    fake_openai.add(text="ok", reasoning="thought about it")
    provider = OpenAICompatProvider(make_spec(fake_openai, reasoning=level))
    try:
        result = run(provider, ASK, stream, temperature=0.2)
    finally:
        provider.close()
    body = fake_openai.last_request
    assert (result.text, result.reasoning) == ("ok", "thought about it")
    assert result.reasoning_blocks == []  # nothing here must go back verbatim
    if level == "off":
        assert "reasoning_effort" not in body
    else:
        assert body["reasoning_effort"] == level
    assert body["temperature"] == 0.2
    assert "thinking" not in body


@pytest.mark.parametrize("endpoint", ["chat", "completion"])
def test_hermes_ignores_reasoning(fake_openai, make_spec, endpoint):
    fake_openai.add("<think>hmm</think>done")
    provider = HermesProvider(make_spec(fake_openai, provider="hermes", hermes_endpoint=endpoint, reasoning="high"))
    try:
        result = provider.complete(ASK, TOOLS)
    finally:
        provider.close()
    assert (result.text, result.reasoning) == ("done", "hmm")
    assert "reasoning_effort" not in fake_openai.last_request and "thinking" not in fake_openai.last_request


# --- thinking blocks come back verbatim -------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_and_redacted_blocks_are_kept_verbatim(anthropic, fake_anthropic, stream):
    fake_anthropic.add(text="Checking.", reasoning=THOUGHT, redacted_thinking="hidden", tool_calls=[PARIS],
                       chunk_size=5)
    result = run(anthropic(reasoning="medium"), ASK, stream)
    assert result.reasoning == THOUGHT.strip()  # the readable text is trimmed...
    thinking, redacted = result.reasoning_blocks
    assert thinking["type"] == "thinking" and thinking["thinking"] == THOUGHT  # ...the block is not
    assert thinking["signature"].startswith("msg_fake")  # streamed: assembled from signature_delta
    assert set(redacted) == {"type", "data"} and redacted["type"] == "redacted_thinking"
    message = result.to_message()
    assert message.reasoning_blocks == result.reasoning_blocks
    assert thinking["signature"] not in repr(message) and redacted["data"] not in repr(result)
    # Sent back, the fake (which verifies signatures like the API) accepts them.
    follow = [*ASK, message, Message("tool", "18C", tool_call_id="toolu_1")]
    assert thinking_problem({"thinking": {"type": "enabled", "budget_tokens": 2000}, "max_tokens": 4000,
                             "messages": anthropic_request(follow)[1]}) is None


def test_blocks_go_first_only_to_anthropic_and_only_with_thinking_on(fake_openai, make_spec):
    blocks = [{"type": "thinking", "thinking": "t", "signature": "s1"}, {"type": "redacted_thinking", "data": "d1"},
              {"type": "reasoning", "encrypted_content": "another provider's"}]
    history = [*ASK, Message("assistant", "Checking.", tool_calls=[ToolCall("toolu_1", "get_weather", {"city": "P"})],
                             reasoning="t", reasoning_blocks=blocks),
               Message("tool", "18C", tool_call_id="toolu_1")]
    _, wire = anthropic_request(history)
    assert [b["type"] for b in wire[1]["content"]] == ["thinking", "redacted_thinking", "text", "tool_use"]
    assert wire[1]["content"][:2] == blocks[:2]
    _, without = anthropic_request(history, reasoning_blocks=False)
    assert [b["type"] for b in without[1]["content"]] == ["text", "tool_use"]
    fake_openai.add("ok")
    provider = OpenAICompatProvider(make_spec(fake_openai, reasoning="high"))
    try:
        provider.complete(history, TOOLS)
    finally:
        provider.close()
    sent = json.dumps(fake_openai.last_request.body)
    assert "s1" not in sent and "d1" not in sent and "encrypted_content" not in sent


# --- a tool loop with thinking on ----------------------------------------------------------------------


def tool_turn(history: list[Message], completion, result: str) -> None:
    history.append(completion.to_message())
    history += [Message("tool", result, tool_call_id=call.id, name=call.name) for call in completion.tool_calls]


@pytest.mark.parametrize("model", [BUDGET_MODEL, ADAPTIVE_MODEL])
@pytest.mark.parametrize("stream", [False, True])
def test_three_step_tool_loop_with_thinking(anthropic, fake_anthropic, stream, model):
    fake_anthropic.add(text="Checking Paris.", reasoning=THOUGHT, redacted_thinking="opaque", tool_calls=[PARIS])
    # Without interleaved thinking Claude thinks once per turn: the later steps carry no thinking.
    fake_anthropic.add(tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome"}, "id": "toolu_2"}])
    fake_anthropic.add(text="Paris 18C, Rome 24C.")
    provider = anthropic(reasoning="high", model=model)
    history = list(ASK)
    first = run(provider, history, stream)
    tool_turn(history, first, "18C")
    second = run(provider, history, stream)
    assert second.reasoning_blocks == []
    tool_turn(history, second, "24C")
    final = run(provider, history, stream)
    assert final.text == "Paris 18C, Rome 24C."
    assert len(fake_anthropic.requests) == 3
    expected = {"type": "adaptive"} if model == ADAPTIVE_MODEL else {"type": "enabled",
                                                                      "budget_tokens": REASONING_BUDGETS["high"]}
    for request in fake_anthropic.requests:
        assert request["thinking"] == expected
    started = fake_anthropic.requests[2]["messages"][1]
    assert started["role"] == "assistant"
    assert started["content"][:2] == first.reasoning_blocks  # first, and exactly as received
    assert [b["type"] for b in started["content"]] == ["thinking", "redacted_thinking", "text", "tool_use"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_dropped_signature_is_refused_with_400(anthropic, fake_anthropic, stream):
    fake_anthropic.add(text="Checking.", reasoning=THOUGHT, tool_calls=[PARIS])
    fake_anthropic.add("never sent")
    provider = anthropic(reasoning="low")
    history = list(ASK)
    tool_turn(history, run(provider, history, stream), "18C")
    del history[2].reasoning_blocks[0]["signature"]
    with pytest.raises(BadRequestError, match="Invalid `signature` in `thinking` block"):
        run(provider, history, stream)
    assert fake_anthropic.pending == 1  # refused before any reply was used


def test_a_changed_thinking_text_is_refused_with_400(anthropic, fake_anthropic):
    fake_anthropic.add(text="Checking.", reasoning=THOUGHT, tool_calls=[PARIS])
    provider = anthropic(reasoning="low")
    history = list(ASK)
    tool_turn(history, provider.complete(history, TOOLS), "18C")
    history[2].reasoning_blocks[0]["thinking"] = THOUGHT.strip()  # what a careless adapter would keep
    with pytest.raises(BadRequestError, match="Invalid `signature`"):
        provider.complete(history, TOOLS)


def test_a_loop_that_began_without_thinking_finishes_without_it(anthropic, fake_anthropic):
    # E.g. a fallback model answered the first step, or reasoning was off when the loop began: the
    # API refuses to switch thinking on mid-loop, so this request goes without it.
    fake_anthropic.add("Paris 18C.")
    history = [*ASK, Message("assistant", "", tool_calls=[ToolCall("call_9", "get_weather", {"city": "Paris"})]),
               Message("tool", "18C", tool_call_id="call_9")]
    assert anthropic(reasoning="medium").complete(history, TOOLS).text == "Paris 18C."
    assert "thinking" not in fake_anthropic.last_request
    fake_anthropic.add("And now?")
    anthropic(reasoning="medium").complete([*history, Message("assistant", "Paris 18C."), Message("user", "Rome?")])
    assert fake_anthropic.last_request["thinking"]["type"] == "enabled"  # a new turn thinks again


# --- the fake enforces what the API enforces (raw HTTP, no adapter) ------------------------------------------


def test_the_fake_refuses_tool_loops_without_their_exact_thinking_blocks(fake_anthropic):
    fake_anthropic.add(text="Checking.", reasoning=THOUGHT, redacted_thinking="opaque", tool_calls=[PARIS])
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    url = fake_anthropic.url + "/v1/messages"
    thinking = {"type": "enabled", "budget_tokens": 1024}
    first = [{"role": "user", "content": "weather in Paris?"}]
    reply = httpx.post(url, headers=headers, json={"model": "m", "max_tokens": 2000, "thinking": thinking,
                                                   "messages": first}).json()
    assert [b["type"] for b in reply["content"]] == ["thinking", "redacted_thinking", "text", "tool_use"]
    results = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]}

    def send(content, **extra):
        body = {"model": "m", "max_tokens": 2000, "thinking": thinking,
                "messages": [*first, {"role": "assistant", "content": content}, results], **extra}
        return httpx.post(url, headers=headers, json=body)

    def changed(mutate):
        content = copy.deepcopy(reply["content"])
        mutate(content)
        return content

    refused = {
        "thinking dropped": changed(lambda c: c.pop(0) and c.pop(0)),
        "signature dropped": changed(lambda c: c[0].pop("signature")),
        "signature of another text": changed(lambda c: c[0].update(thinking=c[0]["thinking"].strip())),
        "redacted block dropped": changed(lambda c: c.pop(1)),
        "redacted data changed": changed(lambda c: c[1].update(data=c[1]["data"][:-1] + "0")),
        "blocks reordered": changed(lambda c: c.insert(0, c.pop(1))),
        "thinking after the text": changed(lambda c: c.insert(2, c.pop(0)) or c.insert(2, c.pop(0))),
    }
    for case, content in refused.items():
        response = send(content)
        assert response.status_code == 400, case
        assert response.json()["error"]["type"] == "invalid_request_error", case
    assert "Expected `thinking` or `redacted_thinking`, but found `text`" in send(refused["thinking dropped"]).text
    assert send(reply["content"], temperature=0.5).status_code == 400  # no temperature with thinking
    assert send(reply["content"], max_tokens=1024).status_code == 400  # max_tokens must exceed the budget
    assert fake_anthropic.pending == 0
    fake_anthropic.add("Paris 18C.")
    assert send(reply["content"]).status_code == 200  # the blocks as they came: accepted
    fake_anthropic.add("ok")
    no_thinking = {"model": "m", "max_tokens": 2000,
                   "messages": [*first, {"role": "assistant", "content": refused["thinking dropped"]}, results]}
    assert httpx.post(url, headers=headers, json=no_thinking).status_code == 200  # thinking off: not needed


def test_signatures_stay_valid_across_fake_instances(fake_anthropic):
    # Like the API: a block from yesterday's session is still valid today (needed to test resumes).
    fake_anthropic.add(reasoning="r", tool_calls=[PARIS])
    first = httpx.post(fake_anthropic.url + "/v1/messages", headers={"anthropic-version": "2023-06-01"},
                       json={"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}).json()
    with FakeAnthropic() as other:
        other.add("ok")
        body = {"model": "m", "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [
            {"role": "user", "content": "x"}, {"role": "assistant", "content": first["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]}]}
        response = httpx.post(other.url + "/v1/messages", headers={"anthropic-version": "2023-06-01"}, json=body)
    assert response.status_code == 200, response.text


# --- `ember models` ---------------------------------------------------------------------------------------


def test_ember_models_shows_reasoning_when_on(ember_home, monkeypatch):
    from ember.cli.models_cmd import models

    write_config(ember_home, """
[model]
provider = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "plain"
[models.deep]
provider = "anthropic"
api_key = "ant-123456"
reasoning = "high"
[models.sized]
provider = "anthropic"
api_key = "ant-123456"
reasoning = "low"
reasoning_budget = 4000
""")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    out = CliRunner().invoke(models, ["--offline"])
    assert out.exit_code == 0, out.output
    lines = {line.split()[0]: line for line in out.output.splitlines()[1:] if line.strip()}
    assert "reasoning: high" in lines["deep"]
    assert "reasoning: low, 4000 tokens" in lines["sized"]
    assert "reasoning" not in lines["default"]
    data = json.loads(CliRunner().invoke(models, ["--offline", "--json"]).output)
    assert {row["name"]: row["reasoning"] for row in data["configured"]} == {
        "default": "off", "deep": "high", "sized": "low"}


# --- the whole agent: config.toml -> loop -> SQLite -> the fake, thinking on ------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_agent_tool_loop_with_thinking_from_config(ember_home, tmp_path, monkeypatch, fake_anthropic, stream):
    from ember.agent.events import TurnFinished
    from ember.runtime import build_runtime

    write_config(ember_home, f"""
[model]
provider = "anthropic"
base_url = "{fake_anthropic.base_url}"
model = "claude-sonnet-4-5"
api_key = "sk-ant-test-123456"
max_output_tokens = 1000
reasoning = "low"
""")
    monkeypatch.setenv("EMBER_WORKSPACE", str(tmp_path / "ws"))
    fake_anthropic.add(text="Writing it.", reasoning=THOUGHT, redacted_thinking="opaque",
                       tool_calls=[{"name": "write_file", "arguments": {"path": "a.txt", "content": "hi"}}])
    fake_anthropic.add(tool_calls=[{"name": "read_file", "arguments": {"path": "a.txt"}}])
    fake_anthropic.add("a.txt says hi.")
    runtime = build_runtime(load_settings(), interactive=False)
    try:
        session = runtime.agent.new_session()
        events = list(runtime.agent.run(session, "write a.txt and read it back", stream=stream))
        stored = [m.message for m in runtime.store.get_messages(session)]
    finally:
        runtime.close()
    assert isinstance(events[-1], TurnFinished) and events[-1].answer == "a.txt says hi."
    loop = [r for r in fake_anthropic.requests if r.get("tools")]
    assert len(loop) == 3
    assert all(r["thinking"] == {"type": "enabled", "budget_tokens": REASONING_BUDGETS["low"]} for r in loop)
    assert all(r["max_tokens"] == REASONING_BUDGETS["low"] + 1000 for r in loop)
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert [b["type"] for b in stored[1].reasoning_blocks] == ["thinking", "redacted_thinking"]
    assert stored[1].reasoning_blocks[0]["thinking"] == THOUGHT
    assert loop[2]["messages"][1]["content"][:2] == stored[1].reasoning_blocks
