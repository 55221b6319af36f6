"""Three ``ember gateway run`` workers share one PostgreSQL database and one Slack workspace; one
is killed with SIGKILL while messages stream in, and the other two finish its work.

Slack's Socket Mode spreads events over an app's open connections (the fake does too), so each
worker receives some of the messages; the store decides which worker runs each turn and sends
each reply (claims), one chat at a time. At the end every message has its answer, in each chat's
order, and none twice beyond the ack window: a send the platform took whose acknowledgement the
kill kept from being recorded goes again, at most one per send the killed worker had in flight
(docs/gateway.md, "Several workers"). The pieces of the single-worker load run are reused
(``tests/gateway/load.py``: the fake model, the watcher, the platforms).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import signal
import subprocess
import time

import pytest

from ember.owners import HOST
from ember.store.backends import open_backend
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.gateway.load import EMBER, TOKEN, _answer, _Watcher
from tests.gateway.load_platforms import platform_named

WORKERS, PEOPLE, MESSAGES, KILL_AFTER = 3, 6, 45, 20


def sends_in_flight() -> int:
    """How many sends one worker's outbox has in flight at once (each may repeat after a SIGKILL)."""
    from ember.gateway.outbox import Outbox

    return int(inspect.signature(Outbox).parameters["parallel_sends"].default)


@pytest.mark.skipif(importlib.util.find_spec("websockets") is None, reason="the gateway extra is not installed")
def test_three_workers_answer_everything_once_in_order_when_one_is_killed(tmp_path, postgres_server):
    home = tmp_path / "home"
    home.mkdir()
    url = postgres_server.url(postgres_server.new_database())
    def slow_answer(request: dict) -> Reply:  # turns take a while: the kill finds some running
        time.sleep(0.25)
        return _answer(request)

    with FakeOpenAI(responder=slow_answer) as model, platform_named("slack", 0.1) as fake, \
            open_backend(url) as store:
        chats = fake.add_people(PEOPLE)
        (home / "config.toml").write_text("[gateway]\nmax_parallel = 3\nrate_limit = 100000\nclaim_seconds = 10\n"
                                          "[memory]\nlearning = false\n")
        env = {**os.environ, "EMBER_HOME": str(home), "EMBER_DATABASE_URL": url, "EMBER_PROVIDER": "openai",
               "EMBER_BASE_URL": model.base_url, "EMBER_MODEL": "fake-model", "EMBER_EMBEDDINGS": "off",
               "NO_COLOR": "1", **fake.env()}
        env.pop("EMBER_WORKSPACE", None)
        workers: list[subprocess.Popen[bytes]] = []
        with (home / "gateway.log").open("ab") as log:
            try:
                for _ in range(WORKERS):
                    before = fake.connections()
                    workers.append(subprocess.Popen([EMBER, "gateway", "run"], env=env, stdout=subprocess.DEVNULL,
                                                    stderr=log))
                    fake.wait_connected(before, timeout=30)
                watcher = _Watcher(fake)
                order: dict[str, list[str]] = {chat: [] for chat in chats}
                sent: list[str] = []
                victim = f"{HOST}:{workers[0].pid}:"

                def kill_when_busy(wait: float) -> bool:
                    """SIGKILL the first worker once it holds work the others must finish."""
                    deadline = time.monotonic() + wait
                    while not any(o.startswith(victim) for o in store.gateway.claimants()):
                        if time.monotonic() >= deadline:
                            return False
                        time.sleep(0.01)
                    workers[0].send_signal(signal.SIGKILL)
                    workers[0].wait(timeout=10)
                    return True

                killed = False
                for number in range(MESSAGES):
                    person = number % PEOPLE
                    token = f"msg-{person}-{number}"
                    fake.say(person, f"please handle {token}")
                    order[chats[person]].append(token)
                    sent.append(token)
                    if number >= KILL_AFTER and not killed:  # mid-stream; the others may hold all work for a while
                        killed = kill_when_busy(0.3)
                    time.sleep(0.02)
                assert killed or kill_when_busy(10), "the worker to kill never held any work"
                watcher.wait_answered(sent, 0, 120)
                watcher.stop()
            finally:
                for worker in workers:
                    if worker.poll() is None:
                        worker.send_signal(signal.SIGTERM)
                        try:
                            worker.wait(timeout=20)
                        except subprocess.TimeoutExpired:
                            worker.kill()
        answers = fake.answers()
        spread = {envelope.sent_on for envelope in fake.fake._envelopes}
    log_tail = (home / "gateway.log").read_text(errors="replace")[-3000:]

    counts: dict[str, int] = {}
    replies: dict[str, list[str]] = {}
    for chat, text in answers:
        for token in TOKEN.findall(text):
            counts[token] = counts.get(token, 0) + 1
            replies.setdefault(chat, []).append(token)
    lost = [token for token in sent if token not in counts]
    assert lost == [], f"lost: {lost}\n{log_tail}"
    for chat, tokens in order.items():
        assert list(dict.fromkeys(replies[chat])) == tokens, f"out of order in {chat}\n{log_tail}"
    repeated = sum(n - 1 for n in counts.values())
    assert repeated <= sends_in_flight(), f"answered twice: {repeated}\n{log_tail}"
    assert len(spread) >= WORKERS  # the platform spread the messages over the workers' connections
    assert "Traceback" not in log_tail
