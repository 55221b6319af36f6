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


def pids_running(fragment: str) -> list[int]:
    """Host pids of live processes whose command line contains ``fragment``.

    Commands run in the sandbox's own pid namespace, so ``$!`` and ``$$`` inside them are not
    host pids; tests find their processes by a distinctive argument instead (``sleep 301.7``).
    """
    import os
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if fragment in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def wait_until(check, seconds: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False
