"""Gateway records from the rows of either backend, and back: the same columns and JSON on
SQLite and PostgreSQL, so one reading serves both (``store.sqlite.gateway``,
``store.postgres.gateway``); only their SQL differs."""

from __future__ import annotations

import json
from typing import Any

from ember.store.gateway_records import Button, ChannelState, GatewayWorker, InboxItem, OutboxItem


def inbox_item(row: Any) -> InboxItem:
    return InboxItem(
        id=row["id"], event_id=row["event_id"], platform=row["platform"], chat=row["chat"], thread=row["thread"],
        user_id=row["user_id"], user_name=row["user_name"], text=row["text"], status=row["status"],
        session_id=row["session_id"], attempts=row["attempts"], payload=json.loads(row["payload"] or "{}"),
    )


def outbox_item(row: Any) -> OutboxItem:
    buttons = [Button(b["label"], b["value"]) for b in json.loads(row["buttons"] or "[]")]
    return OutboxItem(
        id=row["id"], platform=row["platform"], chat=row["chat"], thread=row["thread"], text=row["text"],
        buttons=buttons, request_id=row["request_id"], file=row["file"], kind=row["kind"],
        inbox_id=row["inbox_id"], status=row["status"], attempts=row["attempts"], next_at=row["next_at"],
        last_error=row["last_error"], ack=row["ack"],
    )


def gateway_worker(row: Any) -> GatewayWorker:
    channels = {name: ChannelState(bool(state.get("connected")), state.get("last_error"))
                for name, state in json.loads(row["channels"] or "{}").items()}
    return GatewayWorker(id=row["id"], host=row["host"], pid=row["pid"], started_at=row["started_at"],
                         beat_at=row["beat_at"], beat_every=row["beat_every"], channels=channels)


def channels_json(worker: GatewayWorker) -> str:
    return json.dumps({name: {"connected": state.connected, "last_error": state.last_error}
                       for name, state in worker.channels.items()})
