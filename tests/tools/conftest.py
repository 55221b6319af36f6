from __future__ import annotations

import pytest

from ember.models.base import ToolCall
from ember.tools.builtin import builtin_registry
from ember.tools.registry import ToolContext, ToolRegistry, ToolResult


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def ctx(workspace) -> ToolContext:
    return ToolContext(workspace=workspace)


@pytest.fixture
def registry() -> ToolRegistry:
    return builtin_registry(plugins=False)


@pytest.fixture
def run(registry, ctx):
    """run(name, **arguments) -> ToolResult through the real registry."""

    def _run(name: str, **arguments) -> ToolResult:
        return registry.execute(ToolCall(id="call-1", name=name, arguments=arguments), ctx)

    return _run
