"""``delegate``: hand sub-tasks to sub-agents that run side by side and report back.

Each task runs in a child agent with its own fresh session and a step budget, started through
``ctx.subagents`` (``agent/subagents.py``; this tool never touches the agent loop). Children
share the parent's store, router, workspace and allowed patterns, see only the chosen toolsets,
and approve everything only when the parent's turn does (``--yes``). Tasks run concurrently in
threads. What comes back is each child's final answer, trimmed, with its session id; a child
that fails (step limit, provider error) says so in its summary instead of failing the call.

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

from ember.tools.base import CORE, ToolContext, ToolError, tool
from ember.tools.services import ChildReport, trimmed

if TYPE_CHECKING:
    from ember.config import Settings
    from ember.tools.services import SubAgents

log = logging.getLogger(__name__)

TOOLSET = "delegate"


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


def _choose_toolsets(subagents: SubAgents, requested: list[str] | None, can_delegate: bool) -> tuple[set[str], bool]:
    available = subagents.toolsets()
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
        lines.append(f"\n## Task {number}: {trimmed(report.task, 100)}\n(session {report.session_id}, {state})")
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
    subagents = ctx.subagents
    if subagents is None:
        raise ToolError("delegate needs a running agent.")
    limits = delegate_limits(ctx.settings)
    depth = subagents.depth
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
    chosen, preload = _choose_toolsets(subagents, toolsets, can_delegate=depth + 2 <= limits.max_depth)
    steps = limits.max_steps if max_steps is None else max_steps
    note = ""
    if steps < 1:
        raise ToolError("max_steps must be at least 1.")
    if steps > limits.max_steps:
        steps, note = limits.max_steps, f" (max_steps lowered to {limits.max_steps}, the [delegate] limit)"
    run_args: dict[str, Any] = dict(
        toolsets=chosen, preload=preload, max_steps=steps, summary_chars=limits.summary_chars, cancel=ctx.cancel
    )
    with ThreadPoolExecutor(max_workers=min(len(tasks), limits.max_parallel), thread_name_prefix="delegate") as pool:
        futures = [pool.submit(subagents.run, task, **run_args) for task in tasks]
        try:
            reports = [future.result() for future in futures]
        except BaseException:
            ctx.cancel.set()  # stop the siblings too
            raise
    return _report(reports, note)
