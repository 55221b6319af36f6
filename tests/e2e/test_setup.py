"""`ember setup` in a terminal: a URL at the server question, a server at a typed URL; without a
terminal a question is a usage error (exit code 2), never "cancelled"."""

from __future__ import annotations

import re
import tomllib

from tests.e2e.terminal import Terminal
from tests.fakes.openai_server import FakeOpenAI


def _written_model(ember) -> dict:
    return tomllib.loads((ember.home / "config.toml").read_text())["model"]


def test_a_url_typed_at_the_server_question_is_taken(ember):
    with FakeOpenAI(models=["qwen3:8b", "llama3"]) as fake:
        term = Terminal(ember.env, str(ember.workspace), "setup")
        term.read_until("Which one")
        term.type(fake.base_url + "\r")
        term.read_until("Model")
        term.type("llama3\r")
        assert term.close() == 0, term.screen
    assert "not a valid integer" not in term.screen
    assert _written_model(ember) == {"provider": "openai", "base_url": fake.base_url, "model": "llama3"}


def test_a_bad_answer_at_the_server_question_is_asked_again(ember):
    with FakeOpenAI(models=["llama3"]) as fake:
        term = Terminal(ember.env, str(ember.workspace), "setup")
        term.read_until("Which one")
        term.type("ftp:/nowhere\r")
        term.read_until("or a URL such as")
        term.type(fake.base_url.removesuffix("/v1") + "\r")  # the server answers under /v1
        term.read_until("Model")
        term.type("\r")
        assert term.close() == 0, term.screen
    assert _written_model(ember)["base_url"] == fake.base_url


def test_a_local_server_at_a_url_is_offered(ember):
    with FakeOpenAI(models=["llama3"]) as fake:
        term = Terminal(ember.env, str(ember.workspace), "setup")
        term.read_until("Which one")
        number = re.search(r"(\d+)\. a local server at a URL", term.screen).group(1)
        term.type(number + "\r")
        term.read_until("URL of the server")
        term.type(fake.base_url + "\r")
        term.read_until("Model")
        term.type("\r")
        assert term.close() == 0, term.screen
    assert _written_model(ember) == {"provider": "openai", "base_url": fake.base_url, "model": "llama3"}


def test_a_url_where_nothing_answers_is_written_with_a_warning(ember):
    term = Terminal(ember.env, str(ember.workspace), "setup")
    term.read_until("Which one")
    term.type("http://127.0.0.1:9/v1\r")  # the discard port: nothing answers
    term.read_until("Model")
    term.type("my-model\r")
    assert term.close() == 0, term.screen
    assert "nothing answered at http://127.0.0.1:9/v1" in term.screen
    assert _written_model(ember) == {"provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "my-model"}


def test_without_a_terminal_a_question_is_a_usage_error(ember):
    for args in ((), ("--provider", "openai")):
        result = ember("setup", *args, input="")
        assert result.returncode == 2, result.stderr
        assert "Usage: ember setup" in result.stderr and "stdin is not a terminal" in result.stderr
        assert "--yes" in result.stderr
        assert "cancelled" not in result.stderr
    assert not (ember.home / "config.toml").exists()


def test_without_a_terminal_flags_or_yes_still_work(ember):
    result = ember("setup", "--provider", "anthropic", "--yes", input="")
    assert result.returncode == 0, result.stderr
    assert _written_model(ember)["provider"] == "anthropic"


def test_openrouter_from_setup_is_read_back_as_openrouter(ember):
    result = ember("setup", "--provider", "openrouter", "--model", "some/model", "--api-key", "sk-or-flag-key-1")
    assert result.returncode == 0, result.stderr
    shown = ember.json("config", "show", "--json")["models"]["default"]
    assert shown["base_url"] == "https://openrouter.ai/api/v1" and shown["model"] == "some/model"


def test_setup_in_an_unusable_home_is_one_line(ember, tmp_path):
    home = tmp_path / "home-is-a-file"
    home.write_text("not a folder")
    ember.env["EMBER_HOME"] = str(home)
    result = ember("setup", "--yes")
    assert result.returncode == 2
    assert result.stderr.startswith("ember: error: ") and result.stderr.count("\n") == 1
    assert "is a file, not a folder" in result.stderr
