"""The real Agent, store and learner against the fake OpenAI server, one EMBER_HOME per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ember.config import load_settings
from ember.memory.store import SQLiteStore, open_store
from ember.runtime import Runtime, build_runtime
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def make_runtime(fake, workspace, monkeypatch) -> Iterator[Callable[..., Runtime]]:
    """make_runtime() -> a Runtime on the fake model; each is closed (learning drained) at the end."""
    monkeypatch.setenv("EMBER_PROVIDER", "openai")
    monkeypatch.setenv("EMBER_BASE_URL", fake.base_url)
    monkeypatch.setenv("EMBER_MODEL", "fake-model")
    monkeypatch.setenv("EMBER_WORKSPACE", str(workspace))
    made: list[Runtime] = []

    def make(**kwargs) -> Runtime:
        settings = load_settings()
        settings.retries = 0  # a failing fake must not make learning sleep through backoffs
        runtime = build_runtime(settings, interactive=False, auto_approve=True, **kwargs)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        try:
            runtime.close()
        except Exception:
            pass


@pytest.fixture
def store(ember_home: Path) -> Iterator[SQLiteStore]:
    s = open_store(ember_home / "ember.db")
    yield s
    s.close()
