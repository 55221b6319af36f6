"""Answers and ``/stop`` between gateway workers that share one store.

A turn runs on one worker, but the person's next event (a button press, a typed "1", the answer
to a question, ``/stop``) may reach another one. The store carries it across, under small keys:

- a waiting turn says so: ``WAITING`` + its request id holds who may answer what
  (``Waiting.shared``), and ``WAITING_IN`` + platform:chat:user names that request, for typed
  answers; it clears both when it stops waiting;
- the worker that receives the answer writes it under ``ANSWERED`` + the request id, which the
  waiting turn reads about once a second (``door.RELAY_EVERY``);
- a ``/stop`` for a turn running elsewhere is written under ``STOP`` + the chat key, with its time;
  the running turn looks every second and stops when it is newer than the turn.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ember.store.gateway_records import ANSWER, RUNNING

if TYPE_CHECKING:
    from ember.gateway.channel import Inbound
    from ember.gateway.ledger import Ledger
    from ember.store.ports import Store

WAITING, WAITING_IN, ANSWERED, STOP = "gateway:waiting:", "gateway:waiting-in:", "gateway:answer:", "gateway:stop:"


def person_key(platform: str, chat: str, user: str) -> str:
    return f"{WAITING_IN}{platform}:{chat}:{user}"


def typed_answer(ledger: Ledger, message: Inbound, local: set[str]) -> bool:
    """A typed answer to an approval or a question of a turn that waits on another worker (not one
    of the ``local`` requests): recorded, and handed to that worker. False when it is no answer."""
    from ember.gateway.channel import press_from_text
    from ember.gateway.door import CHOICES, Waiting

    store = ledger.store
    request_id = store.get_meta(person_key(message.platform, message.chat, message.user))
    if not request_id or request_id in local:
        return False
    waiting = Waiting.from_shared(store.get_meta(WAITING + request_id))
    if waiting is None or (waiting.platform, waiting.chat, waiting.user) != (message.platform, message.chat,
                                                                            message.user):
        return False
    if waiting.kind == "approval":
        answer = press_from_text(message.text, CHOICES)
        if answer is None:
            return False
    elif message.text.startswith("/stop") or waiting.thread != message.thread:
        return False
    else:
        answer = message.text
    if ledger.record(message, status=ANSWER) is not None:
        store.set_meta(ANSWERED + request_id, answer)
    return True


def pressed(store: Store, message: Inbound) -> bool:
    """A button press for a turn that waits on another worker, handed to it (only the person whose
    turn it is may answer). False when no worker waits for it."""
    from ember.gateway.door import Waiting

    press = message.press
    assert press is not None
    waiting = Waiting.from_shared(store.get_meta(WAITING + press.request_id))
    if waiting is None or (message.user, message.platform) != (waiting.user, waiting.platform):
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
