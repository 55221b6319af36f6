"""``delegate``: hand sub-tasks to sub-agents that run side by side and report back.

Each task gets a child ``Agent`` with its own fresh session (source ``delegate``), so its
context holds only its task, and a step budget. It shares the parent's store, router (both
thread-safe), workspace and approver (so ``--yes`` carries over and a refusal stays a refusal)
and sees only the chosen toolsets. Tasks run concurrently in threads. What comes back is each
child's final answer, trimmed, with its session id; a child that fails (step limit, provider
error) says so in its summary instead of failing the parent's call.

Depth: the top agent is depth 0 and its children depth 1. ``[delegate] max_depth`` (default 1)
is the deepest a sub-agent may be, so by default children cannot delegate at all: the
``delegate`` toolset is hidden from them and the tool refuses.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ember.models.base import Cancelled, ProviderError
from ember.tools.base import CORE, ToolContext, ToolError, tool

if TYPE_CHECKING:
    import threading

    from ember.agent.loop import Agent
    from ember.config import Settings

log = logging.getLogger(__name__)

DEPTH_KEY = "delegate_depth"  # in a child agent's extras: how deep it is
TOOLSET = "delegate"
SUBAGENT_NOTE = (
    "You are a sub-agent: another agent handed you one task. Do it with your tools, without asking the "
    "user anything (no one can answer you). Your final answer is all the other agent will see: make it a "
    "short, self-contained report of what you did and found (facts, numbers, file paths), and say plainly "
    "what you could not do."
)


@dataclass
class DelegateLimits:
    """``[delegate]`` of config.toml."""

    max_depth: int = 1
    max_steps: int = 15
    max_parallel: int = 4
    max_tasks: int = 8
    summary_chars: int = 2000


def delegate_limits(settings: Settings | None) -> DelegateLimits:
    section = (settings.raw if settings is not None else {}).get("delegate", {})
    if not isinstance(section, dict):
        raise ToolError("config.toml: [delegate] must be a table. Fix config.toml.")
    limits = DelegateLimits()
    keys = [f.name for f in dataclasses.fields(limits)]
    unknown = sorted(set(section) - set(keys))
    if unknown:
        raise ToolError(f"config.toml: [delegate] has unknown key(s) {', '.join(unknown)}; the keys are "
                        f"{', '.join(keys)}. Fix config.toml.")
    for name in keys:
        value = section.get(name, getattr(limits, name))
        lowest = 0 if name == "max_depth" else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
            raise ToolError(f"config.toml: [delegate].{name} must be a whole number >= {lowest}, got {value!r}.")
        setattr(limits, name, value)
    return limits


@dataclass
class ChildReport:
    task: str
    session_id: str
    ok: bool
    summary: str
    steps: int = 0


def _trim(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 40].rstrip() + f" […{len(text) - limit + 40:,} chars cut]"


def _child_agent(parent: Agent, depth: int, toolsets: set[str], max_steps: int) -> Agent:
    """An agent like the parent, limited to ``toolsets`` (core is always there) and ``max_steps``."""
    from ember.agent.context import ContextBuilder
    from ember.agent.loop import Agent

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
    return Agent(
        settings=settings, store=parent.store, router=parent.router, registry=registry,
        approver=parent.approver, context=context, interactive=parent.interactive, redact=parent.redact,
        extras={DEPTH_KEY: depth},
    )


def _run_child(
    parent: Agent, task: str, depth: int, toolsets: set[str], preload: bool, max_steps: int,
    limits: DelegateLimits, cancel: threading.Event,
) -> ChildReport:
    from ember.agent.loop import AgentError

    child = _child_agent(parent, depth, toolsets, max_steps)
    session_id = child.new_session(source="delegate")  # titled from the task, secrets masked, by the agent
    if preload:
        child.tool_context(session_id, cancel).loaded_toolsets.update(toolsets - {CORE})
    try:
        finished = child.ask(session_id, task, cancel=cancel)
    except (AgentError, ProviderError) as exc:
        reason = str(exc).split("; raise [agent] max_steps")[0]  # the config hint is for people, not here
        return ChildReport(task, session_id, False, _trim(f"Failed: {reason}", limits.summary_chars))
    except (Cancelled, KeyboardInterrupt):
        raise
    except Exception as exc:  # a bug in a tool or in Ember: report it, keep the siblings' results
        log.exception("sub-agent for %r failed", task[:80])
        return ChildReport(task, session_id, False, f"Failed: {type(exc).__name__}: {exc}")
    answer = finished.answer.strip() or "(the sub-agent finished without a final answer)"
    return ChildReport(task, session_id, True, _trim(answer, limits.summary_chars), finished.steps)


def _choose_toolsets(parent: Agent, requested: list[str] | None, can_delegate: bool) -> tuple[set[str], bool]:
    available = {t.name for t in parent.registry.toolsets()}
    if not can_delegate:
        available.discard(TOOLSET)
    if requested is None:
        return available, False
    chosen = {name.strip() for name in requested if name.strip()}
    unknown = sorted(chosen - available - {CORE})
    if unknown:
        offer = ", ".join(sorted(available - {CORE}))
        raise ToolError(f"Unknown or unavailable toolset(s) {', '.join(unknown)}; choose from: {offer}.")
    return chosen | {CORE}, True


def _report(reports: list[ChildReport], note: str) -> str:
    failed = sum(not r.ok for r in reports)
    lines = [f"{len(reports)} sub-agent(s) finished: {len(reports) - failed} succeeded, {failed} failed.{note}"]
    for number, report in enumerate(reports, 1):
        state = f"ok, {report.steps} step(s)" if report.ok else "FAILED"
        lines.append(f"\n## Task {number}: {_trim(report.task, 100)}\n(session {report.session_id}, {state})")
        lines.append(report.summary)
    return "\n".join(lines)


@tool(toolset=TOOLSET)
def delegate(
    ctx: ToolContext, tasks: list[str], toolsets: list[str] | None = None, max_steps: int | None = None
) -> str:
    """Hand independent sub-tasks to sub-agents that work in parallel and report back a summary each.

    Args:
        tasks: One complete, self-contained instruction per sub-agent (it sees nothing else of this conversation).
        toolsets: Toolsets the sub-agents may use besides core (files and shell); all of yours when omitted.
        max_steps: Most model calls each sub-agent may make.
    """
    parent: Agent | None = ctx.extras.get("agent")
    if parent is None:
        raise ToolError("delegate needs a running agent.")
    limits = delegate_limits(ctx.settings)
    depth = int(ctx.extras.get(DEPTH_KEY, 0))
    if depth + 1 > limits.max_depth:
        raise ToolError(
            f"Sub-agents at depth {depth} cannot delegate ([delegate] max_depth = {limits.max_depth}). "
            "Do this work yourself."
        )
    tasks = [t.strip() for t in tasks if t and t.strip()]
    if not tasks:
        raise ToolError("tasks is empty; give one instruction per sub-agent.")
    if len(tasks) > limits.max_tasks:
        raise ToolError(f"{len(tasks)} tasks; at most {limits.max_tasks} at once ([delegate] max_tasks). Group them.")
    chosen, preload = _choose_toolsets(parent, toolsets, can_delegate=depth + 2 <= limits.max_depth)
    steps = limits.max_steps if max_steps is None else max_steps
    note = ""
    if steps < 1:
        raise ToolError("max_steps must be at least 1.")
    if steps > limits.max_steps:
        steps, note = limits.max_steps, f" (max_steps lowered to {limits.max_steps}, the [delegate] limit)"
    run_args: dict[str, Any] = dict(
        depth=depth + 1, toolsets=chosen, preload=preload, max_steps=steps, limits=limits, cancel=ctx.cancel
    )
    with ThreadPoolExecutor(max_workers=min(len(tasks), limits.max_parallel), thread_name_prefix="delegate") as pool:
        futures = [pool.submit(_run_child, parent, task, **run_args) for task in tasks]
        try:
            reports = [future.result() for future in futures]
        except BaseException:
            ctx.cancel.set()  # stop the siblings too
            raise
    return _report(reports, note)
