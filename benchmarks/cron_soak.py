"""Thirty days of fifty jobs on a simulated clock: every run made, delivered once. Prints; asserts nothing.

    python benchmarks/cron_soak.py [--days 30] [--jobs 50] [--step 60] [--json]

The real scheduler, store, agent and Slack channel run in this process against a fast fake model
and a fake Slack; the clock advances ``--step`` seconds per tick. Jobs mix daily, weekday,
weekly, hourly-in-office-hours and one-time schedules in several time zones. It prints the runs
that came due, the runs made, the results delivered (acknowledged by the fake Slack), lost and
duplicated runs and deliveries (both must be 0), and the scheduler's own CPU time per tick.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.openai_server import FakeOpenAI, Reply  # noqa: E402
from tests.fakes.slack_server import FakeSlack  # noqa: E402

SCHEDULES = ["every day at 9am", "every weekday at 8:30", "every monday 10:00", "0 9-17/4 * * 1-5",
             "every day at 18:00 Europe/Berlin", "every sunday at 20:00 America/New_York", "every 6 hours",
             "every month on the 1st at 7"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--step", type=int, default=60, help="simulated seconds per tick")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ember-cron-soak-") as tmp, \
            FakeOpenAI(responder=lambda request: Reply(text="report: all good")) as model, FakeSlack() as slack:
        home = Path(tmp)
        (home / "config.toml").write_text("[memory]\nlearning = false\n")
        os.environ.update({"EMBER_HOME": str(home), "EMBER_PROVIDER": "openai", "EMBER_BASE_URL": model.base_url,
                           "EMBER_MODEL": "fake-model", "SLACK_BOT_TOKEN": slack.bot_token,
                           "SLACK_APP_TOKEN": slack.app_token, "EMBER_SLACK_API_BASE": slack.api_base})
        os.environ.pop("EMBER_WORKSPACE", None)
        channel_id = slack.add_channel("team")

        from ember.config import load_settings
        from ember.gateway.channels import gateway_config
        from ember.gateway.channels.slack import SlackChannel
        from ember.gateway.ledger import Ledger
        from ember.gateway.outbox import Outbox
        from ember.runtime import build_runtime
        from ember.scheduler.runner import Scheduler
        from ember.scheduler.schedule import parse

        settings = load_settings()
        config = gateway_config(settings)
        runtime = build_runtime(settings, interactive=False)
        assert config.slack is not None
        channel = SlackChannel(config.slack, runtime.store, home / "incoming")
        outbox = Outbox(Ledger(runtime.store), {"slack": channel}, base_delay=0.05)
        start = time.time() // 86400 * 86400 + 86400  # tomorrow, 00:00 UTC
        clock = [float(start)]
        scheduler = Scheduler(runtime, outbox, clock=lambda: clock[0])
        rng = random.Random(3)
        expected = 0
        end = start + args.days * 86400
        for number in range(args.jobs):
            text = SCHEDULES[number % len(SCHEDULES)] if number < args.jobs - 2 else "tomorrow at 15:00"
            schedule = parse(text, start, "UTC")
            job = scheduler.book.add(schedule, f"job {number}: report", "slack:#team", now=start, name=f"job{number}",
                                     missed="once", retries=0, timeout=60)
            moment = job.next_at
            while moment is not None and moment < end:
                expected += 1
                moment = schedule.next_after(moment)
            rng.random()

        ticks, idle_ticks, idle_cpu = 0, 0, 0.0
        while clock[0] < end:
            before = time.process_time()
            reports = scheduler.tick(clock[0])
            if not reports:  # the scheduler's own cost: a tick that started no run
                idle_cpu += time.process_time() - before
                idle_ticks += 1
            ticks += 1
            for _ in range(3):
                if not outbox.deliver_due("slack"):
                    break
            clock[0] += args.step
        deadline = time.monotonic() + 60
        while outbox.ledger.next_due_at("slack") is not None and time.monotonic() < deadline:
            outbox.deliver_due("slack")
            time.sleep(0.05)

        cron = runtime.store.cron
        runs = [run for job in cron.jobs() for run in cron.runs(job.id, limit=1_000_000)]
        made = sum(1 for run in runs if run.status == "ran")
        keys = [(run.job_id, run.due_at) for run in runs if run.status == "ran"]
        duplicated_runs = len(keys) - len(set(keys))
        outbox_ids = [i for run in runs for i in run.outbox_ids]
        delivered = sum(1 for i in outbox_ids if (item := outbox.ledger.outbox_item(i)) and item.status == "delivered")
        posted = [p for p in slack.posted if p.get("channel") == channel_id]
        runtime.close()

    figures = {
        "days": args.days, "jobs": args.jobs, "ticks": ticks, "runs_due": expected, "runs_made": made,
        "delivered": delivered, "posted": len(posted), "lost": expected - made, "duplicated_runs": duplicated_runs,
        "duplicated_deliveries": max(0, len(posted) - delivered),
        "cpu_ms_per_tick": round(idle_cpu / max(idle_ticks, 1) * 1000, 3),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['days']} days, {figures['jobs']} jobs, {figures['ticks']:,} ticks")
    print(f"runs due {figures['runs_due']}, made {figures['runs_made']}, delivered {figures['delivered']} "
          f"(posted {figures['posted']})")
    print(f"lost {figures['lost']}, duplicated runs {figures['duplicated_runs']}, "
          f"duplicated deliveries {figures['duplicated_deliveries']}")
    print(f"scheduler CPU per tick {figures['cpu_ms_per_tick']} ms (ticks that started no run)")


if __name__ == "__main__":
    main()
