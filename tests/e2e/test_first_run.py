"""The first run: `ember` and `ember run` with no usable model say so at once (and, in a terminal,
offer `ember setup`); chat without a terminal and without a message is a usage error; while the
model is awaited the chat shows a spinner with the seconds waited."""

from __future__ import annotations

import re
import time

from tests.e2e.terminal import Terminal
from tests.fakes.openai_server import FakeOpenAI, Reply


def _assert_lists_the_three_ways(text: str) -> None:
    assert "no usable model" in text and "needs an API key" in text
    assert "ember setup" in text and "EMBER_BASE_URL" in text and "config.toml" in text
    assert "Traceback" not in text


def test_run_without_a_model_says_so_before_anything(ember):
    result = ember("run", "hello")
    assert result.returncode == 2
    assert result.stdout == ""
    _assert_lists_the_three_ways(result.stderr)
    assert "EMBER_API_KEY or OPENAI_API_KEY" in result.stderr  # what the default endpoint would take
    assert not (ember.home / "ember.db").exists()  # nothing was started


def test_chat_without_a_terminal_and_without_a_model_prints_the_ways_and_exits_2(ember):
    for args in ((), ("chat",)):
        result = ember(*args, input="hello\n")
        assert result.returncode == 2, result.stderr
        _assert_lists_the_three_ways(result.stderr)
        assert "bye" not in result.stdout


def test_chat_without_a_terminal_and_without_a_message_is_a_usage_error(ember, fake):
    ember.point_at(fake)
    result = ember(input="")
    assert result.returncode == 2
    assert "stdin is not a terminal and holds no message" in result.stderr
    assert "ember run" in result.stderr
    assert fake.requests == []


def test_piped_chat_still_takes_one_message_per_line(ember, fake):
    fake.add("first answer")
    fake.add("second answer")
    ember.point_at(fake)
    result = ember(input="one\ntwo\n")
    assert result.returncode == 0, result.stderr
    assert "first answer" in result.stdout and "second answer" in result.stdout


def test_openrouter_is_the_openai_compatible_provider(ember, fake):
    fake.add("hi from the router")
    ember.point_at(fake, provider="openrouter")
    result = ember("run", "hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi from the router\n"
    ember.env.pop("EMBER_BASE_URL")
    shown = ember.json("config", "show", "--json")["models"]["default"]
    assert shown["provider"] == "openai" and shown["base_url"] == "https://openrouter.ai/api/v1"


def test_chat_in_a_terminal_offers_setup_and_goes_on_with_the_model_it_wrote(ember):
    with FakeOpenAI(["hello from the local model"], models=["llama3"]) as fake:
        term = Terminal(ember.env, str(ember.workspace))  # plain `ember`
        term.read_until("Run `ember setup` now?")
        assert "no usable model" in term.screen
        term.type("y\r")
        term.read_until("Which one")
        term.type(fake.base_url.removesuffix("/v1").removeprefix("http://") + "\r")  # 127.0.0.1:PORT
        term.read_until("Model")
        term.type("\r")  # the server's first model
        term.read_until("Ctrl-D to quit")
        assert "openai:llama3" in term.screen
        term.type("hi\r")
        term.read_until("hello from the local model")
        term.read_until("›", after="hello from the local model")
        term.type("\x04")
        assert term.close() == 0
    config = (ember.home / "config.toml").read_text()
    assert fake.base_url in config and '"llama3"' in config


def test_chat_in_a_terminal_declining_setup_lists_the_ways_and_exits_2(ember):
    term = Terminal(ember.env, str(ember.workspace), "chat")
    term.read_until("Run `ember setup` now?")
    term.type("n\r")
    assert term.close() == 2
    _assert_lists_the_three_ways(term.screen)


def test_chat_shows_a_spinner_with_the_seconds_waited(ember):
    with FakeOpenAI([Reply(text="a slow answer", delay=2.5)]) as fake:
        ember.point_at(fake)
        term = Terminal(ember.env, str(ember.workspace), "chat")
        term.read_until("Ctrl-D to quit")
        term.read_until("›")
        term.type("hello\r")
        term.read_until("thinking… 1s")
        term.read_until("a slow answer")
        term.read_until("›", after="a slow answer")
        term.type("\x04")
        assert term.close() == 0


def test_an_approved_tool_time_leaves_out_the_time_spent_answering(ember, tmp_path):
    outside = tmp_path / "outside.txt"  # not in the workspace: writing it needs approval
    call = Reply(tool_calls=[{"name": "write_file", "arguments": {"path": str(outside), "content": "x\n"}}])
    with FakeOpenAI([call, "written"]) as fake:
        ember.point_at(fake)
        term = Terminal(ember.env, str(ember.workspace), "chat")
        term.read_until("Ctrl-D to quit")
        term.read_until("›")
        term.type("write it\r")
        term.read_until("Allow?")
        time.sleep(2.5)  # the user thinks it over
        term.type("y\r")
        term.read_until("written")
        term.read_until("›", after="written")
        term.type("\x04")
        assert term.close() == 0
    assert outside.read_text() == "x\n"
    seconds = [float(s) for s in re.findall(r"✓ (\d+\.\d)s", term.screen)]
    assert seconds and seconds[0] < 1.0, term.screen
