"""The gateway under load and faults: many people, flaky sends, the gateway killed mid-stream.

Shared by ``tests/gateway/test_reliability.py`` (scaled down, in the suite) and
``benchmarks/gateway_load.py`` (1,000 messages). A fake Slack (real Web API and Socket Mode)
fails a share of ``chat.postMessage`` calls; a fake model answers at once, quoting each
message's token; ``ember gateway run`` runs as a real process and is killed with SIGKILL while
messages stream in, then started again. At the end every message must have its answer, none
twice (beyond the documented window: one per kill), in each chat's order.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.slack_server import FakeSlack, Fault

EMBER = str(Path(sys.executable).parent / "ember")
TOKEN = re.compile(r"\bmsg-\d+-\d+\b")


class FlakySlack(FakeSlack):
    """A fake Slack whose ``chat.postMessage`` fails ``fail_rate`` of the time (503, or 429 with
    a short Retry-After), on top of any fault a test queues."""

    def __init__(self, fail_rate: float, seed: int = 7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.injected = 0

    def take_fault(self, method: str) -> Fault | None:
        fault = super().take_fault(method)
        if fault is None and method == "chat.postMessage":
            with self.lock:
                if self.rng.random() < self.fail_rate:
                    self.injected += 1
                    return Fault(status=429, retry_after=0.2) if self.rng.random() < 0.3 else Fault(status=503)
        return fault


def _answer(request: dict) -> Reply:
    users = [m["content"] for m in request["messages"] if m["role"] == "user" and isinstance(m["content"], str)]
    found = TOKEN.findall(users[-1]) if users else []
    return Reply(text=f"answer to {found[-1]}" if found else "ok")


@dataclass
class LoadResult:
    messages: int
    people: int
    kills: int
    answered: int
    lost: list[str]
    duplicated: dict[str, int]
    out_of_order: list[str]
    injected_failures: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    peak_rss_mib: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.lost and not self.out_of_order and sum(self.duplicated.values()) <= self.kills

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(int(len(ordered) * share), len(ordered) - 1)] if ordered else 0.0


def _peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_load(home: Path, *, messages: int, people: int, kills: int, fail_rate: float = 0.1,
             timeout: float = 300.0, max_parallel: int = 8) -> LoadResult:
    """Stream ``messages`` from ``people`` (DMs) into a real gateway, killing it ``kills`` times."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f"[gateway]\nmax_parallel = {max_parallel}\nrate_limit = 100000\n"
                                      "[memory]\nlearning = false\n")
    users = [f"U{n:04d}" for n in range(1, people + 1)]
    with FakeOpenAI(responder=_answer) as model, FlakySlack(fail_rate) as slack:
        dms = [slack.add_dm(user) for user in users]
        env = {**os.environ, "EMBER_HOME": str(home), "EMBER_PROVIDER": "openai", "EMBER_BASE_URL": model.base_url,
               "EMBER_MODEL": "fake-model", "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token,
               "EMBER_SLACK_API_BASE": slack.api_base, "EMBER_SLACK_ALLOW": ",".join(users), "NO_COLOR": "1"}
        env.pop("EMBER_WORKSPACE", None)
        procs: list[subprocess.Popen[bytes]] = []
        peak = 0.0

        def start() -> subprocess.Popen[bytes]:
            connections = slack.connections
            proc = subprocess.Popen([EMBER, "gateway", "run"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            procs.append(proc)
            slack.wait_connected(connections + 1, timeout=30)
            return proc

        sent_at: dict[str, float] = {}
        order: dict[str, list[str]] = {dm: [] for dm in dms}
        first_seen: dict[str, float] = {}
        started = time.monotonic()
        proc = start()
        kill_points = {messages * (k + 1) // (kills + 1) for k in range(kills)}
        for number in range(messages):
            if number in kill_points:
                peak = max(peak, _peak_rss_mib(proc.pid))
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                proc = start()
            index = number % people
            token = f"msg-{index}-{number}"
            slack.user_says(dms[index], users[index], f"please handle {token}")
            sent_at[token] = time.monotonic()
            order[dms[index]].append(token)
            if number % 10 == 9:
                time.sleep(0.01)

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with slack.lock:
                posted = list(slack.posted)
            for post in posted:
                for token in TOKEN.findall(post.get("text") or ""):
                    first_seen.setdefault(token, time.monotonic())
            if len(first_seen) >= messages:
                break
            time.sleep(0.05)
        seconds = time.monotonic() - started
        peak = max(peak, _peak_rss_mib(proc.pid))
        for running in procs:
            if running.poll() is None:
                running.send_signal(signal.SIGTERM)
                try:
                    running.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    running.kill()
        with slack.lock:
            posted = list(slack.posted)

    counts: dict[str, int] = {}
    replies: dict[str, list[str]] = {}
    for post in posted:
        for token in TOKEN.findall(post.get("text") or ""):
            counts[token] = counts.get(token, 0) + 1
            replies.setdefault(post.get("channel", ""), []).append(token)
    lost = [t for t in sent_at if t not in counts]
    duplicated = {t: n - 1 for t, n in counts.items() if n > 1}
    out_of_order = []
    for dm, tokens in order.items():
        seen = list(dict.fromkeys(replies.get(dm, [])))
        if seen != [t for t in tokens if t in counts]:
            out_of_order.append(dm)
    latencies = [first_seen[t] - sent_at[t] for t in first_seen if t in sent_at]
    return LoadResult(messages, people, kills, len(counts), lost, duplicated, out_of_order, slack.injected,
                      seconds, latencies, peak)
