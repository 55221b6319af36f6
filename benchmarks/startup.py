"""Start-up, one-shot and per-turn figures against a local fake endpoint. Prints; asserts nothing.

    python benchmarks/startup.py [--runs 10]

Targets on a small 2-core machine: ``ember --help`` <= 0.15 s, one-shot reply <= 0.2 s (httpx alone
is about 0.135 s of it), peak RSS <= 60 MiB, our overhead <= 15 ms per tool turn, first request
<= 12,000 bytes. Measured (2-core machine, quiet): --help 0.039 s, one-shot 0.176 s, three tool
calls 0.221 s, 31.6 MiB, 2.15 ms per tool turn.

What keeps the one-shot path short: subcommands imported only when they run; plugin discovery
reads entry_points.txt instead of importing importlib.metadata; a plain-http endpoint's client
skips the CA bundle; the command parser, allow-patterns and the sandbox are imported only when a
command is checked; the learning modules load in the background worker.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.fakes.openai_server import FakeOpenAI, Reply  # noqa: E402

EMBER = str(Path(sys.executable).parent / "ember")


def _peak_rss_kib(pid: int) -> int:
    """VmHWM of the running child. ``ru_maxrss`` from wait4 would count the pages the child
    inherited from this (larger) benchmark process before exec, so we read /proc instead."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def timed_run(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB, sampled every 2 ms) and exit code of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while True:
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _peak_rss_kib(proc.pid))
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, peak, proc.returncode


def measure(label: str, argv: list[str], env: dict[str, str], cwd: str, runs: int, before=None) -> dict:
    times, rss = [], []
    for _ in range(runs):
        if before:
            before()
        elapsed, peak, code = timed_run(argv, env, cwd)
        if code != 0:
            raise SystemExit(f"{label}: exit code {code} for {' '.join(argv)}")
        times.append(elapsed)
        rss.append(peak)
    return {"label": label, "median_s": statistics.median(times), "min_s": min(times),
            "peak_rss_mib": max(rss) / 1024}


def tool_turn_overhead(env: dict[str, str], turns: int = 200) -> float:
    """Milliseconds of our own work per tool turn: the real Agent, store and registry, with an
    in-process model that answers instantly, so only Ember's overhead is left."""
    os.environ.update(env)
    from ember.config import load_settings
    from ember.models.base import Completion, StreamDone, TextDelta, ToolCall, Usage
    from ember.runtime import build_runtime

    class InstantModel:
        def __init__(self) -> None:
            self.calls = 0

        def _next(self) -> Completion:
            self.calls += 1
            if self.calls % (turns + 1) == 0:
                return Completion(text="done", usage=Usage(10, 1), model="instant")
            call = ToolCall(id=f"c{self.calls}", name="list_dir", arguments={"path": "."})
            return Completion(tool_calls=[call], finish_reason="tool_calls", usage=Usage(10, 1), model="instant")

        def stream(self, kind, messages, tools=None, **opts):
            completion = self._next()
            if completion.text:
                yield TextDelta(completion.text)
            yield StreamDone(completion)

        def complete(self, kind, messages, tools=None, **opts):
            return self._next()

        # What the agent loop calls (router.py): the same, with no retries or fallbacks to announce.
        stream_events = stream

        def complete_events(self, kind, messages, tools=None, **opts):
            yield self._next()

        def cost_of(self, completion, spec=None):
            return 0.0

        def close(self) -> None:
            pass

    settings = load_settings()
    settings.agent.max_steps = turns + 5
    runtime = build_runtime(settings, interactive=False)
    runtime.agent.router = InstantModel()  # type: ignore[assignment]
    session = runtime.agent.new_session(source="bench")
    started = time.perf_counter()
    runtime.agent.ask(session, "list the folder many times")
    elapsed = time.perf_counter() - started
    runtime.close()
    return elapsed / turns * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="ember-bench-")
    workspace = tempfile.mkdtemp(prefix="ember-bench-ws-")
    three_tools = [
        Reply(tool_calls=[{"name": "write_file", "arguments": {"path": "a.py", "content": "print(42)\n"}}]),
        Reply(tool_calls=[{"name": "shell", "arguments": {"command": "python3 a.py"}}]),
        Reply(tool_calls=[{"name": "read_file", "arguments": {"path": "a.py"}}]),
        Reply(text="It prints 42."),
    ]
    def responder(request):
        if request.get("tools") is not None and any(m["role"] == "tool" for m in request["messages"]):
            step = sum(1 for m in request["messages"] if m["role"] == "assistant")
            return three_tools[min(step, 3)]
        if "three" in json.dumps(request["messages"][-1]):
            return three_tools[0]
        return Reply(text="Hello! How can I help?")

    with FakeOpenAI(responder=responder) as fake:
        env = {**os.environ, "EMBER_HOME": home, "EMBER_WORKSPACE": workspace, "EMBER_PROVIDER": "openai",
               "EMBER_BASE_URL": fake.base_url, "EMBER_MODEL": "fake-model"}
        results = [
            measure("python -c pass", [sys.executable, "-c", "pass"], env, workspace, args.runs),
            measure("ember --help", [EMBER, "--help"], env, workspace, args.runs),
            measure("ember run (one-shot text reply)", [EMBER, "run", "hi"], env, workspace, args.runs),
            measure("ember run (three tool calls)", [EMBER, "run", "--yes", "do three tools"], env, workspace,
                    max(3, args.runs // 2)),
        ]
        fake.requests.clear()
        subprocess.run([EMBER, "run", "hi"], env=env, cwd=workspace, capture_output=True, check=True)
        first_request = len(json.dumps(fake.requests[0].body, separators=(",", ":")).encode())
    overhead_ms = tool_turn_overhead({"EMBER_HOME": tempfile.mkdtemp(), "EMBER_WORKSPACE": workspace})
    print(f"{'measure':<36} {'median':>9} {'min':>9} {'peak RSS':>10}")
    for row in results:
        print(f"{row['label']:<36} {row['median_s']:>8.3f}s {row['min_s']:>8.3f}s {row['peak_rss_mib']:>7.1f} MiB")
    print(f"{'overhead per tool turn':<36} {overhead_ms:>8.2f}ms")
    print(f"{'first request size':<36} {first_request:>8d} bytes (target <= 12,000)")


if __name__ == "__main__":
    main()
