"""One person, one memory: what person A told Ember is never found for person B; linked accounts
are one person; each person has their own USER.md; the owner's memory stays the owner's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("websockets", reason="the gateway extra is not installed")

from ember.config import load_settings  # noqa: E402
from ember.gateway.channels import build_channels, gateway_config  # noqa: E402
from ember.gateway.service import Gateway  # noqa: E402
from ember.memory.profile import home_of  # noqa: E402
from ember.runtime import build_runtime  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Reply  # noqa: E402
from tests.fakes.slack_server import FakeSlack  # noqa: E402
from tests.fakes.telegram_server import FakeTelegram  # noqa: E402

ANA, BEN = "U0ANA0001", "U0BEN0002"
ANA_TELEGRAM = 1001


def last_user(request) -> str:
    users = [m["content"] for m in request["messages"] if m["role"] == "user" and isinstance(m["content"], str)]
    return users[-1] if users else ""


def system_text(request) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "system" and isinstance(m["content"], str))


def remembering_model(request):
    """Stores what it is told; when asked a question, searches memory and reports what it found."""
    results = [m["content"] for m in request["messages"] if m["role"] == "tool"]
    text = last_user(request)
    if text.endswith("?") and not results:
        return Reply(tool_calls=[{"name": "memory_search", "arguments": {"query": "locker code"}}])
    if results:
        return Reply(text=f"memory says: {results[-1][:400]}")
    return Reply(text="noted")


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeTelegram]]:
    with FakeSlack() as slack, FakeTelegram() as telegram:
        yield slack, telegram


@pytest.fixture
def gateway(ember_home, monkeypatch, fakes):
    slack, telegram = fakes
    running = []

    def _start(learning: bool = False) -> Gateway:
        model = FakeOpenAI(responder=remembering_model).__enter__()
        running.append(model)
        env = {"EMBER_BASE_URL": model.base_url, "EMBER_MODEL": "fake-model",
               "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token,
               "EMBER_SLACK_API_BASE": slack.api_base, "EMBER_SLACK_ALLOW": f"{ANA},{BEN}",
               "TELEGRAM_BOT_TOKEN": telegram.token, "EMBER_TELEGRAM_API_BASE": telegram.api_base}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("EMBER_EMBEDDINGS", "off")  # lexical search is enough to prove the scoping
        monkeypatch.delenv("EMBER_WORKSPACE", raising=False)
        (ember_home / "config.toml").write_text(f"[memory]\nlearning = {'true' if learning else 'false'}\n")
        settings = load_settings()
        config = gateway_config(settings)
        runtime = build_runtime(settings, interactive=False)
        service = Gateway(runtime, config, build_channels(config, runtime.store, settings.workspace_dir / "incoming"))
        service.start()
        running.append(service)
        slack.wait_connected(1)
        telegram.wait_polling()
        service.model = model  # type: ignore[attr-defined]
        return service

    yield _start
    for thing in reversed(running):
        if isinstance(thing, Gateway):
            thing.stop()
            thing.runtime.close()
        else:
            thing.__exit__(None, None, None)


def said(slack: FakeSlack, channel: str, count: int) -> list[str]:
    slack.wait_for(lambda: len([p for p in slack.posted if p.get("channel") == channel]) >= count, 20,
                   f"{count} post(s)")
    return [p["text"] for p in slack.posted if p.get("channel") == channel]


def test_what_ana_told_is_never_found_for_ben(gateway, fakes):
    slack, _ = fakes
    gateway()
    ana_dm, ben_dm = slack.add_dm(ANA), slack.add_dm(BEN)
    slack.user_says(ana_dm, ANA, "my locker code is 4711, remember it")
    said(slack, ana_dm, 1)
    slack.user_says(ben_dm, BEN, "what is the locker code?")
    ben_answer = said(slack, ben_dm, 1)[-1]
    assert ben_answer.startswith("memory says:")  # the search ran, in Ben's memory only
    assert "4711" not in ben_answer and "my locker code" not in ben_answer
    slack.user_says(ana_dm, ANA, "what is my locker code?")
    ana_answer = said(slack, ana_dm, 2)[-1]
    assert "4711" in ana_answer


def test_linked_accounts_are_one_person_with_one_memory(gateway, fakes):
    slack, telegram = fakes
    service = gateway()
    service.ledger.allow_sender("telegram", str(ANA_TELEGRAM), "ana", "linked")  # ember gateway link ... --person ana
    service.ledger.allow_sender("slack", ANA, "ana", "linked")
    telegram.user_says(ANA_TELEGRAM, ANA_TELEGRAM, "the locker code is 9999, keep it")
    telegram.wait_sent(1, timeout=20)
    dm = slack.add_dm(ANA)
    slack.user_says(dm, ANA, "what was the locker code?")
    assert "9999" in said(slack, dm, 1)[-1]
    ben_dm = slack.add_dm(BEN)
    slack.user_says(ben_dm, BEN, "any locker code?")
    assert "9999" not in said(slack, ben_dm, 1)[-1]


def test_each_person_has_their_own_user_md(gateway, fakes, ember_home):
    slack, _ = fakes
    service = gateway(learning=True)
    ana_dm, ben_dm = slack.add_dm(ANA), slack.add_dm(BEN)
    slack.user_says(ana_dm, ANA, "I prefer answers in German.")
    said(slack, ana_dm, 1)
    service.runtime.learning.wait(20)
    ana_profile = home_of(ember_home, f"slack:{ANA}") / "USER.md"
    assert ana_profile.exists() and "German" in ana_profile.read_text()
    assert not (ember_home / "USER.md").exists() or "German" not in (ember_home / "USER.md").read_text()
    slack.user_says(ben_dm, BEN, "hello")
    said(slack, ben_dm, 1)
    ben_request = next(r for r in reversed(service.model.requests) if last_user(r) == "hello")  # type: ignore[attr-defined]
    assert "German" not in system_text(ben_request)
    slack.user_says(ana_dm, ANA, "hello again")
    said(slack, ana_dm, 2)
    ana_request = next(r for r in reversed(service.model.requests) if last_user(r) == "hello again")  # type: ignore[attr-defined]
    assert "German" in system_text(ana_request)


def test_the_owner_memory_tool_does_not_see_gateway_people(gateway, fakes, ember_home):
    slack, _ = fakes
    service = gateway()
    ana_dm = slack.add_dm(ANA)
    slack.user_says(ana_dm, ANA, "my locker code is 4711")
    said(slack, ana_dm, 1)
    from ember.memory.search.federated import search

    store = service.runtime.store
    assert any("4711" in h.text for h in search(store, "locker code 4711", person=f"slack:{ANA}"))
    assert not any("4711" in h.text for h in search(store, "locker code 4711", person=""))
