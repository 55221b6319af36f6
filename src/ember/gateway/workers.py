"""Several gateway workers on one store: who a worker is, and whether another one is still alive.

Each ``ember gateway run`` is a worker with an owner name, ``host:pid:token``, under which it
claims inbox and outbox items (``GatewayStore.claim_inbound``, ``claim_due``) for a lease it
renews while it runs. A worker that dies leaves claims that lapse at the end of their lease, and
another worker takes the items over; one on the same host whose process is gone is noticed
sooner (``owner_gone``), and its claims are given back at once.

Each worker also keeps a heartbeat in the store (``GatewayStore.beat``: when it started, when it
last beat, its channels' states), which ``ember gateway status`` lists. A worker is taken for
running while it beats (``seen_lately``); one that stopped cleanly removed its heartbeat, and one
that died is shown as not seen since its last heartbeat, until that is ``FORGET_AFTER`` old.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.store.gateway_records import GatewayWorker

HOST = socket.gethostname()
MISSED_BEATS = 4
"""A worker that missed this many heartbeats in a row (its own pace: ``beat_every``) is not seen
since its last one: it died, or it cannot reach the store."""
FORGET_AFTER = 86_400.0
"""Seconds after its last heartbeat when a silent worker is no longer listed, nor kept."""


def new_owner() -> str:
    """This worker's owner name: its host, its process id, and a token of its own."""
    return f"{HOST}:{os.getpid()}:{secrets.token_hex(4)}"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: gone for our purpose
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def owner_gone(owner: str) -> bool:
    """Whether ``owner`` was a worker of this host whose process no longer runs (another host's
    workers are only known gone when their claims lapse)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return host == HOST and pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid))


def seen_lately(worker: GatewayWorker, now: float) -> bool:
    """Whether ``worker`` beat lately enough, at ``now``, to be taken for running. A worker of
    another host that died is only known by its silence, so this is judged for every worker alike
    by its heartbeats, never by its process."""
    return now - worker.beat_at <= MISSED_BEATS * worker.beat_every
