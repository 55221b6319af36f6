"""The gateway over WhatsApp, in one process: the real Gateway, Agent, store and WhatsApp channel
(its webhook server on a free port), a fake Cloud API that POSTs signed webhooks to it, and a scripted
fake model. What a person sees in the chat."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from ember.config import load_settings
from ember.gateway.channels import build_channels, gateway_config
from ember.gateway.service import Gateway
from ember.runtime import build_runtime
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.whatsapp_server import FakeWhatsApp

OWNER, STRANGER = "15551234567", "447700900666"


def last_user_text(request) -> str:
    users = [m["content"] for m in request["messages"] if m["role"] == "user" and isinstance(m["content"], str)]
    return users[-1] if users else ""


def tool_results(request) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


@pytest.fixture
def whatsapp() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as fake:
        yield fake


@pytest.fixture
def start(ember_home, monkeypatch, whatsapp):
    """start(responder) -> a running Gateway whose webhook the fake WhatsApp POSTs to."""
    running = []

    def _start(responder) -> tuple[Gateway, FakeOpenAI]:
        model = FakeOpenAI(responder=responder).__enter__()
        running.append(model)
        for name, value in {"EMBER_BASE_URL": model.base_url, "EMBER_MODEL": "fake-model",
                            "WHATSAPP_TOKEN": whatsapp.token, "WHATSAPP_PHONE_NUMBER_ID": whatsapp.phone_number_id,
                            "WHATSAPP_APP_SECRET": whatsapp.app_secret,
                            "WHATSAPP_VERIFY_TOKEN": whatsapp.verify_token,
                            "EMBER_WHATSAPP_API_BASE": whatsapp.api_base, "EMBER_WHATSAPP_ALLOW": f"+{OWNER}"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("EMBER_WORKSPACE", raising=False)
        (ember_home / "config.toml").write_text("[gateway.whatsapp]\nport = 0\n[memory]\nlearning = false\n")
        settings = load_settings()
        config = gateway_config(settings)
        runtime = build_runtime(settings, interactive=False)
        gateway = Gateway(runtime, config, build_channels(config, runtime.store, settings.workspace_dir / "incoming"))
        gateway.start()
        running.append(gateway)
        whatsapp.webhook_url = f"http://127.0.0.1:{gateway.channels['whatsapp'].webhook_port}/whatsapp"  # type: ignore[attr-defined]
        return gateway, model

    yield _start
    for thing in reversed(running):
        if isinstance(thing, Gateway):
            thing.stop()
            thing.runtime.close()
        else:
            thing.__exit__(None, None, None)


def sent_to(whatsapp: FakeWhatsApp, phone: str) -> list[dict]:
    with whatsapp.lock:
        return [m for m in whatsapp.sent if m["to"] == phone]


def wait_sent(whatsapp: FakeWhatsApp, phone: str, count: int, timeout: float = 15.0) -> list[dict]:
    whatsapp.wait_for(lambda: len(sent_to(whatsapp, phone)) >= count, timeout, f"{count} message(s) to {phone}")
    return sent_to(whatsapp, phone)


def body(message: dict) -> str:
    if message["type"] == "text":
        return str(message["text"]["body"])
    return str(message["interactive"]["body"]["text"])


def test_a_message_is_answered_and_the_status_is_kept(start, whatsapp):
    gateway, model = start(lambda request: Reply(text=f"you said: **{last_user_text(request)}**"))
    whatsapp.user_says(OWNER, "hello there")
    (reply,) = wait_sent(whatsapp, OWNER, 1)
    assert body(reply) == "you said: *hello there*"
    whatsapp.wait_for(lambda: gateway.status()["outbox"]["whatsapp"]["delivered"] == 1, 5, "an acknowledged send")
    assert whatsapp.deliver_status(reply["id"], "read") == 200
    assert '"read"' in (gateway.runtime.store.get_meta(f"whatsapp:status:{reply['id']}") or "")
    assert whatsapp.reads and whatsapp.reads[0]["typing_indicator"] == {"type": "text"}  # "typing..." while working
    assert gateway.status()["channels"][0]["connected"]


def test_a_stranger_is_refused_once_without_a_model_call(start, whatsapp):
    gateway, model = start(lambda request: Reply(text="hello, new friend"))
    whatsapp.user_says(STRANGER, "let me in")
    whatsapp.user_says(STRANGER, "please?")
    (refusal,) = wait_sent(whatsapp, STRANGER, 1)
    time.sleep(0.5)
    assert "only answer people I know" in body(refusal) and len(sent_to(whatsapp, STRANGER)) == 1
    assert model.requests == []
    code = gateway.ledger.new_pairing_code()
    whatsapp.user_says(STRANGER, code)
    assert body(wait_sent(whatsapp, STRANGER, 2)[-1]).startswith("Paired")


def test_an_approval_is_answered_with_a_typed_word_or_a_tap(start, whatsapp, tmp_path):
    victim = tmp_path / "outside-dir"
    victim.mkdir()

    def responder(request):
        results = tool_results(request)
        if len(results) < len([m for m in request["messages"] if m["role"] == "user"]):
            return Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"ls {victim} && rm -rf {victim}"}}])
        return Reply(text=f"tool said: {results[-1][:80]}")

    start(responder)
    whatsapp.user_says(OWNER, "clean up the old dir")
    (question,) = wait_sent(whatsapp, OWNER, 1)
    assert "Approval needed" in body(question) and question["interactive"]["type"] == "list"
    whatsapp.user_says(OWNER, "deny")  # typed, not tapped
    answer = wait_sent(whatsapp, OWNER, 2)[-1]
    assert "The user refused" in body(answer) and victim.exists()
    whatsapp.user_says(OWNER, "try again")
    second = wait_sent(whatsapp, OWNER, 3)[-1]
    whatsapp.press(OWNER, second, "once")  # a tap on the list's row
    done = wait_sent(whatsapp, OWNER, 4)[-1]
    assert "tool said" in body(done) and not victim.exists()


def test_secrets_are_never_in_the_logs_or_the_status(start, whatsapp, caplog):
    caplog.set_level(logging.DEBUG)
    gateway, _ = start(lambda request: Reply(text="ok"))
    whatsapp.user_says(OWNER, "hi")
    wait_sent(whatsapp, OWNER, 1)
    whatsapp.fail("messages", code=190)
    whatsapp.user_says(OWNER, "again")
    whatsapp.wait_for(lambda: "WHATSAPP_TOKEN" in str(gateway.status()), 10, "the refused token in the status")
    whatsapp.post(b'{"object": "whatsapp_business_account"}', signature="sha256=forged")
    status = str(gateway.status())
    for secret in (whatsapp.token, whatsapp.app_secret, whatsapp.verify_token):
        assert secret not in status and secret not in caplog.text
