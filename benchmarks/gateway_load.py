"""The gateway under load and faults: throughput, latency, memory, and nothing lost. Prints; asserts nothing.

    python benchmarks/gateway_load.py [--messages 1000] [--people 20] [--kills 2] [--fail-rate 0.1] [--json]

A real ``ember gateway run`` process talks to a fake Slack (real Web API and Socket Mode) that
fails ``--fail-rate`` of the sends (503, or 429 with Retry-After), and to a fake model that
answers at once. ``--messages`` DMs from ``--people`` people stream in while the gateway is killed
with SIGKILL ``--kills`` times and restarted. It prints throughput, p50/p95 latency from a
message's arrival to its acknowledged answer, the gateway's peak RSS, and the counts that must
be zero: lost, out of order, and duplicates beyond one per kill (docs/gateway.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.gateway.load import run_load  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--fail-rate", type=float, default=0.1)
    parser.add_argument("--parallel", type=int, default=8, help="[gateway] max_parallel")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ember-gateway-load-") as tmp:
        result = run_load(Path(tmp) / "home", messages=args.messages, people=args.people, kills=args.kills,
                          fail_rate=args.fail_rate, timeout=max(300.0, args.messages * 0.5),
                          max_parallel=args.parallel)
    figures = {
        "messages": result.messages, "people": result.people, "kills": result.kills,
        "answered": result.answered, "lost": len(result.lost), "out_of_order_chats": len(result.out_of_order),
        "duplicates": sum(result.duplicated.values()), "injected_send_failures": result.injected_failures,
        "seconds": round(result.seconds, 1), "throughput_per_s": round(result.answered / result.seconds, 1),
        "latency_p50_s": round(result.percentile(0.5), 3), "latency_p95_s": round(result.percentile(0.95), 3),
        "peak_rss_mib": round(result.peak_rss_mib, 1), "ok": result.ok,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['messages']} messages from {figures['people']} people, {figures['kills']} SIGKILLs, "
          f"{figures['injected_send_failures']} failed sends injected")
    print(f"answered {figures['answered']}, lost {figures['lost']}, out of order {figures['out_of_order_chats']}, "
          f"duplicates {figures['duplicates']} (at most {figures['kills']} allowed: one per kill)")
    print(f"{figures['seconds']} s, {figures['throughput_per_s']} answers/s, latency p50 {figures['latency_p50_s']} s, "
          f"p95 {figures['latency_p95_s']} s, gateway peak RSS {figures['peak_rss_mib']} MiB")
    print("OK" if result.ok else "FAILED")


if __name__ == "__main__":
    main()
