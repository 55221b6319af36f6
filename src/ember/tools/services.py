"""What the core lends a running tool, as small typed contracts (``ToolContext`` carries them).

Tools never import the agent loop: a tool that starts sub-agents gets a ``SubAgents`` here, one
that asks the person gets the turn's door (``agent/door.py``), one that records usage gets the
store and the router. The agent fills these in; tests can hand in their own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass
class ChildReport:
    """What one sub-agent reports back."""

    task: str
    session_id: str
    ok: bool
    summary: str
    steps: int = 0


def trimmed(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, saying how much was cut (a sub-agent's report)."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 40].rstrip() + f" […{len(text) - limit + 40:,} chars cut]"


class SubAgents(Protocol):
    """Starts sub-agents like the running agent, a level deeper (``delegate`` uses it)."""

    depth: int  # the running agent's depth: 0 for the top agent

    def toolsets(self) -> set[str]:
        """The toolsets the running agent has (core included)."""
        ...

    def run(self, task: str, *, toolsets: set[str], preload: bool, max_steps: int, summary_chars: int,
            cancel: threading.Event) -> ChildReport:
        """Run ``task`` in a fresh session of a child agent limited to ``toolsets``; never raises for
        the child's own failure (the report says so), only for a cancel."""
        ...
