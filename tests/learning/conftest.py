"""The real Agent, store and learner against the fake OpenAI server, one EMBER_HOME per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ember.config import load_settings
from ember.runtime import Runtime, build_runtime
from ember.store.ports import Store
from tests.fakes.openai_server import FakeOpenAI
from tests.store_backends import StoreBackend


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
def store(store_backend: StoreBackend, ember_home: Path) -> Iterator[Store]:
    """The store of EMBER_HOME, once per backend: the one a runtime of this home opens."""
    s = store_backend.open(ember_home)
    yield s
    s.close()
