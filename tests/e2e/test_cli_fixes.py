"""CLI fixes, end to end through the real `ember` executable: non-streamed answers, `[agent] stream`
for `ember run`, setup's key question, session-id errors, export to a missing folder, Ctrl-C,
lazily stored chat sessions, `config show` TOML, `sessions list -n`, the history file's mode."""

from __future__ import annotations

import signal
import stat
import time
import tomllib

from tests.e2e.terminal import Terminal
from tests.fakes.openai_server import FakeOpenAI, Reply

NO_STREAM = "[agent]\nstream = false\n"
def _two_sessions(ember, fake) -> list[str]:
    fake.add("one")
    fake.add("two")
    ember.point_at(fake)
    first = ember.json("run", "--json", "first")["session_id"]
    second = ember.json("run", "--json", "second")["session_id"]
    assert first[:2] == second[:2] == "20"  # ids start with the year: "20" matches both
    return [first, second]


def _assert_usage_error(result, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "ember: error:" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


# --- 1. [agent] stream = false in chat --------------------------------------------------------


def test_chat_without_streaming_shows_the_answer_when_piped(ember, fake):
    ember.config(NO_STREAM)
    fake.add("The **whole** answer.")
    fake.add("Second answer.")
    ember.point_at(fake)
    result = ember("chat", input="hi\nagain\n/exit\n")
    assert result.returncode == 0, result.stderr
    assert "The **whole** answer." in result.stdout  # piped: plain Markdown text, once
    assert result.stdout.count("The **whole** answer.") == 1
    assert "Second answer." in result.stdout
    assert not fake.requests[0].get("stream")


def test_chat_without_streaming_renders_the_answer_in_a_terminal(ember, fake):
    ember.config(NO_STREAM)
    fake.add("Here is **bold news** for you")
    ember.point_at(fake)
    term = Terminal(ember.env, str(ember.workspace), "chat")
    term.read_until("Ctrl-D to quit")
    term.type("hello\r")
    term.read_until("bold news for you")  # rendered as Markdown: no asterisks
    term.read_until("›", after="bold news for you")
    term.type("\x04")
    assert term.close() == 0
    assert "**bold news**" not in term.screen
    assert not fake.requests[0].get("stream")


def test_chat_streaming_still_shows_the_answer_once(ember, fake):
    fake.add(Reply(text="streamed reply number " + "one two three " * 3, chunk_size=4))
    ember.point_at(fake)
    result = ember("chat", input="hi\n/exit\n")
    assert result.stdout.count("streamed reply number") == 1
    assert fake.requests[0]["stream"] is True


def test_chat_without_streaming_shows_the_answer_after_a_tool_call(ember):
    ember.config(NO_STREAM)
    script = [Reply(tool_calls=[{"name": "list_dir", "arguments": {"path": "."}}]), "Listed it all."]
    with FakeOpenAI(script) as fake:
        ember.point_at(fake)
        result = ember("chat", input="what is here?\n/exit\n")
    assert result.returncode == 0, result.stderr
    assert "list_dir" in result.stdout and "Listed it all." in result.stdout


# --- 2. `ember run` honours [agent] stream ------------------------------------------------------


def test_run_honours_stream_false_in_config_and_the_flag_overrides(ember, fake):
    ember.config(NO_STREAM)
    fake.add("plain answer")
    fake.add("streamed answer")
    ember.point_at(fake)
    result = ember("run", "x")
    assert result.returncode == 0 and result.stdout == "plain answer\n"
    assert not fake.requests[0].get("stream")
    forced = ember("run", "--stream", "y")
    assert forced.stdout == "streamed answer\n"
    assert fake.requests[1]["stream"] is True


def test_run_no_stream_flag_overrides_config_stream_true(ember, fake):
    ember.config("[agent]\nstream = true\n")
    fake.add("plain")
    ember.point_at(fake)
    assert ember("run", "--no-stream", "x").stdout == "plain\n"
    assert not fake.requests[0].get("stream")


def test_run_without_streaming_prints_the_answer_on_a_terminal(ember, fake):
    ember.config(NO_STREAM)
    fake.add("whole answer on a tty")
    ember.point_at(fake)
    term = Terminal(ember.env, str(ember.workspace), "run", "hi")
    term.read_until("whole answer on a tty")
    assert term.close() == 0
    assert term.screen.count("whole answer on a tty") == 1


def test_run_no_stream_flag_prints_the_answer_on_a_terminal(ember, fake):
    fake.add("flagged whole answer")
    ember.point_at(fake)
    term = Terminal(ember.env, str(ember.workspace), "run", "--no-stream", "hi")
    term.read_until("flagged whole answer")
    assert term.close() == 0
    assert term.screen.count("flagged whole answer") == 1


def test_run_streaming_on_a_terminal_prints_the_answer_once(ember, fake):
    fake.add(Reply(text="chunky answer " * 3, chunk_size=3))
    ember.point_at(fake)
    term = Terminal(ember.env, str(ember.workspace), "run", "hi")
    term.read_until("chunky answer chunky answer chunky answer")
    assert term.close() == 0
    assert term.screen.count("chunky answer chunky answer chunky answer") == 1


# --- 3. setup asks for a key only for hosted endpoints --------------------------------------------


def test_setup_with_a_local_server_asks_for_no_key(ember):
    with FakeOpenAI(models=["llama3"]) as fake:
        # no input at all: a question would meet end of file and abort
        result = ember("setup", "--provider", "openai", "--base-url", fake.base_url, "--model", "llama3", input="")
    assert result.returncode == 0, result.stderr
    assert "API key" not in result.stderr and "warning" not in result.stderr
    config = tomllib.loads((ember.home / "config.toml").read_text())
    assert config["model"] == {"provider": "openai", "base_url": fake.base_url, "model": "llama3"}
    assert not (ember.home / ".env").exists()


def _setup_answering_the_key(ember, answer: str, *args: str) -> tuple[int, str]:
    """`ember setup ARGS` in a terminal, typing ``answer`` at the key question; (exit code, screen)."""
    term = Terminal(ember.env, str(ember.workspace), "setup", *args)
    term.read_until("API key (Enter")
    term.type(answer + "\r")
    code = term.close()
    return code, term.screen


def test_setup_hosted_key_question_accepts_empty_input_and_warns(ember):
    code, screen = _setup_answering_the_key(ember, "", "--provider", "openai", "--model", "gpt-4o-mini")
    assert code == 0, screen
    assert screen.count("API key (Enter") == 1  # asked once, Enter accepted
    assert "warning" in screen and "EMBER_API_KEY" in screen and "OPENAI_API_KEY" in screen
    assert not (ember.home / ".env").exists()


def test_setup_hosted_key_question_stores_the_key(ember):
    code, screen = _setup_answering_the_key(ember, "sk-or-typed-key-1", "--provider", "openrouter",
                                            "--model", "some/model")
    assert code == 0, screen
    assert "sk-or-typed-key-1" in (ember.home / ".env").read_text()
    assert "sk-or-typed-key-1" not in screen  # typed hidden
    assert "warning" not in screen
    config = tomllib.loads((ember.home / "config.toml").read_text())
    assert config["model"]["base_url"] == "https://openrouter.ai/api/v1"


def test_setup_does_not_count_an_openai_key_for_another_host(ember):
    # OPENAI_API_KEY is never sent to OpenRouter (config), so setup must still ask for a key there.
    ember.env["OPENAI_API_KEY"] = "sk-openai-only-123"
    code, screen = _setup_answering_the_key(ember, "", "--provider", "openrouter", "--model", "some/model")
    assert code == 0, screen
    assert screen.count("API key (Enter") == 1
    assert "warning" in screen and "EMBER_API_KEY" in screen
    assert "OPENAI_API_KEY" not in screen


def test_setup_key_question_without_a_terminal_is_a_usage_error(ember):
    result = ember("setup", "--provider", "openrouter", "--model", "some/model", input="sk-or-piped-1\n")
    assert result.returncode == 2, result.stderr
    assert "stdin is not a terminal" in result.stderr and "--api-key" in result.stderr
    assert not (ember.home / "config.toml").exists()


def test_setup_anthropic_yes_without_a_key_warns_what_to_set(ember):
    result = ember("setup", "--provider", "anthropic", "--yes")
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr
    assert "EMBER_API_KEY" in result.stderr and "ANTHROPIC_API_KEY" in result.stderr
    assert str(ember.home / ".env") in result.stderr
    assert tomllib.loads((ember.home / "config.toml").read_text())["model"]["provider"] == "anthropic"


def test_setup_anthropic_yes_with_a_key_in_the_environment_does_not_warn(ember):
    ember.env["ANTHROPIC_API_KEY"] = "sk-ant-from-env-123"
    result = ember("setup", "--provider", "anthropic", "--yes")
    assert result.returncode == 0 and "warning" not in result.stderr


# --- 4. session-id prefixes: ambiguous or unknown is a usage error ----------------------------------


def test_ambiguous_session_prefix_is_a_usage_error_listing_the_matches(ember, fake):
    first, second = _two_sessions(ember, fake)
    _assert_usage_error(ember("run", "--session", "20", "hi"), first, second)
    _assert_usage_error(ember("chat", "--resume", "20", input="/exit\n"), first, second)
    _assert_usage_error(ember("sessions", "show", "20"), first, second)
    _assert_usage_error(ember("sessions", "export", "20"), first, second)
    _assert_usage_error(ember("sessions", "delete", "20", "--yes"), first, second)
    assert len(ember.json("sessions", "list", "--json")) == 2  # nothing deleted
    assert len(fake.requests) == 2  # and no model call made


def test_unknown_session_or_tool_is_a_usage_error(ember, fake):
    ember.point_at(fake)
    _assert_usage_error(ember("run", "--session", "nope", "hi"), "no session matches 'nope'", "sessions list")
    _assert_usage_error(ember("chat", "--resume", "nope", input="/exit\n"), "no session matches 'nope'")
    _assert_usage_error(ember("sessions", "show", "nope"), "no session matches 'nope'", "sessions list")
    _assert_usage_error(ember("tools", "show", "nope"), "no tool named 'nope'", "tools list")
    assert fake.requests == []


def test_chat_sessions_command_reports_errors_and_the_chat_goes_on(ember, fake):
    first, second = _two_sessions(ember, fake)
    fake.add("still here")
    result = ember("chat", input=f"/sessions 20\n/sessions nope\n/sessions {first}\nwhat now?\n/exit\n")
    assert result.returncode == 0, result.stderr
    assert "matches several sessions" in result.stdout and first in result.stdout and second in result.stdout
    assert "no session matches 'nope'" in result.stdout
    assert f"switched to {first}" in result.stdout
    assert "still here" in result.stdout
    # the message went to the session switched to
    shown = ember.json("sessions", "show", first, "--json")
    assert [m["content"] for m in shown["messages"]][-2:] == ["what now?", "still here"]


# --- 5. export to a folder that does not exist ---------------------------------------------------------


def test_export_to_a_missing_folder_is_a_clear_error(ember, fake):
    fake.add("answer")
    ember.point_at(fake)
    session_id = ember.json("run", "--json", "q")["session_id"]
    missing = ember.workspace / "no" / "such" / "dir"
    result = ember("sessions", "export", session_id, "-o", str(missing / "f.md"))
    _assert_usage_error(result, str(missing), "does not exist")
    assert not missing.exists()
    parent_is_file = ember.workspace / "a-file"
    parent_is_file.write_text("x")
    _assert_usage_error(ember("sessions", "export", session_id, "-o", str(parent_is_file / "f.md")), "not a folder")


# --- 6. Ctrl-C during `ember run` -------------------------------------------------------------------


def test_ctrl_c_during_run_says_cancelled(ember):
    with FakeOpenAI([Reply(text="partial " * 20, chunk_size=4, chunk_delay=0.02, hang=True)]) as fake:
        ember.point_at(fake)
        proc = ember.popen("run", "tell me a long story")
        deadline = time.time() + 10
        while not fake.requests and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.4)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert "ember: cancelled" in err
    assert "Traceback" not in err


def test_ctrl_c_while_a_tool_runs_says_cancelled(ember):
    marker = ember.workspace / "started"
    command = f"touch {marker}; sleep 30"
    with FakeOpenAI([Reply(tool_calls=[{"name": "shell", "arguments": {"command": command}}])]) as fake:
        ember.point_at(fake)
        proc = ember.popen("run", "--yes", "wait a while")
        deadline = time.time() + 10
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert "ember: cancelled" in err


# --- 7. chat stores a session at its first message -------------------------------------------------------


def test_chat_without_messages_stores_no_session(ember, fake):
    ember.point_at(fake)
    assert ember("chat", input="/usage\n/tools\n/new\n/exit\n").returncode == 0
    assert ember("chat", input="").returncode == 2  # no terminal and no message: a usage error
    assert ember.json("sessions", "list", "--json") == []
    assert fake.requests == []


def test_chat_new_starts_a_session_only_when_used(ember, fake):
    fake.add("first reply")
    fake.add("second reply")
    ember.point_at(fake)
    result = ember("chat", input="one\n/new\n/new\ntwo\n/new\n/exit\n")
    assert result.returncode == 0, result.stderr
    listed = ember.json("sessions", "list", "--json")
    assert [s["message_count"] for s in listed] == [2, 2]
    assert all(s["source"] == "cli" for s in listed)
    # the second session does not carry the first one's history
    assert "one" not in [m["content"] for m in fake.requests[1]["messages"]]


def test_resume_without_id_skips_empty_sessions(ember, fake):
    from ember.config import load_settings
    from ember.runtime import open_store

    fake.add("kept answer")
    ember.point_at(fake)
    kept = ember.json("run", "--json", "worth keeping")["session_id"]
    # an empty session newer than it (as older versions left behind on every `ember` start)
    store = open_store(load_settings(home=ember.home, env=ember.env))
    time.sleep(0.01)
    empty = store.create_session(source="cli").id
    store.close()
    assert ember.json("sessions", "list", "--json")[0]["id"] == empty
    resumed = ember("chat", "--resume", input="/exit\n")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed session {kept}" in resumed.stdout and "kept answer" in resumed.stdout


def test_resume_without_any_session_with_messages_is_an_error(ember, fake):
    ember.point_at(fake)
    _assert_usage_error(ember("chat", "--resume", input="/exit\n"), "no stored session")


# --- 8. config show is TOML -------------------------------------------------------------------------------


def test_config_show_is_toml_with_quoted_keys_and_unescaped_masks(ember):
    ember.config('[prices."openai/gpt-4o-mini"]\ninput = 0.15\noutput = 0.6\n\n[models."fast.one"]\nmodel = "m"\n')
    (ember.home / ".env").write_text("EMBER_API_KEY=sk-very-secret-abcdef123\n")
    result = ember("config", "show")
    assert result.returncode == 0, result.stderr
    assert '[prices."openai/gpt-4o-mini"]' in result.stdout
    assert '[models."fast.one"]' in result.stdout
    assert '"sk-…23"' in result.stdout and "\\u2026" not in result.stdout
    assert "sk-very-secret-abcdef123" not in result.stdout
    data = tomllib.loads(result.stdout)
    assert data["prices"]["openai/gpt-4o-mini"] == {"input": 0.15, "output": 0.6}
    assert data["models"]["fast.one"]["model"] == "m"


# --- 9. sessions list -n ------------------------------------------------------------------------------------


def test_sessions_list_rejects_a_limit_below_one(ember, fake):
    fake.add("a")
    fake.add("b")
    ember.point_at(fake)
    ember("run", "x")
    ember("run", "y")
    for bad in ("-5", "0"):
        result = ember("sessions", "list", "-n", bad)
        assert result.returncode == 2 and "-n" in result.stderr, result.stderr
        assert result.stdout == ""
    assert len(ember.json("sessions", "list", "-n", "1", "--json")) == 1


# --- 10. the chat history file is private ---------------------------------------------------------------------


def test_chat_history_file_is_created_private(ember, fake):
    fake.add("noted")
    ember.point_at(fake)
    term = Terminal(ember.env, str(ember.workspace), "chat")
    term.read_until("Ctrl-D to quit")
    term.type("my secret plans\r")
    term.read_until("noted")
    term.read_until("›", after="noted")
    term.type("\x04")
    assert term.close() == 0
    history = ember.home / "history"
    assert "my secret plans" in history.read_text()
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


def test_chat_makes_an_existing_history_file_private(ember, fake):
    history = ember.home / "history"
    history.write_text("\n# 2020-01-01 00:00:00.000000\n+old line\n")
    history.chmod(0o644)
    ember.point_at(fake)
    term = Terminal(ember.env, str(ember.workspace), "chat")
    term.read_until("Ctrl-D to quit")
    term.read_until("›")
    term.type("\x04")
    assert term.close() == 0
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert "+old line" in history.read_text()
