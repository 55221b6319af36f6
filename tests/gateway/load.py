"""The gateway under load and faults: many people, flaky sends, the gateway killed mid-stream.

Shared by ``tests/gateway/test_reliability.py`` (scaled down, in the suite, once per platform) and
``benchmarks/gateway_load.py`` (1,000 messages). A fake platform (``load_platforms``: Slack,
Telegram, Discord, WhatsApp, Signal or email, each speaking its real protocol) fails a share of
the bot's sends; a fake model answers at once, quoting each message's token; ``ember gateway
run`` runs as a real process and is killed with SIGKILL while messages stream in, right after a
message went out, then started again (each kill once the turns the one before cut off are
answered: a message cut off twice gets a failure notice by design, docs/gateway.md). At the end
every message must have its answer, in each chat's order, and none twice beyond the ack window:
a send the platform took whose acknowledgement the kill kept from being recorded goes again, one
per send in flight, and the outbox sends to up to ``sends_at_once()`` chats of a platform at
once. Only where a platform itself cannot hand a message out again (Signal) may the one message a
kill caught in flight be lost.
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.gateway.load_platforms import PLATFORMS, FlakySlack, LoadPlatform, platform_named

__all__ = ["PLATFORMS", "FlakySlack", "LoadResult", "run_load", "sends_at_once"]

EMBER = str(Path(sys.executable).parent / "ember")
TOKEN = re.compile(r"\bmsg-\d+-\d+\b")
QUIET = 5.0  # seconds a message the platform may lose is waited for, once all others are answered


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
    platform: str = "slack"
    may_lose: int = 0  # what the platform's own limits allow to be lost (Signal: one per kill)
    may_repeat: int = 0  # the ack window: each send in flight at a kill may go again

    @property
    def ok(self) -> bool:
        return (len(self.lost) <= self.may_lose and not self.out_of_order
                and sum(self.duplicated.values()) <= self.may_repeat)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(int(len(ordered) * share), len(ordered) - 1)] if ordered else 0.0


def sends_at_once() -> int:
    """How many sends of one platform the gateway's outbox has in flight at once (each may repeat
    when a SIGKILL lands between the platform's acknowledgement and its record)."""
    from ember.gateway.outbox import Outbox

    parameter = inspect.signature(Outbox).parameters.get("parallel_sends")
    return int(parameter.default) if parameter is not None else 1


def _peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class _Watcher:
    """Notes when each token's first answer shows up, in a thread of its own, from the start."""

    def __init__(self, fake: LoadPlatform) -> None:
        self.fake = fake
        self.first_seen: dict[str, float] = {}
        self.last_new = time.monotonic()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="load-watcher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.05):
            for _, text in self.fake.answers():
                for token in TOKEN.findall(text):
                    if token not in self.first_seen:
                        self.first_seen[token] = self.last_new = time.monotonic()

    def wait_answered(self, tokens: list[str], may_miss: int, timeout: float) -> None:
        """Until each of ``tokens`` has an answer; or, where the platform may lose ``may_miss`` of
        them, until no more are missing than that, for ``QUIET`` seconds."""
        deadline = time.monotonic() + timeout
        close_since = None
        while time.monotonic() < deadline:
            missing = sum(token not in self.first_seen for token in tokens)
            if missing == 0:
                return
            if missing <= may_miss:
                close_since = close_since or time.monotonic()
                if time.monotonic() - close_since > QUIET:
                    return
            time.sleep(0.05)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def run_load(home: Path, *, platform: str = "slack", messages: int, people: int, kills: int,
             fail_rate: float = 0.1, timeout: float = 300.0, max_parallel: int = 8) -> LoadResult:
    """Stream ``messages`` from ``people`` (direct chats) on ``platform`` into a real gateway,
    killing it ``kills`` times."""
    home.mkdir(parents=True, exist_ok=True)
    with FakeOpenAI(responder=_answer) as model, platform_named(platform, fail_rate) as fake:
        chats = fake.add_people(people)
        (home / "config.toml").write_text(f"[gateway]\nmax_parallel = {max_parallel}\nrate_limit = 100000\n"
                                          f"{fake.config()}[memory]\nlearning = false\n")
        env = {**os.environ, "EMBER_HOME": str(home), "EMBER_PROVIDER": "openai", "EMBER_BASE_URL": model.base_url,
               "EMBER_MODEL": "fake-model", "NO_COLOR": "1", **fake.env()}
        env.pop("EMBER_WORKSPACE", None)
        log = (home / "gateway.log").open("ab")
        procs: list[subprocess.Popen[bytes]] = []
        peak = 0.0

        def start() -> subprocess.Popen[bytes]:
            before = fake.connections()
            proc = subprocess.Popen([EMBER, "gateway", "run"], env=env, stdout=subprocess.DEVNULL, stderr=log)
            procs.append(proc)
            fake.wait_connected(before, timeout=30)
            return proc

        sent_at: dict[str, float] = {}
        order: dict[str, list[str]] = {chat: [] for chat in chats}
        watcher = _Watcher(fake)
        started = time.monotonic()
        try:
            proc = start()
            kill_after = {messages * (k + 1) // (kills + 1) - 1 for k in range(kills)}
            killed: list[str] = []  # the tokens sent before the last kill
            kills_done = 0
            for number in range(messages):
                if number in kill_after:
                    # The turns the last kill interrupted are done before the next: a message cut
                    # off twice is answered with a failure by design (docs/gateway.md, "Delivery").
                    watcher.wait_answered(killed, fake.lost_per_kill * kills_done, timeout)
                    fake.before_kill()
                index = number % people
                token = f"msg-{index}-{number}"
                fake.say(index, f"please handle {token}")
                sent_at[token] = time.monotonic()
                order[chats[index]].append(token)
                if number in kill_after:  # the message just sent is in flight
                    killed, kills_done = list(sent_at), kills_done + 1
                    peak = max(peak, _peak_rss_mib(proc.pid))
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=10)
                    proc = start()
                    fake.after_restart()
                if number % 10 == 9:
                    time.sleep(0.01)

            may_lose = fake.lost_per_kill * kills
            watcher.wait_answered(list(sent_at), may_lose, timeout)
            first_seen = dict(watcher.first_seen)
            seconds = (max(first_seen.values()) if first_seen else time.monotonic()) - started
            peak = max(peak, _peak_rss_mib(proc.pid))
        finally:
            for running in procs:
                if running.poll() is None:
                    running.send_signal(signal.SIGTERM)
                    try:
                        running.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        running.kill()
            log.close()
            watcher.stop()
        answers = fake.answers()
        injected = fake.injected

    counts: dict[str, int] = {}
    replies: dict[str, list[str]] = {}
    for chat, text in answers:
        for token in TOKEN.findall(text):
            counts[token] = counts.get(token, 0) + 1
            replies.setdefault(chat, []).append(token)
    lost = [t for t in sent_at if t not in counts]
    duplicated = {t: n - 1 for t, n in counts.items() if n > 1}
    out_of_order = []
    for chat, tokens in order.items():
        seen = list(dict.fromkeys(replies.get(chat, [])))
        if seen != [t for t in tokens if t in counts]:
            out_of_order.append(chat)
    latencies = [first_seen[t] - sent_at[t] for t in first_seen if t in sent_at]
    return LoadResult(messages, people, kills, len(counts), lost, duplicated, out_of_order, injected,
                      seconds, latencies, peak, platform, may_lose, 0 if fake.keyed else kills * sends_at_once())

