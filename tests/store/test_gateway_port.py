"""The gateway's port (inbox, outbox, chats, senders, pairing) through the ledger, on every backend."""

from __future__ import annotations

import time
from dataclasses import replace

from ember.gateway.channel import Button, Inbound
from ember.gateway.ledger import (
    DELIVERED,
    DONE,
    PENDING,
    QUEUED,
    RUNNING,
    UNDELIVERABLE,
    ChannelState,
    GatewayWorker,
    Ledger,
    OutboxPart,
)
from ember.gateway.workers import FORGET_AFTER

KEY = "sk_live_8dKLzdocJ2isAjIhKtJ0RlgL"


def _inbound(event: str, chat: str = "c1", text: str = "hi") -> Inbound:
    return Inbound(platform="telegram", chat=chat, user="u1", event_id=event, text=text, user_name="Ann")


def test_an_event_is_recorded_once_masked_and_worked_through(store):
    ledger = Ledger(store)
    first = ledger.record(_inbound("e1", text=f"my key {KEY}"), payload={"token": KEY})
    assert first is not None and ledger.record(_inbound("e1")) is None  # a repeat is dropped
    second = ledger.record(_inbound("e2", chat="c2"))
    item = ledger.inbox_item(first)
    assert item.text == "my key [REDACTED]" and item.payload == {"token": "[REDACTED]"}
    assert (item.status, item.user_name, item.attempts) == (QUEUED, "Ann", 0)
    assert ledger.queue_depths() == {"telegram:c1": 1, "telegram:c2": 1}
    session = store.create_session(source="telegram").id
    ledger.start(first, session)
    item = ledger.inbox_item(first)
    assert (item.status, item.session_id, item.attempts) == (RUNNING, session, 1)
    assert [i.id for i in ledger.unfinished()] == [first, second]
    ids = ledger.finish(first, "telegram", "c1", None, [OutboxPart("one"), OutboxPart(f"two {KEY}")])
    assert ledger.inbox_item(first).status == DONE and [i.id for i in ledger.unfinished()] == [second]
    assert [ledger.outbox_item(i).text for i in ids] == ["one", "two [REDACTED]"]
    ledger.set_status(second, "failed", "no model")
    assert ledger.unfinished() == [] and ledger.queue_depths() == {}
    assert ledger.inbox_item(12345) is None


def test_each_chat_sends_in_order_and_a_retry_holds_back_what_follows(store):
    ledger = Ledger(store)
    now = time.time()
    a1, a2 = ledger.enqueue("slack", "A", [OutboxPart("a1"), OutboxPart("a2")], kind="reply", thread="t1")
    (b1,) = ledger.enqueue("slack", "B", [OutboxPart("b1", buttons=[Button("Once", "once")], request_id="r1")],
                           kind="approval")
    (other,) = ledger.enqueue("telegram", "A", [OutboxPart("elsewhere", file="/tmp/f.png")], kind="reply")
    assert [i.id for i in ledger.due("slack", now + 1)] == [a1, b1]
    item = ledger.outbox_item(b1)
    assert (item.buttons, item.request_id, item.kind, item.status) == ([Button("Once", "once")], "r1", "approval", PENDING)
    assert ledger.outbox_item(a1).thread == "t1" and ledger.outbox_item(other).file == "/tmp/f.png"
    ledger.retry_later(a1, "429", now + 60)
    assert [i.id for i in ledger.due("slack", now + 1)] == [b1]  # a2 waits behind a1
    assert now <= ledger.next_due_at("slack") <= now + 1  # b1's, queued just now (a2 waits behind a1)
    ledger.delivered(b1, "ts-1")
    assert [i.id for i in ledger.due("slack", now + 61)] == [a1]
    ledger.undeliverable(a1, "chat not found")
    assert [i.id for i in ledger.due("slack", now + 61)] == [a2]
    item = ledger.outbox_item(a1)
    assert (item.status, item.attempts, item.last_error) == (UNDELIVERABLE, 2, "chat not found")
    assert ledger.outbox_item(b1).ack == "ts-1" and ledger.outbox_item(b1).status == DELIVERED
    assert ledger.outbox_counts() == {"slack": {PENDING: 1, DELIVERED: 1, UNDELIVERABLE: 1},
                                      "telegram": {PENDING: 1, DELIVERED: 0, UNDELIVERABLE: 0}}
    assert ledger.last_errors() == {"slack": "chat not found"}
    assert ledger.next_due_at("discord") is None


def test_chats_senders_and_pairing_codes(store):
    ledger = Ledger(store)
    session = store.create_session(source="slack").id
    assert ledger.session_for("slack", "C1", None) is None
    ledger.set_session("slack", "C1", None, session, person="ann")
    ledger.set_session("slack", "C1", "t9", "other")
    assert ledger.session_for("slack", "C1", None) == session and ledger.session_for("slack", "C1", "t9") == "other"
    assert ledger.sender("slack", "U1") is None
    ledger.allow_sender("slack", "U1", "ann", "pairing")
    ledger.allow_sender("telegram", "42", "ann", "link")
    assert ledger.sender("slack", "U1") == "ann"
    assert ledger.senders() == [{"platform": "slack", "user_id": "U1", "person": "ann", "how": "pairing"},
                                {"platform": "telegram", "user_id": "42", "person": "ann", "how": "link"}]
    code = ledger.new_pairing_code()
    assert len(code) == 8 and ledger.use_pairing_code(f" {code.lower()} ", "slack:U2")
    assert not ledger.use_pairing_code(code, "slack:U3")  # once
    expired = ledger.new_pairing_code(ttl=-1)
    assert not ledger.use_pairing_code(expired, "slack:U4")


def test_workers_claim_each_item_once_a_chat_at_a_time_and_take_over_a_dead_ones(store):
    ledger = Ledger(store)
    a1, b1, a2 = (ledger.record(_inbound(event, chat)) for event, chat in (("e1", "A"), ("e2", "B"), ("e3", "A")))
    one, two = "host:1:one", "host:2:two"
    first = ledger.claim_next(one, 60)
    second = ledger.claim_next(two, 60)
    assert (first.id, second.id) == (a1, b1)  # A's second message waits for its first
    assert ledger.claim_next(two, 60) is None and store.gateway.claimants() == [one, two]
    session = store.create_session(source="telegram").id
    ledger.start(a1, session)
    ledger.finish(a1, "telegram", "A", None, [OutboxPart("done")])
    assert ledger.claim_next(two, 60).id == a2  # A's first is done: its second may run, anywhere
    assert ledger.renew(two, 60) == 2
    ledger.release(two)  # two stops (or died): what it held is handed out again
    item = ledger.claim_next(one, -1)  # a lease that lapses at once, as a dead worker's would
    assert item.id == b1 and ledger.claim_next(two, 60).id == b1 and ledger.claim_next(one, 60).id == a2
    assert ledger.release_gone(lambda owner: owner == one) == [one]
    assert ledger.claim_next(two, 60).id == a2


def test_outbox_items_go_out_from_one_sender_in_each_chats_order(store):
    ledger = Ledger(store)
    a1, a2 = ledger.enqueue("slack", "A", [OutboxPart("a1"), OutboxPart("a2")], kind="reply")
    (b1,) = ledger.enqueue("slack", "B", [OutboxPart("b1")], kind="reply")
    one, two = "host:1:one", "host:2:two"
    assert [i.id for i in ledger.claim_due("slack", one, 60)] == [a1, b1]
    assert ledger.claim_due("slack", two, 60) == []  # both chats' first items are being sent
    assert ledger.next_due_at("slack") is None  # nothing this sender could send
    ledger.delivered(a1, "ts-1")
    assert [i.id for i in ledger.claim_due("slack", two, 60)] == [a2]
    ledger.retry_later(a2, "503", time.time() - 1)  # the send failed: its claim ends with it
    assert [i.id for i in ledger.claim_due("slack", one, 60)] == [a2]
    ledger.release(one)  # one died: b1 and a2 are sent by two
    assert [i.id for i in ledger.claim_due("slack", two, 60)] == [a2, b1]
    ledger.undeliverable(a2, "gone")
    ledger.delivered(b1, "ts-2")
    assert store.gateway.claimants() == [] and ledger.claim_due("slack", one, 60) == []


def test_each_worker_keeps_its_own_heartbeat_until_it_stops_or_is_silent_for_a_day(store):
    ledger = Ledger(store)
    now = time.time()
    one = GatewayWorker("host-a:11:aa", "host-a", 11, now - 60, now, 5.0,
                        {"telegram": ChannelState(True), "slack": ChannelState(False, f"refused {KEY}")})
    two = GatewayWorker("host-b:22:bb", "host-b", 22, now - 30, now - 10, 1.0, {"slack": ChannelState(True)})
    ledger.beat(one, FORGET_AFTER)
    ledger.beat(two, FORGET_AFTER)
    assert ledger.workers(now - 100) == [replace(one, channels={"telegram": ChannelState(True),
                                                                "slack": ChannelState(False, "refused [REDACTED]")}),
                                         two]  # the latest heartbeat first, errors masked
    assert [w.id for w in ledger.workers(now - 5)] == [one.id]

    ledger.beat(replace(two, beat_at=now + 1, channels={}), FORGET_AFTER)  # a worker's next beat writes over it
    assert [(w.id, w.beat_at, w.channels) for w in ledger.workers(now - 100)] == [
        (two.id, now + 1, {}), (one.id, now, one.channels | {"slack": ChannelState(False, "refused [REDACTED]")})]

    silent = GatewayWorker("host-c:33:cc", "host-c", 33, now - 3 * FORGET_AFTER, now - 2 * FORGET_AFTER, 5.0)
    store.gateway.beat(silent, forget_before=now - 3 * FORGET_AFTER)
    assert ledger.workers(0)[-1] == silent and ledger.workers(now - FORGET_AFTER)[-1].id == one.id
    ledger.beat(replace(one, beat_at=now + 2), FORGET_AFTER)  # any worker's beat forgets a day's silence
    assert [w.id for w in ledger.workers(0)] == [one.id, two.id]

    ledger.forget_worker(one.id)  # it stopped cleanly
    ledger.forget_worker("host-z:99:zz")  # one that was never there
    assert [w.id for w in ledger.workers(0)] == [two.id]
