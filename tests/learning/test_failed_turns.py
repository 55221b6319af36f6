"""Turns that end without an answer (step limit, provider failure, cancel) are episodes too.

The real Agent, store and learner against the fake OpenAI server; the `ember run` tests run the
real executable, to show that recording the failure changes neither the error nor the exit code.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ember.agent.events import ToolFinished
from ember.agent.loop import StepLimitReached
from ember.memory import episodes, lessons
from ember.memory.learning.prompts import LESSON_TAG
from ember.memory.skills import library as skills
from ember.models.base import ProviderError, ServerError
from ember.store.sqlite.store import open_store
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.learning.scenarios import ClassifierModel, LearningModel, call, system_of, turn_of

EMBER = str(Path(sys.executable).parent / "ember")
LEAKED = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234"  # a key-shaped string an upstream echoed in its error


class Explorer(LearningModel):
    """Never answers: lists, reads and greps for ever (a task the step limit stops)."""

    lesson = "RULE: When counting lines, use wc -l on the right file name, not a guess.\nKEYWORDS: count lines file"

    def agent(self, request, system):
        done = len([m for m in turn_of(request) if m["role"] == "tool"])
        return [call("list_dir", path="."), call("read_file", path="missing.txt"),
                call("shell", command="grep -c . notes.txt")][done % 3]


def failed_episode(runtime, session):
    assert runtime.learning.wait(10)
    episode = episodes.latest(runtime.store, session)
    assert episode is not None
    return episode


def test_a_step_limit_turn_records_a_failure_episode_with_its_tool_calls(make_runtime, fake, workspace):
    (workspace / "notes.txt").write_text("a\nb\n")
    model = Explorer()
    fake.responder = model
    runtime = make_runtime()
    runtime.settings.agent.max_steps = 6
    lesson, _ = lessons.add(runtime.store, "When exploring notes files, count their lines with grep first.",
                            "explore notes files count lines")
    session = runtime.agent.new_session()
    with pytest.raises(StepLimitReached, match="stopped after 6 model calls"):
        runtime.agent.ask(session, "Explore the notes files and count their lines")
    episode = failed_episode(runtime, session)
    assert episode.outcome == "failure" and episode.answer == ""
    assert episode.error.startswith("StepLimitReached: stopped after 6 model calls")
    assert [s.tool for s in episode.steps] == ["list_dir", "read_file", "shell"] * 2
    assert [s.ok for s in episode.steps[:3]] == [True, False, True]
    assert "missing.txt" in episode.steps[1].result and "2" in episode.steps[2].result
    assert episode.errors[-1] == episode.error and "read_file: " in episode.errors[0]
    assert episode.model_calls == 6 and episode.tool_calls == 6
    usage = runtime.store.usage_totals(session)
    assert (episode.input_tokens, episode.output_tokens) == (usage.input_tokens, usage.output_tokens) != (0, 0)
    # the lesson in the prompt was used and did not help; nothing was learned, no skill from 6 tool calls
    assert episode.lessons_used == [lesson.id]
    after = lessons.get(runtime.store, lesson.id)
    assert (after.uses, after.successes) == (1, 0)
    assert model.learning_requests == []
    assert skills.list_skills(runtime.settings.home) == []
    hit = episodes.search(runtime.store, "notes files")[0][0]
    assert "✗ failure: StepLimitReached" in hit.summary


def test_a_provider_failure_records_a_failure_episode_with_a_redacted_error(make_runtime, fake):
    fake.add(tool_calls=[{"name": "write_file", "arguments": {"path": "a.txt", "content": "hi"}}])
    fake.add(Reply.fail(500, f"upstream exploded, key {LEAKED} password=hunter2hunter2"))
    runtime = make_runtime()
    session = runtime.agent.new_session()
    with pytest.raises(ServerError) as raised:
        runtime.agent.ask(session, "write a.txt")
    assert LEAKED in str(raised.value)  # the user sees the provider's error as it was
    episode = failed_episode(runtime, session)
    assert episode.outcome == "failure" and episode.answer == ""
    assert [(s.tool, s.ok) for s in episode.steps] == [("write_file", True)]
    assert episode.model_calls == 1
    assert episode.error.startswith("ServerError: ") and "HTTP 500" in episode.error
    assert "[REDACTED]" in episode.error
    stored = json.dumps([dict(r) for r in runtime.store._read("SELECT * FROM episodes")])
    assert "ABCDEFGHIJKLMNOP" not in stored and "hunter2" not in stored
    assert len(fake.requests) == 2  # recording the failure asked no model


def test_a_broken_failure_listener_never_replaces_the_turn_error(make_runtime, fake):
    fake.responder = Explorer()
    runtime = make_runtime()
    runtime.settings.agent.max_steps = 1

    def broken(*args):
        raise RuntimeError("listener bug")

    runtime.agent.failure_listeners.insert(0, broken)
    session = runtime.agent.new_session()
    with pytest.raises(StepLimitReached):
        runtime.agent.ask(session, "explore")
    assert failed_episode(runtime, session).outcome == "failure"  # the listeners after it still ran


def test_an_unreachable_endpoint_records_a_failure_episode(make_runtime, monkeypatch):
    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("EMBER_BASE_URL", f"http://127.0.0.1:{port}/v1")
    runtime = make_runtime()
    session = runtime.agent.new_session()
    with pytest.raises(ProviderError, match="cannot connect"):
        runtime.agent.ask(session, "hello?")
    episode = failed_episode(runtime, session)
    assert episode.outcome == "failure" and episode.steps == [] and episode.model_calls == 0
    assert "cannot connect" in episode.error


def test_a_turn_stopped_by_its_consumer_is_a_cancelled_episode(make_runtime, fake):
    fake.add(tool_calls=[{"name": "list_dir", "arguments": {"path": "."}}])
    runtime = make_runtime()
    session = runtime.agent.new_session()
    turn = runtime.agent.run(session, "list the files, slowly")
    for event in turn:
        if isinstance(event, ToolFinished):
            break  # e.g. Ctrl-C while the CLI renders an event: the generator is closed there
    turn.close()
    episode = failed_episode(runtime, session)
    assert episode.outcome == "cancelled" and episode.error == "cancelled before the answer"
    assert [(s.tool, s.ok) for s in episode.steps] == [("list_dir", True)]
    assert episodes.outcome_counts(runtime.store)["cancelled"] == 1


class Counter(LearningModel):
    """Counts the lines of data.txt: guesses the file name wrong until ``fixed``, then gets it right."""

    lesson = "RULE: When counting the lines of a file, check its exact name first, not guess it.\nKEYWORDS: count lines file"

    def __init__(self):
        super().__init__()
        self.fixed = False
        self.lesson_facts: list[str] = []

    def learn(self, tag, request):
        self.lesson_facts.append(request["messages"][1]["content"])
        return super().learn(tag, request)

    def agent(self, request, system):
        done = [m for m in turn_of(request) if m["role"] == "tool"]
        if not self.fixed:
            return [call("shell", command="wc -l data.tx"), call("read_file", path="data.tx")][len(done) % 2]
        if not done:
            return call("shell", command="wc -l data.txt")
        return Reply(text=f"data.txt has {done[-1]['content'].split()[0]} lines.")


def test_a_failed_turn_then_a_working_retry_is_a_failure_followed_by_a_fix(make_runtime, fake, workspace):
    (workspace / "data.txt").write_text("1\n2\n3\n")
    model = Counter()
    fake.responder = model
    runtime = make_runtime()
    runtime.settings.agent.max_steps = 2
    task = "How many lines does data.txt have?"
    first = runtime.agent.new_session()
    with pytest.raises(StepLimitReached):
        runtime.agent.ask(first, task)
    failed = failed_episode(runtime, first)
    assert failed.outcome == "failure" and [s.ok for s in failed.steps] == [False, False]
    assert model.learning_requests == []  # nothing is learned from the failure alone

    model.fixed = True
    runtime.settings.agent.max_steps = 5
    retry = runtime.agent.new_session()  # a new `ember run`: another session
    assert runtime.agent.ask(retry, task).answer == "data.txt has 3 lines."
    assert runtime.learning.wait(10)
    fixed = episodes.latest(runtime.store, retry)
    assert fixed.outcome == "success"
    assert model.learning_requests == [LESSON_TAG]
    assert "wc -l data.tx\"" in model.lesson_facts[0] and "wc -l data.txt" in model.lesson_facts[0]
    [lesson] = lessons.list_lessons(runtime.store)
    assert lesson.kind == "failure" and lesson.episode_id == fixed.id and "exact name" in lesson.rule


def test_a_correction_whose_turn_failed_still_corrects_the_answer_when_resent(make_runtime, fake):
    fake.responder = ClassifierModel()
    runtime = make_runtime()
    session = runtime.agent.new_session()
    task = "Classify the severity of issue #12: 'Typo in the README footer'."
    correction = "No, classify it as low severity, not high: documentation typos are minor."
    assert runtime.agent.ask(session, task).answer == "Severity: high"
    assert runtime.learning.wait(10)
    fake.add(Reply.fail(503, "overloaded"))
    with pytest.raises(ServerError):
        runtime.agent.ask(session, correction)
    assert runtime.learning.wait(10)
    runtime.agent.ask(session, correction)
    assert runtime.learning.wait(10)
    outcomes = [(e.task, e.outcome) for e in reversed(episodes.recent(runtime.store))]
    assert outcomes == [(task, "corrected"), (correction, "failure"), (correction, "success")]
    assert "classify it as low, not high" in lessons.list_lessons(runtime.store)[0].rule


# --- `ember run`: the same error and exit code as before, and the episode on disk -----------------


def ember_run(fake, home: Path, workspace: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "EMBER_HOME": str(home), "EMBER_WORKSPACE": str(workspace), "EMBER_PROVIDER": "openai",
                "EMBER_BASE_URL": fake.base_url, "EMBER_MODEL": "fake-model", "NO_COLOR": "1", **env}
    return subprocess.run([EMBER, "run", *args], env=full_env, capture_output=True, text=True, timeout=60,
                          cwd=workspace)


def stored_episodes(home: Path) -> list[episodes.Episode]:
    with open_store(home / "ember.db") as store:
        return list(reversed(episodes.recent(store)))


def test_ember_run_exit_codes_are_unchanged_and_the_failures_are_recorded(ember_home, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (ember_home / "config.toml").write_text("retries = 0\n")
    with FakeOpenAI(responder=Explorer()) as fake:
        result = ember_run(fake, ember_home, workspace, "--max-steps", "2", "explore")
        assert result.returncode == 4, result.stderr
        assert "stopped after 2 model calls" in result.stderr and result.stdout == ""
    with FakeOpenAI([Reply.fail(500, f"boom {LEAKED}")]) as fake:
        result = ember_run(fake, ember_home, workspace, "hello")
        assert result.returncode == 1, result.stderr
        assert "HTTP 500" in result.stderr and "Traceback" not in result.stderr
    limit, provider = stored_episodes(ember_home)
    assert (limit.task, limit.outcome, limit.model_calls) == ("explore", "failure", 2)
    assert [s.tool for s in limit.steps] == ["list_dir", "read_file"]
    assert (provider.task, provider.outcome) == ("hello", "failure") and "HTTP 500" in provider.error
    assert LEAKED not in provider.error


def test_ember_run_cancelled_with_sigint_exits_130_and_records_a_cancelled_episode(ember_home, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    env = {**os.environ, "EMBER_HOME": str(ember_home), "EMBER_WORKSPACE": str(workspace), "EMBER_PROVIDER": "openai",
           "EMBER_MODEL": "fake-model", "NO_COLOR": "1"}
    with FakeOpenAI([Reply(text="partial " * 20, chunk_size=4, chunk_delay=0.02, hang=True)]) as fake:
        env["EMBER_BASE_URL"] = fake.base_url
        proc = subprocess.Popen([EMBER, "run", "tell me a long story"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=workspace)
        deadline = time.time() + 10
        while not fake.requests and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, err
    [episode] = stored_episodes(ember_home)
    assert (episode.task, episode.outcome, episode.error) == ("tell me a long story", "cancelled",
                                                              "cancelled before the answer")
    assert not any(system_of(r).startswith("Ember learning task") for r in fake.requests)
