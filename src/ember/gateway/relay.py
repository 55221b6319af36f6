"""Answers and ``/stop`` between gateway workers that share one store.

A turn runs on one worker, but the person's next event (a button press, a typed "1", the answer
to a question, ``/stop``) may reach another one. The store carries it across, under small keys:

- a waiting turn says so (``waiting``): ``WAITING`` + its request id holds who may answer what,
  and ``WAITING_IN`` + platform:chat:user names that request, for typed answers; it clears both
  when it stops waiting (``done_waiting``);
- the worker that receives the answer writes it under ``ANSWERED`` + the request id, which the
  waiting turn reads about once a second (``door.RELAY_EVERY``);
- a ``/stop`` for a turn running elsewhere is written under ``STOP`` + the chat key, with its time;
  the running turn looks every second and stops when it is newer than the turn.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from ember.store.gateway_records import ANSWER, RUNNING

if TYPE_CHECKING:
    from ember.gateway.channel import Button, Inbound
    from ember.gateway.ledger import Ledger
    from ember.store.ports import Store

log = logging.getLogger(__name__)

WAITING, WAITING_IN, ANSWERED, STOP = "gateway:waiting:", "gateway:waiting-in:", "gateway:answer:", "gateway:stop:"


def _person(platform: str, chat: str, user: str) -> str:
    return f"{WAITING_IN}{platform}:{chat}:{user}"


def waiting(store: Store, request_id: str, *, kind: str, platform: str, chat: str, thread: str | None,
            user: str) -> None:
    """A turn waits for ``user``'s answer to ``request_id`` (an approval, or a question): say so."""
    store.set_meta(WAITING + request_id, json.dumps({"kind": kind, "platform": platform, "chat": chat,
                                                     "thread": thread, "user": user}))
    store.set_meta(_person(platform, chat, user), request_id)


def answer(store: Store, request_id: str) -> str | None:
    """The answer another worker received for ``request_id``, if one did."""
    return store.get_meta(ANSWERED + request_id) or None


def done_waiting(store: Store, request_id: str, platform: str, chat: str, user: str) -> None:
    for key in (WAITING + request_id, _person(platform, chat, user), ANSWERED + request_id):
        try:
            store.set_meta(key, "")
        except Exception:
            log.debug("could not clear %s", key, exc_info=True)


def _waiter(store: Store, request_id: str) -> dict[str, Any] | None:
    try:
        found = json.loads(store.get_meta(WAITING + request_id) or "null")
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def typed_answer(ledger: Ledger, message: Inbound, local: set[str], choices: list[Button]) -> bool:
    """A typed answer to an approval (one of ``choices``) or a question of a turn that waits on
    another worker (not one of the ``local`` requests): recorded, and handed to that worker. False
    when it is no answer."""
    from ember.gateway.channel import press_from_text

    store = ledger.store
    request_id = store.get_meta(_person(message.platform, message.chat, message.user))
    if not request_id or request_id in local:
        return False
    waiter = _waiter(store, request_id)
    if waiter is None or (waiter.get("platform"), waiter.get("chat"), waiter.get("user")) != (
            message.platform, message.chat, message.user):
        return False
    if waiter.get("kind") == "approval":
        given = press_from_text(message.text, choices)
        if given is None:
            return False
    elif message.text.startswith("/stop") or waiter.get("thread") != message.thread:
        return False
    else:
        given = message.text
    if ledger.record(message, status=ANSWER) is not None:
        store.set_meta(ANSWERED + request_id, given)
    return True


def pressed(store: Store, message: Inbound) -> bool:
    """A button press for a turn that waits on another worker, handed to it (only the person whose
    turn it is may answer). False when no worker waits for it."""
    press = message.press
    assert press is not None
    waiter = _waiter(store, press.request_id)
    if waiter is None or (message.user, message.platform) != (waiter.get("user"), waiter.get("platform")):
        return False
    store.set_meta(ANSWERED + press.request_id, press.choice)
    return True


def running_elsewhere(ledger: Ledger, message: Inbound) -> bool:
    """Whether a turn of the message's chat is running (on any worker)."""
    return any(item.status == RUNNING and (item.platform, item.chat, item.thread) ==
               (message.platform, message.chat, message.thread) for item in ledger.unfinished())


def ask_to_stop(store: Store, chat: str) -> None:
    store.set_meta(STOP + chat, str(time.time()))


def asked_to_stop(store: Store, chat: str, since: float) -> bool:
    """Whether a ``/stop`` for ``chat`` came (to any worker) after ``since``."""
    raw = store.get_meta(STOP + chat)
    try:
        return bool(raw) and float(raw or 0) >= since
    except ValueError:
        return False
