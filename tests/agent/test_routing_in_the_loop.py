"""The loop against real fakes: fallbacks priced as themselves, retries and fallbacks shown as
notices while they happen, and ``--model`` winning over ``[routes]`` for chat and tools."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ember.agent.events import ModelCalled, Notice, TextChunk, TurnFinished
from ember.config import load_settings
from ember.runtime import apply_model_choice, build_runtime
from tests.fakes.openai_server import FakeOpenAI, Reply

SECRET = "sk-loop-0123456789abcdefghij"


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def write_config(home: Path, fake: FakeOpenAI, extra: str = "") -> None:
    (home / "config.toml").write_text(f'''
[model]
provider = "openai"
base_url = "{fake.base_url}"
model = "main-1"
api_key = "{SECRET}"

[models.backup]
provider = "openai"
base_url = "{fake.base_url}"
model = "backup-1"

[models.strong]
provider = "openai"
base_url = "{fake.base_url}"
model = "strong-1"

[prices."main-1"]
input = 3.0
output = 15.0
{extra}''')


@pytest.fixture
def start(ember_home, fake, tmp_path, monkeypatch):
    """``start(extra_toml, model=None)``: a runtime on the config above, after ``--model`` if given."""
    monkeypatch.setenv("EMBER_WORKSPACE", str(tmp_path / "ws"))
    runtimes = []

    def build(extra: str = "", model: str | None = None):
        write_config(ember_home, fake, extra)
        settings = load_settings()
        apply_model_choice(settings, model)
        runtime = build_runtime(settings, interactive=False)
        runtimes.append(runtime)
        return runtime

    yield build
    for runtime in runtimes:
        runtime.close()


def models_asked(fake):
    return [r["model"] for r in fake.requests]


# --- 1. a fallback answer is charged at the fallback's price --------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_an_unpriced_fallback_costs_nothing(start, fake, stream):
    runtime = start('[routes]\nfallback = ["backup"]\n')
    fake.add(Reply.fail(401, "bad key")).add(Reply(text="from backup", usage=(1000, 1000)))
    session = runtime.agent.new_session()
    events = list(runtime.agent.run(session, "hi", stream=stream))
    finished = events[-1]
    assert isinstance(finished, TurnFinished) and finished.answer == "from backup"
    assert models_asked(fake) == ["main-1", "backup-1"]
    called = [e for e in events if isinstance(e, ModelCalled)]
    assert [(c.model, c.cost) for c in called] == [("backup-1", 0.0)]
    assert finished.cost == 0.0
    assert runtime.store.usage_totals(session).cost == 0.0


def test_a_priced_fallback_is_charged_its_own_price_under_another_returned_id(start, fake):
    runtime = start('[routes]\nfallback = ["backup"]\n[prices."backup-1"]\ninput = 1.0\noutput = 2.0\n')
    fake.add(Reply.fail(401)).add(Reply(text="dated", usage=(1000, 1000), model="backup-1-2025"))
    finished = runtime.agent.ask(runtime.agent.new_session(), "hi")
    assert finished.model == "backup-1-2025"
    assert finished.cost == pytest.approx((1000 * 1.0 + 1000 * 2.0) / 1e6)


def test_the_main_model_is_still_priced_by_its_configured_id(start, fake):
    runtime = start()
    fake.add(Reply(text="dated", usage=(1000, 0), model="main-1-2025"))
    finished = runtime.agent.ask(runtime.agent.new_session(), "hi")
    assert finished.cost == pytest.approx(1000 * 3.0 / 1e6)


# --- 3. retries and fallbacks are shown, while the wait goes on ----------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_a_retry_is_announced_before_its_wait(start, fake, stream):
    runtime = start()
    fake.add(Reply.fail(429, f"slow down, {SECRET}", retry_after=1)).add("finally")
    started = time.monotonic()
    seen = []
    for event in runtime.agent.run(runtime.agent.new_session(), "hi", stream=stream):
        seen.append((time.monotonic() - started, event))
    notices = [(t, e.text) for t, e in seen if isinstance(e, Notice)]
    assert [text for _, text in notices] == [
        "model default (main-1): HTTP 429, rate-limited, retrying in 1.0 s (attempt 2 of 3)"
    ]
    assert notices[0][0] < 0.8, "the notice must come before the wait, not after it"
    assert seen[-1][0] >= 1.0 and isinstance(seen[-1][1], TurnFinished)
    assert seen[-1][1].answer == "finally"
    if stream:
        assert "".join(e.text for _, e in seen if isinstance(e, TextChunk)) == "finally"


def test_a_fallback_is_announced_without_secrets(start, fake):
    runtime = start('[routes]\nfallback = ["backup"]\n')
    fake.add(Reply.fail(401, f"Incorrect API key provided: {SECRET}")).add("from backup")
    events = list(runtime.agent.run(runtime.agent.new_session(), "hi"))
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert notices == ["model default (main-1) failed (HTTP 401, API key refused); falling back to backup (backup-1)"]
    assert not any(SECRET[:10] in text or SECRET[-10:] in text for text in notices)
    assert isinstance(events[-1], TurnFinished) and events[-1].answer == "from backup"


# --- 2. --model wins over [routes] for chat and tools, not for learning ---------------------------

ROUTED = '[routes]\nchat = "strong"\ntools = "strong"\nlearning = "backup"\n'


def test_a_model_id_choice_wins_over_routes_for_chat_and_tools(start, fake):
    runtime = start(ROUTED, model="other-id")
    fake.add(tool_calls=[{"name": "write_file", "arguments": {"path": "a.txt", "content": "hi"}}]).add("done")
    finished = runtime.agent.ask(runtime.agent.new_session(), "write a.txt")
    assert finished.answer == "done"
    assert models_asked(fake) == ["other-id", "other-id"]  # the chat call, then the tools call
    assert fake.requests[0].headers["authorization"] == f"Bearer {SECRET}"  # on [model]'s endpoint
    assert runtime.settings.model_for("learning").model == "backup-1"  # learning keeps its route


def test_a_named_model_choice_wins_over_routes(start, fake):
    runtime = start('[routes]\nchat = "backup"\nlearning = "backup"\n', model="strong")
    fake.add("strong answer")
    runtime.agent.ask(runtime.agent.new_session(), "hi")
    assert models_asked(fake) == ["strong-1"]
    assert runtime.settings.model_for("tools").name == "strong"
    assert runtime.settings.model_for("learning").name == "backup"


def test_ember_run_with_a_model_id_and_a_retry(ember_home, fake, tmp_path):
    """The real executable: ``-m`` beats ``[routes] chat``, and the retry shows on stderr."""
    write_config(ember_home, fake, ROUTED)
    fake.add(Reply.fail(503, retry_after=0)).add("The answer is 4.")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    ember = str(Path(sys.executable).parent / "ember")
    env = {**os.environ, "EMBER_HOME": str(ember_home), "EMBER_WORKSPACE": str(workspace), "NO_COLOR": "1"}
    result = subprocess.run([ember, "run", "-m", "other-id", "what is 2+2?"], env=env, capture_output=True,
                            text=True, timeout=60, cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The answer is 4.\n"
    assert models_asked(fake) == ["other-id", "other-id"]
    assert "model default (other-id): HTTP 503, retrying in 0.0 s (attempt 2 of 3)" in result.stderr
    assert SECRET not in result.stderr
