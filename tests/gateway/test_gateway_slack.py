"""The gateway over Slack, in one process: the real Gateway, Agent, store and Slack channel, a fake
Slack (Web API and Socket Mode) and a scripted fake model. What a person sees in the chat."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

pytest.importorskip("websockets", reason="the gateway extra is not installed")

from ember.config import load_settings  # noqa: E402
from ember.gateway.channels import (
    build_channels,  # noqa: E402
    gateway_config,  # noqa: E402
)
from ember.gateway.service import Gateway  # noqa: E402
from ember.runtime import build_runtime  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Reply  # noqa: E402
from tests.fakes.slack_server import FakeSlack  # noqa: E402

OWNER, OTHER, STRANGER = "U0OWNER1", "U0OTHER2", "U0STRANGE"


def last_user_text(request) -> str:
    users = [m["content"] for m in request["messages"] if m["role"] == "user" and isinstance(m["content"], str)]
    return users[-1] if users else ""


def tool_results(request) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def start(ember_home, monkeypatch, slack):
    """start(responder) -> a running Gateway over the fake Slack, stopped after the test."""
    running = []

    def _start(responder, **config: object) -> tuple[Gateway, FakeOpenAI]:
        model = FakeOpenAI(responder=responder).__enter__()
        running.append(model)
        monkeypatch.setenv("EMBER_BASE_URL", model.base_url)
        monkeypatch.setenv("EMBER_MODEL", "fake-model")
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.bot_token)
        monkeypatch.setenv("SLACK_APP_TOKEN", slack.app_token)
        monkeypatch.setenv("EMBER_SLACK_API_BASE", slack.api_base)
        monkeypatch.setenv("EMBER_SLACK_ALLOW", f"{OWNER},{OTHER}")
        monkeypatch.delenv("EMBER_WORKSPACE", raising=False)
        lines = ["[gateway]", *(f"{k} = {v}" for k, v in config.items()), "[memory]", "learning = false"]
        (ember_home / "config.toml").write_text("\n".join(lines) + "\n")
        settings = load_settings()
        config_ = gateway_config(settings)
        runtime = build_runtime(settings, interactive=False)
        gateway = Gateway(runtime, config_, build_channels(config_, runtime.store, settings.workspace_dir / "incoming"))
        gateway.start()
        slack.wait_connected(1)
        running.append(gateway)
        return gateway, model

    yield _start
    for thing in reversed(running):
        if isinstance(thing, Gateway):
            thing.stop()
            thing.runtime.close()
        else:
            thing.__exit__(None, None, None)


def posts_in(slack: FakeSlack, channel: str) -> list[dict]:
    with slack.lock:
        return [p for p in slack.posted if p.get("channel") == channel]


def wait_posts(slack: FakeSlack, channel: str, count: int, timeout: float = 15.0) -> list[dict]:
    slack.wait_for(lambda: len(posts_in(slack, channel)) >= count, timeout, f"{count} post(s) in {channel}")
    return posts_in(slack, channel)


def test_a_dm_is_answered_in_the_same_chat_and_a_mention_in_its_thread(start, slack):
    gateway, model = start(lambda request: Reply(text=f"you said: {last_user_text(request)}"))
    dm = slack.add_dm(OWNER)
    slack.user_says(dm, OWNER, "hello there")
    (reply,) = wait_posts(slack, dm, 1)
    assert reply["text"] == "you said: hello there"
    team = slack.add_channel("team")
    asked = slack.mention(team, OTHER, "status please")
    (threaded,) = wait_posts(slack, team, 1)
    assert threaded["text"] == "you said: status please" and threaded["thread_ts"] == asked["ts"]
    # recorded as delivered the moment Slack's ack (the ts) arrives
    slack.wait_for(lambda: gateway.status()["outbox"]["slack"]["delivered"] == 2, 5, "two acknowledged sends")
    assert gateway.status()["channels"][0]["connected"]


def test_a_stranger_is_refused_once_without_a_model_call_and_pairing_lets_them_in(start, slack):
    gateway, model = start(lambda request: Reply(text="hello, new friend"))
    dm = slack.add_dm(STRANGER)
    slack.user_says(dm, STRANGER, "let me in")
    slack.user_says(dm, STRANGER, "please?")
    (refusal,) = wait_posts(slack, dm, 1)
    time.sleep(0.5)
    assert "only answer people I know" in refusal["text"] and len(posts_in(slack, dm)) == 1
    assert model.requests == []
    code = gateway.ledger.new_pairing_code()
    slack.user_says(dm, STRANGER, code)
    paired = wait_posts(slack, dm, 2)[-1]
    assert paired["text"].startswith("Paired")
    slack.user_says(dm, STRANGER, "now?")
    assert wait_posts(slack, dm, 3)[-1]["text"] == "hello, new friend"
    assert not gateway.ledger.use_pairing_code(code, "slack:U0SOMEONE")  # one time only


def test_approval_is_asked_in_the_chat_and_only_the_asker_can_answer(start, slack, tmp_path):
    victim = tmp_path / "outside-dir"
    victim.mkdir()

    def responder(request):
        results = tool_results(request)
        if not results:
            return Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rm -rf {victim}"}}])
        return Reply(text=f"tool said: {results[-1][:80]}")

    gateway, model = start(responder)
    team = slack.add_channel("team")
    slack.mention(team, OWNER, "clean up the old dir")
    (question,) = wait_posts(slack, team, 1)
    assert "Approval needed" in question["text"] and question["blocks"]
    slack.click(question, OTHER, "once")  # not the person whose turn it is: ignored
    time.sleep(0.5)
    assert victim.exists() and len(posts_in(slack, team)) == 1
    slack.click(question, OWNER, "deny")
    answer = wait_posts(slack, team, 2)[-1]
    assert "The user refused" in answer["text"] and victim.exists()


def test_an_approval_nobody_answers_times_out_as_refused(start, slack, tmp_path):
    victim = tmp_path / "outside-dir"
    victim.mkdir()

    def responder(request):
        results = tool_results(request)
        if not results:
            return Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rm -rf {victim}"}}])
        return Reply(text=f"tool said: {results[-1][:60]}")

    start(responder, approval_timeout=1)
    dm = slack.add_dm(OWNER)
    slack.user_says(dm, OWNER, "clean up")
    posts = wait_posts(slack, dm, 3)
    assert "No answer within" in posts[1]["text"] and "refused" in posts[2]["text"] and victim.exists()


def test_a_question_is_answered_by_the_next_message(start, slack):
    def responder(request):
        results = tool_results(request)
        if not results:
            return Reply(tool_calls=[{"name": "clarify", "arguments": {"question": "Which colour?",
                                                                        "options": ["red", "blue"]}}])
        return Reply(text=f"noted: {results[-1]}")

    start(responder)
    dm = slack.add_dm(OWNER)
    slack.user_says(dm, OWNER, "paint it")
    (question,) = wait_posts(slack, dm, 1)
    assert "Which colour?" in question["text"] and "2. blue" in question["text"]
    slack.user_says(dm, OWNER, "2")
    assert wait_posts(slack, dm, 2)[-1]["text"] == "noted: The user answered: blue"


def test_stop_cancels_the_running_turn_and_new_starts_fresh(start, slack):
    def responder(request):
        if "slow" in last_user_text(request):
            return Reply(text="x" * 400, chunk_delay=0.05, hang=True)
        return Reply(text=f"history has {sum(m['role'] == 'user' for m in request['messages'])} message(s)")

    gateway, _ = start(responder)
    dm = slack.add_dm(OWNER)
    slack.user_says(dm, OWNER, "do something slow")
    slack.wait_for(lambda: gateway.running, 10, "a running turn")
    slack.command(dm, OWNER, "stop")
    posts = wait_posts(slack, dm, 2)
    assert {p["text"] for p in posts} == {"Stopping.", "Stopped."}
    slack.user_says(dm, OWNER, "count")
    assert wait_posts(slack, dm, 3)[-1]["text"] == "history has 2 message(s)"
    slack.command(dm, OWNER, "new")
    assert wait_posts(slack, dm, 4)[-1]["text"] == "Started a fresh conversation."
    slack.user_says(dm, OWNER, "count")
    assert wait_posts(slack, dm, 5)[-1]["text"] == "history has 1 message(s)"


def test_a_file_is_saved_in_the_workspace_and_named_to_the_model(start, slack, ember_home):
    gateway, model = start(lambda request: Reply(text="got it"))
    dm = slack.add_dm(OWNER)
    slack.user_says(dm, OWNER, "here is the log", files=[slack.add_file("build.log", b"error: it broke\n")])
    wait_posts(slack, dm, 1)
    text = last_user_text(model.requests[-1])
    assert "[file received: incoming/" in text
    saved = text.split("[file received: ")[1].split("]")[0]
    assert (gateway.runtime.settings.workspace_dir / saved).read_bytes() == b"error: it broke\n"


def test_a_failing_model_is_told_to_the_person(start, slack):
    start(lambda request: Reply.fail(400, "the model is confused"))
    dm = slack.add_dm(OWNER)
    slack.user_says(dm, OWNER, "hi")
    (reply,) = wait_posts(slack, dm, 1)
    assert reply["text"].startswith("Sorry, that failed:") and "confused" in reply["text"]


def test_help_names_the_slack_commands(start, slack):
    start(lambda request: Reply(text="unused"))
    dm = slack.add_dm(OWNER)
    slack.command(dm, OWNER, "help")
    (reply,) = wait_posts(slack, dm, 1)
    assert "/ember new" in reply["text"] and "/ember stop" in reply["text"]


def test_an_approval_can_be_answered_with_a_word_where_there_are_no_buttons(start, slack, tmp_path):
    victim = tmp_path / "outside-dir"
    victim.mkdir()

    def responder(request):
        results = tool_results(request)
        if not results:
            return Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rm -rf {victim}"}}])
        return Reply(text=f"tool said: {results[-1][:60]}")

    start(responder)
    dm = slack.add_dm(OWNER)
    slack.user_says(dm, OWNER, "clean up")
    wait_posts(slack, dm, 1)
    slack.user_says(dm, OWNER, "4")  # the fourth choice: deny
    answer = wait_posts(slack, dm, 2)[-1]
    assert "The user refused" in answer["text"] and victim.exists()
