"""Several gateway workers on one store: who a worker is, and whether another one is still alive.

Each ``ember gateway run`` is a worker with an owner name (``ember.owners``: host:pid:token),
under which it claims inbox and outbox items (``GatewayStore.claim_inbound``, ``claim_due``) for a lease it
renews while it runs. A worker that dies leaves claims that lapse at the end of their lease, and
another worker takes the items over; one on the same host whose process is gone is noticed
sooner (``ember.owners.owner_gone``), and its claims are given back at once.

Each worker also keeps a heartbeat in the store (``GatewayStore.beat``: when it started, when it
last beat, its channels' states), which ``ember gateway status`` lists. A worker is taken for
running while it beats (``seen_lately``); one that stopped cleanly removed its heartbeat, and one
that died is shown as not seen since its last heartbeat, until that is ``FORGET_AFTER`` old.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.store.gateway_records import GatewayWorker

MISSED_BEATS = 4
"""A worker that missed this many heartbeats in a row (its own pace: ``beat_every``) is not seen
since its last one: it died, or it cannot reach the store."""
FORGET_AFTER = 86_400.0
"""Seconds after its last heartbeat when a silent worker is no longer listed, nor kept."""


def seen_lately(worker: GatewayWorker, now: float) -> bool:
    """Whether ``worker`` beat lately enough, at ``now``, to be taken for running. A worker of
    another host that died is only known by its silence, so this is judged for every worker alike
    by its heartbeats, never by its process."""
    return now - worker.beat_at <= MISSED_BEATS * worker.beat_every
