"""The gateway over Discord, in one process: the real Gateway, Agent, store and Discord channel, a fake
Discord (REST and Gateway websocket) and a scripted fake model. What a person sees in the chat."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("websockets", reason="the gateway extra is not installed")

from ember.config import load_settings  # noqa: E402
from ember.gateway.channels import build_channels, gateway_config  # noqa: E402
from ember.gateway.service import Gateway  # noqa: E402
from ember.runtime import build_runtime  # noqa: E402
from tests.fakes.discord_server import FakeDiscord  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Reply  # noqa: E402

OWNER, OTHER, STRANGER = "410000000000000001", "410000000000000002", "410000000000000666"


def last_user_text(request) -> str:
    users = [m["content"] for m in request["messages"] if m["role"] == "user" and isinstance(m["content"], str)]
    return users[-1] if users else ""


def tool_results(request) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def start(ember_home, monkeypatch, discord):
    """start(responder) -> a running Gateway over the fake Discord, stopped after the test."""
    running = []

    def _start(responder) -> tuple[Gateway, FakeOpenAI]:
        model = FakeOpenAI(responder=responder).__enter__()
        running.append(model)
        for name, value in {"EMBER_BASE_URL": model.base_url, "EMBER_MODEL": "fake-model",
                            "DISCORD_BOT_TOKEN": discord.token, "EMBER_DISCORD_API_BASE": discord.api_base,
                            "EMBER_DISCORD_ALLOW": f"{OWNER},{OTHER}"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("EMBER_WORKSPACE", raising=False)
        (ember_home / "config.toml").write_text("[memory]\nlearning = false\n")
        settings = load_settings()
        config = gateway_config(settings)
        runtime = build_runtime(settings, interactive=False)
        gateway = Gateway(runtime, config, build_channels(config, runtime.store, settings.workspace_dir / "incoming"))
        gateway.start()
        running.append(gateway)
        discord.wait_for(lambda: gateway.channels["discord"].status().connected, 10, "the channel connected")
        return gateway, model

    yield _start
    for thing in reversed(running):
        if isinstance(thing, Gateway):
            thing.stop()
            thing.runtime.close()
        else:
            thing.__exit__(None, None, None)


def posts_in(discord: FakeDiscord, channel: str) -> list[dict]:
    with discord.lock:
        return [p for p in discord.posted if p["channel_id"] == channel]


def wait_posts(discord: FakeDiscord, channel: str, count: int, timeout: float = 15.0) -> list[dict]:
    discord.wait_for(lambda: len(posts_in(discord, channel)) >= count, timeout, f"{count} post(s) in {channel}")
    return posts_in(discord, channel)


def test_a_dm_is_answered_and_a_mention_as_a_reply(start, discord):
    gateway, model = start(lambda request: Reply(text=f"you said: {last_user_text(request)}"))
    discord.dm(OWNER, "hello there")
    (reply,) = wait_posts(discord, discord.dm_channel(OWNER), 1)
    assert reply["content"] == "you said: hello there" and "message_reference" not in reply
    general = discord.add_channel("general")
    asked = discord.mention(general, OTHER, "status please")
    (answer,) = wait_posts(discord, general, 1)
    assert answer["content"] == "you said: status please"
    assert answer["message_reference"]["message_id"] == asked["id"]
    discord.reply(answer, OTHER, "and yesterday?")  # goes on with the same conversation
    second = wait_posts(discord, general, 2)[-1]
    assert second["content"] == "you said: and yesterday?"
    assert sum(m["role"] == "user" for m in model.requests[-1]["messages"]) == 2  # it remembered the first
    discord.wait_for(lambda: gateway.status()["outbox"]["discord"]["delivered"] == 3, 5, "three acknowledged sends")


def test_a_stranger_is_refused_once_without_a_model_call(start, discord):
    gateway, model = start(lambda request: Reply(text="hello, new friend"))
    discord.dm(STRANGER, "let me in")
    discord.dm(STRANGER, "please?")
    dm = discord.dm_channel(STRANGER)
    (refusal,) = wait_posts(discord, dm, 1)
    time.sleep(0.5)
    assert "only answer people I know" in refusal["content"] and len(posts_in(discord, dm)) == 1
    assert model.requests == []
    code = gateway.ledger.new_pairing_code()
    discord.dm(STRANGER, code)
    assert wait_posts(discord, dm, 2)[-1]["content"].startswith("Paired")
    discord.dm(STRANGER, "now?")
    assert wait_posts(discord, dm, 3)[-1]["content"] == "hello, new friend"


def test_an_approval_is_answered_with_a_button_by_the_asker_only(start, discord, tmp_path):
    victim = tmp_path / "outside-dir"
    victim.mkdir()

    def responder(request):
        results = tool_results(request)
        if not results:
            return Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rm -rf {victim}"}}])
        return Reply(text=f"tool said: {results[-1][:80]}")

    start(responder)
    general = discord.add_channel("general")
    discord.mention(general, OWNER, "clean up the old dir")
    (question,) = wait_posts(discord, general, 1)
    assert "Approval needed" in question["content"]
    labels = [b["label"] for row in question["components"] for b in row["components"]]
    assert labels == ["Allow once", "This session", "Always", "Deny"]
    discord.click(question, OTHER, "once")  # not the person whose turn it is: ignored
    time.sleep(0.5)
    assert victim.exists() and len(posts_in(discord, general)) == 1
    discord.click(question, OWNER, "deny")
    answer = wait_posts(discord, general, 2)[-1]
    assert "The user refused" in answer["content"] and victim.exists()
    assert len(discord.callbacks) == 2  # both presses were answered, so neither shows "interaction failed"


def test_the_token_is_never_in_the_logs_or_the_status(start, discord, caplog):
    caplog.set_level(logging.DEBUG)
    gateway, _ = start(lambda request: Reply(text="ok"))
    discord.dm(OWNER, "hi")
    wait_posts(discord, discord.dm_channel(OWNER), 1)
    discord.fail("create_message", status=401)
    discord.dm(OWNER, "again")
    discord.wait_for(lambda: "DISCORD_BOT_TOKEN" in str(gateway.status()), 10, "the refused token in the status")
    discord.drop_socket()
    discord.wait_for(lambda: len(discord.resumes) == 1, 10, "a resume (its frame carries the token)")
    status = str(gateway.status())
    assert discord.token not in status and discord.token[:20] not in status
    assert discord.token not in caplog.text and discord.token[:20] not in caplog.text
    assert "[REDACTED]" in caplog.text  # the IDENTIFY and RESUME frames were logged, masked
