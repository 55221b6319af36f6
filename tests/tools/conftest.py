from __future__ import annotations

import pytest

from ember.models.base import ToolCall
from ember.tools.builtin import BUILTIN_TOOLSETS
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
    """Only the core toolset, so tests of disclosure do not depend on which toolsets ship."""
    registry = ToolRegistry()
    name, description, modules, tools = BUILTIN_TOOLSETS[0]
    registry.add_toolset(name, description, modules=modules, tools=tools)
    return registry


@pytest.fixture
def run(registry, ctx):
    """run(name, **arguments) -> ToolResult through the real registry."""

    def _run(name: str, **arguments) -> ToolResult:
        return registry.execute(ToolCall(id="call-1", name=name, arguments=arguments), ctx)

    return _run
