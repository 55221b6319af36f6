"""Cron's port (jobs and runs) through the job book, on every backend."""

from __future__ import annotations

from ember.gateway.ledger import Ledger, OutboxPart
from ember.scheduler.jobs import JobBook
from ember.scheduler.schedule import parse

NOW = 1_800_000_000.0
KEY = "sk_live_8dKLzdocJ2isAjIhKtJ0RlgL"


def test_jobs_are_kept_found_enabled_and_moved_on_once(store):
    book = JobBook(store)
    daily = book.add(parse("every day at 9:00 UTC", NOW), f"report with {KEY}", "local", now=NOW, name="daily")
    once = book.add(parse("in 2 hours", NOW), "ping", "slack:C1", now=NOW, retries=3, timeout=30, created_by="agent")
    assert daily.task == "report with [REDACTED]" and daily.enabled and daily.schedule.tz == "UTC"
    assert book.get(daily.id) == daily and book.get("daily") == daily and book.get("nothing") is None
    assert (once.deliver, once.retries, once.timeout, once.created_by, once.name) == ("slack:C1", 3, 30, "agent", "ping")
    assert once.schedule.kind == "once" and once.next_at == NOW + 7200
    assert [j.id for j in book.all()] == [daily.id, once.id]
    assert book.next_due_at() == min(daily.next_at, once.next_at)
    assert daily.next_at == NOW + 3600  # 09:00 UTC, an hour after NOW
    assert [j.id for j in book.due(NOW + 7200)] == [daily.id, once.id] and book.due(NOW) == []
    assert book.advance(once.id, once.next_at, None) and not book.advance(once.id, once.next_at, None)
    moved = book.get(once.id)
    assert moved.next_at is None and moved.last_at == NOW + 7200
    book.set_enabled(daily.id, False, NOW)
    assert not book.get(daily.id).enabled and book.next_due_at() is None
    book.set_enabled(daily.id, True, NOW)
    assert book.get(daily.id).enabled and book.next_due_at() == daily.next_at
    book.add(parse("every hour", NOW), "a", "local", now=NOW, name="twin")
    book.add(parse("every hour", NOW), "b", "local", now=NOW, name="twin")
    assert book.get("twin") is None  # a name two jobs share names neither


def test_a_run_is_claimed_once_and_its_delivery_followed(store):
    book, ledger = JobBook(store), Ledger(store)
    job = book.add(parse("every hour", NOW), "check", "slack:C1", now=NOW, timeout=60)
    run = book.claim(job, NOW, 1, NOW)
    assert run is not None and (run.status, run.attempt, run.started_at, run.outbox_ids) == ("running", 1, NOW, [])
    assert book.claim(job, NOW, 1, NOW) is None  # taken already
    assert book.claim(job, NOW + 3600, 1, NOW + 10) is None  # its previous run is still going
    assert book.interrupted(NOW + 100) == [] and [r.id for r in book.interrupted(NOW + 121)] == [run.id]
    skipped = book.claim(job, NOW + 3600, 1, NOW + 10, status="skipped")
    assert skipped is not None and skipped.status == "skipped"
    ids = ledger.enqueue("slack", "C1", [OutboxPart("result")], kind="cron")
    session = store.create_session(source="cron").id
    book.finish(run.id, "ran", session_id=session, input_tokens=5, output_tokens=7, cost=0.5, outbox_ids=ids,
                now=NOW + 20)
    latest, first = book.runs(job.id)
    assert latest.id == skipped.id
    assert (first.status, first.finished_at, first.session_id, first.input_tokens, first.output_tokens, first.cost,
            first.outbox_ids, first.error) == ("ran", NOW + 20, session, 5, 7, 0.5, ids, None)
    assert book.delivery_of(first) == "pending" and book.delivery_of(skipped) == "local"
    ledger.delivered(ids[0], "ts")
    assert book.delivery_of(book.runs(job.id)[1]) == "delivered"
    book.finish(skipped.id, "failed", error="boom")
    assert book.runs(job.id, limit=1)[0].error == "boom"
    assert book.remove(job.id) and book.runs(job.id) == [] and book.get(job.id) is None and not book.remove(job.id)


def test_workers_racing_for_a_run_start_it_once(store, store_backend, tmp_path):
    """Several gateway workers tick at once, each with its own connection: one run per due time,
    and none while an earlier run of the job is still going."""
    import threading

    job = JobBook(store).add(parse("every hour", NOW), "check", "local", now=NOW, timeout=60)
    stores = [store_backend.open(tmp_path / "home") for _ in range(4)]
    won: list = []
    start = threading.Barrier(len(stores))

    def tick(other, due: float) -> None:
        start.wait()
        run = other.cron.claim_run(job.id, due, 1, status="running", owner=f"w{id(other)}", now=NOW,
                                   busy_since=NOW - 120)
        if run is not None:
            won.append(run)

    try:
        threads = [threading.Thread(target=tick, args=(other, NOW + 3600 * (n % 2))) for n, other in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for other in stores:
            other.close()
    assert len(won) == 1  # two due times raced: the second waits for the first run to finish
