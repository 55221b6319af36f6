"""The email channel against real local servers: a small IMAP server (tests/fakes/imap_server.py)
driven by the standard library's imaplib, and aiosmtpd driven by smtplib."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

from ember.config import ConfigError, load_settings
from ember.gateway.channel import Button, Channel, Inbound, Outbound, SendError
from ember.gateway.channels.email_channel import EmailChannel, EmailConfig, base_subject, email_config
from ember.gateway.channels.email_inbound import auth_failure, html_to_text, parse, trim_quoted
from ember.store.sqlite.store import SQLiteStore
from tests.fakes.imap_server import FakeIMAP
from tests.fakes.smtp_server import FakeSMTP

EMBER, ADA, EVE = "ember@example.com", "ada@example.org", "eve@example.net"
PASSWORD = "app-pass-9f2c-imap"


def mail(sender: str = ADA, subject: str = "Build report", body: str = "How did the build go?", *,
         message_id: str | None = None, in_reply_to: str | None = None, references: list[str] | None = None,
         html: str | None = None, attachments: tuple[tuple[str, bytes, str], ...] = (),
         headers: dict[str, str] | None = None, name: str = "Ada Lovelace") -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>"
    message["To"] = EMBER
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2])
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, data, mime in attachments:
        main, _, sub = mime.partition("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    return message


class Inbox:
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
def imap() -> Iterator[FakeIMAP]:
    with FakeIMAP(user=EMBER, password=PASSWORD) as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP(user=EMBER, password=PASSWORD) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "ember.db") as db:
        yield db


@pytest.fixture
def make(imap: FakeIMAP, smtp: FakeSMTP, store: SQLiteStore, tmp_path: Path) -> Iterator[Callable[..., EmailChannel]]:
    made: list[EmailChannel] = []

    def build(*, password: str = PASSWORD, imap_url: str | None = None, smtp_url: str | None = None,
              poll_seconds: float = 0.2, **options: Any) -> EmailChannel:
        options.setdefault("backoff", 0.05)
        options.setdefault("max_backoff", 0.2)
        options.setdefault("timeout", 3.0)
        config = EmailConfig(address=EMBER, imap_url=imap_url or imap.url, smtp_url=smtp_url or smtp.url,
                             password=password, allow=[ADA], poll_seconds=poll_seconds)
        channel = EmailChannel(config, store, tmp_path / "files", **options)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.stop()


@pytest.fixture
def running(make: Callable[..., EmailChannel], imap: FakeIMAP) -> tuple[EmailChannel, Inbox]:
    channel, inbox = make(), Inbox()
    channel.start(inbox)
    imap.wait_idling()
    return channel, inbox


# --- receiving -----------------------------------------------------------------------------------

def test_is_a_channel(make: Callable[..., EmailChannel]) -> None:
    channel = make()
    assert isinstance(channel, Channel)
    assert (channel.name, channel.max_text) == ("email", 50_000)


def test_a_new_message_arrives_through_idle_and_is_marked_read(imap: FakeIMAP, running: tuple[EmailChannel, Inbox],
                                                               store: SQLiteStore) -> None:
    channel, inbox = running
    sent = mail(body="How did the build go?\n\nThanks,\nAda")
    uid = imap.add(sent)
    [message] = inbox.wait(1)
    assert (message.platform, message.chat, message.user, message.user_name) == ("email", ADA, ADA, "Ada Lovelace")
    assert message.thread == sent["Message-ID"] and message.event_id == f"email:{sent['Message-ID']}"
    assert message.text == "Build report\n\nHow did the build go?\n\nThanks,\nAda"
    imap.wait_seen(uid)
    assert json.loads(store.get_meta("email:handled:INBOX") or "{}")["uids"] == [uid]
    assert channel.status().connected and channel.status().last_error is None
    assert imap.commands_of("UID FETCH") == [f"{uid} (BODY.PEEK[])"] and imap.commands_of("IDLE")


def test_read_only_after_on_inbound_returned(imap: FakeIMAP, make: Callable[..., EmailChannel]) -> None:
    release, entered = threading.Event(), threading.Event()

    def slow(inbound: Inbound) -> None:
        entered.set()
        release.wait(5)

    channel = make()
    uid = imap.add(mail())
    channel.start(slow)
    assert entered.wait(5)
    time.sleep(0.2)
    assert not imap.seen(uid)
    release.set()
    imap.wait_seen(uid)


def test_a_message_not_recorded_stays_unread_and_comes_again(imap: FakeIMAP, make: Callable[..., EmailChannel]
                                                             ) -> None:
    calls: list[Inbound] = []

    def flaky(inbound: Inbound) -> None:
        calls.append(inbound)
        if len(calls) < 3:
            raise RuntimeError("database is locked")

    channel = make()
    uid = imap.add(mail())
    channel.start(flaky)
    imap.wait_seen(uid)
    assert len(calls) == 3 and len({c.event_id for c in calls}) == 1


def test_a_restart_between_record_and_mark_does_not_deliver_twice(imap: FakeIMAP, make: Callable[..., EmailChannel]
                                                                   ) -> None:
    imap.fail("UID STORE", drop=True)  # the connection dies right after the gateway recorded the message
    uid = imap.add(mail())
    channel, inbox = make(), Inbox()
    channel.start(inbox)
    imap.wait_seen(uid)  # after the reconnect: marked, not handed over again
    time.sleep(0.3)
    assert len(inbox.items) == 1 and imap.connections >= 2


def test_without_idle_the_mailbox_is_polled(store: SQLiteStore, smtp: FakeSMTP, tmp_path: Path) -> None:
    with FakeIMAP(user=EMBER, password=PASSWORD, idle=False) as imap:
        config = EmailConfig(address=EMBER, imap_url=imap.url, smtp_url=smtp.url, password=PASSWORD,
                             poll_seconds=0.2)
        channel, inbox = EmailChannel(config, store, tmp_path), Inbox()
        channel.start(inbox)
        try:
            imap.wait_for(lambda: imap.commands_of("NOOP") != [], 5, "a poll")
            uid = imap.add(mail(subject="polled"))
            assert inbox.wait(1)[0].text.startswith("polled")
            imap.wait_seen(uid)
            assert imap.commands_of("IDLE") == []
        finally:
            channel.stop()


def test_a_reply_continues_the_thread(imap: FakeIMAP, running: tuple[EmailChannel, Inbox]) -> None:
    channel, inbox = running
    first = mail()
    imap.add(first)
    inbox.wait(1)
    answer_id = channel.send(Outbound(chat=ADA, text="It passed.", thread=first["Message-ID"]))
    reply = mail(subject="Re: Build report", body="And the tests?\n\nOn Mon, 3 Mar 2026, Ember wrote:\n> It passed.",
                 in_reply_to=answer_id, references=[first["Message-ID"], answer_id])
    imap.add(reply)
    only_in_reply_to = mail(subject="Re: Build report", body="One more thing.", in_reply_to=answer_id)
    imap.add(only_in_reply_to)
    _, second, third = inbox.wait(3)
    assert second.thread == third.thread == first["Message-ID"]
    assert (second.text, third.text) == ("And the tests?", "One more thing.")  # no subject, no quote
    fresh = mail(subject="Another topic")
    imap.add(fresh)
    assert inbox.wait(4)[-1].thread == fresh["Message-ID"]


def test_html_only_mail_and_attachments(imap: FakeIMAP, running: tuple[EmailChannel, Inbox]) -> None:
    _, inbox = running
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = ADA, EMBER, "Logs"
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content("<html><body><p>See the <b>attached</b> log and <a href='https://ci.example/42'>the run"
                        "</a>.</p><div class='gmail_quote'>On Monday Ember wrote:<blockquote>old</blockquote></div>"
                        "</body></html>", subtype="html")
    message.add_attachment(b"error: it broke\n", maintype="text", subtype="plain", filename="build.log")
    message.add_attachment(bytes(range(256)), maintype="image", subtype="png", filename="chart.png")
    imap.add(message)
    [inbound] = inbox.wait(1)
    assert inbound.text == "Logs\n\nSee the attached log and the run (https://ci.example/42)."
    assert [(f.name, f.mime, f.size) for f in inbound.files] == [("build.log", "text/plain", 16),
                                                                ("chart.png", "image/png", 256)]
    assert inbound.files[0].fetch() == b"error: it broke\n" and inbound.files[1].fetch() == bytes(range(256))


def test_forged_robots_and_own_mail_never_reach_the_gateway(imap: FakeIMAP, running: tuple[EmailChannel, Inbox],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    _, inbox = running
    forged = imap.add(mail(headers={"Authentication-Results": "mx.example.com; spf=fail smtp.mailfrom=ada@example.org;"
                                                              " dkim=none; dmarc=fail header.from=example.org"}))
    bounce = imap.add(mail(sender="mailer-daemon@example.com", subject="Undelivered Mail"))
    vacation = imap.add(mail(headers={"Auto-Submitted": "auto-replied"}))
    own = imap.add(mail(sender=EMBER))
    good = mail(subject="real", headers={"Authentication-Results": "mx.example.com; spf=pass "
                                                                   "smtp.mailfrom=ada@example.org; dkim=pass "
                                                                   "header.d=example.org"})
    last = imap.add(good)
    [message] = inbox.wait(1)
    assert message.event_id == f"email:{good['Message-ID']}"
    for uid in (forged, bounce, vacation, own, last):
        imap.wait_seen(uid)
    time.sleep(0.2)
    assert len(inbox.items) == 1
    assert "refused" in caplog.text and "DMARC/SPF failed for example.org" in caplog.text
    assert "automatic mail" in caplog.text


def test_a_dropped_connection_reconnects(imap: FakeIMAP, running: tuple[EmailChannel, Inbox]) -> None:
    channel, inbox = running
    imap.drop_connections()
    imap.fail("LOGIN", drop=True)  # the first reconnect fails too
    imap.wait_for(lambda: imap.logins >= 2, 5, "a second login")
    imap.wait_idling()
    imap.add(mail(subject="after the drop"))
    assert inbox.wait(1)[0].text.startswith("after the drop")
    assert channel.status().connected


def test_a_refused_login_is_reported_and_not_hammered(imap: FakeIMAP, make: Callable[..., EmailChannel]) -> None:
    channel = make(password="wrong-password-123", max_backoff=1.0)
    channel.start(Inbox())
    imap.wait_for(lambda: "refused the login" in (channel.status().last_error or ""), 5, "the login error")
    error = channel.status().last_error or ""
    assert "app password" in error and "wrong-password-123" not in error and not channel.status().connected
    time.sleep(0.6)
    assert len(imap.commands_of("LOGIN")) == 1  # the next try waits max_backoff


def test_stop_is_prompt_during_idle(imap: FakeIMAP, running: tuple[EmailChannel, Inbox]) -> None:
    channel, _ = running
    started = time.monotonic()
    channel.stop()
    assert time.monotonic() - started < 2 and not channel.status().connected
    imap.wait_for(lambda: imap.idling == 0, 5, "the IDLE to end")


def test_another_folder(store: SQLiteStore, smtp: FakeSMTP, tmp_path: Path) -> None:
    with FakeIMAP(user=EMBER, password=PASSWORD, folder="Ember Tasks") as imap:
        config = EmailConfig(address=EMBER, imap_url=imap.url, smtp_url=smtp.url, password=PASSWORD,
                             folder="Ember Tasks")
        channel, inbox = EmailChannel(config, store, tmp_path), Inbox()
        channel.start(inbox)
        try:
            imap.add(mail())
            inbox.wait(1)
        finally:
            channel.stop()
        missing = EmailChannel(EmailConfig(address=EMBER, imap_url=imap.url, smtp_url=smtp.url, password=PASSWORD),
                               store, tmp_path, backoff=0.05)
        missing.start(Inbox())
        try:
            imap.wait_for(lambda: "no folder 'INBOX'" in (missing.status().last_error or ""), 5, "the folder error")
        finally:
            missing.stop()


# --- sending -------------------------------------------------------------------------------------

def test_a_new_message_and_a_threaded_reply(imap: FakeIMAP, smtp: FakeSMTP, running: tuple[EmailChannel, Inbox]
                                            ) -> None:
    channel, inbox = running
    first_id = channel.send(Outbound(chat="Ada@Example.org", text="## Nightly build\n\nAll green."))
    [fresh] = smtp.wait_messages(1)
    assert fresh.rcpt_tos == [ADA] and fresh.mail_from == EMBER and smtp.logins == 1
    message = fresh.message
    assert (message["From"], message["To"], message["Subject"]) == (EMBER, ADA, "Nightly build")
    assert message["Message-ID"] == first_id and message["In-Reply-To"] is None
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content().replace("\r\n", "\n").strip() == "## Nightly build\n\nAll green."

    question = mail(subject="Re: Nightly build", body="Which commit?", in_reply_to=first_id, references=[first_id])
    imap.add(question)
    [inbound] = inbox.wait(1)
    assert inbound.thread == first_id
    answer_id = channel.send(Outbound(chat=ADA, text="abc123", thread=inbound.thread))
    again_id = channel.send(Outbound(chat=ADA, text="and the tests passed", thread=inbound.thread))
    _, answer, again = smtp.wait_messages(3)
    assert answer.message["Subject"] == "Re: Nightly build" and answer.message["Message-ID"] == answer_id
    assert answer.message["In-Reply-To"] == question["Message-ID"]
    assert answer.message["References"] == f"{first_id} {question['Message-ID']}"
    assert answer.message["Auto-Submitted"] == "auto-replied"
    assert again.message["References"] == f"{first_id} {question['Message-ID']} {answer_id}"
    assert again.message["Message-ID"] == again_id


def test_a_retried_send_keeps_its_message_id(imap: FakeIMAP, smtp: FakeSMTP, running: tuple[EmailChannel, Inbox]
                                             ) -> None:
    """The outbox's key of an item makes every try of it the same mail: after a crash between the
    server's 250 and its record, the repeat is one message in the person's mail client."""
    channel, _ = running
    first = channel.send(Outbound(chat=ADA, text="Report", key="0123456789abcdef0123"))
    again = channel.send(Outbound(chat=ADA, text="Report", key="0123456789abcdef0123"))
    other = channel.send(Outbound(chat=ADA, text="Report", key="fedcba9876543210fedc"))
    assert first == again == "<ember.0123456789abcdef0123@example.com>" and other != first
    assert [m.message["Message-ID"] for m in smtp.wait_messages(3)] == [first, first, other]


def test_buttons_and_a_file(smtp: FakeSMTP, make: Callable[..., EmailChannel], tmp_path: Path) -> None:
    channel = make()
    report = tmp_path / "report.csv"
    report.write_bytes(b"a,b\n1,2\n")
    buttons = [Button("Allow once", "once"), Button("Deny", "deny")]
    channel.send(Outbound(chat=ADA, text="Approval needed: rm -rf build", buttons=buttons, request_id="r1",
                          file=str(report)))
    [received] = smtp.wait_messages(1)
    body = received.message.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n").strip() == \
        "Approval needed: rm -rf build\n\nReply with a number or a word: 1. Allow once  2. Deny"
    [attachment] = list(received.message.iter_attachments())
    assert attachment.get_filename() == "report.csv" and attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == b"a,b\n1,2\n"
    with pytest.raises(SendError) as raised:
        channel.send(Outbound(chat=ADA, text="x", file=str(tmp_path / "missing.pdf")))
    assert raised.value.permanent


@pytest.mark.parametrize(("command", "reply", "drop", "permanent"), [
    ("DATA", "451 4.3.0 Mail server temporarily rejected message", False, False),
    ("RCPT", "450 4.2.0 Mailbox busy", False, False),
    ("RCPT", "550 5.1.1 <ada@example.org>: Recipient address rejected: User unknown", False, True),
    ("DATA", "554 5.7.1 Message rejected as spam", False, True),
    ("MAIL", "553 5.7.1 Sender address rejected: not owned by user", False, True),
    ("DATA", None, True, False),
])
def test_smtp_refusals_map_to_send_errors(smtp: FakeSMTP, make: Callable[..., EmailChannel], command: str,
                                          reply: str | None, drop: bool, permanent: bool) -> None:
    channel = make()
    smtp.fail(command, reply, drop=drop)
    with pytest.raises(SendError) as raised:
        channel.send(Outbound(chat=ADA, text="hi"))
    assert raised.value.permanent is permanent
    if reply:
        assert reply.split()[0] in str(raised.value)
    assert smtp.messages == []
    channel.send(Outbound(chat=ADA, text="hi"))  # the next try goes through
    smtp.wait_messages(1)


def test_a_refused_login_is_permanent_and_a_server_down_is_not(smtp: FakeSMTP, make: Callable[..., EmailChannel]
                                                               ) -> None:
    with pytest.raises(SendError, match="refused the login") as raised:
        make(password="not-the-password").send(Outbound(chat=ADA, text="hi"))
    assert raised.value.permanent and "not-the-password" not in str(raised.value)
    with pytest.raises(SendError, match="cannot send through") as raised:
        make(smtp_url=f"smtp+plain://127.0.0.1:{closed_port()}").send(Outbound(chat=ADA, text="hi"))
    assert not raised.value.permanent


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_resolve_chat_and_typing(make: Callable[..., EmailChannel]) -> None:
    channel = make()
    assert channel.resolve_chat("Ada <Ada@Example.org>") == ADA
    assert channel.resolve_chat(" ada@example.org ") == ADA
    with pytest.raises(ValueError, match="addresses"):
        channel.resolve_chat("#team")
    channel.typing(ADA)  # nothing to show in email; never raises


# --- parsing -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "new"), [
    ("Sounds good.\n\nOn Tue, 4 Mar 2026 at 10:00, Ember <ember@example.com> wrote:\n> Shall I?\n> Yes", "Sounds good."),
    ("Yes\n\nOn Tue, 4 Mar 2026 at 10:00, Ember <ember@example.com>\nwrote:\n> Shall I?", "Yes"),
    ("4\n\nAm 04.03.2026 um 10:00 schrieb Ember <ember@example.com>:\n> Approval needed", "4"),
    ("once\n\n-----Original Message-----\nFrom: Ember\nSent: Tuesday\nApproval needed", "once"),
    ("deny\n\nFrom: Ember <ember@example.com>\nSent: Tuesday, March 4, 2026\nTo: Ada\nSubject: x", "deny"),
    ("Inline answer:\n> question one\nanswer one\n> question two\nanswer two",
     "Inline answer:\nanswer one\nanswer two"),
    ("Thanks!\n-- \nAda Lovelace\nAnalytical Engines Ltd", "Thanks!"),
])
def test_quoted_replies_are_trimmed(text: str, new: str) -> None:
    assert trim_quoted(text) == new


def test_html_becomes_text() -> None:
    html = ("<html><head><style>p {color: red}</style><title>x</title></head><body>"
            "<h1>Report</h1><p>Line&nbsp;one<br>line two</p><ul><li>first</li><li>second</li></ul>"
            "<pre>  code\n    indented</pre><script>alert(1)</script>"
            "<blockquote>quoted</blockquote><a href='https://x.example/'>https://x.example/</a></body></html>")
    assert html_to_text(html) == "Report\n\nLine one\nline two\n\n- first\n- second\n\ncode\nindented\n" \
                                 "https://x.example/"


@pytest.mark.parametrize(("results", "verdict"), [
    (["mx.example.com; spf=pass smtp.mailfrom=ada@example.org; dkim=pass header.d=example.org"], None),
    (["mx.example.com; spf=fail smtp.mailfrom=ada@example.org"], "SPF failed for example.org"),
    (["mx.example.com; dkim=fail header.d=example.org; dkim=pass header.d=example.org"], None),
    (["mx.example.com; dkim=fail (bad signature) header.i=@example.org header.s=s1"], "DKIM failed for example.org"),
    (["mx.example.com; spf=fail smtp.mailfrom=bounce@list.example.com; dkim=pass header.d=example.org"], None),
    (["mx.example.com; spf=softfail smtp.mailfrom=ada@example.org"], None),
    (["mx.example.com; dmarc=fail (p=reject) header.from=example.org"], "DMARC failed for example.org"),
    (["mx.example.com; spf=fail smtp.mailfrom=ada@mail.example.org"], "SPF failed for example.org"),
    (["mx.example.com; none"], None),
])
def test_authentication_results(results: list[str], verdict: str | None) -> None:
    found = auth_failure(results, ADA)
    assert (found is None) if verdict is None else (found is not None and verdict in found)


def test_parse_reads_what_the_channel_needs() -> None:
    message = mail(subject="Re: AW: Plan", body="Ok\n\n> old", in_reply_to="<a@x>", references=["<r@x>", "<a@x>"])
    parsed = parse(message.as_bytes())
    assert (parsed.sender, parsed.sender_name, parsed.subject, parsed.text) == (ADA, "Ada Lovelace", "Re: AW: Plan",
                                                                                "Ok")
    assert (parsed.in_reply_to, parsed.references, parsed.automatic, parsed.auth_failure) == \
        ("<a@x>", ["<r@x>", "<a@x>"], None, None)
    assert base_subject(parsed.subject) == "Plan"
    no_id = b"From: ada@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
    assert parse(no_id).message_id == parse(no_id).message_id  # made from the content: the same each time
    assert parse(mail(headers={"Precedence": "bulk"}).as_bytes()).automatic == "Precedence: bulk"


# --- configuration -------------------------------------------------------------------------------

def test_configuration(ember_home: Path) -> None:
    settings = load_settings()
    assert email_config({}, {}, settings) is None
    env = {"EMBER_EMAIL_ADDRESS": "Ember@Example.com", "EMBER_IMAP_URL": "imaps://imap.example.com",
           "EMBER_SMTP_URL": "smtp://smtp.example.com:587", "EMBER_EMAIL_PASSWORD": PASSWORD,
           "EMBER_EMAIL_ALLOW": "Ada@example.org, bob@example.org"}
    config = email_config({"poll_seconds": 30, "folder": "Ember"}, env, settings)
    assert config is not None
    assert (config.address, config.allow, config.poll_seconds, config.folder) == \
        (EMBER, [ADA, "bob@example.org"], 30.0, "Ember")
    assert PASSWORD not in repr(config) and settings.secrets["EMBER_EMAIL_PASSWORD"] == PASSWORD
    table = {"address": EMBER, "imap_url": "imap+plain://127.0.0.1:1143", "smtp_url": "smtps://smtp.example.com",
             "password": "x", "allow": [ADA]}
    config = email_config(table, {}, settings)
    assert config is not None and config.folder == "INBOX" and config.poll_seconds == 60.0
    for bad, says in (({"imap_url": "imaps://x"}, "address too"),
                      ({**table, "address": "ember"}, "not an email address"),
                      ({**table, "password": ""}, "EMBER_EMAIL_PASSWORD"),
                      ({**table, "imap_url": "pop3://x"}, "imaps://"),
                      ({**table, "smtp_url": "smtp://u:secret@x"}, "not in the URL"),
                      ({**table, "allow": ["Ada"]}, "email addresses"),
                      ({**table, "poll_seconds": 0}, "must be > 0")):
        with pytest.raises(ConfigError, match=says):
            email_config(bad, {}, settings)


def test_the_password_never_reaches_logs_or_status(imap: FakeIMAP, smtp: FakeSMTP, make: Callable[..., EmailChannel],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-but-secret-55e1"
    bad = make(password=wrong)
    bad.start(Inbox())
    imap.wait_for(lambda: "refused the login" in (bad.status().last_error or ""), 5, "the login error")
    with pytest.raises(SendError) as raised:
        bad.send(Outbound(chat=ADA, text="hi"))
    good, inbox = make(), Inbox()
    good.start(inbox)
    imap.add(mail())
    inbox.wait(1)
    good.send(Outbound(chat=ADA, text="hi"))
    assert "email" in caplog.text
    for secret in (wrong, PASSWORD):
        assert secret not in caplog.text and secret not in str(raised.value)
        assert secret not in (bad.status().last_error or "") + (good.status().last_error or "")


# --- TLS -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "tls"])
def test_tls_by_the_url_scheme(tmp_path: Path, store: SQLiteStore, implicit: bool) -> None:
    from tests.fakes.tls import certificates

    server_tls, client_tls = certificates(tmp_path / "tls")
    with FakeIMAP(user=EMBER, password=PASSWORD, tls=server_tls, implicit_tls=implicit) as imap, \
            FakeSMTP(user=EMBER, password=PASSWORD, tls=server_tls, implicit_tls=implicit) as smtp:
        assert imap.url.startswith("imaps://" if implicit else "imap://")
        assert smtp.url.startswith("smtps://" if implicit else "smtp://")
        config = EmailConfig(address=EMBER, imap_url=imap.url, smtp_url=smtp.url, password=PASSWORD)
        channel, inbox = EmailChannel(config, store, tmp_path, ssl_context=client_tls, backoff=0.05), Inbox()
        channel.start(inbox)
        try:
            imap.add(mail())
            [inbound] = inbox.wait(1)
            channel.send(Outbound(chat=ADA, text="over TLS", thread=inbound.thread))
            assert smtp.wait_messages(1)[0].message["In-Reply-To"] == inbound.thread
            assert ("STARTTLS" in [c for c, _ in imap.commands]) is not implicit
        finally:
            channel.stop()
        untrusting = EmailChannel(config, store, tmp_path, backoff=0.05)  # the system's CAs: our test CA is unknown
        with pytest.raises(SendError, match="certificate") as raised:
            untrusting.send(Outbound(chat=ADA, text="x"))
        assert raised.value.permanent
        untrusting.start(Inbox())
        try:
            imap.wait_for(lambda: "CERTIFICATE_VERIFY_FAILED" in (untrusting.status().last_error or ""), 5,
                          "the certificate error")
        finally:
            untrusting.stop()
