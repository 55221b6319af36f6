"""The three workflows end to end: the real `ember` executable (and gateway), fake external
services on 127.0.0.1, and prompt-following fake models whose behaviour depends on what Ember put
in their prompt."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import EmberRunner, ember  # noqa: F401 - the shared fixture
from tests.learning.scenarios import last_user, system_of, turn_of  # noqa: F401 - re-exported for the tests

MODEL_TOML = """[model]
provider = "openai"
base_url = "{base_url}"
model = "fake-model"
"""


def section(system: str, name: str) -> str:
    """One ``## name`` block of a system prompt ("" when the prompt has none)."""
    head = f"## {name}\n"
    if head not in system:
        return ""
    return system.split(head, 1)[1].split("\n## ", 1)[0]


def tool_results(request: dict[str, Any]) -> list[str]:
    """The results of this turn's tool calls, in order."""
    return [m["content"] for m in turn_of(request) if m["role"] == "tool"]


def is_agent_request(request: dict[str, Any]) -> bool:
    """A request of the agent loop (not of the learning loop, which runs after the answer)."""
    return not system_of(request).startswith("Ember learning task")


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def cli_json(runner: EmberRunner, *args: str) -> Any:
    result = runner(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
