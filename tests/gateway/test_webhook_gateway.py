"""`ember gateway run` with signed webhooks, end to end: the real executable, a fake model, real HTTP."""

from __future__ import annotations

import json
import signal
import socket
import time

import httpx
import pytest

from ember.gateway.channels.webhook import signature
from tests.e2e.conftest import EmberRunner
from tests.fakes.openai_server import FakeOpenAI, Reply

SECRET = "whsec-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the gateway exited: {proc.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the gateway did not start listening")


@pytest.fixture
def gateway(ember_home, tmp_path):
    """start(fake) -> the running `ember gateway run` process; its webhook URL is gateway.url."""
    runner = EmberRunner(ember_home, tmp_path / "cwd")
    (tmp_path / "cwd").mkdir()
    port = free_port()
    runner.env.pop("EMBER_WORKSPACE", None)  # a long-running door: EMBER_HOME/workspace
    runner.env.update({"EMBER_WEBHOOK_SECRET": SECRET, "EMBER_WEBHOOK_PORT": str(port)})
    procs = []

    class Gateway:
        url = f"http://127.0.0.1:{port}"
        ember = runner

        def start(self, fake):
            runner.point_at(fake)
            proc = runner.popen("gateway", "run")
            procs.append(proc)
            wait_for_port(port, proc)
            return proc

        def post(self, hook, payload, *, sign=True, wait=60, headers=None):
            body = json.dumps(payload).encode()
            sent = {"content-type": "application/json", **(headers or {})}
            if sign:
                sent["x-ember-signature"] = signature(SECRET, body)
            return httpx.post(f"{self.url}/hooks/{hook}?wait={wait}", content=body, headers=sent, timeout=90)

    yield Gateway()
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except Exception:
                proc.kill()


def test_a_signed_webhook_gets_its_answer_in_the_response(gateway):
    with FakeOpenAI(responder=lambda request: Reply(text="The build is green.")) as fake:
        gateway.start(fake)
        answered = gateway.post("ci", {"text": "how is the build?"})
        assert answered.status_code == 200, answered.text
        assert answered.json()["answer"] == "The build is green."
        asked = [m["content"] for m in fake.requests[-1]["messages"] if m["role"] == "user"]
        assert asked[-1] == "how is the build?"
        status = gateway.ember.json("gateway", "status", "--json")
    assert status["running"] is True and status["channels"][0]["name"] == "webhook"
    assert status["channels"][0]["connected"] is True


def test_a_forged_signature_is_refused_and_nothing_reaches_the_model(gateway):
    with FakeOpenAI(responder=lambda request: Reply(text="should not happen")) as fake:
        gateway.start(fake)
        unsigned = gateway.post("ci", {"text": "rm -rf everything"}, sign=False)
        forged = gateway.post("ci", {"text": "rm -rf everything"}, headers={"x-ember-signature": "sha256=" + "0" * 64},
                              sign=False)
        assert unsigned.status_code == 401 and forged.status_code == 401
        time.sleep(0.5)
        assert fake.requests == []


def test_a_slow_answer_comes_back_later(gateway):
    with FakeOpenAI(responder=lambda request: Reply(text="done slowly", chunk_delay=0.05)) as fake:
        gateway.start(fake)
        accepted = gateway.post("ci", {"text": "take your time"}, wait=0)
        assert accepted.status_code == 202
        reply_url = accepted.json()["reply_url"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            fetched = httpx.get(gateway.url + reply_url, timeout=5)
            if fetched.status_code == 200:
                break
            time.sleep(0.2)
        assert fetched.status_code == 200 and fetched.json()["answer"] == "done slowly"


def test_a_message_survives_a_crash_and_is_answered_after_the_restart(gateway):
    with FakeOpenAI(responder=lambda request: Reply(text="answered after all", chunk_delay=0.3)) as fake:
        first = gateway.start(fake)
        accepted = gateway.post("ci", {"text": "are you there?"}, wait=0)
        assert accepted.status_code == 202
        deadline = time.monotonic() + 10
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)  # mid-turn
        first.wait(timeout=10)
        gateway.start(fake)
        reply_url = accepted.json()["reply_url"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            fetched = httpx.get(gateway.url + reply_url, timeout=5)
            if fetched.status_code == 200:
                break
            time.sleep(0.2)
        assert fetched.status_code == 200 and fetched.json()["answer"] == "answered after all"


def test_gateway_run_without_a_channel_says_how_to_configure_one(ember_home, tmp_path):
    runner = EmberRunner(ember_home, tmp_path)
    result = runner("gateway", "run")
    assert result.returncode == 2
    assert "no channel is configured" in result.stderr and "TELEGRAM_BOT_TOKEN" in result.stderr
