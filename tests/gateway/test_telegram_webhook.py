"""Telegram in webhook mode: the real Gateway, Agent, store and Telegram channel (its webhook server
on a free port), a fake Bot API that records setWebhook and POSTs updates as Telegram does, and a
scripted fake model. Also the configuration of webhook mode, and `ember gateway status`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from ember.config import ConfigError, load_settings
from ember.gateway.channel import Inbound
from ember.gateway.channels import build_channels, gateway_config
from ember.gateway.channels.telegram import TelegramChannel
from ember.gateway.config import TelegramConfig
from ember.gateway.service import Gateway
from ember.runtime import build_runtime
from ember.store.sqlite.store import SQLiteStore
from tests.e2e.conftest import EmberRunner
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.telegram_server import FakeTelegram

OWNER = 4242
PUBLIC_URL = "https://bot.example.org/telegram"
SECRET = "s3cret-Token_for-the-webhook"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


def echo(request) -> Reply:
    users = [m["content"] for m in request["messages"] if m["role"] == "user" and isinstance(m["content"], str)]
    return Reply(text=f"you said: {users[-1] if users else ''}")


def asked(model: FakeOpenAI, text: str) -> int:
    """How many model requests answered ``text`` (the last user message)."""
    count = 0
    for request in list(model.requests):
        users = [m["content"] for m in request["messages"] if m["role"] == "user"]
        count += bool(users) and text in str(users[-1])
    return count


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        fake.retry_delay = 0.05
        yield fake


@pytest.fixture
def start(ember_home, monkeypatch, telegram):
    """start(secret=SECRET) -> (a running Gateway in webhook mode, the fake model, its webhook address).

    Each call is one more gateway worker on the same home (and store)."""
    running: list = []
    model = FakeOpenAI(responder=echo).__enter__()
    running.append(model)

    def _start(secret: str | None = SECRET) -> tuple[Gateway, FakeOpenAI, str]:
        env = {"EMBER_BASE_URL": model.base_url, "EMBER_MODEL": "fake-model", "TELEGRAM_BOT_TOKEN": telegram.token,
               "EMBER_TELEGRAM_API_BASE": telegram.api_base, "EMBER_TELEGRAM_ALLOW": str(OWNER)}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        if secret:
            monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", secret)
        else:
            monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
        monkeypatch.delenv("EMBER_WORKSPACE", raising=False)
        (ember_home / "config.toml").write_text(
            f'[gateway.telegram]\nwebhook_url = "{PUBLIC_URL}"\nwebhook_port = 0\n[memory]\nlearning = false\n')
        settings = load_settings()
        config = gateway_config(settings)
        runtime = build_runtime(settings, interactive=False)
        gateway = Gateway(runtime, config, build_channels(config, runtime.store, settings.workspace_dir / "incoming"))
        gateway.start()
        running.append(gateway)
        port = gateway.channels["telegram"].webhook_port  # type: ignore[attr-defined]
        return gateway, model, f"http://127.0.0.1:{port}/telegram"

    yield _start
    for thing in reversed(running):
        if isinstance(thing, Gateway):
            thing.stop()
            thing.runtime.close()
        else:
            thing.__exit__(None, None, None)


def post(address: str, body: bytes | dict, secret: str | None = SECRET) -> int:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Content-Type": "application/json", **({HEADER: secret} if secret is not None else {})}
    return httpx.post(address, content=data, headers=headers, timeout=10).status_code


def update_from(telegram: FakeTelegram, chat: int, text: str) -> dict:
    """A real Update, as Telegram would POST it (made by the fake, taken off its queue)."""
    return telegram.take(telegram.user_says(chat, chat, text))


def never_recorded(gateway: Gateway, update: dict) -> bool:
    """True when the inbox has no record of ``update`` (recording it now is not a repeat)."""
    probe = Inbound("telegram", str(OWNER), str(OWNER), f"telegram:{update['update_id']}", text="probe")
    return gateway.ledger.record(probe, status="done") is not None


# --- the gateway in webhook mode --------------------------------------------------------------

def test_the_webhook_is_set_and_what_telegram_pushes_is_answered(start, telegram):
    gateway, model, address = start()
    params = telegram.wait_webhook()
    assert params["url"] == PUBLIC_URL and params["secret_token"] == SECRET
    assert params["allowed_updates"] == ["message", "callback_query"] and params["drop_pending_updates"] is False
    assert telegram.calls_of("getUpdates") == []  # no polling beside the webhook

    telegram.push_to = address  # the reverse proxy: Telegram's POSTs reach the local port
    telegram.user_says(OWNER, OWNER, "how did the build go?")
    (sent,) = telegram.wait_sent(1, timeout=15)
    assert sent.method == "sendMessage" and sent.chat_id == str(OWNER)
    assert sent.visible == "you said: how did the build go?"
    assert [status for _, status in telegram.pushes] == [200]
    deadline = time.monotonic() + 5
    while not gateway.status()["channels"][0]["connected"] and time.monotonic() < deadline:
        time.sleep(0.02)
    row = gateway.status()["channels"][0]
    assert row["connected"] and row["mode"] == "webhook" and row["webhook_url"] == PUBLIC_URL


def test_a_post_without_the_secret_is_refused_and_nothing_is_recorded(start, telegram):
    gateway, model, address = start()
    telegram.wait_webhook()
    update = update_from(telegram, OWNER, "delete everything")
    assert post(address, update, secret=None) == 401
    assert post(address, update, secret="not-the-secret") == 401
    assert post(address, update, secret=SECRET + "x") == 401
    time.sleep(0.5)
    assert telegram.sent == [] and model.requests == []
    assert never_recorded(gateway, update)


def test_the_same_update_twice_is_answered_once(start, telegram):
    gateway, model, address = start()
    telegram.wait_webhook()
    update = update_from(telegram, OWNER, "say it once")
    assert post(address, update) == 200
    assert post(address, update) == 200  # Telegram sends again what it did not see acknowledged
    telegram.wait_sent(1, timeout=15)
    time.sleep(1.0)
    assert len(telegram.sent) == 1 and asked(model, "say it once") == 1


def test_bodies_that_are_not_updates_are_refused(start, telegram):
    gateway, model, address = start()
    telegram.wait_webhook()
    assert post(address, b"{not json") == 400
    assert post(address, b"[1, 2]") == 400
    assert post(address, {"message": {"text": "no update_id"}}) == 400
    assert post(address, b"x" * (2 * 1024 * 1024)) == 413
    assert httpx.get(address, timeout=5).status_code == 405
    time.sleep(0.3)
    assert telegram.sent == [] and model.requests == []


def test_without_a_configured_secret_one_is_derived_from_the_token(start, telegram):
    gateway, model, address = start(secret=None)
    params = telegram.wait_webhook()
    secret = params["secret_token"]
    assert len(secret) == 64 and telegram.token not in secret
    assert secret == TelegramConfig(token=telegram.token).secret_token()  # every worker derives the same
    assert secret != TelegramConfig(token=telegram.token + "0").secret_token()
    telegram.push_to = address
    telegram.user_says(OWNER, OWNER, "hello")
    telegram.wait_sent(1, timeout=15)
    assert post(address, update_from(telegram, OWNER, "forged"), secret=SECRET) == 401


def test_stopping_leaves_the_webhook_set(start, telegram):
    gateway, model, address = start()
    telegram.wait_webhook()
    gateway.stop()
    assert telegram.calls_of("deleteWebhook") == [] and telegram.webhook_url == PUBLIC_URL


def test_several_workers_each_receive_and_a_repeat_across_them_is_answered_once(start, telegram):
    first, model, first_address = start()
    second, _, second_address = start()
    deadline = time.monotonic() + 5
    while len(telegram.webhooks) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [w["url"] for w in telegram.webhooks] == [PUBLIC_URL, PUBLIC_URL]  # both set it, to the same
    one = update_from(telegram, OWNER, "first message")
    two = update_from(telegram, OWNER + 1, "second message")
    assert post(first_address, one) == 200
    assert post(second_address, two) == 200
    assert post(second_address, one) == 200  # the load balancer sent the retry to the other worker
    telegram.wait_sent(2, timeout=15)
    time.sleep(1.0)
    assert sorted(s.chat_id for s in telegram.sent) == sorted([str(OWNER), str(OWNER + 1)])
    owner_replies = [s.visible for s in telegram.sent if s.chat_id == str(OWNER)]
    assert owner_replies == ["you said: first message"] and asked(model, "first message") == 1


# --- the channel on its own ---------------------------------------------------------------------

class Inbox:
    """The gateway's side: records what it is handed; fails the first ``fail`` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.items: list[Inbound] = []
        self.fail = fail
        self.cond = threading.Condition()

    def __call__(self, inbound: Inbound) -> None:
        with self.cond:
            if self.fail:
                self.fail -= 1
                raise RuntimeError("database is locked")
            self.items.append(inbound)
            self.cond.notify_all()

    def wait(self, count: int, timeout: float = 5.0) -> list[Inbound]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.items) >= count, timeout), self.items
            return list(self.items)


@pytest.fixture
def channel(telegram, tmp_path):
    """A Telegram channel in webhook mode on the fake (not started)."""
    with SQLiteStore(tmp_path / "ember.db") as store:
        config = TelegramConfig(token=telegram.token, api_base=telegram.api_base, webhook_url=PUBLIC_URL,
                                webhook_port=0, webhook_secret=SECRET)
        made = TelegramChannel(config, store, tmp_path / "files", backoff=0.05, timeout=5.0)
        yield made
        made.stop()


def test_an_update_not_recorded_is_answered_500_and_telegram_sends_it_again(telegram, channel, caplog):
    inbox = Inbox(fail=1)
    channel.start(inbox)
    telegram.wait_webhook()
    telegram.push_to = f"http://127.0.0.1:{channel.webhook_port}/"
    update_id = telegram.user_says(OWNER, OWNER, "keep this")
    (item,) = inbox.wait(1)
    assert item.text == "keep this" and item.event_id == f"telegram:{update_id}"
    telegram.wait_confirmed(update_id)
    assert [status for _, status in telegram.pushes] == [500, 200]
    assert "was not recorded (RuntimeError: database is locked)" in caplog.text
    assert channel.status().last_error is None  # recorded on the second try: nothing left to report


def test_a_button_press_is_recorded_then_its_spinner_stopped(telegram, channel):
    inbox = Inbox()
    channel.start(inbox)
    telegram.wait_webhook()
    telegram.push_to = f"http://127.0.0.1:{channel.webhook_port}/"
    telegram.press(OWNER, OWNER, data="req-1:once")
    (item,) = inbox.wait(1)
    assert item.press is not None and (item.press.request_id, item.press.choice) == ("req-1", "once")
    deadline = time.monotonic() + 5
    while not telegram.answered and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(telegram.answered) == 1


def test_set_webhook_is_retried_until_telegram_takes_it(telegram, channel):
    telegram.fail("setWebhook", 502, times=2)
    channel.start(Inbox())
    deadline = time.monotonic() + 5
    while not channel.status().connected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert channel.status().connected and channel.status().last_error is None
    assert len(telegram.calls_of("setWebhook")) == 3 and telegram.webhook_url == PUBLIC_URL


def test_a_refused_token_stops_the_setup_and_says_what_to_do(telegram, channel):
    telegram.fail("getMe", 401)
    channel.start(Inbox())
    deadline = time.monotonic() + 5
    while not channel.status().last_error and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "TELEGRAM_BOT_TOKEN" in (channel.status().last_error or "")
    assert telegram.calls_of("setWebhook") == []


def test_the_secret_never_reaches_the_logs(telegram, channel, caplog):
    caplog.set_level("DEBUG")
    channel.start(Inbox())
    telegram.wait_webhook()
    port = channel.webhook_port
    assert post(f"http://127.0.0.1:{port}/", {"update_id": 1}, secret="wrong") == 401
    assert "telegram" in caplog.text, "the capture is not working"
    assert SECRET not in caplog.text and telegram.token not in caplog.text


# --- configuration ------------------------------------------------------------------------------

TOKEN_ENV = {"TELEGRAM_BOT_TOKEN": "123:abc"}


def configure(ember_home, table: str, env: dict[str, str] | None = None):
    (ember_home / "config.toml").write_text(f"[gateway.telegram]\n{table}\n")
    settings = load_settings()
    return gateway_config(settings, {**TOKEN_ENV, **(env or {})}).telegram, settings


def test_without_webhook_url_the_channel_polls(ember_home):
    config, _ = configure(ember_home, "allow = [1]")
    assert not config.webhook and config.receiving() == {"mode": "polling"}


def test_webhook_settings_and_their_defaults(ember_home):
    config, settings = configure(ember_home, f'webhook_url = "{PUBLIC_URL}"')
    assert (config.webhook_url, config.webhook_host, config.webhook_port) == (PUBLIC_URL, "127.0.0.1", 8790)
    assert config.receiving() == {"mode": "webhook", "webhook_url": PUBLIC_URL}
    assert settings.secrets["TELEGRAM_WEBHOOK_SECRET"] == config.secret_token()  # masked like the token
    config, _ = configure(ember_home, f'webhook_url = "{PUBLIC_URL}"\nwebhook_port = 9000\nwebhook_host = "0.0.0.0"\n'
                                      'webhook_secret = "from-the-table"')
    assert (config.webhook_port, config.webhook_host, config.secret_token()) == (9000, "0.0.0.0", "from-the-table")
    config, _ = configure(ember_home, 'webhook_secret = "from-the-table"\nwebhook_url = "https://a.example:8443/t"',
                          {"TELEGRAM_WEBHOOK_SECRET": "from-the-env"})
    assert config.secret_token() == "from-the-env"  # the environment wins, as for every key
    config, _ = configure(ember_home, "", {"EMBER_TELEGRAM_WEBHOOK_URL": PUBLIC_URL})
    assert config.webhook_url == PUBLIC_URL


def test_a_self_hosted_bot_api_may_call_any_address(ember_home):
    config, _ = configure(ember_home, 'api_base = "http://127.0.0.1:8081"\nwebhook_url = "http://10.0.0.5:9000/tg"')
    assert config.webhook_url == "http://10.0.0.5:9000/tg"


@pytest.mark.parametrize("table, says", [
    ('webhook_url = "http://bot.example.org/telegram"', "https://"),
    ('webhook_url = "bot.example.org"', "https://"),
    ('webhook_url = "https://bot.example.org:8080/telegram"', "443, 80, 88 or 8443"),
    (f'webhook_url = "{PUBLIC_URL}"\nwebhook_port = "high"', "webhook_port must be a port number"),
    (f'webhook_url = "{PUBLIC_URL}"\nwebhook_port = 70000', "webhook_port must be a port number"),
    (f'webhook_url = "{PUBLIC_URL}"\nwebhook_host = 1', "webhook_host must be a string"),
    (f'webhook_url = "{PUBLIC_URL}"\nwebhook_secret = "has spaces!"', "letters, digits, _ or -"),
    ("webhook_port = 8790", "used only in webhook mode"),
    ('webhook_secret = "abc"', "used only in webhook mode"),
    (f'webhook_ur = "{PUBLIC_URL}"', "no key 'webhook_ur'"),
])
def test_bad_webhook_settings_are_named(ember_home, table, says):
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace("?", r"\?")) as error:
        configure(ember_home, table)
    assert "123:abc" not in str(error.value)


def test_gateway_status_shows_how_telegram_receives(ember_home, tmp_path, telegram):
    runner = EmberRunner(ember_home, tmp_path)
    runner.env.update({"TELEGRAM_BOT_TOKEN": telegram.token, "EMBER_TELEGRAM_API_BASE": telegram.api_base,
                       "TELEGRAM_WEBHOOK_SECRET": SECRET})
    polling = runner.json("gateway", "status", "--json")["channels"][0]
    assert polling["mode"] == "polling" and "webhook_url" not in polling
    runner.config(f'[gateway.telegram]\nwebhook_url = "{PUBLIC_URL}"\n')
    status = runner.json("gateway", "status", "--json")
    row = status["channels"][0]
    assert {"name", "connected", "last_error", "undelivered", "failed"} <= set(row)
    assert row["mode"] == "webhook" and row["webhook_url"] == PUBLIC_URL
    text = runner("gateway", "status")
    assert f"telegram: not connected (webhook {PUBLIC_URL})" in text.stdout, text.stdout
    assert SECRET not in text.stdout + json.dumps(status) and telegram.token not in text.stdout
