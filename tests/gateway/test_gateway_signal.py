"""The gateway over Signal, in one process: the real Gateway, Agent, store and Signal channel, a fake
signal-cli daemon (JSON-RPC over HTTP with server-sent events) and a scripted fake model."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ember.config import load_settings
from ember.gateway.channels import build_channels, gateway_config
from ember.gateway.service import Gateway
from ember.runtime import build_runtime
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.signal_cli import FakeSignalCli, Sent

OWNER, STRANGER = "+15550001111", "+15550009999"
PROXY_SECRET = "signal-proxy-pw-8c1f"


def last_user_text(request: dict[str, Any]) -> str:
    users = [m["content"] for m in request["messages"] if m["role"] == "user" and isinstance(m["content"], str)]
    return users[-1] if users else ""


def tool_results(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


@pytest.fixture
def signal(tmp_path: Path) -> Iterator[FakeSignalCli]:
    with FakeSignalCli(tmp_path / "signal.sock", keepalive=1.0) as fake:
        yield fake


@pytest.fixture
def start(ember_home: Path, monkeypatch: pytest.MonkeyPatch, signal: FakeSignalCli
          ) -> Iterator[Callable[..., tuple[Gateway, FakeOpenAI]]]:
    """start(responder) -> a running Gateway over the fake signal-cli, stopped after the test."""
    running: list[Any] = []

    def _start(responder: Callable[[dict[str, Any]], Reply], **config: object) -> tuple[Gateway, FakeOpenAI]:
        model = FakeOpenAI(responder=responder).__enter__()
        running.append(model)
        for name, value in {"EMBER_BASE_URL": model.base_url, "EMBER_MODEL": "fake-model",
                            "EMBER_SIGNAL_RPC": signal.url.replace("http://", f"http://ember:{PROXY_SECRET}@"),
                            "EMBER_SIGNAL_ACCOUNT": signal.account, "EMBER_SIGNAL_ALLOW": OWNER}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("EMBER_WORKSPACE", raising=False)
        lines = ["[gateway]", *(f"{k} = {v}" for k, v in config.items()), "[memory]", "learning = false"]
        (ember_home / "config.toml").write_text("\n".join(lines) + "\n")
        settings = load_settings()
        config_ = gateway_config(settings)
        runtime = build_runtime(settings, interactive=False)
        gateway = Gateway(runtime, config_, build_channels(config_, runtime.store, settings.workspace_dir / "incoming"))
        gateway.start()
        running.append(gateway)
        signal.wait_receivers(1, timeout=10)
        return gateway, model

    yield _start
    for thing in reversed(running):
        if isinstance(thing, Gateway):
            thing.stop()
            thing.runtime.close()
        else:
            thing.__exit__(None, None, None)


def sent_to(signal: FakeSignalCli, chat: str) -> list[Sent]:
    with signal.lock:
        return [s for s in signal.sent if chat in (s.recipient, s.group)]


def wait_sent(signal: FakeSignalCli, chat: str, count: int, timeout: float = 15.0) -> list[Sent]:
    signal.wait_for(lambda: len(sent_to(signal, chat)) >= count, timeout, f"{count} message(s) to {chat}")
    return sent_to(signal, chat)


def test_a_message_is_answered_and_a_group_mention_in_the_group(start, signal: FakeSignalCli) -> None:
    gateway, model = start(lambda request: Reply(text=f"you said: {last_user_text(request)}"))
    signal.user_says(OWNER, "hello there")
    (reply,) = wait_sent(signal, OWNER, 1)
    assert reply.message == "you said: hello there"
    group = signal.add_group("Family", [OWNER])
    signal.user_says(OWNER, "not for the bot", group=group)
    signal.user_says(OWNER, "status please", group=group, mention=True)
    (answer,) = wait_sent(signal, group, 1)
    assert answer.message == "you said: status please" and len(model.requests) == 2
    signal.wait_for(lambda: gateway.status()["outbox"]["signal"]["delivered"] == 2, 5, "two acknowledged sends")
    assert gateway.status()["channels"][0] == {"name": "signal", "connected": True, "last_error": None,
                                               "undelivered": 0, "failed": 0}
    assert signal.typing, "the typing indicator was shown while the turn ran"


def test_a_stranger_is_refused_once_without_a_model_call(start, signal: FakeSignalCli) -> None:
    gateway, model = start(lambda request: Reply(text="hello, new friend"))
    signal.user_says(STRANGER, "let me in")
    signal.user_says(STRANGER, "please?")
    (refusal,) = wait_sent(signal, STRANGER, 1)
    time.sleep(0.5)
    assert "only answer people I know" in refusal.message and len(sent_to(signal, STRANGER)) == 1
    assert model.requests == []
    code = gateway.ledger.new_pairing_code()
    signal.user_says(STRANGER, code)
    assert wait_sent(signal, STRANGER, 2)[-1].message.startswith("Paired")
    signal.user_says(STRANGER, "now?")
    assert wait_sent(signal, STRANGER, 3)[-1].message == "hello, new friend"


def test_an_approval_is_answered_with_a_typed_word(start, signal: FakeSignalCli, tmp_path: Path) -> None:
    victim = tmp_path / "outside-dir"
    victim.mkdir()

    def responder(request: dict[str, Any]) -> Reply:
        if request["messages"][-1]["role"] != "tool":  # each new message asks to run the command
            return Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rm -rf {victim}"}}])
        return Reply(text=f"tool said: {tool_results(request)[-1][:60]}")

    start(responder)
    signal.user_says(OWNER, "clean up the old dir")
    (question,) = wait_sent(signal, OWNER, 1)
    assert "Approval needed" in question.message
    assert "Reply with a number or a word: 1. Allow once  2. This session  3. Always  4. Deny" in question.message
    signal.user_says(OWNER, "deny")
    answer = wait_sent(signal, OWNER, 2)[-1]
    assert "The user refused" in answer.message and victim.exists()
    signal.user_says(OWNER, "try again")
    assert "Approval needed" in wait_sent(signal, OWNER, 3)[-1].message
    signal.user_says(OWNER, "1")  # the first choice: allow once
    answer = wait_sent(signal, OWNER, 4)[-1]
    assert answer.message.startswith("tool said") and not victim.exists()


def test_secrets_stay_out_of_logs_and_status(start, signal: FakeSignalCli, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gateway, _ = start(lambda request: Reply(text="done"))
    signal.user_says(OWNER, "hi")
    wait_sent(signal, OWNER, 1)
    signal.fail("send", status=502)
    signal.user_says(OWNER, "again")
    wait_sent(signal, OWNER, 2, timeout=20)  # retried after the 502
    signal.fail("events", status=503)
    signal.drop_receivers()
    signal.wait_for(lambda: "503" in (gateway.status()["channels"][0]["last_error"] or ""), 10, "the 503 in the status")
    status = json.dumps(gateway.status())
    assert "signal" in caplog.text
    assert PROXY_SECRET not in caplog.text and PROXY_SECRET not in status
    signal.wait_receivers(1, timeout=10)
