"""Sub-agents: children of a running agent, for the ``delegate`` tool (``tools/services.SubAgents``).

Each task gets a child ``Agent`` with its own fresh session (source ``delegate``), so its
context holds only its task, and a step budget. It shares the parent's store, router (both
thread-safe), workspace and approver (so allowed patterns carry over) and sees only the chosen
toolsets. No one can answer a sub-agent: its door is unattended, approving everything only when
the parent's door does (``--yes``), so a refusal stays a refusal.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import TYPE_CHECKING

from ember.models.base import Cancelled, ProviderError
from ember.tools.base import CORE
from ember.tools.services import ChildReport, trimmed

if TYPE_CHECKING:
    from ember.agent.door import Door, TurnApprovals
    from ember.agent.loop import Agent

log = logging.getLogger(__name__)

SUBAGENT_NOTE = (
    "You are a sub-agent: another agent handed you one task. Do it with your tools, without asking the "
    "user anything (no one can answer you). Your final answer is all the other agent will see: make it a "
    "short, self-contained report of what you did and found (facts, numbers, file paths), and say plainly "
    "what you could not do."
)


class AgentSubAgents:
    """``SubAgents`` for one turn of ``parent`` at ``depth``, answering through children of it."""

    def __init__(self, parent: Agent, depth: int, door: Door | None = None,
                 approvals: TurnApprovals | None = None) -> None:
        self.parent = parent
        self.depth = depth
        self.door = door
        self.approvals = approvals  # the parent turn's: a child's refusals count there too

    def toolsets(self) -> set[str]:
        return {t.name for t in self.parent.registry.toolsets()}

    def _child(self, toolsets: set[str], max_steps: int) -> Agent:
        from ember.agent.context import ContextBuilder

        parent = self.parent
        settings = dataclasses.replace(
            parent.settings, agent=dataclasses.replace(parent.settings.agent, max_steps=max_steps)
        )
        hidden = [t.name for t in parent.registry.toolsets() if t.name != CORE and t.name not in toolsets]
        # The parent's own tools (MCP servers included, started once), minus the toolsets not chosen.
        registry = parent.registry.view([*settings.tools.enabled, *(f"!{name}" for name in hidden)])
        context = ContextBuilder(
            identity=f"{parent.context.identity}\n\n{SUBAGENT_NOTE}",
            slots=list(parent.context.slots),
            workspace=parent.context.workspace,
        )
        return type(parent)(  # an Agent like the parent, without importing the loop that imports this
            settings=settings, store=parent.store, router=parent.router, registry=registry,
            approver=parent.approver, context=context, interactive=False, redact=parent.redact,
            depth=self.depth + 1,
        )

    def run(self, task: str, *, toolsets: set[str], preload: bool, max_steps: int, summary_chars: int,
            cancel: threading.Event) -> ChildReport:
        from ember.agent.door import Unattended
        from ember.agent.errors import AgentError

        child = self._child(toolsets, max_steps)
        session_id = child.new_session(source="delegate")  # titled from the task, secrets masked, by the agent
        if preload:
            child.tool_context(session_id, cancel).loaded_toolsets.update(toolsets - {CORE})
        parent = self.door
        door = Unattended(auto_approve=bool(parent is not None and parent.auto_approve),
                          on_notice=parent.notify if parent is not None else None)  # "Noted..." reaches the person
        try:
            finished = child.ask(session_id, task, cancel=cancel, door=door, approvals=self.approvals)
        except (AgentError, ProviderError) as exc:
            reason = str(exc).split("; raise [agent] max_steps")[0]  # the config hint is for people, not here
            return ChildReport(task, session_id, False, trimmed(f"Failed: {reason}", summary_chars))
        except (Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug in a tool or in Ember: report it, keep the siblings' results
            log.exception("sub-agent for %r failed", task[:80])
            return ChildReport(task, session_id, False, f"Failed: {type(exc).__name__}: {exc}")
        finally:
            child.forget(session_id)
        answer = finished.answer.strip() or "(the sub-agent finished without a final answer)"
        return ChildReport(task, session_id, True, trimmed(answer, summary_chars), finished.steps)
