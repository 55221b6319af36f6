"""The Discord channel against a fake Discord that speaks the real REST API and Gateway protocol."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("websockets", reason="the gateway extra is not installed")

from ember.config import ConfigError, load_settings  # noqa: E402
from ember.gateway.channel import Button, Channel, Inbound, Outbound, SendError  # noqa: E402
from ember.gateway.channels import available  # noqa: E402
from ember.gateway.channels.discord import DiscordChannel, DiscordConfig, configure  # noqa: E402
from ember.gateway.channels.discord_gateway import INTENTS, SESSION_KEY  # noqa: E402
from ember.store.sqlite.store import SQLiteStore  # noqa: E402
from tests.fakes.discord_server import FakeDiscord  # noqa: E402

ANN, BOB = "210000000000000001", "210000000000000002"


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
            self.store.set_meta(f"inbox:{inbound.event_id}", inbound.text)
            self.items.append(inbound)
            self.changed.notify_all()

    def wait(self, count: int, timeout: float = 5.0) -> list[Inbound]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.items) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"got {len(self.items)} inbound message(s), wanted {count}"
                self.changed.wait(left)
        return list(self.items)


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    with FakeDiscord(heartbeat_interval=0.3) as server:
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
def make(fake: FakeDiscord, store: SQLiteStore, tmp_path: Path) -> Iterator[Callable[..., DiscordChannel]]:
    made: list[DiscordChannel] = []

    def build(timeout: float = 2.0, **overrides: object) -> DiscordChannel:
        fields = {"token": fake.token, "api_base": fake.api_base, **overrides}
        channel = DiscordChannel(DiscordConfig(**fields), store, tmp_path / "files",  # type: ignore[arg-type]
                                 client=httpx.Client(timeout=timeout))
        channel.reconnect_delay = 0.05
        channel.invalid_session_delay = (0.01, 0.05)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.stop()
        channel.client.close()


@pytest.fixture
def running(make: Callable[..., DiscordChannel], fake: FakeDiscord, inbox: Inbox) -> DiscordChannel:
    channel = make()
    channel.start(inbox)
    fake.wait_ready()
    return channel


def saved_seq(store: SQLiteStore) -> int | None:
    return json.loads(store.get_meta(SESSION_KEY) or "{}").get("seq")


# --- receiving ------------------------------------------------------------------------------------


def test_a_dm_arrives_as_an_inbound_after_identify(fake: FakeDiscord, running: DiscordChannel, inbox: Inbox,
                                                   store: SQLiteStore) -> None:
    assert isinstance(running, Channel) and running.max_text == 2000
    message = fake.dm(ANN, "hello <@210000000000000002>", mentions=[BOB])
    [got] = inbox.wait(1)
    assert (got.platform, got.user, got.event_id) == ("discord", ANN, f"discord:{message['id']}")
    assert got.chat == message["channel_id"] and got.thread is None and got.direct and got.press is None
    assert got.text == "hello @User0002" and got.user_name == "User0001"
    [identify] = fake.identifies
    assert identify["intents"] == INTENTS and INTENTS & (1 << 15) and INTENTS & (1 << 12) and INTENTS & (1 << 9)
    assert fake.paths[0] == "/?v=10&encoding=json"  # the URL GET /gateway/bot named, with version and encoding
    fake.wait_for(lambda: saved_seq(store) == fake.seq, what="the sequence saved")
    assert running.bot_user == fake.bot_id and running.status().connected and running.status().last_error is None


def test_heartbeats_carry_the_last_sequence_and_are_acknowledged(fake: FakeDiscord, running: DiscordChannel,
                                                                 inbox: Inbox) -> None:
    fake.dm(ANN, "one")
    inbox.wait(1)
    fake.wait_for(lambda: fake.heartbeats and fake.heartbeats[-1] == fake.seq, 3, "a heartbeat with the sequence")
    fake.request_heartbeat()  # op 1 from Discord: a heartbeat at once
    count = len(fake.heartbeats)
    fake.wait_for(lambda: len(fake.heartbeats) > count, 1, "the asked-for heartbeat")
    assert fake.connections == 1 and running.status().connected


def test_a_mention_in_a_server_channel_is_a_conversation_answered_as_a_reply(fake: FakeDiscord,
                                                                             running: DiscordChannel,
                                                                             inbox: Inbox) -> None:
    general = fake.add_channel("general")
    asked = fake.mention(general, ANN, "what's the status?")
    [got] = inbox.wait(1)
    assert got.text == "what's the status?" and got.chat == general and got.thread == asked["id"]
    answer_id = running.send(Outbound(chat=general, text="**All good**", thread=got.thread))
    [answer] = fake.wait_posted(1)
    assert answer["id"] == answer_id and answer["content"] == "**All good**"
    assert answer["message_reference"]["message_id"] == asked["id"]
    assert answer["allowed_mentions"] == {"parse": [], "replied_user": True}
    follow = fake.reply(answer, ANN, "and the logs?", ping=False)  # a reply to the bot, no mention
    second = inbox.wait(2)[1]
    assert second.thread == asked["id"] and second.text == "and the logs?"  # the same conversation
    running.send(Outbound(chat=general, text="here", thread=second.thread))
    assert fake.wait_posted(2)[1]["message_reference"]["message_id"] == follow["id"]  # a reply to the latest
    fake.mention(general, BOB, "a new topic")
    assert inbox.wait(3)[2].thread not in (None, asked["id"])
    fake.reply(asked, ANN, "/stop", ping=False)  # a reply to the question itself: the same conversation
    assert inbox.wait(4)[3].thread == asked["id"] and inbox.items[3].text == "/stop"
    fake.reply(fake.user_says(general, BOB, "lunch?"), ANN, "sure")  # people talking: not for the bot
    fake.wait_delivered()
    time.sleep(0.2)
    assert len(inbox.items) == 4


def test_in_a_thread_the_thread_is_the_conversation(fake: FakeDiscord, running: DiscordChannel,
                                                    inbox: Inbox) -> None:
    thread = fake.add_thread(fake.add_channel("general"))
    fake.mention(thread, ANN, "in the thread")
    [got] = inbox.wait(1)
    assert got.chat == thread and got.thread is None
    running.send(Outbound(chat=got.chat, text="answered in the thread"))
    assert fake.wait_posted(1)[0]["channel_id"] == thread
    unannounced = fake.add_thread(fake.add_channel("other"), announce=False)  # known by its messages' position
    fake.mention(unannounced, ANN, "here too")
    assert inbox.wait(2)[1].thread is None


def test_bots_own_system_and_unaddressed_messages_are_skipped(fake: FakeDiscord, running: DiscordChannel,
                                                              inbox: Inbox, store: SQLiteStore) -> None:
    general = fake.add_channel("general")
    fake.user_says(general, ANN, "chatter not for the bot")
    fake.user_says(general, "310000000000000009", "<@1100000000000000001> from a bot", mentions=[fake.bot_id],
                   author={"id": "310000000000000009", "username": "otherbot", "bot": True})
    fake.dm(fake.bot_id, "my own words")
    fake.dm(ANN, "", type=7)  # a member joined
    fake.dm(ANN, "   ")
    fake.dm(ANN, "the real one")
    assert [i.text for i in inbox.wait(1)] == ["the real one"]
    fake.wait_for(lambda: saved_seq(store) == fake.seq, what="every event counted")
    assert len(inbox.items) == 1


def test_buttons_go_as_components_and_a_press_comes_back_answered(fake: FakeDiscord, running: DiscordChannel,
                                                                 inbox: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    channel = fake.dm_channel(ANN)
    buttons = [Button("Allow once", "once"), Button("This session", "session"), Button("Always", "always"),
               Button("Deny", "deny")]
    running.send(Outbound(chat=channel, text="Run `rm -rf build`?", buttons=buttons, request_id="req-7"))
    [posted] = fake.wait_posted(1)
    [row] = posted["components"]
    assert row["type"] == 1 and [b["custom_id"] for b in row["components"]] == \
        ["req-7:once", "req-7:session", "req-7:always", "req-7:deny"]
    assert [b["style"] for b in row["components"]] == [1, 2, 2, 4]
    interaction = fake.click(posted, ANN, "always")
    [got] = inbox.wait(1)
    assert got.press is not None and (got.press.request_id, got.press.choice) == ("req-7", "always")
    assert (got.chat, got.user, got.event_id) == (channel, ANN, f"discord:{interaction['id']}")
    fake.wait_for(lambda: len(fake.callbacks) == 1, what="the interaction callback")
    assert fake.callbacks[0] == {"id": interaction["id"], "type": 6}
    callback = next(c for c in fake.calls if c.path.startswith("/interactions/"))
    assert "authorization" not in callback.headers  # the interaction's own token, not the bot's
    fake.wait_for(lambda: "/interactions/" in caplog.text, what="the callback in httpx's log")
    assert interaction["token"] not in caplog.text and f"/interactions/{interaction['id']}/[REDACTED]" in caplog.text
    fake.interact(posted, BOB, "not-ours")  # a button that is not Ember's: answered, not passed on
    fake.wait_for(lambda: len(fake.callbacks) == 2, what="the second callback")
    assert len(inbox.items) == 1


def test_a_long_pair_rides_in_the_store(fake: FakeDiscord, running: DiscordChannel, inbox: Inbox) -> None:
    channel = fake.add_channel("general")
    running.send(Outbound(chat=channel, text="?", buttons=[Button("Yes", "x" * 120)], request_id="req-long"))
    [posted] = fake.wait_posted(1)
    assert posted["components"][0]["components"][0]["custom_id"].startswith("#")
    fake.interact(posted, ANN, posted["components"][0]["components"][0]["custom_id"])
    [got] = inbox.wait(1)
    assert got.press is not None and got.press.choice == "x" * 120


def test_an_event_that_was_not_recorded_comes_again_by_resume(fake: FakeDiscord, running: DiscordChannel,
                                                              inbox: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    fake.dm(ANN, "first")
    inbox.wait(1)
    session = fake.session_id
    inbox.fail_next = 1
    message = fake.dm(ANN, "keep me")
    items = inbox.wait(2)
    assert items[1].event_id == f"discord:{message['id']}"
    assert fake.resumes and fake.resumes[-1][0] == session and len(fake.identifies) == 1
    assert "an event was not recorded (RuntimeError: database is locked)" in caplog.text
    assert fake.paths[-1].startswith("/resume/")  # resumed at the resume_gateway_url


def test_a_restart_resumes_and_what_came_meanwhile_is_replayed(fake: FakeDiscord, make: Callable[..., DiscordChannel],
                                                              inbox: Inbox, store: SQLiteStore) -> None:
    first = make()
    first.start(inbox)
    fake.wait_ready()
    fake.dm(ANN, "before")
    inbox.wait(1)
    fake.wait_for(lambda: saved_seq(store) == fake.seq, what="the sequence saved")
    first.stop()
    fake.wait_for(lambda: fake._live() is None, what="the connection closed")
    fake.dm(ANN, "while down 1")
    fake.dm(BOB, "while down 2")
    second = make()
    second.start(inbox)
    items = inbox.wait(3)
    assert [i.text for i in items] == ["before", "while down 1", "while down 2"]
    assert len(fake.identifies) == 1 and len(fake.resumes) == 1
    fake.wait_for(lambda: second.status().connected, what="connected after RESUMED")


def test_a_restart_after_the_session_expired_identifies_afresh(fake: FakeDiscord,
                                                               make: Callable[..., DiscordChannel],
                                                               inbox: Inbox, store: SQLiteStore) -> None:
    first = make()
    first.start(inbox)
    fake.wait_for(lambda: saved_seq(store) is not None, what="a session saved")
    first.stop()
    fake.expire_sessions()
    second = make()
    second.start(inbox)
    fake.wait_ready(3)  # the refused resume, then an identify
    fake.dm(ANN, "after")
    assert inbox.wait(1)[0].text == "after"
    assert len(fake.identifies) == 2 and len(fake.resumes) == 1


def test_reconnect_and_invalid_session(fake: FakeDiscord, running: DiscordChannel, inbox: Inbox) -> None:
    fake.reconnect()  # op 7: resume on a new connection
    fake.wait_for(lambda: len(fake.resumes) == 1 and fake._live() is not None, what="a resume")
    fake.dm(ANN, "after the reconnect")
    assert inbox.wait(1)[0].text == "after the reconnect"
    fake.invalidate(resumable=True)  # op 9, true: resume
    fake.wait_for(lambda: len(fake.resumes) == 2 and fake._live() is not None, what="a second resume")
    fake.invalidate(resumable=False)  # op 9, false: a fresh identify
    fake.wait_for(lambda: len(fake.identifies) == 2 and fake._live() is not None, what="a fresh identify")
    fake.dm(ANN, "new session")
    assert inbox.wait(2)[1].text == "new session"
    fake.close_socket(4009)  # session timed out: identify again
    fake.wait_for(lambda: len(fake.identifies) == 3 and fake._live() is not None, what="a third identify")
    assert running.status().connected


def test_a_dead_connection_is_noticed_by_its_heartbeat_and_resumed(fake: FakeDiscord, running: DiscordChannel,
                                                                   inbox: Inbox) -> None:
    fake.ack_heartbeats = False
    fake.wait_for(lambda: len(fake.resumes) >= 1, 5, "a resume after an unanswered heartbeat")
    fake.ack_heartbeats = True
    fake.drop_socket()  # the network goes: no close frame
    fake.wait_for(lambda: len(fake.resumes) >= 2 and fake._live() is not None, 5, "a resume after the drop")
    fake.dm(ANN, "still here")
    assert inbox.wait(1)[0].text == "still here"
    assert len(fake.identifies) == 1


@pytest.mark.parametrize(("setup", "words"), [
    ("token", "check DISCORD_BOT_TOKEN"),
    ("intents", "MESSAGE CONTENT INTENT"),
    ("gateway/bot", "check DISCORD_BOT_TOKEN"),
])
def test_what_no_retry_can_fix_stops_with_the_reason(fake: FakeDiscord, make: Callable[..., DiscordChannel],
                                                     inbox: Inbox, setup: str, words: str) -> None:
    if setup == "token":
        channel = make(token="MTEw.wrong.token", gateway_url=fake.gateway_url)
    elif setup == "intents":
        fake.message_content = False
        channel = make()
    else:
        channel = make(token="MTEw.wrong.token")
    channel.start(inbox)
    fake.wait_for(lambda: words in (channel.status().last_error or ""), what=words)
    time.sleep(0.3)
    assert fake.connections <= 1 and not channel.status().connected  # not retried


# --- sending and its failures ---------------------------------------------------------------------------


def test_send_posts_with_the_bot_token(fake: FakeDiscord, make: Callable[..., DiscordChannel]) -> None:
    channel = make()
    general = fake.add_channel("general")
    message_id = channel.send(Outbound(chat=general, text="# Report\n**done** @everyone"))
    [posted] = fake.posted
    assert posted["id"] == message_id and posted["content"] == "# Report\n**done** @everyone"
    assert posted["allowed_mentions"]["parse"] == []  # the model cannot ping everyone
    call = next(c for c in fake.calls if c.path.endswith("/messages"))
    assert call.headers["authorization"] == f"Bot {fake.token}"
    assert call.headers["user-agent"].startswith("DiscordBot (")
    assert "message_reference" not in call.body


def test_a_retried_send_is_one_message(fake: FakeDiscord, make: Callable[..., DiscordChannel]) -> None:
    """The outbox's key of an item goes as the nonce Discord enforces: a try repeated after a crash
    between Discord's answer and its record returns the message already posted."""
    channel = make()
    general = fake.add_channel("general")
    first = channel.send(Outbound(chat=general, text="Report", key="0123456789abcdef0123"))
    again = channel.send(Outbound(chat=general, text="Report", key="0123456789abcdef0123"))
    other = channel.send(Outbound(chat=general, text="Report", key="fedcba9876543210fedc"))
    assert first == again != other
    assert len(fake.posted) == 2 and fake.nonce_repeats == 1
    call = next(c for c in fake.calls if c.path.endswith("/messages"))
    assert call.body["nonce"] == "0123456789abcdef0123" and call.body["enforce_nonce"] is True


def test_an_outbox_send_repeated_after_a_crash_is_one_message(fake: FakeDiscord, store: SQLiteStore,
                                                              make: Callable[..., DiscordChannel]) -> None:
    from ember.gateway.ledger import Ledger
    from ember.gateway.outbox import Outbox

    ledger = Ledger(store)
    outbox = Outbox(ledger, {"discord": make()})
    general = fake.add_channel("general")
    [item_id] = outbox.queue("discord", general, "Nightly report", kind="cron")
    item = ledger.outbox_item(item_id)
    assert item is not None
    assert outbox.deliver(item)  # posted and recorded ...
    assert outbox.deliver(item)  # ... and tried again, as a worker does that died before recording it
    assert len(fake.posted) == 1 and fake.nonce_repeats == 1


FAULTS = [
    ({"status": 503}, False, None),
    ({"status": 502}, False, None),
    ({"status": 429, "retry_after": 1.5}, False, 1.5),
    ({"status": 429, "retry_after": 3, "header_only": True}, False, 3.0),
    ({"status": 403, "code": 50001}, True, None),
    ({"status": 403, "code": 50007}, True, None),
    ({"status": 403, "code": 50013}, True, None),
    ({"status": 404, "code": 10003}, True, None),
    ({"status": 401}, True, None),
    ({"drop": True}, False, None),
    ({"hang": 2.0}, False, None),
]


@pytest.mark.parametrize(("fault", "permanent", "retry_after"), FAULTS, ids=[str(f[0]) for f in FAULTS])
def test_each_fault_becomes_the_right_send_error(fake: FakeDiscord, make: Callable[..., DiscordChannel],
                                                 fault: dict[str, object], permanent: bool,
                                                 retry_after: float | None) -> None:
    channel = make(timeout=0.3)
    general = fake.add_channel("general")
    fake.fail("create_message", **fault)  # type: ignore[arg-type]
    with pytest.raises(SendError) as raised:
        channel.send(Outbound(chat=general, text="hi"))
    assert raised.value.permanent is permanent
    assert raised.value.retry_after == retry_after
    assert fake.posted == []
    if fault.get("status") == 401:
        assert "DISCORD_BOT_TOKEN" in str(raised.value) and "DISCORD_BOT_TOKEN" in (channel.status().last_error or "")
    if not permanent:  # the next try goes through
        assert channel.send(Outbound(chat=general, text="hi")) == fake.wait_posted(1)[0]["id"]


def test_real_discord_refusals_are_permanent_and_said_plainly(fake: FakeDiscord,
                                                              make: Callable[..., DiscordChannel]) -> None:
    channel = make()
    hidden = fake.add_channel("staff", access=False)
    fake.closed_dms.add(BOB)
    cases = {"1399999999999999999": "unknown channel", hidden: "missing access",
             fake.dm_channel(BOB): "cannot send messages to this user"}
    for chat, words in cases.items():
        with pytest.raises(SendError, match=words) as raised:
            channel.send(Outbound(chat=chat, text="hi"))
        assert raised.value.permanent
    with pytest.raises(SendError, match="nothing to send") as raised:
        channel.send(Outbound(chat=hidden, text="  "))
    assert raised.value.permanent
    with pytest.raises(SendError, match="Invalid Form Body") as raised:
        channel.send(Outbound(chat=fake.add_channel(), text="x" * 2001))
    assert raised.value.permanent


def test_resolve_chat_ids_and_dms(fake: FakeDiscord, make: Callable[..., DiscordChannel]) -> None:
    channel = make()
    assert channel.resolve_chat("123456789012345678") == "123456789012345678"
    assert channel.resolve_chat("<#123456789012345678>") == "123456789012345678"
    assert fake.calls == []
    dm = channel.resolve_chat(f"@{ANN}")
    assert dm == fake.dm_channel(ANN) and channel.resolve_chat(f"<@{ANN}>") == dm
    assert len([c for c in fake.calls if c.path == "/users/@me/channels"]) == 1  # cached
    assert fake.calls[0].body == {"recipient_id": ANN}
    channel.send(Outbound(chat=f"@{ANN}", text="your nightly report"))
    assert fake.posted[-1]["channel_id"] == dm
    with pytest.raises(SendError, match="channel ids") as raised:
        channel.resolve_chat("#general")
    assert raised.value.permanent


def test_files_in_and_out(fake: FakeDiscord, running: DiscordChannel, inbox: Inbox, tmp_path: Path) -> None:
    attachment = fake.add_attachment("notes.txt", b"line one\n", "text/plain")
    fake.dm(ANN, "have a look", attachments=[attachment])
    [got] = inbox.wait(1)
    [incoming] = got.files
    assert (incoming.name, incoming.mime, incoming.size) == ("notes.txt", "text/plain", 9)
    assert incoming.fetch() == b"line one\n"
    download = next(c for c in fake.calls if c.path.startswith("/cdn/"))
    assert "authorization" not in download.headers  # the bot token stays with the API
    fake.fail("cdn", status=503)
    with pytest.raises(SendError) as raised:
        incoming.fetch()
    assert not raised.value.permanent
    report = tmp_path / "report.csv"
    report.write_bytes(b"a,b\n1,2\n")
    message_id = running.send(Outbound(chat=got.chat, text="The report", file=str(report)))
    [upload] = fake.uploads
    assert upload["data"] == b"a,b\n1,2\n" and upload["filename"] == "report.csv"
    assert upload["content"] == "The report" and upload["message_id"] == message_id
    with pytest.raises(SendError) as raised:
        running.send(Outbound(chat=got.chat, text="", file=str(tmp_path / "missing.txt")))
    assert raised.value.permanent
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (10 * 1024 * 1024 + 1))
    with pytest.raises(SendError, match="larger than Discord takes") as raised:
        running.send(Outbound(chat=got.chat, text="", file=str(big)))
    assert raised.value.permanent


def test_typing_is_shown_and_not_repeated_too_often(fake: FakeDiscord, make: Callable[..., DiscordChannel]) -> None:
    channel = make()
    general = fake.add_channel("general")
    channel.typing(general)
    channel.typing(general)
    assert fake.typing == [general]
    fake.fail("typing", status=500)
    channel.typing(fake.add_channel("other"))  # best effort: never raises


# --- secrets and configuration ------------------------------------------------------------------------


def test_the_token_never_reaches_the_logs_or_the_status(fake: FakeDiscord, make: Callable[..., DiscordChannel],
                                                        inbox: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    channel = make()
    channel.start(inbox)
    fake.wait_ready()
    fake.dm(ANN, "hi")
    inbox.wait(1)
    fake.drop_socket()  # a RESUME carries the token too
    fake.wait_for(lambda: len(fake.resumes) == 1 and fake._live() is not None, what="a resume")
    channel.send(Outbound(chat=inbox.items[0].chat, text="hello"))
    fake.fail("create_message", status=401)
    with pytest.raises(SendError):
        channel.send(Outbound(chat=inbox.items[0].chat, text="hello"))
    broken = make(token="MTEw.another.secretDiscordToken")
    broken.start(inbox)
    fake.wait_for(lambda: "DISCORD_BOT_TOKEN" in (broken.status().last_error or ""))
    ours = "\n".join(r.getMessage() for r in caplog.records)
    assert '> TEXT \'{"op": 2, "d": {"token": "[REDACTED]' in ours  # IDENTIFY's frame, masked
    assert '> TEXT \'{"op": 6, "d": {"token": "[REDACTED]' in ours  # and RESUME's
    for secret in (fake.token, fake.token[:20], "secretDiscordToken"):
        assert secret not in caplog.text
        for c in (channel, broken):
            assert secret not in (c.status().last_error or "")


def test_configuration_from_the_environment_and_the_table(ember_home: Path) -> None:
    assert "discord" in available()
    settings = load_settings()
    env = {"DISCORD_BOT_TOKEN": "Bot MTEw.abc.secret", "EMBER_DISCORD_ALLOW": "123456789012345678, 223456789012345678"}
    config = configure({}, env, settings)
    assert config is not None and config.token == "MTEw.abc.secret"
    assert config.allow == ["123456789012345678", "223456789012345678"]
    assert config.api_base == "https://discord.com/api/v10" and config.gateway_url == ""
    assert settings.secrets["DISCORD_BOT_TOKEN"] == "MTEw.abc.secret" and "secret" not in repr(config)
    table = {"token": "MTEw.table.secret", "allow": [123456789012345678], "api_base": "http://127.0.0.1:9/api/v10/",
             "gateway_url": "ws://127.0.0.1:9"}
    config = configure(table, {}, settings)
    assert config is not None and config.allow == ["123456789012345678"] and config.api_base.endswith("/v10")
    assert configure({}, {}, settings) is None
    with pytest.raises(ConfigError, match="not a Discord user id"):
        configure({"token": "x", "allow": ["ann#1234"]}, {}, settings)
    with pytest.raises(ConfigError, match="no key 'channel'"):
        configure({"token": "x", "channel": "1"}, {}, settings)
    with pytest.raises(ConfigError, match="wss://"):
        configure({"token": "x", "gateway_url": "https://discord.com"}, {}, settings)
