"""Fixtures for the models tests: running fakes and ModelSpecs pointed at them."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ember.config import ModelSpec
from ember.models.router import Router
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

SECRET = "sk-test-0123456789abcdef"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def make_spec() -> Callable[..., ModelSpec]:
    """``make_spec(fake_or_url, provider="openai", **fields)``."""

    def build(target: Any, provider: str = "openai", **fields: Any) -> ModelSpec:
        base_url = target if isinstance(target, str) else target.base_url
        values: dict[str, Any] = {"name": "default", "provider": provider, "model": "fake-model",
                                  "base_url": base_url, "api_key": SECRET, "timeout": 5.0}
        values.update(fields)
        return ModelSpec(**values)

    return build


@pytest.fixture
def dead_url() -> str:
    """A URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def sleeps() -> list[float]:
    """The waits a ``router`` was asked for (it records them instead of sleeping)."""
    return []


@pytest.fixture
def router(settings, sleeps) -> Iterator[Router]:
    """A Router over the test module's ``settings`` fixture that never really sleeps."""
    r = Router(settings, sleep=sleeps.append)
    yield r
    r.close()
