"""The WhatsApp channel against a fake Cloud API (Graph API over HTTP) that POSTs signed webhooks to it."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ember.config import ConfigError, load_settings
from ember.gateway.channel import Button, Channel, Inbound, Outbound, SendError
from ember.gateway.channels import available
from ember.gateway.channels.whatsapp import WhatsAppChannel, WhatsAppConfig, configure
from ember.gateway.channels.whatsapp_format import to_whatsapp
from ember.gateway.door import CHOICES
from ember.store.sqlite.store import SQLiteStore
from tests.fakes.whatsapp_server import FakeWhatsApp

ADA, BEN = "15551234567", "447700900123"


class Inbox:
    """Records each message in the store (as the gateway's inbox does) before returning."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.items: list[Inbound] = []
        self.fail_next = 0
        self.before: Callable[[Inbound], None] | None = None
        self.changed = threading.Condition()

    def __call__(self, inbound: Inbound) -> None:
        if self.before is not None:
            self.before(inbound)
        with self.changed:
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("database is locked")
            if self.store.get_meta(f"inbox:{inbound.event_id}") is not None:
                return  # a repeat: the gateway drops it by event_id
            self.store.set_meta(f"inbox:{inbound.event_id}", inbound.text)
            self.items.append(inbound)
            self.changed.notify_all()


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    db = SQLiteStore(tmp_path / "ember.db")
    yield db
    db.close()


@pytest.fixture
def inbox(store: SQLiteStore) -> Inbox:
    return Inbox(store)


@pytest.fixture
def make(fake: FakeWhatsApp, store: SQLiteStore, tmp_path: Path) -> Iterator[Callable[..., WhatsAppChannel]]:
    made: list[WhatsAppChannel] = []

    def build(timeout: float = 2.0, **overrides: object) -> WhatsAppChannel:
        fields = {"token": fake.token, "phone_number_id": fake.phone_number_id, "app_secret": fake.app_secret,
                  "verify_token": fake.verify_token, "api_base": fake.api_base, "port": 0, **overrides}
        channel = WhatsAppChannel(WhatsAppConfig(**fields), store, tmp_path / "files",  # type: ignore[arg-type]
                                  client=httpx.Client(timeout=timeout))
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.stop()
        channel.client.close()


@pytest.fixture
def running(make: Callable[..., WhatsAppChannel], fake: FakeWhatsApp, inbox: Inbox) -> WhatsAppChannel:
    channel = make()
    channel.start(inbox)
    fake.webhook_url = f"http://127.0.0.1:{channel.webhook_port}/whatsapp"
    return channel


# --- the webhook ----------------------------------------------------------------------------------


def test_a_message_is_recorded_before_the_webhook_is_answered(fake: FakeWhatsApp, running: WhatsAppChannel,
                                                             inbox: Inbox, store: SQLiteStore) -> None:
    assert isinstance(running, Channel) and running.max_text == 4096
    seen: list[int] = []
    inbox.before = lambda inbound: seen.append(len(fake.answers))
    wamid = fake.user_says(ADA, "hello there", name="Ada Lovelace")
    assert fake.answers == [200] and seen == [0]  # on_inbound ran before the answer
    [got] = inbox.items
    assert (got.platform, got.chat, got.user, got.event_id) == ("whatsapp", ADA, ADA, f"whatsapp:{wamid}")
    assert (got.text, got.user_name, got.thread, got.press) == ("hello there", "Ada Lovelace", None, None)
    assert store.get_meta(f"inbox:whatsapp:{wamid}") == "hello there"
    assert running.status().connected and running.status().last_error is None
    assert next(c for c in fake.calls if c.method == "GET").path == f"/{fake.phone_number_id}"  # the start check


def test_metas_subscription_check(fake: FakeWhatsApp, running: WhatsAppChannel) -> None:
    url = f"http://127.0.0.1:{running.webhook_port}/whatsapp"
    good = httpx.get(url, params={"hub.mode": "subscribe", "hub.verify_token": fake.verify_token,
                                  "hub.challenge": "1158201444"})
    assert (good.status_code, good.text) == (200, "1158201444")
    for params in ({"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": fake.verify_token, "hub.challenge": "1"}, {}):
        assert httpx.get(url, params=params).status_code == 403


@pytest.mark.parametrize("case", ["bad signature", "wrong secret", "no signature", "tampered"])
def test_an_unsigned_or_forged_post_is_refused(fake: FakeWhatsApp, running: WhatsAppChannel, inbox: Inbox,
                                               case: str) -> None:
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"metadata": {"phone_number_id": fake.phone_number_id},
                                       "messages": [{"from": ADA, "id": "wamid.X", "type": "text",
                                                     "text": {"body": "forged"}}]}}]}]}).encode()
    url = f"http://127.0.0.1:{running.webhook_port}/whatsapp"
    if case == "bad signature":
        status = fake.post(body, signature="sha256=" + "0" * 64)
    elif case == "wrong secret":
        fake.app_secret, real = "not-the-secret", fake.app_secret
        status = fake.post(body, signature=fake.sign(body))
        fake.app_secret = real
    elif case == "no signature":
        status = httpx.post(url, content=body, headers={"Content-Type": "application/json"}).status_code
    else:
        status = httpx.post(url, content=body.replace(b"forged", b"FORGED"),
                            headers={"X-Hub-Signature-256": fake.sign(body)}).status_code
    assert status == 401 and inbox.items == []


def test_a_notification_that_was_not_recorded_is_answered_500_and_comes_again(fake: FakeWhatsApp,
                                                                              running: WhatsAppChannel,
                                                                              inbox: Inbox) -> None:
    inbox.fail_next = 1
    wamid = fake.user_says(ADA, "keep me")
    assert fake.answers == [500] and inbox.items == []
    assert fake.redeliver() == [200]
    assert [i.event_id for i in inbox.items] == [f"whatsapp:{wamid}"]


def test_media_is_fetched_with_the_token_when_needed(fake: FakeWhatsApp, running: WhatsAppChannel,
                                                     inbox: Inbox) -> None:
    fake.send_image(ADA, b"\xff\xd8jpeg", caption="look at this")
    fake.send_document(BEN, b"%PDF-1.7", "invoice.pdf")
    fake.send_voice(ADA, b"OggS voice")
    image, document, voice = inbox.items
    assert image.text == "look at this" and image.files[0].mime == "image/jpeg"
    assert image.files[0].name.startswith("image-") and image.files[0].name.endswith((".jpg", ".jpeg"))
    assert not any(c.path.startswith("/whatsapp_business") for c in fake.calls)  # nothing fetched yet
    assert image.files[0].fetch() == b"\xff\xd8jpeg"
    download = next(c for c in fake.calls if c.path.startswith("/whatsapp_business"))
    assert download.headers["authorization"] == f"Bearer {fake.token}"
    assert (document.text, document.files[0].name, document.files[0].fetch()) == ("", "invoice.pdf", b"%PDF-1.7")
    assert voice.files[0].name.endswith(".ogg") and voice.files[0].mime == "audio/ogg"
    fake.fail("download", status=503)
    with pytest.raises(SendError) as raised:
        voice.files[0].fetch()
    assert not raised.value.permanent
    assert voice.files[0].fetch() == b"OggS voice"


def test_button_and_list_taps_are_presses(fake: FakeWhatsApp, running: WhatsAppChannel, inbox: Inbox) -> None:
    fake.user_says(ADA, "hi")
    running.send(Outbound(chat=ADA, text="Proceed?", buttons=[Button("Yes", "once"), Button("No", "deny")],
                          request_id="req-1"))
    running.send(Outbound(chat=ADA, text="Run it?", buttons=CHOICES, request_id="req-2"))
    buttons, listed = fake.wait_sent(2)
    fake.press(ADA, buttons, "deny")
    fake.press(ADA, listed, "session")
    first, second = inbox.items[1:]
    assert first.press is not None and (first.press.request_id, first.press.choice) == ("req-1", "deny")
    assert second.press is not None and (second.press.request_id, second.press.choice) == ("req-2", "session")
    fake.notify({"messages": [{"from": ADA, "id": "wamid.other", "type": "interactive", "interactive": {
        "type": "button_reply", "button_reply": {"id": "not-ours", "title": "Sure"}}}]})
    assert inbox.items[-1].press is None and inbox.items[-1].text == "Sure"


def test_what_is_not_for_the_agent_is_skipped(fake: FakeWhatsApp, running: WhatsAppChannel, inbox: Inbox) -> None:
    fake.notify({"messages": [{"from": ADA, "id": "wamid.r", "type": "reaction",
                               "reaction": {"message_id": "wamid.x", "emoji": "👍"}}]})
    fake.notify({"messages": [{"from": ADA, "id": "wamid.s", "type": "sticker", "sticker": {"id": "1"}}]})
    fake.notify({"messages": [{"from": ADA, "id": "wamid.u", "type": "unsupported"}]})
    other = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": "999999"}, "messages": [{"from": ADA, "id": "wamid.o", "type": "text",
                                                                 "text": {"body": "for another number"}}]}}]}]}
    assert fake.post(other) == 200
    fake.notify({"messages": [{"from": ADA, "id": "wamid.l", "type": "location", "location": {
        "latitude": 51.5, "longitude": -0.12, "name": "The office"}}]})
    assert fake.answers == [200] * 5
    assert [i.text for i in inbox.items] == ["[location: 51.5, -0.12; The office]"]


def test_statuses_are_kept_and_a_closed_window_is_said_plainly(fake: FakeWhatsApp, running: WhatsAppChannel,
                                                               inbox: Inbox, store: SQLiteStore) -> None:
    fake.user_says(ADA, "hi")
    message_id = running.send(Outbound(chat=ADA, text="hello"))
    for status in ("sent", "read", "delivered"):  # webhooks may come out of order
        assert fake.deliver_status(message_id, status) == 200
    record = json.loads(store.get_meta(f"whatsapp:status:{message_id}") or "{}")
    assert record["status"] == "read" and record["recipient"] == ADA
    assert running.status().last_error is None
    fake.deliver_status("wamid.old", "failed", error_code=131047, recipient=BEN)
    error = running.status().last_error or ""
    assert "+447700900123" in error and "more than 24 hours" in error and "must write first" in error
    assert json.loads(store.get_meta("whatsapp:status:wamid.old") or "{}")["error_code"] == 131047


def test_a_window_failure_reported_later_by_status(fake: FakeWhatsApp, running: WhatsAppChannel) -> None:
    fake.window_failure = "status"  # the API accepts, then a failed status comes
    message_id = running.send(Outbound(chat=BEN, text="are you there?"))  # Ben never wrote
    assert message_id.startswith("wamid.")
    fake.wait_for(lambda: "24 hours" in (running.status().last_error or ""), what="the failed status")


# --- sending ------------------------------------------------------------------------------------------


def test_text_goes_in_the_cloud_api_shape_with_whatsapp_formatting(fake: FakeWhatsApp,
                                                                   running: WhatsAppChannel) -> None:
    fake.user_says(ADA, "hi")
    message_id = running.send(Outbound(chat=f"+{ADA}", text="## Report\n**done**, see [logs](https://x.example)"))
    [sent] = fake.sent
    assert sent["id"] == message_id
    assert {k: sent[k] for k in ("messaging_product", "recipient_type", "to", "type")} == \
        {"messaging_product": "whatsapp", "recipient_type": "individual", "to": ADA, "type": "text"}
    assert sent["text"] == {"body": "*Report*\n*done*, see logs (https://x.example)", "preview_url": False}
    call = next(c for c in fake.calls if c.path.endswith("/messages"))
    assert call.headers["authorization"] == f"Bearer {fake.token}"


def test_choices_go_as_buttons_a_list_or_text(fake: FakeWhatsApp, running: WhatsAppChannel) -> None:
    fake.user_says(ADA, "hi")
    running.send(Outbound(chat=ADA, text="Sure?", buttons=CHOICES[:3], request_id="r3"))
    running.send(Outbound(chat=ADA, text="Sure?", buttons=CHOICES, request_id="r4"))
    many = [Button(f"Option {n}", f"v{n}") for n in range(11)]
    running.send(Outbound(chat=ADA, text="Pick one", buttons=many, request_id="r11"))
    three, four, eleven = fake.wait_sent(3)
    assert three["interactive"]["type"] == "button"
    assert [b["reply"]["id"] for b in three["interactive"]["action"]["buttons"]] == ["r3:once", "r3:session",
                                                                                     "r3:always"]
    assert four["interactive"]["type"] == "list" and "1 to 4" in four["interactive"]["footer"]["text"]
    rows = four["interactive"]["action"]["sections"][0]["rows"]
    assert [(r["id"], r["title"]) for r in rows][-1] == ("r4:deny", "Deny")
    assert eleven["type"] == "text" and "Reply with a number or a word: 1. Option 0" in eleven["text"]["body"]
    running.send(Outbound(chat=ADA, text="x" * 1500, buttons=CHOICES[:2], request_id="r5"))  # too long a body
    text, question = fake.wait_sent(5)[3:]
    assert text["type"] == "text" and len(text["text"]["body"]) == 1500
    assert question["interactive"]["body"]["text"] == "Your answer?"


def test_the_24_hour_window_is_a_permanent_refusal_said_plainly(fake: FakeWhatsApp, running: WhatsAppChannel) -> None:
    fake.user_says(ADA, "hi")
    running.send(Outbound(chat=ADA, text="within the window"))
    fake.advance(hours=25)
    with pytest.raises(SendError) as raised:
        running.send(Outbound(chat=ADA, text="too late"))
    assert raised.value.permanent
    assert "WhatsApp refuses replies more than 24 hours after the person last wrote; they must write first" \
        in str(raised.value)
    assert "must write first" in (running.status().last_error or "")
    fake.user_says(ADA, "I'm back")
    running.send(Outbound(chat=ADA, text="welcome back"))
    assert fake.sent[-1]["text"]["body"] == "welcome back"


FAULTS = [
    ({"status": 500}, False, None),
    ({"status": 503, "retry_after": 4}, False, 4.0),
    ({"code": 130429}, False, None),
    ({"code": 80007}, False, None),
    ({"code": 4}, False, None),
    ({"code": 131000, "status": 500}, False, None),
    ({"code": 131047}, True, None),
    ({"code": 190}, True, None),
    ({"code": 100}, True, None),
    ({"code": 131030}, True, None),
    ({"drop": True}, False, None),
    ({"hang": 2.0}, False, None),
]


@pytest.mark.parametrize(("fault", "permanent", "retry_after"), FAULTS, ids=[str(f[0]) for f in FAULTS])
def test_each_fault_becomes_the_right_send_error(fake: FakeWhatsApp, make: Callable[..., WhatsAppChannel],
                                                 fault: dict[str, object], permanent: bool,
                                                 retry_after: float | None) -> None:
    channel = make(timeout=0.3)
    fake.last_wrote[ADA] = fake.now()
    fake.fail("messages", **fault)  # type: ignore[arg-type]
    with pytest.raises(SendError) as raised:
        channel.send(Outbound(chat=ADA, text="hi"))
    assert raised.value.permanent is permanent
    assert raised.value.retry_after == retry_after
    assert fake.sent == []
    if fault.get("code") == 190:
        assert "WHATSAPP_TOKEN" in str(raised.value) and "WHATSAPP_TOKEN" in (channel.status().last_error or "")
    if fault.get("code") == 131030:
        assert "list of recipients" in str(raised.value)
    if not permanent:  # the next try goes through
        assert channel.send(Outbound(chat=ADA, text="hi")) == fake.wait_sent(1)[0]["id"]


def test_files_are_uploaded_then_sent_as_image_or_document(fake: FakeWhatsApp, make: Callable[..., WhatsAppChannel],
                                                           tmp_path: Path) -> None:
    channel = make()
    fake.last_wrote[ADA] = fake.now()
    chart, report = tmp_path / "chart.png", tmp_path / "report.csv"
    chart.write_bytes(b"\x89PNG chart")
    report.write_bytes(b"a,b\n1,2\n")
    channel.send(Outbound(chat=ADA, text="The **chart**", file=str(chart)))
    channel.send(Outbound(chat=ADA, text="", file=str(report)))
    image, document = fake.sent
    first, second = fake.uploads
    assert (first["name"], first["data"], first["type"]) == ("chart.png", b"\x89PNG chart", "image/png")
    assert image["type"] == "image" and image["image"] == {"id": first["id"], "caption": "The *chart*"}
    assert second["data"] == b"a,b\n1,2\n"
    assert document["type"] == "document" and document["document"] == {"id": second["id"], "filename": "report.csv"}
    with pytest.raises(SendError) as raised:
        channel.send(Outbound(chat=ADA, text="", file=str(tmp_path / "missing.txt")))
    assert raised.value.permanent
    fake.fail("media", status=503)
    with pytest.raises(SendError) as raised:
        channel.send(Outbound(chat=ADA, text="again", file=str(report)))
    assert not raised.value.permanent


def test_resolve_chat_takes_phone_numbers(make: Callable[..., WhatsAppChannel]) -> None:
    channel = make()
    assert channel.resolve_chat("+1 (555) 123-4567") == ADA
    assert channel.resolve_chat("447700900123") == BEN
    with pytest.raises(SendError, match="phone numbers") as raised:
        channel.resolve_chat("ada")
    assert raised.value.permanent


def test_typing_marks_the_last_message_read(fake: FakeWhatsApp, running: WhatsAppChannel) -> None:
    running.typing(ADA)  # nothing to mark yet
    assert fake.reads == []
    wamid = fake.user_says(ADA, "hi")
    running.typing(ADA)
    running.typing(ADA)  # not again so soon
    assert fake.reads == [{"messaging_product": "whatsapp", "status": "read", "message_id": wamid,
                           "typing_indicator": {"type": "text"}}]
    fake.fail("messages", status=500)
    running.typing(BEN)  # best effort: never raises


def test_a_refused_token_shows_at_start(fake: FakeWhatsApp, make: Callable[..., WhatsAppChannel],
                                        inbox: Inbox) -> None:
    channel = make(token="EAAGwrongToken")
    channel.start(inbox)
    status = channel.status()
    assert not status.connected and "WHATSAPP_TOKEN" in (status.last_error or "")
    fake.webhook_url = f"http://127.0.0.1:{channel.webhook_port}/"
    fake.user_says(ADA, "still received")  # the webhook is served all the same
    assert inbox.items[0].text == "still received"


def test_secrets_never_reach_the_logs_or_the_status(fake: FakeWhatsApp, make: Callable[..., WhatsAppChannel],
                                                    inbox: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    channel = make()
    channel.start(inbox)
    fake.webhook_url = f"http://127.0.0.1:{channel.webhook_port}/whatsapp"
    fake.send_image(ADA, b"img")
    inbox.items[0].files[0].fetch()
    channel.send(Outbound(chat=ADA, text="hello"))
    fake.fail("messages", code=190)
    with pytest.raises(SendError):
        channel.send(Outbound(chat=ADA, text="hello"))
    fake.post(b"{}", signature="sha256=bad")
    httpx.get(fake.webhook_url, params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    broken = make(token="EAAGanotherSecretToken")
    broken.start(inbox)
    assert "whatsapp" in caplog.text, "the capture is not working"
    for secret in (fake.token, fake.app_secret, fake.verify_token, "anotherSecretToken"):
        assert secret not in caplog.text
        for c in (channel, broken):
            assert secret not in (c.status().last_error or "")


# --- configuration and formatting ------------------------------------------------------------------------


def test_configuration_from_the_environment_and_the_table(ember_home: Path) -> None:
    assert "whatsapp" in available()
    settings = load_settings()
    env = {"WHATSAPP_TOKEN": "EAAGsecret", "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
           "WHATSAPP_APP_SECRET": "appsecret", "WHATSAPP_VERIFY_TOKEN": "verifyword",
           "EMBER_WHATSAPP_ALLOW": "+1 555 123 4567, 447700900123"}
    config = configure({"port": 9000, "host": "0.0.0.0"}, env, settings)
    assert config is not None and config.allow == [ADA, BEN] and (config.port, config.host) == (9000, "0.0.0.0")
    assert config.api_base == "https://graph.facebook.com/v21.0"
    assert {settings.secrets[k] for k in ("WHATSAPP_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")} == \
        {"EAAGsecret", "appsecret", "verifyword"}
    assert not any(s in repr(config) for s in ("EAAGsecret", "appsecret", "verifyword"))
    table = {"token": "t", "phone_number_id": "1", "app_secret": "s", "verify_token": "v", "allow": [15551234567],
             "api_base": "http://127.0.0.1:9/v21.0/"}
    config = configure(table, {}, settings)
    assert config is not None and config.allow == [ADA] and config.port == 8789 and config.host == "127.0.0.1"
    assert config.api_base == "http://127.0.0.1:9/v21.0"
    assert configure({}, {}, settings) is None
    with pytest.raises(ConfigError, match="WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN"):
        configure({"token": "t", "phone_number_id": "1"}, {}, settings)
    with pytest.raises(ConfigError, match="not a phone number"):
        configure({**table, "allow": ["ada"]}, {}, settings)
    with pytest.raises(ConfigError, match="the number's id"):
        configure({**table, "phone_number_id": "+1 555 0100"}, {}, settings)
    with pytest.raises(ConfigError, match="no key 'webhook'"):
        configure({**table, "webhook": "/x"}, {}, settings)


@pytest.mark.parametrize(("markdown", "whatsapp"), [
    ("**bold** and __also__", "*bold* and *also*"),
    ("*italic* and _this_", "_italic_ and _this_"),
    ("~~gone~~", "~gone~"),
    ("[the docs](https://d.example/x?a=1)", "the docs (https://d.example/x?a=1)"),
    ("<https://bare.example>", "https://bare.example"),
    ("## Heading **x**\ntext", "*Heading x*\ntext"),
    ("* one\n+ two\n- three", "- one\n- two\n- three"),
    ("```python\nif **a**:\n    pass\n```", "```\nif **a**:\n    pass\n```"),
    ("use `a**b` **here**", "use `a**b` *here*"),
    ("snake_case and __init__.py", "snake_case and __init__.py"),
    ("| a | b |\n|---|---|\n| 1 | 2 |", "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```"),
])
def test_markdown_becomes_whatsapp_formatting(markdown: str, whatsapp: str) -> None:
    assert to_whatsapp(markdown) == whatsapp


def test_a_burst_is_recorded_in_order(fake: FakeWhatsApp, running: WhatsAppChannel, inbox: Inbox) -> None:
    threads = [threading.Thread(target=lambda n=n: [fake.user_says(f"1555000{n:04d}", f"message {k}")
                                                    for k in range(20)]) for n in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(inbox.items) == 60 and time.monotonic() - started < 20
    for n in range(3):
        numbers = [int(i.text.split()[1]) for i in inbox.items if i.chat == f"1555000{n:04d}"]
        assert numbers == list(range(20))
