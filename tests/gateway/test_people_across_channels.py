"""One person across Telegram and email: accounts linked with `ember gateway link`, a fact told on
Telegram in the morning is found from an email in the evening (another conversation, on another
channel), and another person asking for it finds nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ember.config import load_settings
from ember.gateway.channels import build_channels, gateway_config
from ember.gateway.service import Gateway
from ember.runtime import build_runtime
from tests.e2e.conftest import EmberRunner
from tests.fakes.imap_server import FakeIMAP
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.smtp_server import FakeSMTP, Received
from tests.fakes.telegram_server import FakeTelegram
from tests.gateway.test_email import EMBER, PASSWORD, mail

ANA_TELEGRAM, ANA_EMAIL, BEN_EMAIL = 1001, "ana@example.org", "ben@example.org"


def last_user(request: dict[str, Any]) -> str:
    users = [m["content"] for m in request["messages"] if m["role"] == "user" and isinstance(m["content"], str)]
    return users[-1] if users else ""


def remembering_model(request: dict[str, Any]) -> Reply:
    """Notes what it is told; asked a question, searches memory and says what it found."""
    results = [m["content"] for m in request["messages"] if m["role"] == "tool"]
    if last_user(request).endswith("?") and not results:
        return Reply(tool_calls=[{"name": "memory_search", "arguments": {"query": "locker code"}}])
    if results:
        return Reply(text=f"memory says: {results[-1][:400]}")
    return Reply(text="noted")


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTelegram, FakeIMAP, FakeSMTP]]:
    with FakeTelegram() as telegram, FakeIMAP(user=EMBER, password=PASSWORD) as imap, \
            FakeSMTP(user=EMBER, password=PASSWORD) as smtp:
        yield telegram, imap, smtp


@pytest.fixture
def start(ember_home: Path, monkeypatch: pytest.MonkeyPatch, fakes: tuple[FakeTelegram, FakeIMAP, FakeSMTP]
          ) -> Iterator[Callable[[], Gateway]]:
    telegram, imap, smtp = fakes
    running: list[Any] = []

    def _start() -> Gateway:
        model = FakeOpenAI(responder=remembering_model).__enter__()
        running.append(model)
        for name, value in {"EMBER_BASE_URL": model.base_url, "EMBER_MODEL": "fake-model",
                            "TELEGRAM_BOT_TOKEN": telegram.token, "EMBER_TELEGRAM_API_BASE": telegram.api_base,
                            "EMBER_IMAP_URL": imap.url, "EMBER_SMTP_URL": smtp.url, "EMBER_EMAIL_ADDRESS": EMBER,
                            "EMBER_EMAIL_PASSWORD": PASSWORD, "EMBER_EMAIL_ALLOW": BEN_EMAIL}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("EMBER_EMBEDDINGS", "off")  # lexical search is enough to prove the scoping
        monkeypatch.delenv("EMBER_WORKSPACE", raising=False)
        (ember_home / "config.toml").write_text("[memory]\nlearning = false\n")
        settings = load_settings()
        config = gateway_config(settings)
        runtime = build_runtime(settings, interactive=False)
        service = Gateway(runtime, config, build_channels(config, runtime.store, settings.workspace_dir / "incoming"))
        service.start()
        running.append(service)
        telegram.wait_polling()
        imap.wait_idling(timeout=10)
        return service

    yield _start
    for thing in reversed(running):
        if isinstance(thing, Gateway):
            thing.stop()
            thing.runtime.close()
        else:
            thing.__exit__(None, None, None)


def answer_to(smtp: FakeSMTP, address: str, count: int = 1) -> str:
    smtp.wait_for(lambda: len(smtp.to(address)) >= count, 20, f"{count} answer(s) to {address}")
    received: Received = smtp.to(address)[count - 1]
    part = received.message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_a_fact_told_on_telegram_in_the_morning_is_found_by_email_in_the_evening(
        start, fakes, ember_home: Path, tmp_path: Path) -> None:
    telegram, imap, smtp = fakes
    ember = EmberRunner(ember_home, tmp_path / "workspace")
    (tmp_path / "workspace").mkdir()
    linked = ember("gateway", "link", f"telegram:{ANA_TELEGRAM}", f"email:{ANA_EMAIL}", "--person", "ana")
    assert linked.returncode == 0, linked.stderr
    start()

    # The morning, on Telegram.
    telegram.user_says(ANA_TELEGRAM, ANA_TELEGRAM, "good morning! my new locker code is 4711, keep it for me")
    (noted,) = telegram.wait_sent(1, timeout=20)
    assert noted.visible == "noted"

    # The evening, by email: a new mail, so a new conversation, on another channel.
    imap.add(mail(ANA_EMAIL, subject="Evening question", body="What was my locker code?", name="Ana"))
    evening = answer_to(smtp, ANA_EMAIL)
    assert evening.startswith("memory says:") and "4711" in evening

    # Ben, allowed by email, searches his own memory only.
    imap.add(mail(BEN_EMAIL, subject="Locker", body="Do you know a locker code?", name="Ben"))
    ben = answer_to(smtp, BEN_EMAIL)
    assert ben.startswith("memory says:") and "4711" not in ben and "locker code is" not in ben

    # The same from the terminal: one memory for ana's two accounts, none of it in Ben's.
    ana_memory = ember("memory", "search", "--person", "ana", "locker code")
    assert ana_memory.returncode == 0 and "4711" in ana_memory.stdout, ana_memory.stderr
    ben_memory = ember("memory", "search", "--person", f"email:{BEN_EMAIL}", "locker code")
    assert ben_memory.returncode == 0 and "4711" not in ben_memory.stdout, ben_memory.stderr
