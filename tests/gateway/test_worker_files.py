"""Files sent with a message reach the turn whichever worker runs it.

Two ``ember gateway run`` workers, as on two machines: their own homes and workspaces, one
PostgreSQL database, one Telegram bot. Worker A receives a photo, keeps it in the store, starts
the turn and is killed with SIGKILL while the model thinks; worker B, started after, runs the
turn again and finds the photo in the store, not on A's disk. And on one worker: a file over
``[gateway] max_file_mb`` is not kept, and the model is told why.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.store.backends import open_backend
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.telegram_server import FakeTelegram
from tests.gateway.load import EMBER

OWNER = 42
PHOTO = bytes(range(256)) * 64 + b"\xff\xd8 the end"  # binary, every byte value


def last_user_text(request: dict) -> str:
    users = [m["content"] for m in request["messages"] if m["role"] == "user" and isinstance(m["content"], str)]
    return users[-1] if users else ""


def wait_until(ready, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


def worker(home: Path, url: str, model: FakeOpenAI, telegram: FakeTelegram, config: str = "") -> subprocess.Popen:
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(f"[gateway]\nclaim_seconds = 10\n{config}[memory]\nlearning = false\n")
    env = {**os.environ, "EMBER_HOME": str(home), "EMBER_DATABASE_URL": url, "EMBER_PROVIDER": "openai",
           "EMBER_BASE_URL": model.base_url, "EMBER_MODEL": "fake-model", "EMBER_EMBEDDINGS": "off", "NO_COLOR": "1",
           "TELEGRAM_BOT_TOKEN": telegram.token, "EMBER_TELEGRAM_API_BASE": telegram.api_base,
           "EMBER_TELEGRAM_ALLOW": str(OWNER)}
    env.pop("EMBER_WORKSPACE", None)
    with (home / "gateway.log").open("ab") as log:
        return subprocess.Popen([EMBER, "gateway", "run"], env=env, stdout=subprocess.DEVNULL, stderr=log)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_photo_received_by_one_worker_reaches_the_turn_another_runs(tmp_path, postgres_server, telegram):
    url = postgres_server.url(postgres_server.new_database())

    def responder(request: dict) -> Reply:
        if len(model.requests) == 1:  # worker A's turn: the model thinks until A is killed
            return Reply(text="looking", chunk_delay=0.05, hang=True)
        return Reply(text="a photo of every byte")

    with FakeOpenAI(responder=responder) as model, open_backend(url) as store:
        a = worker(tmp_path / "a", url, model, telegram)
        b = None
        try:
            telegram.wait_polling(timeout=30)
            telegram.send_photo(OWNER, OWNER, PHOTO, caption="what is this?")
            wait_until(lambda: len(model.requests) >= 1, 30, "worker A's turn")
            (item,) = store.gateway.unfinished()
            assert store.inbox_files.settled(item.id) == 1  # kept before the turn began
            a.send_signal(signal.SIGKILL)
            a.wait(timeout=10)

            b = worker(tmp_path / "b", url, model, telegram)
            (answer,) = telegram.wait_sent(1, timeout=60)
            assert answer.text == "a photo of every byte"
            text = last_user_text(model.requests[-1])
            assert text.startswith("what is this?\n\n[file received: incoming/telegram-")
            saved = text.split("[file received: ")[1].split("]")[0]
            assert (tmp_path / "b" / "workspace" / saved).read_bytes() == PHOTO  # in B's own workspace
            wait_until(lambda: store.inbox_files.settled(item.id) == 0, 10, "the photo to leave the store")
        finally:
            for process in (a, b):
                if process is not None:
                    stop(process)
    log = (tmp_path / "b" / "gateway.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def test_a_file_over_the_limit_is_not_kept_and_the_model_is_told(tmp_path, postgres_server, telegram):
    url = postgres_server.url(postgres_server.new_database())
    with FakeOpenAI(responder=lambda request: Reply(text="too big, then")) as model:
        process = worker(tmp_path / "a", url, model, telegram, config="max_file_mb = 0.01\n")  # 10,485 bytes
        try:
            telegram.wait_polling(timeout=30)
            telegram.send_document(OWNER, OWNER, PHOTO + PHOTO, file_name="scan.pdf", caption="read this")
            telegram.send_document(OWNER, OWNER, b"small", file_name="note.txt")
            telegram.wait_sent(2, timeout=30)
        finally:
            stop(process)
    big, small = (last_user_text(r) for r in model.requests)
    assert big == ("read this\n\n[scan.pdf came with this message but was not kept: it is 33 KB, over the 0.01 MB"
                   " limit for files ([gateway] max_file_mb); ask the person for a smaller one if it matters]")
    assert small.startswith("[file received: incoming/telegram-") and small.endswith("-0-note.txt]")
    assert not any((tmp_path / "a" / "workspace" / "incoming").glob("*scan.pdf"))
