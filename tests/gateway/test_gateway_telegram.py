"""The gateway over Telegram: the real Gateway, Agent and Telegram channel against a fake Bot API,
and `ember send` / `ember gateway status` as real processes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ember.config import load_settings
from ember.gateway.channels import build_channels, gateway_config
from ember.gateway.service import Gateway
from ember.runtime import build_runtime
from tests.e2e.conftest import EmberRunner
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.telegram_server import FakeTelegram

OWNER = 4242


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def gateway(ember_home, monkeypatch, telegram):
    running = []

    def _start(responder) -> Gateway:
        model = FakeOpenAI(responder=responder).__enter__()
        running.append(model)
        for name, value in {"EMBER_BASE_URL": model.base_url, "EMBER_MODEL": "fake-model",
                            "TELEGRAM_BOT_TOKEN": telegram.token, "EMBER_TELEGRAM_API_BASE": telegram.api_base,
                            "EMBER_TELEGRAM_ALLOW": str(OWNER)}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("EMBER_WORKSPACE", raising=False)
        (ember_home / "config.toml").write_text("[memory]\nlearning = false\n")
        settings = load_settings()
        config = gateway_config(settings)
        runtime = build_runtime(settings, interactive=False)
        service = Gateway(runtime, config, build_channels(config, runtime.store, settings.workspace_dir / "incoming"))
        service.start()
        running.append(service)
        telegram.wait_polling()
        return service

    yield _start
    for thing in reversed(running):
        if isinstance(thing, Gateway):
            thing.stop()
            thing.runtime.close()
        else:
            thing.__exit__(None, None, None)


def test_a_private_message_is_answered_with_formatting(gateway, telegram):
    gateway(lambda request: Reply(text="**Done**: see `build.log`"))
    telegram.user_says(OWNER, OWNER, "how did the build go?")
    (sent,) = telegram.wait_sent(1, timeout=15)
    assert sent.chat_id == str(OWNER) and sent.parse_mode == "HTML"
    assert sent.visible == "Done: see build.log" and "<b>Done</b>" in sent.text


def test_a_long_answer_is_split_at_telegrams_limit(gateway, telegram):
    paragraph = "A sentence about the result that goes on for a while. " * 20
    gateway(lambda request: Reply(text="\n\n".join([paragraph] * 8)))
    telegram.user_says(OWNER, OWNER, "tell me everything")
    telegram.wait_sent(3, timeout=15)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "".join(s.visible for s in telegram.sent).count("A sentence") < 160:
        time.sleep(0.1)
    sent = [s for s in telegram.sent if s.method.lower() == "sendmessage"]
    assert len(sent) >= 3 and all(len(s.visible) <= 4096 for s in sent)
    assert "".join(s.visible for s in sent).count("A sentence") == 160


def test_approval_buttons_in_the_chat(gateway, telegram, tmp_path):
    victim = tmp_path / "outside"
    victim.mkdir()

    def responder(request):
        results = [m["content"] for m in request["messages"] if m["role"] == "tool"]
        if not results:
            return Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rm -rf {victim}"}}])
        return Reply(text=f"tool said: {results[-1][:60]}")

    gateway(responder)
    telegram.user_says(OWNER, OWNER, "remove the old folder")
    (question,) = telegram.wait_sent(1, timeout=15)
    assert "Approval needed" in question.visible and "Allow once" in str(question.buttons)
    telegram.press(OWNER, OWNER, label="Allow once")
    answer = telegram.wait_sent(2, timeout=15)[-1]
    assert "tool said" in answer.visible and not victim.exists()


def test_ember_send_and_gateway_status(ember_home, tmp_path, telegram, monkeypatch):
    runner = EmberRunner(ember_home, tmp_path)
    runner.env.update({"TELEGRAM_BOT_TOKEN": telegram.token, "EMBER_TELEGRAM_API_BASE": telegram.api_base})
    sent = runner("send", f"telegram:{OWNER}", "the nightly build passed", "--json")
    assert sent.returncode == 0, sent.stderr
    assert '"delivered": true' in sent.stdout
    (message,) = telegram.wait_sent(1)
    assert message.chat_id == str(OWNER) and message.visible == "the nightly build passed"
    status = runner.json("gateway", "status", "--json")
    assert status["running"] is False and status["outbox"]["telegram"]["delivered"] == 1
    assert telegram.token not in sent.stdout + sent.stderr + str(status)

    telegram.fail("sendMessage", 403)
    blocked = runner("send", f"telegram:{OWNER}", "are you there?")
    assert blocked.returncode == 1 and "blocked" in blocked.stderr
    failed = runner.json("gateway", "status", "--json")["channels"][0]
    assert failed["failed"] == 1 and "blocked" in failed["last_error"]
    bad = runner("send", "telegram:not-a-chat", "x")
    assert bad.returncode == 2


def test_gateway_link_joins_accounts_of_any_channel(ember_home, tmp_path):
    runner = EmberRunner(ember_home, tmp_path)
    linked = runner("gateway", "link", "telegram:4242", "email:ana@example.org", "discord:81234567890", "--person", "ana")
    assert linked.returncode == 0, linked.stderr
    from ember.gateway.ledger import Ledger
    from ember.runtime import open_store

    store = open_store(load_settings())
    try:
        ledger = Ledger(store)
        assert {ledger.sender("telegram", "4242"), ledger.sender("email", "ana@example.org"),
                ledger.sender("discord", "81234567890")} == {"ana"}
    finally:
        store.close()
    bad = runner("gateway", "link", "fax:123")
    assert bad.returncode == 2 and "telegram" in bad.stderr and "email" in bad.stderr
