"""The gateway under load and faults: throughput, latency, memory, and nothing lost. Prints; asserts nothing.

    python benchmarks/gateway_load.py [--channels slack,telegram,discord,whatsapp,signal,email]
        [--messages 1000] [--people 20] [--kills 2] [--fail-rate 0.1] [--json]

For each channel named (default: slack), one after another: a real ``ember gateway run`` process
talks to a fake of that platform (speaking its real protocol: Slack's Web API and Socket Mode,
Telegram's Bot API, Discord's REST API and Gateway, WhatsApp's Cloud API and webhooks,
signal-cli's JSON-RPC daemon, IMAP and SMTP) that fails ``--fail-rate`` of the bot's sends (a 5xx
or the platform's rate limit), and to a fake model that answers at once. ``--messages`` direct
messages from ``--people`` people stream in while the gateway is killed with SIGKILL ``--kills``
times and restarted. It prints throughput, p50/p95 latency from a message's arrival to its
acknowledged answer, the gateway's peak RSS, and the counts that must be zero: lost (Signal may
lose one per kill: signal-cli has no acknowledgement), out of order, and duplicates beyond the ack
window (a send in flight at a kill may go again: one per send the outbox has in flight, up to four
per platform; docs/gateway.md). ``--json`` prints one JSON object per channel, a line each.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.gateway.load import PLATFORMS, LoadResult, run_load  # noqa: E402


def figures(result: LoadResult) -> dict:
    return {
        "channel": result.platform, "messages": result.messages, "people": result.people, "kills": result.kills,
        "answered": result.answered, "lost": len(result.lost), "lost_allowed": result.may_lose,
        "out_of_order_chats": len(result.out_of_order), "duplicates": sum(result.duplicated.values()),
        "duplicates_allowed": result.may_repeat,
        "injected_send_failures": result.injected_failures, "seconds": round(result.seconds, 1),
        "throughput_per_s": round(result.answered / result.seconds, 1) if result.seconds else 0.0,
        "latency_p50_s": round(result.percentile(0.5), 3), "latency_p95_s": round(result.percentile(0.95), 3),
        "peak_rss_mib": round(result.peak_rss_mib, 1), "ok": result.ok,
    }


def report(found: dict) -> None:
    print(f"{found['channel']}: {found['messages']} messages from {found['people']} people, {found['kills']} SIGKILLs, "
          f"{found['injected_send_failures']} failed sends injected")
    allowed = f" (at most {found['lost_allowed']} allowed: one per kill)" if found["lost_allowed"] else ""
    print(f"  answered {found['answered']}, lost {found['lost']}{allowed}, out of order {found['out_of_order_chats']}, "
          f"duplicates {found['duplicates']} (at most {found['duplicates_allowed']} allowed: the sends in flight "
          "at a kill)")
    print(f"  {found['seconds']} s, {found['throughput_per_s']} answers/s, latency p50 {found['latency_p50_s']} s, "
          f"p95 {found['latency_p95_s']} s, gateway peak RSS {found['peak_rss_mib']} MiB")
    print("  OK" if found["ok"] else "  FAILED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", default="slack",
                        help=f"comma-separated, run one after another: {','.join(PLATFORMS)}")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--fail-rate", type=float, default=0.1)
    parser.add_argument("--parallel", type=int, default=8, help="[gateway] max_parallel")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    channels = [name.strip() for name in args.channels.split(",") if name.strip()]
    unknown = [name for name in channels if name not in PLATFORMS]
    if unknown or not channels:
        parser.error(f"--channels: no channel {unknown[0] if unknown else ''!r}; the channels are {', '.join(PLATFORMS)}")
    all_ok = True
    for channel in channels:
        with tempfile.TemporaryDirectory(prefix=f"ember-gateway-load-{channel}-") as tmp:
            result = run_load(Path(tmp) / "home", platform=channel, messages=args.messages, people=args.people,
                              kills=args.kills, fail_rate=args.fail_rate, timeout=max(300.0, args.messages * 0.5),
                              max_parallel=args.parallel)
        found = figures(result)
        all_ok = all_ok and result.ok
        if args.json:
            print(json.dumps(found), flush=True)
        else:
            report(found)
            sys.stdout.flush()
    if not args.json and len(channels) > 1:
        print("OK" if all_ok else "FAILED")


if __name__ == "__main__":
    main()
