"""What ``ember gateway status`` reports: every gateway worker that shares the store, its
channels, and the store's queues.

Each worker keeps a heartbeat in the store (``Gateway._heartbeat``); a worker is running while it
beats (``workers.seen_lately``), is listed as not seen since its last heartbeat once it missed
several, and is no longer listed after ``workers.FORGET_AFTER``.

The top-level keys keep the meaning they had when one worker wrote one heartbeat, because
scripts read them: ``running`` is whether any worker runs, ``pid`` the pid of the running worker
that beat last, and each row of ``channels`` is merged over the running workers: connected when
it is connected on any of them, with the error the latest of them reports. ``workers`` lists
each worker with its own channels (docs/gateway.md, "Commands").
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ember.gateway.workers import FORGET_AFTER, seen_lately
from ember.store.gateway_records import ChannelState, GatewayWorker

if TYPE_CHECKING:
    from ember.gateway.channel import Channel
    from ember.gateway.ledger import Ledger


def running_gateway(ledger: Ledger, now: float | None = None) -> GatewayWorker | None:
    """The running worker that beat last, or None when no gateway runs on this store."""
    now = time.time() if now is None else now
    return next((w for w in ledger.workers(now - FORGET_AFTER) if seen_lately(w, now)), None)


def channel_states(channels: Mapping[str, Channel]) -> dict[str, ChannelState]:
    """The channels of this process as they are now."""
    states = {}
    for name, channel in channels.items():
        state = channel.status()
        states[name] = ChannelState(state.connected, state.last_error)
    return states


def merged_channels(workers: Iterable[GatewayWorker]) -> dict[str, ChannelState]:
    """Each channel over ``workers`` (the latest heartbeat first): connected when it is connected
    on any of them; its error, the first one they report."""
    merged: dict[str, ChannelState] = {}
    for worker in workers:
        for name, state in worker.channels.items():
            seen = merged.setdefault(name, ChannelState(False))
            seen.connected = seen.connected or state.connected
            seen.last_error = seen.last_error or state.last_error
    return merged


def worker_row(worker: GatewayWorker, now: float) -> dict[str, Any]:
    """One worker in ``--json``: ``live`` is False once it missed its heartbeats (not seen since
    ``last_heartbeat``); times are Unix seconds."""
    return {
        "id": worker.id, "host": worker.host, "pid": worker.pid, "started": worker.started_at,
        "last_heartbeat": worker.beat_at, "live": seen_lately(worker, now),
        "channels": [{"name": name, "connected": state.connected, "last_error": state.last_error}
                     for name, state in worker.channels.items()],
    }


def gateway_status(ledger: Ledger, configured: list[str], channels: Mapping[str, Channel] | None = None,
                   configs: Mapping[str, Any] | None = None, *, now: float | None = None,
                   forget_after: float = FORGET_AFTER) -> dict[str, Any]:
    """What ``ember gateway status`` shows: workers, channels, queue depths, undelivered items,
    last errors. With ``channels`` (a running gateway asks about itself) the channel rows are
    those channels as they are now; else they are merged over the running workers' heartbeats.

    A channel whose configuration has ``receiving()`` (Telegram: ``{"mode": "webhook",
    "webhook_url": ...}`` or ``{"mode": "polling"}``) adds those keys to its row.
    """
    now = time.time() if now is None else now
    counts = ledger.outbox_counts()
    errors = ledger.last_errors()
    listed = ledger.workers(now - forget_after)
    running = [worker for worker in listed if seen_lately(worker, now)]
    states = channel_states(channels) if channels is not None else merged_channels(running)
    rows = []
    for name in configured:
        state = states.get(name, ChannelState(False))
        rows.append({
            "name": name,
            "connected": state.connected,
            "last_error": state.last_error or errors.get(name),
            "undelivered": counts.get(name, {}).get("pending", 0),
            "failed": counts.get(name, {}).get("failed", 0),
        })
        receiving = getattr((configs or {}).get(name), "receiving", None)
        if callable(receiving):
            rows[-1].update(receiving())
    return {"running": channels is not None or bool(running), "pid": running[0].pid if running else None,
            "channels": rows, "queues": ledger.queue_depths(), "outbox": counts,
            "workers": [worker_row(worker, now) for worker in listed]}
