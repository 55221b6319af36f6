"""Answers and /stop between gateway workers: the turn waits on one worker, the person's answer
reaches another, and the store hands it over (on every store backend)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from ember.gateway import relay
from ember.gateway.channel import ButtonPress, Inbound
from ember.gateway.door import CHOICES, ChatDoor
from ember.gateway.ledger import ANSWER, Ledger
from ember.store.gateway_records import InboxItem


def waiting_turn(store, kind: str) -> tuple[threading.Thread, dict]:
    """A turn on worker A asking (an approval, or a question) in telegram chat c1 of user u1."""
    sent: list[dict] = []
    gateway = SimpleNamespace(
        runtime=SimpleNamespace(store=store), config=SimpleNamespace(approval_timeout=20.0), waiting={},
        clock=time.monotonic, stopping=threading.Event(),
        outbox=SimpleNamespace(queue=lambda *args, **kwargs: sent.append(kwargs)),
        question_key=lambda platform, chat, thread, user: f"question:{platform}:{chat}:{thread or ''}:{user}",
    )
    item = InboxItem(1, "e1", "telegram", "c1", None, "u1", "Ann", "deploy it", "running", "s1", 1)
    door = ChatDoor(gateway, item, threading.Event())  # type: ignore[arg-type]
    result: dict = {"sent": sent}

    def run() -> None:
        if kind == "approval":
            request = SimpleNamespace(reason="it writes outside the workspace", action="rm -rf build")
            result["answer"] = door.approve(request)  # type: ignore[arg-type]
        else:
            result["answer"] = door.ask("Which branch?", [])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not store.get_meta("gateway:waiting-in:telegram:c1:u1"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return thread, result


def test_a_button_pressed_on_another_worker_answers_the_approval(store_backend, tmp_path):
    with store_backend.open(tmp_path) as store:
        thread, result = waiting_turn(store, "approval")
        request_id = result["sent"][0]["request_id"]
        stranger = Inbound("telegram", "c1", "u2", "p1", press=ButtonPress(request_id, "always"))
        assert not relay.pressed(store, stranger)  # only the person whose turn it is
        assert relay.pressed(store, Inbound("telegram", "c1", "u1", "p2", press=ButtonPress(request_id, "once")))
        thread.join(5)
        assert result["answer"] == "once"
        assert not store.get_meta("gateway:waiting-in:telegram:c1:u1")  # no longer waiting
        assert not relay.pressed(store, Inbound("telegram", "c1", "u1", "p3", press=ButtonPress(request_id, "deny")))


def test_a_typed_answer_on_another_worker_answers_the_question_and_is_recorded(store_backend, tmp_path):
    with store_backend.open(tmp_path) as store:
        ledger = Ledger(store)
        thread, result = waiting_turn(store, "question")
        assert not relay.typed_answer(ledger, Inbound("telegram", "c1", "u2", "m0", text="main"), set(), CHOICES)
        answer = Inbound("telegram", "c1", "u1", "m1", text="the release branch")
        assert relay.typed_answer(ledger, answer, set(), CHOICES)
        thread.join(5)
        assert result["answer"] == "the release branch"
        assert [i.status for i in ledger.store.gateway.unfinished()] == []
        assert ledger.record(answer, status=ANSWER) is None  # it was recorded, once


def test_stop_on_another_worker_reaches_the_running_turn(store_backend, tmp_path):
    with store_backend.open(tmp_path) as store:
        ledger = Ledger(store)
        started = time.time()
        message = Inbound("telegram", "c1", "u1", "e1", text="deploy it")
        inbox = ledger.record(message)
        assert not relay.running_elsewhere(ledger, message)
        ledger.start(inbox, store.create_session(source="telegram").id)
        assert relay.running_elsewhere(ledger, message)
        assert not relay.asked_to_stop(store, "telegram:c1", started)
        relay.ask_to_stop(store, "telegram:c1")
        assert relay.asked_to_stop(store, "telegram:c1", started)
        assert not relay.asked_to_stop(store, "telegram:c1", time.time() + 1)  # a later turn is not stopped
