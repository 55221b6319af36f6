"""The Slack channel against a fake Slack that speaks the real Web API and Socket Mode protocols."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from ember.gateway.channel import Button, Channel, Inbound, Outbound, SendError
from ember.gateway.channels.slack import SlackChannel
from ember.gateway.channels.slack_format import from_slack, to_mrkdwn
from ember.gateway.channels.slack_http import signature
from ember.gateway.config import SlackConfig
from ember.store.sqlite.store import SQLiteStore
from tests.fakes.slack_server import FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


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
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
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
def make(fake: FakeSlack, store: SQLiteStore, tmp_path: Path) -> Iterator[Callable[..., SlackChannel]]:
    made: list[SlackChannel] = []

    def build(timeout: float = 2.0, **overrides: object) -> SlackChannel:
        fields = {"token": fake.bot_token, "app_token": fake.app_token, "api_base": fake.api_base, **overrides}
        channel = SlackChannel(SlackConfig(**fields), store, tmp_path / "files",  # type: ignore[arg-type]
                               client=httpx.Client(timeout=timeout))
        channel.reconnect_delay = 0.05
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.stop()
        channel.client.close()


@pytest.fixture
def running(make: Callable[..., SlackChannel], fake: FakeSlack, inbox: Inbox) -> SlackChannel:
    channel = make()
    channel.start(inbox)
    fake.wait_connected()
    return channel


# --- receiving ------------------------------------------------------------------------------------


def test_a_dm_arrives_as_an_inbound_and_is_acknowledged(fake: FakeSlack, running: SlackChannel,
                                                       inbox: Inbox, store: SQLiteStore) -> None:
    assert isinstance(running, Channel)
    event = fake.user_says("D0USER1", "U1", "hello &lt;world&gt; &amp; <https://a.example|docs>")
    [got] = inbox.wait(1)
    assert (got.platform, got.chat, got.user, got.event_id) == ("slack", "D0USER1", "U1", event["event_id"])
    assert got.text == "hello <world> & docs (https://a.example)"
    assert got.thread is None and got.direct and got.press is None
    assert got.user_name == "user-u1"  # users.info
    fake.wait_acked(1)
    assert store.get_meta(f"inbox:{event['event_id']}") == got.text
    assert running.status().connected and running.status().last_error is None
    assert running.bot_user == fake.bot_user and store.get_meta("slack.bot_user") == fake.bot_user


def test_a_mention_in_a_channel_threads_under_the_message(fake: FakeSlack, running: SlackChannel,
                                                         inbox: Inbox) -> None:
    first = fake.mention("C0TEAM", "U1", "what's the status?")
    second = fake.mention("C0TEAM", "U2", "and now?", thread_ts="1700000000.000100")
    a, b = inbox.wait(2)
    assert a.text == "what's the status?" and a.thread == first["ts"] and a.chat == "C0TEAM"
    assert b.thread == "1700000000.000100" and b.event_id == second["event_id"]
    ts = running.send(Outbound(chat=a.chat, text="**All good**", thread=a.thread))
    [posted] = fake.wait_posted(1)
    assert posted["ts"] == ts and posted["thread_ts"] == first["ts"] and posted["text"] == "*All good*"


def test_a_threaded_dm_replies_in_its_thread(fake: FakeSlack, running: SlackChannel, inbox: Inbox) -> None:
    fake.user_says("D0USER1", "U1", "in a thread", thread_ts="1700000000.000200")
    [got] = inbox.wait(1)
    assert got.thread == "1700000000.000200"
    running.send(Outbound(chat=got.chat, text="reply", thread=got.thread))
    assert fake.wait_posted(1)[0]["thread_ts"] == "1700000000.000200"


def test_bots_edits_own_messages_and_unmentioned_channel_talk_are_ignored(fake: FakeSlack, running: SlackChannel,
                                                                        inbox: Inbox) -> None:
    fake.user_says("D0USER1", "U1", "from a bot", bot_id="B0OTHER")
    fake.user_says("D0USER1", fake.bot_user, "my own words")
    fake.user_says("D0USER1", "U1", "edited", subtype="message_changed")
    fake.user_says("C0TEAM", "U1", "chatter in a channel", im=False)
    fake.user_says("D0USER1", "U1", "the real one")
    fake.wait_acked(5)
    assert [i.text for i in inbox.items] == ["the real one"]


def test_buttons_are_sent_as_blocks_and_a_press_comes_back(fake: FakeSlack, running: SlackChannel,
                                                          inbox: Inbox) -> None:
    fake.add_dm("U1", "D0USER1")
    buttons = [Button("Once", "once"), Button("Always", "always"), Button("Deny", "deny")]
    running.send(Outbound(chat="D0USER1", text="Run `rm -rf build`?", buttons=buttons, request_id="req-7",
                          thread="1700000000.000300"))
    [posted] = fake.wait_posted(1)
    section, actions = posted["blocks"]
    assert section["text"] == {"type": "mrkdwn", "text": "Run `rm -rf build`?"}
    assert actions["type"] == "actions" and actions["block_id"] == "ember:req-7"
    assert [e["value"] for e in actions["elements"]] == ["once", "always", "deny"]
    assert all("req-7" in e["action_id"] for e in actions["elements"])
    assert actions["elements"][2]["style"] == "danger"
    fake.click(posted, "U1", "always")
    [got] = inbox.wait(1)
    assert got.press is not None and (got.press.request_id, got.press.choice) == ("req-7", "always")
    assert (got.chat, got.user, got.thread) == ("D0USER1", "U1", "1700000000.000300")
    fake.press("D0USER1", "U1", "req-8", "deny")
    assert inbox.wait(2)[1].press.choice == "deny"  # type: ignore[union-attr]


def test_the_slash_command_stands_for_the_gateway_commands(fake: FakeSlack, running: SlackChannel,
                                                         inbox: Inbox) -> None:
    fake.command("D0USER1", "U1", "new")
    fake.command("C0TEAM", "U1", "")
    fake.command("D0USER1", "U1", "stop")
    fake.command("D0USER1", "U1", "what is on my calendar?")
    items = inbox.wait(4)
    assert [i.text for i in items] == ["/new", "/help", "/stop", "what is on my calendar?"]
    assert (items[1].chat, items[1].user, items[1].thread) == ("C0TEAM", "U1", None)
    assert len({i.event_id for i in items}) == 4
    fake.wait_acked(4)


def test_an_envelope_is_acknowledged_only_after_it_was_recorded(fake: FakeSlack, running: SlackChannel,
                                                               inbox: Inbox) -> None:
    seen_unacked: list[bool] = []
    inbox.before = lambda inbound: seen_unacked.append(fake.unacked != [])
    fake.user_says("D0USER1", "U1", "one")
    inbox.wait(1)
    fake.wait_acked(1)
    assert seen_unacked == [True]


def test_an_envelope_that_was_not_recorded_comes_again(fake: FakeSlack, running: SlackChannel, inbox: Inbox,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    inbox.fail_next = 1
    event = fake.user_says("D0USER1", "U1", "keep me")
    [got] = inbox.wait(1)
    assert got.event_id == event["event_id"]
    fake.wait_acked(1)
    assert fake.connections == 2 and fake.deliveries(fake.acked[0]) == 2
    assert "an event was not recorded (RuntimeError: database is locked)" in caplog.text


def test_disconnect_reconnects_with_a_fresh_url(fake: FakeSlack, running: SlackChannel, inbox: Inbox) -> None:
    fake.disconnect()
    fake.wait_connected(2)
    fake.user_says("D0USER1", "U1", "after the refresh")
    assert inbox.wait(1)[0].text == "after the refresh"
    opens = [c for c in fake.calls if c.method == "apps.connections.open"]
    assert len(opens) == 2 and opens[0].headers["authorization"] == f"Bearer {fake.app_token}"


def test_a_dropped_socket_reconnects_and_the_unacked_event_comes_again(fake: FakeSlack, running: SlackChannel,
                                                                      inbox: Inbox) -> None:
    inside, release = threading.Event(), threading.Event()

    def hold_first(inbound: Inbound) -> None:
        if not inbox.items:
            inside.set()
            release.wait(5)

    inbox.before = hold_first
    fake.user_says("D0USER1", "U1", "during the outage")
    assert inside.wait(5)
    fake.drop_socket()  # the ack of this envelope can no longer be sent
    release.set()
    fake.wait_connected(2)
    fake.wait_acked(1)
    items = inbox.wait(2)
    assert {i.event_id for i in items} == {items[0].event_id}  # the same event twice: the gateway drops one
    fake.user_says("D0USER1", "U1", "back")
    assert inbox.wait(3)[2].text == "back"


def test_a_payload_that_cannot_be_read_is_skipped_not_redelivered_forever(fake: FakeSlack, running: SlackChannel,
                                                                        inbox: Inbox) -> None:
    fake.push("events_api", {"type": "event_callback", "event_id": "Ev9", "event": {"type": "message",
                             "channel": "D0USER1", "user": "U1", "ts": "1.2", "channel_type": "im",
                             "files": 5, "text": "files that are not a list"}})
    fake.user_says("D0USER1", "U1", "next")
    assert inbox.wait(1)[0].text == "next"
    fake.wait_acked(2)
    assert fake.connections == 1


def test_a_burst_keeps_its_order_and_is_all_acknowledged(fake: FakeSlack, running: SlackChannel,
                                                        inbox: Inbox) -> None:
    for n in range(200):
        fake.user_says(f"D0USER{n % 3}", f"U{n % 3}", f"message {n}")
    items = inbox.wait(200, timeout=20)
    fake.wait_acked(200)
    for user in ("U0", "U1", "U2"):
        numbers = [int(i.text.split()[1]) for i in items if i.user == user]
        assert numbers == sorted(numbers)


def test_an_incoming_file_is_downloaded_with_the_bot_token(fake: FakeSlack, running: SlackChannel,
                                                          inbox: Inbox) -> None:
    file = fake.add_file("notes.txt", b"line one\n", "text/plain")
    fake.user_says("D0USER1", "U1", "have a look", files=[file])
    [got] = inbox.wait(1)
    [incoming] = got.files
    assert (incoming.name, incoming.mime, incoming.size) == ("notes.txt", "text/plain", 9)
    assert incoming.fetch() == b"line one\n"  # the fake answers a sign-in page without the bot token
    fake.fail("download", status=503)
    with pytest.raises(SendError) as raised:
        incoming.fetch()
    assert not raised.value.permanent
    assert incoming.fetch() == b"line one\n"
    elsewhere = {**file, "url_private_download": file["url_private_download"].replace("127.0.0.1", "localhost")}
    fake.user_says("D0USER1", "U1", "a link to another host", files=[elsewhere])
    with pytest.raises(SendError, match="sign-in page"):  # the token goes to Slack's own host only
        inbox.wait(2)[1].files[0].fetch()


def test_a_wrong_app_token_is_reported_and_retried(fake: FakeSlack, make: Callable[..., SlackChannel],
                                                  inbox: Inbox) -> None:
    channel = make(app_token="xapp-1-A111-wrong")
    channel.start(inbox)
    fake.wait_for(lambda: len([c for c in fake.calls if c.method == "apps.connections.open"]) >= 2)
    status = channel.status()
    assert not status.connected and "invalid_auth" in (status.last_error or "")


# --- the Events API over HTTP -------------------------------------------------------------------------


def _post(channel: SlackChannel, body: bytes, *, stamp: int | None = None, secret: str = SECRET,
          content_type: str = "application/json") -> httpx.Response:
    stamp_text = str(int(time.time()) if stamp is None else stamp)
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp_text,
               "X-Slack-Signature": signature(secret, stamp_text, body)}
    return httpx.post(f"http://127.0.0.1:{channel.events_port}/slack/events", content=body, headers=headers)


def _event_body(text: str, event_id: str = "Ev0001") -> bytes:
    event = {"type": "message", "channel": "D0USER1", "user": "U1", "text": text, "ts": "1700000000.000400",
             "channel_type": "im"}
    return json.dumps({"type": "event_callback", "event_id": event_id, "event": event}).encode()


@pytest.fixture
def http_channel(make: Callable[..., SlackChannel], inbox: Inbox) -> SlackChannel:
    channel = make(app_token="", events_port=0, signing_secret=SECRET)
    channel.start(inbox)
    return channel


def test_events_api_answers_the_url_challenge(http_channel: SlackChannel) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    answer = _post(http_channel, body.encode())
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


@pytest.mark.parametrize(("body", "content_type"), [
    (b"{not json", "application/json"), (b"[1, 2]", "application/json"),
    (b"text=no+command+nor+payload", "application/x-www-form-urlencoded"),
    (b"payload=%5B%5D", "application/x-www-form-urlencoded"),
])
def test_events_api_a_signed_body_that_is_not_an_event_gets_400(http_channel: SlackChannel, inbox: Inbox,
                                                                 body: bytes, content_type: str) -> None:
    assert _post(http_channel, body, content_type=content_type).status_code == 400
    assert inbox.items == []


def test_events_api_takes_a_signed_event(http_channel: SlackChannel, inbox: Inbox) -> None:
    answer = _post(http_channel, _event_body("over http"))
    assert answer.status_code == 200
    [got] = inbox.items  # recorded before the 200
    assert (got.text, got.event_id, got.chat) == ("over http", "Ev0001", "D0USER1")


@pytest.mark.parametrize("case", ["bad signature", "wrong secret", "stale", "from the future", "no headers"])
def test_events_api_refuses_what_is_not_signed_now(http_channel: SlackChannel, inbox: Inbox, case: str) -> None:
    body = _event_body("forged")
    if case == "bad signature":
        answer = httpx.post(f"http://127.0.0.1:{http_channel.events_port}/", content=body,
                            headers={"X-Slack-Request-Timestamp": str(int(time.time())),
                                     "X-Slack-Signature": "v0=" + "0" * 64})
    elif case == "wrong secret":
        answer = _post(http_channel, body, secret="not-the-secret")
    elif case == "stale":
        answer = _post(http_channel, body, stamp=int(time.time()) - 6 * 60)
    elif case == "from the future":
        answer = _post(http_channel, body, stamp=int(time.time()) + 6 * 60)
    else:
        answer = httpx.post(f"http://127.0.0.1:{http_channel.events_port}/", content=body)
    assert answer.status_code == 401
    assert inbox.items == []


def test_events_api_a_tampered_body_is_refused(http_channel: SlackChannel, inbox: Inbox) -> None:
    stamp = str(int(time.time()))
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature(SECRET, stamp, _event_body("a"))}
    answer = httpx.post(f"http://127.0.0.1:{http_channel.events_port}/", content=_event_body("b"), headers=headers)
    assert answer.status_code == 401 and inbox.items == []


def test_events_api_not_recorded_answers_500_so_slack_retries(http_channel: SlackChannel, inbox: Inbox) -> None:
    inbox.fail_next = 1
    assert _post(http_channel, _event_body("retry me")).status_code == 500
    assert _post(http_channel, _event_body("retry me")).status_code == 200
    assert [i.text for i in inbox.items] == ["retry me"]


def test_events_api_button_press_as_a_form(http_channel: SlackChannel, inbox: Inbox) -> None:
    payload = {"type": "block_actions", "user": {"id": "U1", "username": "ann"}, "channel": {"id": "C0TEAM"},
               "container": {"message_ts": "1700000000.000500", "channel_id": "C0TEAM"},
               "message": {"ts": "1700000000.000500", "thread_ts": "1700000000.000100"},
               "actions": [{"action_id": "ember:req-9:0", "block_id": "ember:req-9", "value": "once",
                            "action_ts": "1700000001.1"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert _post(http_channel, body, content_type="application/x-www-form-urlencoded").status_code == 200
    [got] = inbox.items
    assert got.press is not None and (got.press.request_id, got.press.choice) == ("req-9", "once")
    assert got.thread == "1700000000.000100" and got.user_name == "ann"


def test_events_api_end_to_end_with_the_fake_delivering(fake: FakeSlack, http_channel: SlackChannel,
                                                        inbox: Inbox) -> None:
    fake.deliver_over_http(f"http://127.0.0.1:{http_channel.events_port}/slack/events", SECRET)
    inbox.fail_next = 1  # the first try answers 500: the fake retries, as Slack does
    fake.mention("C0TEAM", "U1", "hi over http")
    fake.press("C0TEAM", "U1", "req-1", "deny")
    fake.command("C0TEAM", "U1", "new")
    items = inbox.wait(3)
    assert items[0].text == "hi over http" and items[1].press is not None and items[2].text == "/new"
    fake.wait_acked(3)


# --- sending and its failures ---------------------------------------------------------------------------


def test_send_posts_mrkdwn_with_the_bot_token(fake: FakeSlack, make: Callable[..., SlackChannel]) -> None:
    channel = make()
    fake.add_channel("team", id="C0TEAM")
    ts = channel.send(Outbound(chat="C0TEAM", text="# Report\n**done** see [logs](https://x.example/?a=1&b=2)"))
    [posted] = fake.posted
    assert posted["ts"] == ts
    assert posted["text"] == "*Report*\n*done* see <https://x.example/?a=1&amp;b=2|logs>"
    call = next(c for c in fake.calls if c.method == "chat.postMessage")
    assert call.headers["authorization"] == f"Bearer {fake.bot_token}"
    assert call.params["channel"] == "C0TEAM" and "thread_ts" not in call.params
    assert channel.max_text == 3900


FAULTS = [
    ({"status": 503}, False, None),
    ({"status": 500}, False, None),
    ({"status": 429, "retry_after": 7}, False, 7.0),
    ({"error": "ratelimited", "retry_after": 3}, False, 3.0),
    ({"error": "channel_not_found"}, True, None),
    ({"error": "not_in_channel"}, True, None),
    ({"error": "is_archived"}, True, None),
    ({"error": "invalid_auth"}, True, None),
    ({"error": "account_inactive"}, True, None),
    ({"error": "token_revoked"}, True, None),
    ({"error": "msg_too_long"}, True, None),
    ({"error": "internal_error"}, False, None),
    ({"drop": True}, False, None),
    ({"hang": 2.0}, False, None),
]


@pytest.mark.parametrize(("fault", "permanent", "retry_after"), FAULTS, ids=[str(f[0]) for f in FAULTS])
def test_each_fault_becomes_the_right_send_error(fake: FakeSlack, make: Callable[..., SlackChannel],
                                                 fault: dict[str, object], permanent: bool,
                                                 retry_after: float | None) -> None:
    channel = make(timeout=0.3)
    fake.add_channel("team", id="C0TEAM")
    fake.fail("chat.postMessage", **fault)  # type: ignore[arg-type]
    with pytest.raises(SendError) as raised:
        channel.send(Outbound(chat="C0TEAM", text="hi"))
    assert raised.value.permanent is permanent
    assert raised.value.retry_after == retry_after
    if "error" in fault:
        assert str(fault["error"]) in str(raised.value)
    assert fake.posted == []
    if not permanent:  # the next try goes through
        assert channel.send(Outbound(chat="C0TEAM", text="hi")) == fake.wait_posted(1)[0]["ts"]


def test_real_slack_refusals_are_permanent(fake: FakeSlack, make: Callable[..., SlackChannel]) -> None:
    channel = make()
    fake.add_channel("quiet", id="C0QUIET", member=False)
    fake.add_channel("old", id="C0OLD", archived=True)
    cases = {"C0NOWHERE": "channel_not_found", "C0QUIET": "not_in_channel", "C0OLD": "is_archived"}
    for chat, error in cases.items():
        with pytest.raises(SendError, match=error) as raised:
            channel.send(Outbound(chat=chat, text="hi"))
        assert raised.value.permanent
    with pytest.raises(SendError, match="invalid_auth") as raised:
        make(token="xoxb-0000-wrong").send(Outbound(chat="C0OLD", text="hi"))
    assert raised.value.permanent


def test_resolve_chat_pages_through_conversations_list(fake: FakeSlack, make: Callable[..., SlackChannel]) -> None:
    fake.page_size = 2
    ids = {name: fake.add_channel(name) for name in ("general", "random", "ops", "dev", "team")}
    private = fake.add_channel("secret-team", private=True)
    fake.add_channel("gone", archived=True)
    channel = make()
    assert channel.resolve_chat("#team") == ids["team"]
    assert len([c for c in fake.calls if c.method == "conversations.list"]) == 3  # 6 channels, 2 a page
    assert channel.resolve_chat("#Secret-Team") == private
    assert channel.resolve_chat("general") == ids["general"]
    assert len([c for c in fake.calls if c.method == "conversations.list"]) == 3  # cached
    calls = len(fake.calls)
    for given in ("C0123ABC", "D0123ABC", "G0123ABC"):
        assert channel.resolve_chat(given) == given
    assert len(fake.calls) == calls
    with pytest.raises(SendError, match="#gone") as raised:
        channel.resolve_chat("#gone")
    assert raised.value.permanent
    assert channel.resolve_chat("@U0ANN") == "D0ANN"  # the bot's DM with that person
    channel.send(Outbound(chat="#team", text="to the team"))
    assert fake.posted[-1]["channel"] == ids["team"]


def test_a_file_is_uploaded_into_the_thread(fake: FakeSlack, make: Callable[..., SlackChannel],
                                            tmp_path: Path) -> None:
    channel = make()
    fake.add_channel("team", id="C0TEAM")
    report = tmp_path / "report.csv"
    report.write_bytes(b"a,b\n1,2\n")
    ts = channel.send(Outbound(chat="C0TEAM", text="The **report**", thread="1700000000.000600", file=str(report)))
    [upload] = fake.uploads
    assert upload["data"] == b"a,b\n1,2\n" and upload["name"] == "report.csv"
    assert (upload["channel"], upload["thread_ts"], upload["initial_comment"]) == \
        ("C0TEAM", "1700000000.000600", "The *report*")
    assert fake.posted[-1]["ts"] == ts
    start = next(c for c in fake.calls if c.method == "files.getUploadURLExternal")
    assert start.params["length"] == "8"
    with pytest.raises(SendError) as raised:
        channel.send(Outbound(chat="C0TEAM", text="", file=str(tmp_path / "missing.txt")))
    assert raised.value.permanent
    fake.fail("upload", status=503)
    with pytest.raises(SendError) as raised:
        channel.send(Outbound(chat="C0TEAM", text="again", file=str(report)))
    assert not raised.value.permanent


def test_typing_is_a_quiet_no_op(fake: FakeSlack, make: Callable[..., SlackChannel]) -> None:
    make().typing("C0TEAM", "1700000000.000100")
    assert fake.calls == []


# --- secrets ---------------------------------------------------------------------------------------------


def test_tokens_never_reach_the_logs_or_the_status(fake: FakeSlack, make: Callable[..., SlackChannel], inbox: Inbox,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    channel = make()
    channel.start(inbox)
    fake.wait_connected()
    fake.user_says("D0USER1", "U1", "hi", files=[fake.add_file("a.txt", b"x")])
    inbox.wait(1)[0].files[0].fetch()
    channel.send(Outbound(chat="D0USER1", text="hello"))
    fake.fail("chat.postMessage", status=429, retry_after=1)
    fake.fail("chat.postMessage", error="invalid_auth")
    for _ in range(2):
        with pytest.raises(SendError):
            channel.send(Outbound(chat="D0USER1", text="hello"))
    fake.drop_socket()
    fake.wait_connected(2)
    broken = make(token="xoxb-9999-8888-anotherSecretBot", app_token="xapp-1-A999-anotherSecretApp")
    broken.start(inbox)
    fake.wait_for(lambda: "invalid_auth" in (broken.status().last_error or ""))
    http = make(app_token="", events_port=0, signing_secret=SECRET)
    http.start(inbox)
    _post(http, _event_body("signed"))
    _post(http, _event_body("forged"), secret="wrong")
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("fake_slack"))
    assert "slack" in ours and "websocket" in caplog.text, "the capture is not working"
    assert "GET /link/?ticket=..." in ours  # the websocket's one-use ticket is masked
    assert re.search(r"ticket=[0-9a-f]{8}", ours) is None
    secrets = (fake.bot_token, fake.app_token, SECRET, "anotherSecretBot", "anotherSecretApp")
    for secret in secrets:
        assert secret not in caplog.text
        for c in (channel, broken, http):
            assert secret not in (c.status().last_error or "")


# --- text ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("markdown", "mrkdwn"), [
    ("**bold** and __also__", "*bold* and *also*"),
    ("*italic* and _this_", "_italic_ and _this_"),
    ("~~gone~~", "~gone~"),
    ("[the docs](https://d.example/x?a=1&b=2)", "<https://d.example/x?a=1&amp;b=2|the docs>"),
    ("<https://bare.example>", "<https://bare.example>"),
    ("## Heading **x**\ntext", "*Heading x*\ntext"),
    ("- one\n* two\n  + three", "• one\n• two\n  • three"),
    ("1 < 2 & 3 > 2", "1 &lt; 2 &amp; 3 &gt; 2"),
    ("<!channel> <@U123> hi", "&lt;!channel&gt; &lt;@U123&gt; hi"),
    ("```python\nif a < b and **c**:\n    pass\n```", "```\nif a &lt; b and **c**:\n    pass\n```"),
    ("use `a<b` **here**", "use `a&lt;b` *here*"),
    ("snake_case and __init__.py", "snake_case and __init__.py"),
    ("| a | b |\n|---|---|\n| 1 | 2 |", "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```"),
])
def test_markdown_becomes_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_slack_text_becomes_plain_text() -> None:
    text = "<@UBOT0001> look at <#C0TEAM|team>, <https://a.example|this> &amp; <mailto:x@y.z|x@y.z> <!here>"
    assert from_slack(text, "UBOT0001") == "look at #team, this (https://a.example) & x@y.z @here"
    assert from_slack("<@UBOT0001>: hi <@U2>", "UBOT0001") == "hi <@U2>"
