"""The Telegram channel against a fake Bot API server that speaks the real JSON over real HTTP."""

from __future__ import annotations

import logging
import random
import threading
import time

import httpx
import pytest

from ember.gateway.channel import Button, Channel, Inbound, Outbound, SendError
from ember.gateway.channels.markdown_html import to_telegram_html
from ember.gateway.channels.telegram import OFFSET_KEY, TelegramChannel, TelegramFileError
from ember.gateway.config import TelegramConfig
from ember.store.sqlite.store import SQLiteStore
from tests.fakes.telegram_server import EntityError, FakeTelegram, parse_html


class Inbox:
    """What the channel handed to the gateway, with a way to wait for it."""

    def __init__(self) -> None:
        self.items: list[Inbound] = []
        self.cond = threading.Condition()

    def __call__(self, inbound: Inbound) -> None:
        with self.cond:
            self.items.append(inbound)
            self.cond.notify_all()

    def wait(self, count: int, timeout: float = 5.0) -> list[Inbound]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"waited for {count} inbound messages, got {self.items}")
            return list(self.items)


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    with SQLiteStore(tmp_path / "ember.db") as db:
        yield db


@pytest.fixture
def make(fake, store, tmp_path):
    """``make(**options)``: a channel on the fake, stopped after the test."""
    made: list[TelegramChannel] = []

    def build(token: str | None = None, state=None, **options) -> TelegramChannel:
        options.setdefault("backoff", 0.05)
        options.setdefault("timeout", 5.0)
        config = TelegramConfig(token=token or fake.token, api_base=fake.api_base)
        channel = TelegramChannel(config, state or store, tmp_path / "files", **options)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.stop()


@pytest.fixture
def running(make):
    """A started channel and its inbox."""
    channel, inbox = make(), Inbox()
    channel.start(inbox)
    return channel, inbox


# --- receiving ---------------------------------------------------------------------------------

def test_is_a_channel(make):
    channel = make()
    assert isinstance(channel, Channel)
    assert (channel.name, channel.max_text) == ("telegram", 4096)


def test_private_text(fake, running):
    channel, inbox = running
    update_id = fake.user_says(42, 42, "hello *there*", name="Ada")
    [message] = inbox.wait(1)
    assert (message.platform, message.chat, message.user) == ("telegram", "42", "42")
    assert message.event_id == f"telegram:{update_id}"
    assert (message.text, message.user_name, message.direct) == ("hello *there*", "Ada", True)
    fake.wait_confirmed(update_id)
    assert channel.status().connected and channel.status().last_error is None
    polls = fake.calls_of("getUpdates")
    assert polls[0].params["allowed_updates"] == ["message", "callback_query"]
    assert polls[0].params["timeout"] == 30


def test_group_messages_arrive_only_when_the_bot_is_addressed(fake, running):
    channel, inbox = running
    chatter = fake.user_says(-1001234, 7, "just chatting, cc @someone_else")
    fake.user_says(-1001234, 7, "@Ember_Test_Bot what time is it?")
    bot_message = channel.send(Outbound(chat="-1001234", text="It is noon."))
    fake.user_says(-1001234, 7, "thanks!", reply_to=int(bot_message))
    fake.user_says(-1001234, 7, "/status@ember_test_bot")
    fake.user_says(-1001234, 7, "/help@other_bot")
    last = fake.user_says(-1001234, 7, "/new")
    fake.wait_confirmed(last)
    mention, reply, command, bare = inbox.wait(4)
    assert (mention.text, reply.text, command.text, bare.text) == ("what time is it?", "thanks!", "/status", "/new")
    assert all(m.direct and m.chat == "-1001234" and m.user == "7" for m in inbox.items)
    assert len(inbox.items) == 4 and fake.confirmed > chatter  # the rest was skipped, not left behind


def test_photo_document_and_voice_download_only_when_fetched(fake, running):
    _, inbox = running
    big = bytes(range(256)) * 40
    fake.send_photo(42, 42, big, caption="what is this?")
    fake.send_document(42, 42, b"a,b\n1,2\n", file_name="data.csv", mime_type="text/csv")
    fake.send_voice(42, 42, b"OggS voice")
    photo, document, voice = inbox.wait(3)
    assert photo.text == "what is this?" and len(photo.files) == 1
    assert (photo.files[0].mime, photo.files[0].size) == ("image/jpeg", len(big))
    assert (document.files[0].name, document.files[0].mime, document.files[0].size) == ("data.csv", "text/csv", 8)
    assert voice.files[0].mime == "audio/ogg" and voice.files[0].name.endswith(".ogg")
    assert fake.calls_of("getFile") == [] and fake.downloads == []
    assert photo.files[0].fetch() == big  # the largest size
    assert document.files[0].fetch() == b"a,b\n1,2\n"
    assert voice.files[0].fetch() == b"OggS voice"
    assert len(fake.downloads) == 3


def test_a_file_that_cannot_be_fetched_says_so(fake, running):
    _, inbox = running
    fake.send_document(42, 42, b"x", file_name="gone.txt")
    [message] = inbox.wait(1)
    fake.fail("getFile", 400, "Bad Request: file is too big")
    with pytest.raises(TelegramFileError, match="gone.txt.*file is too big"):
        message.files[0].fetch()


def test_button_press_round_trip(fake, running):
    channel, inbox = running
    long_id = "approval-" + "x" * 80  # too long for callback_data: kept in the store
    channel.send(Outbound(chat="42", text="Run `rm -rf build`?", request_id="req-17",
                          buttons=[Button("Allow once", "once"), Button("Deny", "deny")]))
    channel.send(Outbound(chat="42", text="And this?", request_id=long_id, buttons=[Button("Always", "always")]))
    assert fake.sent[0].buttons == [("Allow once", "req-17:once"), ("Deny", "req-17:deny")]
    assert all(len(data.encode()) <= 64 for _, data in fake.sent[1].buttons)
    fake.press(42, 42, label="Deny")
    update_id = fake.press(42, 42, label="Always")
    first, second = inbox.wait(2)
    assert first.press is not None and (first.press.request_id, first.press.choice) == ("req-17", "deny")
    assert second.press is not None and (second.press.request_id, second.press.choice) == (long_id, "always")
    assert (second.chat, second.user, second.event_id) == ("42", "42", f"telegram:{update_id}")
    fake.wait_confirmed(update_id)
    assert len(fake.answered) == 2


def test_forum_topics_keep_their_thread(fake, running):
    channel, inbox = running
    fake.user_says(-1005, 9, "@ember_test_bot hi", thread=77)
    [message] = inbox.wait(1)
    assert message.thread == "77"
    channel.send(Outbound(chat=message.chat, text="hello", thread=message.thread))
    channel.typing(message.chat, message.thread)
    assert fake.sent[0].thread == 77
    assert fake.calls_of("sendChatAction")[0].params["message_thread_id"] == 77


# --- the offset --------------------------------------------------------------------------------

def test_a_restart_neither_replays_nor_skips(fake, make, store, tmp_path):
    first, inbox = make(), Inbox()
    first.start(inbox)
    fake.user_says(42, 42, "one")
    last = fake.user_says(42, 42, "two")
    inbox.wait(2)
    fake.wait_confirmed(last)
    first.stop()
    fake.user_says(42, 42, "three")  # arrives while Ember is down
    store.close()
    with SQLiteStore(tmp_path / "ember.db") as reopened:
        second, after = make(state=reopened), Inbox()
        second.start(after)
        fake.user_says(42, 42, "four")
        assert [m.text for m in after.wait(2)] == ["three", "four"]
        time.sleep(0.2)
        assert len(after.items) == 2
        second.stop()


def test_the_offset_moves_only_after_on_inbound_returned(fake, make, store):
    release, entered = threading.Event(), threading.Event()
    seen: list[str] = []

    def slow(inbound: Inbound) -> None:
        entered.set()
        release.wait(5)
        seen.append(inbound.text)

    make().start(slow)
    update_id = fake.user_says(42, 42, "hi")
    assert entered.wait(5)
    assert store.get_meta(OFFSET_KEY) is None
    release.set()
    fake.wait_confirmed(update_id)
    assert store.get_meta(OFFSET_KEY) == str(update_id + 1)


def test_an_update_not_recorded_comes_again(fake, make, store):
    inbox, attempts = Inbox(), []

    def flaky(inbound: Inbound) -> None:
        attempts.append(inbound.event_id)
        if len(attempts) == 1:
            raise RuntimeError("database is locked")
        inbox(inbound)

    channel = make()
    channel.start(flaky)
    fake.user_says(42, 42, "important")
    [message] = inbox.wait(1)
    assert attempts == [message.event_id, message.event_id]


def test_connected_while_a_long_poll_waits(fake, make):
    channel = make()
    channel.start(Inbox())
    fake.wait_polling()
    assert channel.status().connected and channel.status().last_error is None


def test_stop_is_prompt_during_a_long_poll(fake, make):
    channel = make(poll_timeout=50)
    channel.start(Inbox())
    fake.wait_polling()
    started = time.monotonic()
    channel.stop()
    assert time.monotonic() - started < 1.0
    assert not any(t.name == "telegram-poll" and t.is_alive() for t in threading.enumerate())


# --- polling errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("fault", [502, "drop"])
def test_polling_backs_off_and_recovers(fake, make, fault):
    fake.fail("getUpdates", fault, times=3)
    channel, inbox = make(), Inbox()
    channel.start(inbox)
    fake.user_says(42, 42, "still there?")
    assert inbox.wait(1)[0].text == "still there?"
    assert len(fake.calls_of("getUpdates")) >= 4
    assert channel.status().connected


def test_polling_waits_as_long_as_telegram_asks(fake, make):
    fake.fail("getUpdates", 429, retry_after=1)
    channel = make()
    channel.start(Inbox())
    deadline = time.monotonic() + 2
    while "retrying in 1 s" not in (channel.status().last_error or "") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not channel.status().connected and "Too Many Requests" in channel.status().last_error
    time.sleep(0.5)
    assert len(fake.calls_of("getUpdates")) == 1


def test_a_webhook_conflict_is_explained_and_polling_resumes(fake, make):
    fake.webhook_url = "https://example.org/hook"
    channel, inbox = make(), Inbox()
    channel.start(inbox)
    deadline = time.monotonic() + 3
    while not channel.status().last_error and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "webhook" in channel.status().last_error and "deleteWebhook" in channel.status().last_error
    fake.webhook_url = ""
    fake.user_says(42, 42, "hi")
    inbox.wait(1)
    assert channel.status().connected


def test_a_refused_token_stops_polling_and_says_what_to_do(fake, make):
    channel = make(token="999:wrong-token-value")
    channel.start(Inbox())
    deadline = time.monotonic() + 3
    while not channel.status().last_error and time.monotonic() < deadline:
        time.sleep(0.01)
    status = channel.status()
    assert not status.connected and "401" in status.last_error and "TELEGRAM_BOT_TOKEN" in status.last_error
    time.sleep(0.3)
    assert not any(t.name == "telegram-poll" and t.is_alive() for t in threading.enumerate())


# --- sending -----------------------------------------------------------------------------------

def test_markdown_is_sent_as_telegram_html(fake, make):
    channel = make()
    text = ("# Plan\n**Bold**, *italic*, `a<b`, [docs](https://example.org/?q=1&x=2) & more\n"
            "```python\nprint(1 < 2)\n```")
    message_id = channel.send(Outbound(chat="42", text=text))
    [sent] = fake.sent
    assert message_id == str(sent.message_id) and sent.parse_mode == "HTML"
    assert sent.text == ('<b>Plan</b>\n<b>Bold</b>, <i>italic</i>, <code>a&lt;b</code>, '
                         '<a href="https://example.org/?q=1&amp;x=2">docs</a> &amp; more\n'
                         '<pre><code class="language-python">print(1 &lt; 2)</code></pre>')
    assert sent.visible == "Plan\nBold, italic, a<b, docs & more\nprint(1 < 2)"


def test_formatting_telegram_refuses_falls_back_to_plain_text(fake, make):
    channel = make()
    fake.fail("sendMessage", 400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0")
    message_id = channel.send(Outbound(chat="42", text="**never** lost"))
    [sent] = fake.sent
    assert (sent.text, sent.parse_mode, message_id) == ("**never** lost", None, str(sent.message_id))
    assert len(fake.calls_of("sendMessage")) == 2


def test_splitting_is_the_gateways_job(fake, make):
    channel = make()
    escaped = "a & b < c " * 409 + "end!!!"  # 4096 characters, longer once escaped as HTML
    assert len(escaped) == 4096 and len(to_telegram_html(escaped)) > 4096
    channel.send(Outbound(chat="42", text=escaped))
    assert fake.sent[0].visible == escaped
    with pytest.raises(SendError, match="message is too long") as failed:
        channel.send(Outbound(chat="42", text="x" * 4097))
    assert failed.value.permanent and len(fake.sent) == 1


FAULTS = [
    (502, None, False, None, "Bad Gateway"),
    (500, None, False, None, "Internal Server Error"),
    (429, None, False, 7.0, "retry after 7"),
    ("hang", None, False, None, "no answer"),
    ("drop", None, False, None, "could not reach"),
    (403, None, True, None, "blocked"),
    (403, "Forbidden: bot was kicked from the group chat", True, None, "kicked"),
    (400, None, True, None, "chat not found"),
]


@pytest.mark.parametrize(("fault", "description", "permanent", "retry_after", "says"), FAULTS)
def test_send_failures_map_to_send_error(fake, make, fault, description, permanent, retry_after, says):
    channel = make(timeout=0.5)
    fake.fail("sendMessage", fault, description, retry_after=7 if fault == 429 else None)
    with pytest.raises(SendError, match=says) as failed:
        channel.send(Outbound(chat="42", text="hello"))
    assert (failed.value.permanent, failed.value.retry_after) == (permanent, retry_after)
    assert fake.sent == []
    channel.send(Outbound(chat="42", text="hello"))  # the fault was for one call
    assert len(fake.sent) == 1


def test_a_refused_token_is_a_permanent_send_error(fake, make):
    channel = make(token="999:wrong-token-value")
    with pytest.raises(SendError, match="TELEGRAM_BOT_TOKEN") as failed:
        channel.send(Outbound(chat="42", text="hello"))
    assert failed.value.permanent and "wrong-token-value" not in str(failed.value)


def test_an_unreachable_server_is_retryable(store, tmp_path):
    with FakeTelegram() as gone:
        base = gone.api_base
    channel = TelegramChannel(TelegramConfig(token=gone.token, api_base=base), store, tmp_path, timeout=1)
    with pytest.raises(SendError, match="could not reach") as failed:
        channel.send(Outbound(chat="42", text="hello"))
    assert not failed.value.permanent
    channel.typing("42")  # never raises


def test_files_go_as_photos_or_documents_with_captions(fake, make, tmp_path):
    channel = make()
    picture, report = tmp_path / "chart.png", tmp_path / "report.txt"
    picture.write_bytes(b"\x89PNG fake image")
    report.write_bytes(b"all good\n")
    channel.send(Outbound(chat="42", text="The **chart**", file=str(picture)))
    channel.send(Outbound(chat="42", text="", file=str(report)))
    photo, document = fake.sent
    assert (photo.method, photo.file, photo.file_name) == ("sendPhoto", b"\x89PNG fake image", "chart.png")
    assert (photo.text, photo.parse_mode, photo.visible) == ("The <b>chart</b>", "HTML", "The chart")
    assert (document.method, document.file, document.text) == ("sendDocument", b"all good\n", "")


def test_a_long_caption_goes_as_its_own_message(fake, make, tmp_path):
    channel = make()
    report = tmp_path / "report.txt"
    report.write_bytes(b"data")
    text = "word " * 300
    message_id = channel.send(Outbound(chat="42", text=text, file=str(report), request_id="r",
                                       buttons=[Button("OK", "ok")]))
    message, document = fake.sent
    assert (message.method, message.visible, message.buttons) == ("sendMessage", text.strip(), [("OK", "r:ok")])
    assert (document.method, document.text, document.buttons) == ("sendDocument", "", [])
    assert message_id == str(message.message_id)


def test_a_photo_telegram_refuses_goes_as_a_document(fake, make, tmp_path):
    channel = make()
    picture = tmp_path / "wide.jpg"
    picture.write_bytes(b"jpeg")
    fake.fail("sendPhoto", 400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    channel.send(Outbound(chat="42", text="wide", file=str(picture)))
    assert [s.method for s in fake.sent] == ["sendDocument"]


def test_a_missing_file_is_a_permanent_error(make, tmp_path):
    with pytest.raises(SendError, match="nothing.pdf") as failed:
        make().send(Outbound(chat="42", text="here", file=str(tmp_path / "nothing.pdf")))
    assert failed.value.permanent


def test_typing_never_raises(fake, make):
    channel = make(timeout=0.3)
    channel.typing("42")
    assert fake.actions == [("42", "typing")]
    for fault in (502, 403, "drop", "hang"):
        fake.fail("sendChatAction", fault)
        channel.typing("42")
    channel.typing("not a chat")


def test_resolve_chat(make):
    channel = make()
    assert channel.resolve_chat("123456789") == "123456789"
    assert channel.resolve_chat(" -1001234567890 ") == "-1001234567890"
    assert channel.resolve_chat("@ember_news") == "@ember_news"
    for wrong in ("#team", "Ada Lovelace", "@x", ""):
        with pytest.raises(ValueError, match="numeric id"):
            channel.resolve_chat(wrong)


# --- the token ---------------------------------------------------------------------------------

def test_the_token_never_reaches_logs_errors_or_status(fake, make, caplog):
    secret = fake.token.split(":", 1)[1]
    caplog.set_level(logging.DEBUG)
    channel, inbox = make(timeout=0.5), Inbox()
    channel.start(inbox)
    fake.user_says(42, 42, "hi")
    inbox.wait(1)
    channel.send(Outbound(chat="42", text="hello"))
    errors = []
    for fault in (403, 502, "drop", "hang"):
        fake.fail("sendMessage", fault)
        with pytest.raises(SendError) as failed:
            channel.send(Outbound(chat="42", text="hello"))
        errors.append(str(failed.value))
    fake.fail("getUpdates", 502)
    fake.user_says(42, 42, "again")
    inbox.wait(2)
    refused = make(token="999:AAwrong-token-value-abcdefghijklmnop")
    refused.start(Inbox())
    with pytest.raises(SendError) as failed:
        refused.send(Outbound(chat="42", text="hello"))
    errors.append(str(failed.value))
    deadline = time.monotonic() + 3
    while not refused.status().last_error and time.monotonic() < deadline:
        time.sleep(0.01)
    channel.stop()
    logged = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert any("HTTP Request" in m for m in logged)  # httpx did log the requests...
    for text in [*logged, *errors, refused.status().last_error or "", channel.status().last_error or ""]:
        assert secret not in text and "wrong-token-value" not in text  # ...without the token


# --- Markdown to Telegram HTML -----------------------------------------------------------------

@pytest.mark.parametrize(("markdown", "expected"), [
    ("**bold** and __bold__", "<b>bold</b> and <b>bold</b>"),
    ("*it* _it_ snake_case_name 2 * 3 * 4", "<i>it</i> <i>it</i> snake_case_name 2 * 3 * 4"),
    ("~~old~~ ||spoiler||", "<s>old</s> <tg-spoiler>spoiler</tg-spoiler>"),
    ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
    ("`<tag>` and ``a ` b``", "<code>&lt;tag&gt;</code> and <code>a ` b</code>"),
    ("## Heading *x*", "<b>Heading <i>x</i></b>"),
    ("- one\n* two", "• one\n• two"),
    ("> quoted\n> lines", "<blockquote>quoted\nlines</blockquote>"),
    ("```\nx = 1 & 2\n```", "<pre>x = 1 &amp; 2</pre>"),
    ("```sh\necho <hi>", '<pre><code class="language-sh">echo &lt;hi&gt;</code></pre>'),  # left open
    ("[js](javascript:alert(1))", "[js](javascript:alert(1))"),
    ("[a **b**](https://x.org/a_b)", '<a href="https://x.org/a_b">a <b>b</b></a>'),
    ("![a chart](https://x.org/c.png)", '<a href="https://x.org/c.png">a chart</a>'),
    ("<https://x.org/?a=1&b=2>", "https://x.org/?a=1&amp;b=2"),
    (r"\*not italic\*", "*not italic*"),
    ("*a **b* c**", "*a **b* c**"),  # markers that cross stay text
    ("| a | b |\n|---|---|\n| 1 | 2 |", "<pre>| a | b |\n|---|---|\n| 1 | 2 |</pre>"),
])
def test_markdown_to_html(markdown, expected):
    assert to_telegram_html(markdown) == expected
    parse_html(expected)


def test_any_markdown_becomes_html_telegram_accepts():
    pieces = ["**", "*", "_", "__", "`", "```", "```py\n", "~~", "||", "<", ">", "&", "&amp;", "[", "]", "(",
              ")", "](https://x.org)", "# ", "> ", "- ", "\n", " ", "word", "snake_case", "\\", "<b>", "é", "|"]
    rng = random.Random(7)
    for _ in range(3000):
        markdown = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        try:
            parse_html(to_telegram_html(markdown))
        except EntityError as exc:
            raise AssertionError(f"{markdown!r} -> {to_telegram_html(markdown)!r}: {exc}") from None


# --- the fake speaks the Bot API ---------------------------------------------------------------

def test_the_fake_answers_like_the_bot_api(fake):
    with httpx.Client(base_url=fake.api_base) as http:
        assert http.get("/bot999:nope/getMe").json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        me = http.get(f"/bot{fake.token}/getMe").json()
        assert me["ok"] and me["result"]["username"] == "ember_test_bot"
        bad = http.post(f"/bot{fake.token}/sendMessage", json={"chat_id": 1, "text": "<b>x", "parse_mode": "HTML"})
        assert bad.status_code == 400
        assert bad.json()["description"].startswith("Bad Request: can't parse entities: ")
        first = fake.user_says(1, 1, "a")
        fake.user_says(1, 1, "b")
        assert len(http.post(f"/bot{fake.token}/getUpdates", data={"timeout": "0"}).json()["result"]) == 2
        result = http.get(f"/bot{fake.token}/getUpdates", params={"offset": first + 1}).json()["result"]
        assert [u["message"]["text"] for u in result] == ["b"]
        started = time.monotonic()
        assert http.post(f"/bot{fake.token}/getUpdates", json={"offset": first + 2, "timeout": 0.3}).json() == \
            {"ok": True, "result": []}
        assert time.monotonic() - started >= 0.3


def test_receiving_a_thousand_messages_in_order(fake, running):
    _, inbox = running
    for n in range(1000):
        fake.user_says(100 + n % 10, 100 + n % 10, f"message {n}")
    received = inbox.wait(1000, timeout=30)
    assert [m.text for m in received] == [f"message {n}" for n in range(1000)]
    assert len({m.event_id for m in received}) == 1000
