"""The Signal channel against a fake signal-cli daemon speaking its JSON-RPC over real HTTP (with
server-sent events) and over a real UNIX socket."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ember.config import ConfigError, load_settings
from ember.gateway.channel import Button, Channel, Inbound, Outbound, SendError
from ember.gateway.channels.signal import SignalChannel, SignalConfig, signal_config
from ember.store.sqlite.store import SQLiteStore
from tests.fakes.signal_cli import FakeSignalCli

ADA, BOB = "+15550001111", "+15550002222"


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
def fake(tmp_path: Path) -> Iterator[FakeSignalCli]:
    with FakeSignalCli(tmp_path / "signal.sock", keepalive=0.5) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "ember.db") as db:
        yield db


@pytest.fixture(params=["http", "socket"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(fake: FakeSignalCli, store: SQLiteStore, tmp_path: Path) -> Iterator[Callable[..., SignalChannel]]:
    """``make(transport="http", **options)``: a channel on the fake, stopped after the test."""
    made: list[SignalChannel] = []

    def build(transport: str = "http", rpc: str | None = None, **options: object) -> SignalChannel:
        options.setdefault("backoff", 0.05)
        options.setdefault("timeout", 3.0)
        rpc = rpc or (fake.url if transport == "http" else fake.socket_path)
        channel = SignalChannel(SignalConfig(account=fake.account, rpc=rpc, allow=[ADA]), store, tmp_path / "files",
                                **options)  # type: ignore[arg-type]
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.stop()


@pytest.fixture
def running(make: Callable[..., SignalChannel], fake: FakeSignalCli, transport: str
            ) -> tuple[SignalChannel, Inbox]:
    channel, inbox = make(transport), Inbox()
    channel.start(inbox)
    fake.wait_receivers(1)
    return channel, inbox


# --- receiving -----------------------------------------------------------------------------------

def test_is_a_channel(make: Callable[..., SignalChannel]) -> None:
    channel = make()
    assert isinstance(channel, Channel)
    assert (channel.name, channel.max_text) == ("signal", 2000)


def test_a_direct_message_arrives(fake: FakeSignalCli, running: tuple[SignalChannel, Inbox]) -> None:
    channel, inbox = running
    envelope = fake.user_says(ADA, "hello there", name="Ada")
    [message] = inbox.wait(1)
    assert (message.platform, message.chat, message.user, message.thread) == ("signal", ADA, ADA, None)
    assert message.event_id == f"signal:{ADA}:{envelope['timestamp']}"
    assert (message.text, message.user_name, message.direct, message.files) == ("hello there", "Ada", True, [])
    assert channel.status().connected and channel.status().last_error is None


def test_group_messages_arrive_only_when_the_bot_is_addressed(fake: FakeSignalCli,
                                                              running: tuple[SignalChannel, Inbox]) -> None:
    channel, inbox = running
    group = fake.add_group("Family", [ADA, BOB])
    fake.user_says(ADA, "just chatting", group=group)
    fake.user_says(ADA, "what time is it?", group=group, mention=True)
    answer = int(channel.send(Outbound(chat=group, text="It is noon.")))
    fake.user_says(BOB, "thanks!", group=group, quote=answer)
    fake.user_says(BOB, "last", group=group, mention=True)
    mention, reply, last = inbox.wait(3)
    assert (mention.text, reply.text, last.text) == ("what time is it?", "thanks!", "last")
    assert all(m.chat == group for m in inbox.items) and (mention.user, reply.user) == (ADA, BOB)
    assert len(inbox.items) == 3  # the chatter was left alone


def test_other_mentions_are_named_and_ours_removed(fake: FakeSignalCli, running: tuple[SignalChannel, Inbox]) -> None:
    _, inbox = running
    group = fake.add_group("Team", [ADA])
    fake.user_says(ADA, "", group=group, message="\ufffc ask \ufffc about 🎉 \ufffc",
                   mentions=[{"name": "+15550000001", "number": fake.account, "start": 0, "length": 1},
                             {"name": "Bob", "number": BOB, "start": 6, "length": 1},
                             {"name": "Cy", "number": "+15550003333", "start": 17, "length": 1}])
    [message] = inbox.wait(1)
    assert message.text == "ask @Bob about 🎉 @Cy"


def test_what_is_not_a_message_is_left_alone(fake: FakeSignalCli, running: tuple[SignalChannel, Inbox]) -> None:
    _, inbox = running
    fake.push({"account": fake.account, "envelope": {"source": ADA, "sourceNumber": ADA, "timestamp": 1,
                                                     "receiptMessage": {"isDelivery": True, "timestamps": [1]}}})
    fake.push({"account": fake.account, "envelope": {"source": ADA, "sourceNumber": ADA, "timestamp": 2,
                                                     "typingMessage": {"action": "STARTED", "timestamp": 2}}})
    fake.push({"account": fake.account, "envelope": {
        "source": fake.account, "sourceNumber": fake.account, "timestamp": 3,
        "syncMessage": {"sentMessage": {"destination": ADA, "timestamp": 3, "message": "from my phone"}}}})
    fake.user_says(ADA, "", reaction={"emoji": "👍", "targetAuthor": fake.account, "targetSentTimestamp": 9,
                                      "isRemove": False})
    fake.user_says(fake.account, "my own message")
    fake.push({"account": "+15559999999", "envelope": {"source": ADA, "sourceNumber": ADA, "timestamp": 4,
                                                       "dataMessage": {"timestamp": 4, "message": "other account"}}})
    fake.user_says(ADA, "the real one")
    [message] = inbox.wait(1)
    time.sleep(0.2)
    assert message.text == "the real one" and len(inbox.items) == 1


def test_a_sender_who_hides_their_number_is_their_account_id(fake: FakeSignalCli,
                                                             running: tuple[SignalChannel, Inbox]) -> None:
    _, inbox = running
    envelope = fake.user_says(ADA, "hi", hide_number=True)
    [message] = inbox.wait(1)
    assert message.user == message.chat == envelope["sourceUuid"]


def test_attachments_are_fetched_only_when_needed(fake: FakeSignalCli, running: tuple[SignalChannel, Inbox]) -> None:
    _, inbox = running
    photo = bytes(range(256)) * 50
    fake.user_says(ADA, "what is this?", attachments=[("cat.jpg", photo, "image/jpeg"),
                                                      ("notes.txt", b"a,b\n", "text/plain")])
    [message] = inbox.wait(1)
    assert [(f.name, f.mime, f.size) for f in message.files] == [("cat.jpg", "image/jpeg", len(photo)),
                                                                ("notes.txt", "text/plain", 4)]
    assert fake.calls_of("getAttachment") == []
    assert message.files[0].fetch() == photo and message.files[1].fetch() == b"a,b\n"
    assert fake.calls_of("getAttachment")[0].params["recipient"] == ADA
    fake.attachments.clear()
    with pytest.raises(OSError, match="Could not find attachment"):
        message.files[0].fetch()


def test_messages_wait_while_nothing_receives(fake: FakeSignalCli, make: Callable[..., SignalChannel],
                                              transport: str) -> None:
    fake.user_says(ADA, "sent while Ember was down")
    channel, inbox = make(transport), Inbox()
    channel.start(inbox)
    assert inbox.wait(1)[0].text == "sent while Ember was down"


def test_a_dropped_connection_reconnects(fake: FakeSignalCli, running: tuple[SignalChannel, Inbox]) -> None:
    channel, inbox = running
    fake.user_says(ADA, "one")
    inbox.wait(1)
    fake.drop_receivers()
    fake.wait_for(lambda: not channel.status().connected or fake.streams_opened >= 2, 5, "the drop to be seen")
    fake.user_says(ADA, "two")  # waits in the fake until the channel is back
    assert [m.text for m in inbox.wait(2)] == ["one", "two"]
    fake.wait_for(lambda: channel.status().connected, 5, "connected again")
    assert fake.streams_opened >= 2


def test_an_unreachable_daemon_is_reported_and_retried(fake: FakeSignalCli, make: Callable[..., SignalChannel],
                                                       tmp_path: Path) -> None:
    channel, inbox = make("socket", rpc=str(tmp_path / "nothing.sock")), Inbox()
    channel.start(inbox)
    fake.wait_for(lambda: "cannot connect" in (channel.status().last_error or ""), 5, "the error in the status")
    assert not channel.status().connected
    fake.fail("events", status=502, times=1000)
    http, inbox2 = make("http"), Inbox()
    http.start(inbox2)
    fake.wait_for(lambda: "HTTP 502" in (http.status().last_error or ""), 5, "the 502 in the status")
    fake.clear_faults()
    fake.wait_receivers(1)
    fake.user_says(ADA, "back")
    assert inbox2.wait(1)[0].text == "back"


def test_a_silent_event_stream_is_noticed(fake: FakeSignalCli, make: Callable[..., SignalChannel]) -> None:
    fake.fail("events", hang=30.0)
    channel, inbox = make("http"), Inbox()
    channel.rpc.idle_timeout = 0.5  # type: ignore[union-attr]
    channel.start(inbox)
    fake.wait_for(lambda: "nothing from" in (channel.status().last_error or ""), 5, "the idle timeout")
    fake.wait_receivers(1)
    fake.user_says(ADA, "hello again")
    assert inbox.wait(1)[0].text == "hello again"


@pytest.mark.parametrize("mode", ["on-start", "on-connection"])
def test_a_socket_daemon_in_any_receive_mode_gives_each_message_once(tmp_path: Path, store: SQLiteStore,
                                                                     mode: str) -> None:
    with FakeSignalCli(tmp_path / "s.sock", receive_mode=mode) as fake:
        channel, inbox = SignalChannel(SignalConfig(account=fake.account, rpc=fake.socket_path), store, tmp_path,
                                       backoff=0.05), Inbox()
        channel.start(inbox)
        fake.wait_receivers(2)  # the automatic subscription and ours
        for n in range(3):
            fake.user_says(ADA, f"m{n}")
        inbox.wait(3)
        channel.send(Outbound(chat=ADA, text="a call on its own connection"))
        time.sleep(0.3)
        channel.stop()
        assert [m.text for m in inbox.items] == ["m0", "m1", "m2"]


def test_a_message_not_recorded_is_offered_again(fake: FakeSignalCli, make: Callable[..., SignalChannel],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    failures = iter([RuntimeError("database is locked")] * 2)
    taken: list[Inbound] = []

    def flaky(inbound: Inbound) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        taken.append(inbound)

    channel = make("http")
    channel.start(flaky)
    fake.user_says(ADA, "keep me")
    fake.wait_for(lambda: bool(taken), 5, "the third try")
    assert [m.text for m in taken] == ["keep me"]

    def broken(inbound: Inbound) -> None:
        raise RuntimeError("disk full")

    channel.stop()
    fake.wait_for(lambda: fake.receivers == 0, 5, "the stream to close")
    lost = make("socket", record_tries=2)
    lost.start(broken)
    fake.wait_receivers(1)
    fake.user_says(ADA, "lost")
    fake.wait_for(lambda: "could not record" in (lost.status().last_error or ""), 5, "the loss to be reported")
    assert "signal-cli will not send it again" in caplog.text


def test_stop_is_prompt(fake: FakeSignalCli, make: Callable[..., SignalChannel], transport: str) -> None:
    channel = make(transport)
    channel.start(Inbox())
    fake.wait_receivers(1)
    started = time.monotonic()
    channel.stop()
    assert time.monotonic() - started < 2 and not channel.status().connected
    fake.wait_for(lambda: fake.receivers == 0, 5, "the stream to close")


def test_a_burst_keeps_its_order(fake: FakeSignalCli, running: tuple[SignalChannel, Inbox]) -> None:
    _, inbox = running
    for n in range(200):
        fake.user_says(ADA if n % 2 else BOB, f"message {n}")
    assert [m.text for m in inbox.wait(200, timeout=20)] == [f"message {n}" for n in range(200)]


# --- sending -------------------------------------------------------------------------------------

def test_send_text_to_a_person_and_a_group(fake: FakeSignalCli, make: Callable[..., SignalChannel],
                                           transport: str) -> None:
    channel = make(transport)
    group = fake.add_group("Family", [ADA])
    first = channel.send(Outbound(chat=ADA, text="hello **Ada**"))
    second = channel.send(Outbound(chat=group, text="hello all", thread="ignored"))
    one, two = fake.wait_sent(2)
    assert (one.recipient, one.group, one.message, str(one.timestamp)) == (ADA, None, "hello **Ada**", first)
    assert (two.recipient, two.group, two.message, str(two.timestamp)) == (None, group, "hello all", second)
    assert fake.calls_of("send")[0].params["recipient"] == [ADA]


def test_buttons_become_a_line_to_answer(fake: FakeSignalCli, make: Callable[..., SignalChannel]) -> None:
    channel = make()
    buttons = [Button("Allow once", "once"), Button("Deny", "deny")]
    channel.send(Outbound(chat=ADA, text="Approval needed: rm -rf build", buttons=buttons, request_id="r1"))
    [sent] = fake.wait_sent(1)
    assert sent.message == "Approval needed: rm -rf build\n\nReply with a number or a word: 1. Allow once  2. Deny"


def test_a_file_goes_as_an_attachment(fake: FakeSignalCli, make: Callable[..., SignalChannel], tmp_path: Path,
                                      transport: str) -> None:
    channel = make(transport)
    report = tmp_path / "report.csv"
    report.write_bytes(b"a,b\n1,2\n")
    channel.send(Outbound(chat=ADA, text="the report", file=str(report)))
    [sent] = fake.wait_sent(1)
    assert sent.attachments == [("report.csv", b"a,b\n1,2\n")] and sent.message == "the report"
    assert fake.calls_of("send")[0].params["attachments"] == [str(report.resolve())]
    with pytest.raises(SendError) as raised:
        channel.send(Outbound(chat=ADA, text="", file=str(tmp_path / "missing.pdf")))
    assert raised.value.permanent


@pytest.mark.parametrize(("fault", "permanent", "retry_after", "says"), [
    ({"error": "rate_limit"}, False, 3.0, "rate limiting"),
    ({"error": "network"}, False, None, "Failed to send message"),
    ({"error": "io"}, False, None, "IOException"),
    ({"error": "internal"}, False, None, "code -32603"),
    ({"error": "unregistered"}, True, None, "not on Signal"),
    ({"error": "untrusted"}, True, None, "safety number"),
    ({"code": -1, "message": "Invalid group id: bad"}, True, None, "Invalid group id"),
    ({"hang": 5.0}, False, None, "no answer"),
    ({"drop": True}, False, None, "signal-cli send"),
])
def test_each_failure_becomes_the_right_send_error(fake: FakeSignalCli, make: Callable[..., SignalChannel],
                                                   transport: str, fault: dict[str, object], permanent: bool,
                                                   retry_after: float | None, says: str) -> None:
    channel = make(transport, timeout=0.5)
    fake.fail("send", **fault)
    with pytest.raises(SendError) as raised:
        channel.send(Outbound(chat=ADA, text="hi"))
    assert (raised.value.permanent, raised.value.retry_after) == (permanent, retry_after)
    assert says in str(raised.value)
    assert fake.sent == []
    if not permanent:  # the next try goes through
        assert channel.send(Outbound(chat=ADA, text="hi")) == str(fake.wait_sent(1)[0].timestamp)


def test_real_refusals_are_permanent_and_a_bad_gateway_is_not(fake: FakeSignalCli,
                                                              make: Callable[..., SignalChannel],
                                                              tmp_path: Path) -> None:
    channel = make("http")
    fake.unregistered.add(BOB)
    fake.untrusted.add("+15550003333")
    for chat, says in ((BOB, "not on Signal"), ("+15550003333", "safety number"),
                       ("ZmFrZWdyb3VwaWRmYWtlZ3JvdXBpZGZha2Vncm91cDE=", "Group not found")):
        with pytest.raises(SendError, match=says) as raised:
            channel.send(Outbound(chat=chat, text="hi"))
        assert raised.value.permanent
    fake.fail("send", status=503)
    with pytest.raises(SendError, match="HTTP 503") as raised:
        channel.send(Outbound(chat=ADA, text="hi"))
    assert not raised.value.permanent
    down = make("socket", rpc=str(tmp_path / "gone.sock"))
    with pytest.raises(SendError, match="cannot connect") as raised:
        down.send(Outbound(chat=ADA, text="hi"))
    assert not raised.value.permanent


def test_typing_never_raises(fake: FakeSignalCli, make: Callable[..., SignalChannel], tmp_path: Path) -> None:
    channel = make()
    group = fake.add_group("G", [ADA])
    channel.typing(ADA)
    channel.typing(group)
    assert fake.typing == [{"recipient": [ADA]}, {"groupId": group}]
    fake.fail("sendTyping", drop=True)
    channel.typing(ADA)
    make("socket", rpc=str(tmp_path / "gone.sock")).typing(ADA)


def test_resolve_chat(fake: FakeSignalCli, make: Callable[..., SignalChannel]) -> None:
    channel = make()
    family = fake.add_group("Family", [ADA])
    assert channel.resolve_chat("+1 555 000-1111") == ADA
    assert channel.resolve_chat("15550001111") == ADA
    assert channel.resolve_chat("0E7B2B4C-1111-4222-8333-444455556666") == "0e7b2b4c-1111-4222-8333-444455556666"
    assert channel.resolve_chat(family) == family
    assert channel.resolve_chat("#family") == family and channel.resolve_chat("Family") == family
    with pytest.raises(ValueError, match="no group is named"):
        channel.resolve_chat("#Nobody")


# --- configuration and secrets -------------------------------------------------------------------

def test_configuration_from_the_environment_and_the_table(ember_home: Path) -> None:
    settings = load_settings()
    assert signal_config({}, {}, settings) is None
    config = signal_config({}, {"EMBER_SIGNAL_ACCOUNT": "+49 151 2345678",
                                "EMBER_SIGNAL_ALLOW": "+15550001111, 15550002222"}, settings)
    assert config is not None
    assert (config.account, config.rpc, config.allow) == ("+491512345678", "http://127.0.0.1:8080", [ADA, BOB])
    table = {"account": "+15550000001", "rpc": "/run/signal-cli/socket", "allow": [15550001111]}
    config = signal_config(table, {}, settings)
    assert config is not None and (config.rpc, config.allow) == ("/run/signal-cli/socket", [ADA])
    for bad, says in (({"rpc": "/x"}, "the bot's number"), ({"account": "nope"}, "international form"),
                      ({"account": ADA, "rpc": "signal:8080"}, "absolute path"),
                      ({"account": ADA, "allow": ["Ada"]}, "phone numbers")):
        with pytest.raises(ConfigError, match=says):
            signal_config(bad, {}, settings)
    config = signal_config({"account": ADA, "rpc": "https://ember:s3cretPass@signal.example:8443"}, {}, settings)
    assert config is not None and "s3cretPass" not in repr(config)
    assert settings.secrets["EMBER_SIGNAL_RPC_PASSWORD"] == "s3cretPass"


def test_credentials_in_the_url_never_reach_the_logs_or_the_status(fake: FakeSignalCli, store: SQLiteStore,
                                                                  tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "hunter2-signal-proxy"
    rpc = fake.url.replace("http://", f"http://ember:{secret}@")
    channel = SignalChannel(SignalConfig(account=fake.account, rpc=rpc), store, tmp_path, backoff=0.05, timeout=0.5)
    try:
        inbox = Inbox()
        channel.start(inbox)
        fake.wait_receivers(1)
        fake.user_says(ADA, "hi")
        inbox.wait(1)
        channel.send(Outbound(chat=ADA, text="hello"))
        for fault in ({"status": 502}, {"hang": 2.0}, {"error": "untrusted"}):
            fake.fail("send", **fault)
            with pytest.raises(SendError) as raised:
                channel.send(Outbound(chat=ADA, text="hello"))
            assert secret not in str(raised.value)
        fake.fail("events", status=503)
        fake.drop_receivers()
        fake.wait_for(lambda: "503" in (channel.status().last_error or ""), 5, "the failure in the status")
        assert secret not in (channel.status().last_error or "")
    finally:
        channel.stop()
    assert "signal" in caplog.text and secret not in caplog.text
