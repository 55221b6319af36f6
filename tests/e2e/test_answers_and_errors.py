"""What a new user hits, through the real `ember` executable: empty answers, a base URL that is a web
server, exit codes of `ember models` and `ember mcp add`, and session titles."""

from __future__ import annotations

import json

import pytest

from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.web_server import WebServer

EMPTY = "the model returned an empty answer"


# --- empty answers ------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_run_fails_on_two_empty_answers(ember, fake, stream):
    fake.add("").add(Reply(body='{"choices": []}') if stream == "--no-stream" else "")
    ember.point_at(fake)
    result = ember("run", stream, "hello")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert f"ember: error: {EMPTY}" in result.stderr
    assert "· model default (fake-model): empty answer, asking once more" in result.stderr
    assert len(fake.requests) == 2


def test_run_json_keeps_its_error_shape(ember, fake):
    fake.add("").add("")
    ember.point_at(fake)
    result = ember("run", "--json", "hello")
    assert result.returncode == 1
    assert result.stdout == ""  # as for every failure: nothing on stdout, the error on stderr
    assert result.stderr.startswith(f"ember: error: {EMPTY}")
    assert "asking once more" not in result.stderr  # --json keeps progress off stderr


def test_run_answers_after_one_empty_answer(ember, fake):
    fake.add("").add("Here it is.")
    ember.point_at(fake)
    data = ember.json("run", "--json", "hello")
    assert data["answer"] == "Here it is."


def test_chat_shows_the_error_and_goes_on(ember, fake):
    fake.add("").add("").add("Back again.")
    ember.point_at(fake)
    result = ember("chat", input="hi\nhi again\n/exit\n")
    assert result.returncode == 0, result.stderr
    assert EMPTY in result.stdout and "Back again." in result.stdout
    shown = ember.json("sessions", "show", ember.json("sessions", "list", "--json")[0]["id"], "--json")
    assert [m["role"] for m in shown["messages"]] == ["user", "user", "assistant"]


# --- a base URL that is a web server -------------------------------------------------------------


@pytest.mark.parametrize("post_status", [501, 404])
def test_a_web_server_is_named_in_one_line_and_asked_once(ember, post_status):
    with WebServer(post_status=post_status) as web:
        ember.env.update({"EMBER_PROVIDER": "openai", "EMBER_BASE_URL": web.base_url, "EMBER_MODEL": "m"})
        result = ember("run", "hello")
        assert web.count == 1
    assert result.returncode == 1 and result.stdout == ""
    error_line = result.stderr.splitlines()[0]
    assert error_line.startswith("ember: error: OpenAI-compatible server at ")
    assert "this URL answered with an HTML page" in error_line
    assert "not the OpenAI API: is the base URL right?" in error_line
    assert "<" not in result.stderr and "retrying" not in result.stderr
    assert len(result.stderr.splitlines()) == 2  # the error and its hint


def test_a_web_server_instead_of_the_anthropic_api(ember):
    with WebServer() as web:
        ember.env.update({"EMBER_PROVIDER": "anthropic", "EMBER_BASE_URL": web.url, "EMBER_MODEL": "claude-x",
                          "EMBER_API_KEY": "sk-ant-test-123456"})
        result = ember("run", "--no-stream", "hello")
        assert web.count == 1
    assert result.returncode == 1
    assert "not the Anthropic API: is the base URL right?" in result.stderr and "<html" not in result.stderr.lower()


def test_a_huge_error_body_is_shortened(ember):
    with WebServer(post_status=500, body="Internal error\n" + "at frame\n" * 100_000, content_type="text/plain") as web:
        ember.env.update({"EMBER_PROVIDER": "openai", "EMBER_BASE_URL": web.base_url, "EMBER_MODEL": "m"})
        ember.config("retries = 0\n")
        result = ember("run", "hello")
    assert result.returncode == 1
    error_line = result.stderr.splitlines()[0]
    assert "HTTP 500" in error_line and "Internal error at frame" in error_line and len(error_line) < 500


# --- exit codes -------------------------------------------------------------------------------------


def test_models_exits_1_when_the_key_is_refused(ember):
    with FakeOpenAI(api_key="sk-right-key-0000") as fake:
        ember.point_at(fake, EMBER_API_KEY="sk-wrong-key-123456")
        human = ember("models")
        scripted = ember("models", "--json")
    assert human.returncode == 1 and "could not list models" in human.stdout
    assert "ember: error: could not list the models of" in human.stderr
    assert scripted.returncode == 1
    data = json.loads(scripted.stdout)
    assert "refused the API key (HTTP 401)" in data["endpoints"][0]["error"]
    assert "sk-wrong-key-123456" not in human.stdout + human.stderr + scripted.stdout


def test_models_exits_1_for_a_web_server_and_0_offline_or_when_listed(ember):
    with WebServer() as web:
        ember.env.update({"EMBER_PROVIDER": "openai", "EMBER_BASE_URL": web.base_url, "EMBER_MODEL": "m"})
        listed = ember("models", "--json")
        offline = ember("models", "--offline")
    assert listed.returncode == 1 and "HTML page" in json.loads(listed.stdout)["endpoints"][0]["error"]
    assert offline.returncode == 0, offline.stderr
    with FakeOpenAI(models=["fake-model"]) as fake:
        ember.point_at(fake)
        assert ember("models").returncode == 0


@pytest.mark.parametrize("name", ["core", "bad name!", "web"])
def test_mcp_add_with_a_bad_name_is_a_usage_error(ember, name):
    result = ember("mcp", "add", name, "--no-check", "--", "x")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("ember: error: MCP server name ")
    assert not (ember.home / "config.toml").exists()


def test_mcp_add_with_a_bad_url_is_a_usage_error(ember):
    result = ember("mcp", "add", "site", "--no-check", "--url", "ftp://example")
    assert result.returncode == 2 and "http:// or https://" in result.stderr


# --- session titles -------------------------------------------------------------------------------


def test_run_and_chat_sessions_get_titles(ember, fake):
    fake.add("Done.").add("Sure.")
    ember.point_at(fake)
    assert ember("run", "Rename every photo in the holiday folder by the date it was taken, please").returncode == 0
    assert ember("chat", input="What is my api_key=abc123secretvalue for?\n/exit\n").returncode == 0
    rows = ember.json("sessions", "list", "--json")
    titles = {row["source"]: row["title"] for row in rows}
    assert titles["run"] == "Rename every photo in the holiday folder by the date it was…"
    assert titles["cli"] == "What is my api_key=[REDACTED] for?"
    listed = ember("sessions", "list")
    assert "Rename every photo" in listed.stdout and "abc123secretvalue" not in listed.stdout


def test_a_title_from_anthropic_too(ember):
    with FakeAnthropic() as fake:
        fake.add("ok")
        ember.point_at(fake, provider="anthropic", EMBER_API_KEY="sk-ant-test-123456")
        assert ember("run", "Summarise today's mail").returncode == 0
    assert ember.json("sessions", "list", "--json")[0]["title"] == "Summarise today's mail"
