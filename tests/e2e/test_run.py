"""`ember run` end to end: the real executable against a fake OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.fakes.openai_server import FakeOpenAI, Reply


def test_one_shot_answer_only_on_stdout(ember, fake):
    fake.add("The answer is 4.")
    ember.point_at(fake)
    result = ember("run", "what is 2+2?")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The answer is 4.\n"
    request = fake.requests[0]
    assert request["stream"] is True
    assert request["messages"][-1] == {"role": "user", "content": "what is 2+2?"}
    assert request["messages"][0]["role"] == "system"


def test_json_output_shape(ember, fake):
    fake.add(Reply(text="hi there", usage=(50, 3)))
    ember.point_at(fake)
    data = ember.json("run", "--json", "hello")
    assert set(data) == {"answer", "session_id", "model", "usage", "tool_calls", "notices"}
    assert data["notices"] == []
    assert data["answer"] == "hi there"
    assert data["model"] == "fake-model"
    assert data["usage"]["input_tokens"] == 50 and data["usage"]["output_tokens"] == 3
    assert data["tool_calls"] == []
    shown = ember.json("sessions", "show", data["session_id"], "--json")
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant"]


def _echo_last_tool_result(request):
    tool_messages = [m for m in request["messages"] if m["role"] == "tool"]
    return Reply(text=f"The program printed: {tool_messages[-1]['content'].strip()}")


def test_multi_step_tool_loop_writes_runs_and_answers(ember):
    script = [
        Reply(tool_calls=[{"name": "write_file", "arguments": {"path": "hello.py", "content": "print(6 * 7)\n"}}]),
        Reply(tool_calls=[{"name": "shell", "arguments": {"command": "python3 hello.py"}}]),
    ]
    with FakeOpenAI(script, responder=_echo_last_tool_result) as fake:
        ember.point_at(fake)
        data = ember.json("run", "--json", "write hello.py that prints 6*7 and run it")
    assert (ember.workspace / "hello.py").read_text() == "print(6 * 7)\n"
    assert "42" in data["answer"]
    assert [c["name"] for c in data["tool_calls"]] == ["write_file", "shell"]
    assert all(not c["is_error"] for c in data["tool_calls"])
    # the tool result really reached the model, paired with its call id
    last = fake.requests[-1]["messages"]
    tool_msg = [m for m in last if m["role"] == "tool"][-1]
    assert "42" in tool_msg["content"] and tool_msg["tool_call_id"]


def test_streaming_without_tty_prints_the_final_answer_once(ember, fake):
    fake.add(Reply(text="streamed " * 20, chunk_size=5))
    ember.point_at(fake)
    result = ember("run", "stream please")
    assert result.returncode == 0
    assert result.stdout == ("streamed " * 20).rstrip() + "\n"


def test_no_stream_flag_sends_a_plain_request(ember, fake):
    fake.add("plain")
    ember.point_at(fake)
    assert ember("run", "--no-stream", "x").stdout == "plain\n"
    assert not fake.requests[0].get("stream")


def test_hermes_provider_runs_text_tool_calls(ember):
    script = [
        Reply(reasoning="I should list files", tool_calls=[{"name": "list_dir", "arguments": {"path": "."}}],
              as_text=True),
    ]

    def answer(request):
        return Reply(text="Done: " + request["messages"][-1]["content"][:60], as_text=True)

    with FakeOpenAI(script, responder=answer) as fake:
        (ember.workspace / "marker.txt").write_text("x")
        ember.point_at(fake, provider="hermes")
        result = ember("run", "what files are here?")
    assert result.returncode == 0, result.stderr
    assert "<tool_call>" not in result.stdout and "<think>" not in result.stdout
    first = fake.requests[0]
    assert "tools" not in first
    assert "<tools>" in first["messages"][0]["content"]
    follow_up = fake.requests[1]["messages"]
    assert any("<tool_response>" in m["content"] and "marker.txt" in m["content"] for m in follow_up)


def test_openai_provider_rescues_tool_calls_written_as_text(ember):
    script = [Reply(tool_calls=[{"name": "shell", "arguments": {"command": "echo rescued-$((40+2))"}}], as_text=True)]
    with FakeOpenAI(script, responder=_echo_last_tool_result) as fake:
        ember.point_at(fake)
        data = ember.json("run", "--json", "run it")
    assert data["tool_calls"][0]["name"] == "shell"
    assert "rescued-42" in data["answer"]


def test_malformed_tool_call_goes_back_to_the_model(ember):
    script = [
        Reply(tool_calls=[{"name": "read_file", "arguments": "{'path': 'nothere.txt',}"}]),
        Reply(tool_calls=[{"name": "no_such_tool", "arguments": {}}]),
        Reply(tool_calls=[{"name": "read_file", "arguments": {}}]),
        Reply(text="I give up politely."),
    ]
    with FakeOpenAI(script) as fake:
        ember.point_at(fake)
        result = ember("run", "--json", "read it")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"] == "I give up politely."
    tool_results = [m for m in fake.requests[-1]["messages"] if m["role"] == "tool"]
    assert len(tool_results) == 3
    assert "nothere.txt" in tool_results[0]["content"]  # repaired call ran: file not found
    assert "no_such_tool" in tool_results[1]["content"]
    assert "path" in tool_results[2]["content"]  # missing required argument named


def test_endpoint_down_exits_non_zero_with_a_hint(ember):
    ember.env.update({"EMBER_PROVIDER": "openai", "EMBER_BASE_URL": "http://127.0.0.1:9/v1"})
    ember.config("retries = 0\n")
    result = ember("run", "hello")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "127.0.0.1:9" in result.stderr


def test_auth_error_exit_code_and_no_secret_in_output(ember):
    with FakeOpenAI(api_key="sk-right-key-0000") as fake:
        ember.point_at(fake, EMBER_API_KEY="sk-wrong-key-123456")
        result = ember("run", "hello")
    assert result.returncode == 1
    assert "sk-wrong-key-123456" not in result.stderr + result.stdout
    assert "401" in result.stderr or "auth" in result.stderr.lower() or "key" in result.stderr.lower()


def test_step_limit_exit_code(ember):
    loop_forever = Reply(tool_calls=[{"name": "list_dir", "arguments": {"path": "."}}])
    with FakeOpenAI(responder=lambda request: loop_forever) as fake:
        ember.point_at(fake)
        result = ember("run", "--max-steps", "3", "loop")
        assert len(fake.requests) == 3
    assert result.returncode == 4
    assert "max_steps" in result.stderr


def test_malformed_config_exit_code(ember, fake):
    ember.point_at(fake)
    ember.config("[model\n")
    result = ember("run", "hello")
    assert result.returncode == 2
    assert "config.toml" in result.stderr and "line 1" in result.stderr


def test_corrupt_database_refused_and_untouched(ember, fake):
    ember.point_at(fake)
    db = ember.home / "ember.db"
    db.write_bytes(b"this is not a database at all" * 100)
    before = db.read_bytes()
    result = ember("run", "hello")
    assert result.returncode == 3
    assert str(db) in result.stderr
    assert db.read_bytes() == before


def test_fallback_to_the_next_model(ember):
    with FakeOpenAI(responder=lambda r: Reply.fail(503, "overloaded")) as broken, FakeOpenAI() as backup:
        backup.add("from the backup")
        ember.point_at(broken)
        ember.config(f'retries = 0\n[models.backup]\nprovider = "openai"\nbase_url = "{backup.base_url}"\n'
                     'model = "backup-model"\n[routes]\nfallback = ["backup"]\n')
        data = ember.json("run", "--json", "hello")
    assert data["answer"] == "from the backup"
    assert data["model"] == "backup-model"


def test_dangerous_command_refused_without_yes_and_run_with_it(ember):
    target = ember.workspace.parent / "precious"  # outside the workspace: leaving the sandbox asks
    target.mkdir()
    call = Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rm -rf {target}"}}])
    with FakeOpenAI([call], responder=_echo_last_tool_result) as fake:
        ember.point_at(fake)
        result = ember("run", "--json", "clean up")
    assert result.returncode == 5
    assert "needed approval" in result.stderr and "--yes" in result.stderr
    refused = json.loads(result.stdout)
    assert target.exists()
    assert refused["tool_calls"][0]["is_error"]
    assert "--yes" in refused["answer"]
    with FakeOpenAI([call], responder=_echo_last_tool_result) as fake:
        ember.point_at(fake)
        ember.json("run", "--json", "--yes", "clean up")
    assert not target.exists()


def test_secrets_never_reach_the_model(ember):
    secret = "sk-live-SECRETVALUE-987654321"
    (ember.home / ".env").write_text(f"EMBER_API_KEY={secret}\n")
    (ember.workspace / "leak.txt").write_text(f"the key is {secret}\n")
    script = [Reply(tool_calls=[{"name": "read_file", "arguments": {"path": "leak.txt"}}]), Reply(text="ok")]
    with FakeOpenAI(script) as fake:
        ember.point_at(fake)
        assert ember("run", "read leak.txt").returncode == 0
    bodies = json.dumps([r.body for r in fake.requests])
    assert secret not in bodies
    assert fake.requests[0].headers["authorization"] == f"Bearer {secret}"


def test_continue_a_session(ember, fake):
    fake.add("first answer")
    fake.add("second answer")
    ember.point_at(fake)
    first = ember.json("run", "--json", "remember the number 7")
    ember("run", "--session", first["session_id"][:12], "what number?")
    contents = [m["content"] for m in fake.requests[1]["messages"]]
    assert "remember the number 7" in contents and "first answer" in contents


def test_cancel_with_sigint_stores_what_happened(ember):
    with FakeOpenAI([Reply(text="partial answer " * 5, chunk_size=4, chunk_delay=0.02, hang=True)]) as fake:
        ember.point_at(fake)
        proc = ember.popen("run", "--json", "tell me a long story")
        deadline = time.time() + 10
        while not fake.requests and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.4)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    sessions = ember.json("sessions", "list", "--json")
    shown = ember.json("sessions", "show", sessions[0]["id"], "--json")
    assert shown["messages"][0]["content"] == "tell me a long story"
    assert "cancelled" in shown["messages"][-1]["content"]
    assert "partial answer" in shown["messages"][-1]["content"]


def test_kill_9_mid_turn_loses_nothing_already_said(ember):
    script = [
        Reply(tool_calls=[{"name": "shell", "arguments": {"command": "echo step-one-done"}}]),
        Reply(text="never finished", hang=True),
    ]
    with FakeOpenAI(script) as fake:
        ember.point_at(fake)
        proc = ember.popen("run", "do two things")
        deadline = time.time() + 10
        while len(fake.requests) < 2 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    sessions = ember.json("sessions", "list", "--json")
    shown = ember.json("sessions", "show", sessions[0]["id"], "--json")
    roles = [m["role"] for m in shown["messages"]]
    assert roles == ["user", "assistant", "tool"]
    assert "step-one-done" in shown["messages"][2]["content"]
    # and the interrupted session can be continued: the history is repaired and resent
    with FakeOpenAI(["continuing"]) as fake:
        ember.point_at(fake)
        result = ember("run", "--session", sessions[0]["id"], "go on")
    assert result.stdout == "continuing\n"


def test_sigint_stops_a_running_command_and_its_children(ember):
    marker = ember.workspace / "pids"
    command = f"sleep 30.91 & echo started > {marker}; sleep 30"
    with FakeOpenAI([Reply(tool_calls=[{"name": "shell", "arguments": {"command": command}}])]) as fake:
        ember.point_at(fake)
        proc = ember.popen("run", "wait a while")
        deadline = time.time() + 10
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        started = time.time()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert time.time() - started < 5
    from tests.tools.conftest import pids_running, wait_until

    # Found by its distinctive argument: inside the sandbox's pid namespace `$!` is not a host pid.
    if not wait_until(lambda: not pids_running("sleep 30.91"), 3):
        pytest.fail("the background child of the cancelled command is still running")
    shown = ember.json("sessions", "show", ember.json("sessions", "list", "--json")[0]["id"], "--json")
    assert shown["messages"][-1]["role"] == "tool" and "cancelled" in shown["messages"][-1]["content"]


def test_missing_api_key_is_a_clear_error_before_any_request(ember):
    ember.env["EMBER_PROVIDER"] = "anthropic"
    result = ember("run", "hello")
    assert result.returncode == 2  # a configuration error (docs/cli.md), found before any request
    assert "needs an API key" in result.stderr and "EMBER_API_KEY" in result.stderr
