"""Typed functions become tools; toolsets are disclosed to the model only when it needs them.

``@tool`` turns a function into a ``Tool`` (see ``base.py``; the names are re-exported here).
A ``ToolRegistry`` groups tools into toolsets. The ``core`` toolset always goes
out with full schemas; every other enabled toolset is one line of the system prompt
(``index_lines``) until the model calls ``tools_load`` (or simply calls one of its tools), so
the first request stays small. Toolsets declared by module path are imported only then.

A tool that declares ``requires`` (see ``base.py``) whose requirement is not met here, or a
toolset whose own ``requires`` are unmet or whose loading failed (a missing plugin dependency, an
MCP server that could not start), is not ready: it stays out of the schemas, the index and
``tools_load``'s choices, and a call to it says what to install instead of failing inside.
Toolset requirements are checked without importing anything, so disclosure stays lazy.

``execute`` never raises for anything the model did: unparseable or invalid arguments, unknown
tools, refused approvals and exceptions inside a tool all come back as an error result the model
can read and fix. Only ``Cancelled`` and ``KeyboardInterrupt`` propagate. Tool output is
untrusted data: it is returned as plain text in a tool-result message (never merged into the
system or user turn), and the agent's identity tells the model to treat it as data.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib
import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ember.models.base import Cancelled, ToolCall, ToolSchema
from ember.security.approval import ApprovalRequest
from ember.tools.base import (
    CORE,
    Tool,
    ToolContext,
    ToolDefinitionError,
    ToolError,
    ToolResult,
    tool,
    truncate_middle,
    unmet,
)
from ember.tools.schema import validate_arguments

log = logging.getLogger(__name__)

LOAD_TOOL = "tools_load"

__all__ = [
    "CORE", "LOAD_TOOL", "Tool", "ToolContext", "ToolDefinitionError", "ToolError", "ToolRegistry",
    "ToolResult", "Toolset", "ToolsetUnavailable", "tool", "truncate_middle",
]


class ToolsetUnavailable(Exception):
    """Raised by a toolset's loader for a failure it has explained (an MCP server that would not start).

    The message is the whole error the model sees; ``reason`` is its one-line form for a person,
    ``hint`` what to run to find out more, ``warning`` the line printed once on stderr.
    """

    def __init__(self, message: str, *, reason: str = "", hint: str = "", warning: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message
        self.hint = hint
        self.warning = warning


@dataclass
class Toolset:
    """A named group of tools. ``modules`` (or ``entry_point``) are imported on first use."""

    name: str
    description: str
    modules: tuple[str, ...] = ()
    declared: tuple[str, ...] = ()  # tool names known before import, for the index
    entry_point: Any = None
    imported: bool = False
    error: str | None = None  # why loading failed (for the model)
    reason: str = ""  # the same in one line for a person, and what to run about it
    hint: str = ""
    requires: tuple[Any, ...] = ()  # what every tool of it needs, checked before importing (see base.unmet)
    tools: list[str] = field(default_factory=list)


class ToolRegistry:
    """All tools and toolsets; one instance may serve many sessions (per-session state is in ToolContext)."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._toolsets: dict[str, Toolset] = {}
        self._enabled: list[str] = ["*"]
        self._discoveries: list[Callable[[ToolRegistry], None]] = []
        self._lock = threading.RLock()
        self.settings: Any = None  # for requirements that depend on config.toml
        self.quiet = False  # True: failures to load are only recorded (`ember tools list` shows them itself)

    # --- building -----------------------------------------------------------------------------

    def add_toolset(
        self, name: str, description: str, *, modules: Iterable[str] = (), tools: Iterable[str] = (),
        entry_point: Any = None, requires: Iterable[Any] = (),
    ) -> Toolset:
        with self._lock:
            toolset = self._toolsets.get(name)
            if toolset is None:
                toolset = self._toolsets[name] = Toolset(name, description)
            toolset.description = description or toolset.description
            toolset.modules += tuple(m for m in modules if m not in toolset.modules)
            toolset.declared += tuple(t for t in tools if t not in toolset.declared)
            toolset.entry_point = entry_point or toolset.entry_point
            toolset.requires += tuple(r for r in requires if r not in toolset.requires)
            toolset.imported = not (toolset.modules or toolset.entry_point)
            return toolset

    def add(self, item: Tool | Callable[..., Any], toolset: str | None = None) -> Tool:
        """Register a tool (a plain function is wrapped with ``@tool`` first)."""
        new = item if isinstance(item, Tool) else tool(item)
        if toolset and new.toolset != toolset:
            new = dataclasses.replace(new, toolset=toolset)
        with self._lock:
            existing = self._tools.get(new.name)
            if existing is not None and existing.func is not new.func:
                raise ToolDefinitionError(f"two tools are named {new.name!r} ({existing.toolset}, {new.toolset})")
            self._tools[new.name] = new
            group = self._toolsets.get(new.toolset) or self.add_toolset(new.toolset, "")
            if new.name not in group.tools:
                group.tools.append(new.name)
        return new

    def add_discovery(self, discover: Callable[[ToolRegistry], None]) -> None:
        """Run ``discover(registry)`` once, on first use (e.g. scanning entry points)."""
        self._discoveries.append(discover)

    def enable(self, patterns: Iterable[str]) -> None:
        """fnmatch patterns on toolset and tool names; ``!pattern`` excludes (``["*", "!shell"]``)."""
        self._enabled = list(patterns)

    def view(self, patterns: Iterable[str]) -> ToolRegistry:
        """A registry sharing these tools and toolsets (and whatever they load or start, e.g. MCP
        servers) but with its own ``enable`` patterns: what a sub-agent limited to some toolsets uses."""
        import copy

        self._discover()  # once, here, so the view never runs the discoveries a second time
        view = copy.copy(self)  # shallow: the same dicts and lock
        view._enabled = list(patterns)
        return view

    # --- looking up -------------------------------------------------------------------------------

    def _discover(self) -> None:
        if not self._discoveries:
            return
        with self._lock:
            pending, self._discoveries = self._discoveries, []
            for discover in pending:
                try:
                    discover(self)
                except Exception:
                    log.warning("tool discovery failed", exc_info=True)

    def _import(self, toolset: Toolset) -> None:
        if toolset.imported:
            return
        with self._lock:
            if toolset.imported:
                return
            toolset.imported = True
            try:
                sources = [importlib.import_module(m) for m in toolset.modules]
                if toolset.entry_point is not None:
                    sources.append(toolset.entry_point.load())
                for source in sources:
                    for found in _tools_of(source):
                        self.add(found, toolset.name)
            except ToolsetUnavailable as exc:  # explained by the loader: one clean line, once
                toolset.error, toolset.reason, toolset.hint = str(exc), exc.reason, exc.hint
                if exc.warning and not self.quiet:
                    sys.stderr.write(f"ember: warning: {exc.warning}\n")
                    sys.stderr.flush()
                log.debug("toolset %s is unavailable: %s", toolset.name, toolset.error)
            except Exception as exc:  # a missing extra, or a broken plugin: the rest keeps working
                toolset.error = toolset.reason = f"{type(exc).__name__}: {exc}"
                (log.debug if self.quiet else log.warning)(
                    "toolset %s could not be loaded: %s", toolset.name, toolset.error
                )

    # --- readiness ------------------------------------------------------------------------------

    def missing(self, item: Tool | Toolset, *, deep: bool = False) -> list[str]:
        """What ``item`` needs that is not installed here (with install hints); [] when it can run.

        ``deep`` imports the required modules for real (see ``unmet``).
        """
        found = unmet(item.requires, self.settings, deep=deep)
        if isinstance(item, Tool):
            group = self._toolsets.get(item.toolset)
            found += [m for m in (self.missing(group, deep=deep) if group is not None else []) if m not in found]
        return found

    def ready(self, toolset: Toolset) -> bool:
        """Whether the toolset can be offered: loaded without error (or not yet tried) and its needs met."""
        return not toolset.error and not self.missing(toolset)

    def _allowed(self, *names: str) -> bool:
        include = [p for p in self._enabled if not p.startswith("!")]
        exclude = [p[1:] for p in self._enabled if p.startswith("!")]
        match = lambda patterns: any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names)  # noqa: E731
        return match(include) and not match(exclude)

    def _tool_enabled(self, item: Tool) -> bool:
        return self._allowed(item.name, item.toolset)

    def _toolset_enabled(self, toolset: Toolset) -> bool:
        names = toolset.tools if toolset.imported else list(toolset.declared)
        return self._allowed(toolset.name) or any(self._allowed(n, toolset.name) for n in names)

    def toolsets(self, *, ready: bool = False, failed: bool = False) -> list[Toolset]:
        """Every enabled toolset that has not failed to load, without importing any.

        ``ready``: only those whose requirements are met here; ``failed``: those that failed too.
        """
        self._discover()
        return [
            t for t in self._toolsets.values()
            if self._toolset_enabled(t) and (failed or not t.error) and (not ready or self.ready(t))
        ]

    def tools_in(self, toolset: str) -> list[Tool]:
        self._discover()
        group = self._toolsets.get(toolset)
        if group is None:
            return []
        self._import(group)
        return [self._tools[n] for n in group.tools if self._tool_enabled(self._tools[n])]

    def get(self, name: str) -> Tool | None:
        """The tool named ``name`` (importing its toolset if needed), enabled or not."""
        self._discover()
        if name in self._tools:
            return self._tools[name]
        for group in list(self._toolsets.values()):
            if not group.imported and (name in group.declared or not group.declared):
                self._import(group)
                if name in self._tools:
                    return self._tools[name]
        return None

    # --- what the model sees -------------------------------------------------------------------------

    def _unloaded(self, loaded: set[str]) -> list[Toolset]:
        return [t for t in self.toolsets(ready=True) if t.name != CORE and t.name not in loaded]

    def schemas(self, loaded: set[str] | None = None) -> list[ToolSchema]:
        """Full schemas of ``core`` and the loaded toolsets (their tools that can run here), plus
        ``tools_load`` while others remain."""
        loaded = loaded or set()
        out = [
            item.schema
            for group in self.toolsets(ready=True) if group.name == CORE or group.name in loaded
            for item in self.tools_in(group.name) if not self.missing(item)
        ]
        unloaded = [t.name for t in self._unloaded(loaded)]
        if unloaded:
            out.append({
                "name": LOAD_TOOL,
                "description": "Load toolsets listed in the system prompt so their tools can be called.",
                "parameters": {
                    "type": "object",
                    "properties": {"toolset": {"type": "string", "enum": unloaded, "description": "Toolset name"}},
                    "required": ["toolset"],
                },
            })
        return out

    def index_lines(self, loaded: set[str] | None = None) -> list[str]:
        """One line per enabled toolset not loaded yet: ``name: description (tool, names)``."""
        lines = []
        for group in self._unloaded(loaded or set()):
            names = group.tools if group.imported else list(group.declared)
            names = [n for n in names if self._allowed(n, group.name)
                     and not (n in self._tools and self.missing(self._tools[n]))]
            lines.append(f"{group.name}: {group.description}" + (f" ({', '.join(names)})" if names else ""))
        return lines

    # --- running ------------------------------------------------------------------------------

    def execute(self, call: ToolCall, ctx: ToolContext) -> ToolResult:
        """Run one tool call. Every problem the model caused comes back as an error result."""
        if call.error:
            return ToolResult(call.error, is_error=True)
        if not isinstance(call.arguments, dict):
            return ToolResult(f"Arguments for {call.name} must be a JSON object.", is_error=True)
        if call.name == LOAD_TOOL:
            return self._load(call.arguments, ctx)
        found, problem = self._find(call.name)
        if found is None:
            return ToolResult(problem, is_error=True)
        group = self._toolsets.get(found.toolset)
        absent = self.missing(found, deep=True)  # the tool imports them now anyway: a broken one is named
        if absent or (group is not None and group.error):
            why = f"it needs {'; '.join(absent)}" if absent else str(group.error if group else "")
            return ToolResult(
                f"{found.name} cannot run here: {why}. Tell the user what to install; do not retry.", is_error=True
            )
        args, problems = validate_arguments(found.parameters, found.nullable, call.arguments)
        if problems:
            return ToolResult(
                f"Invalid arguments for {found.name}: {'; '.join(problems)}. Expected {found.signature()}.",
                is_error=True,
            )
        if found.toolset != CORE:
            ctx.loaded_toolsets.add(found.toolset)  # calling a tool of an unloaded toolset loads it
        try:
            result = self._approve_and_run(found, args, ctx)
        except (Cancelled, KeyboardInterrupt):
            raise
        except ToolError as exc:
            result = ToolResult(str(exc), is_error=True)
        except Exception as exc:
            log.debug("tool %s raised", found.name, exc_info=True)
            result = ToolResult(f"{found.name} failed: {type(exc).__name__}: {exc}", is_error=True)
        result.content = truncate_middle(result.content, ctx.max_output_chars, found.more_hint)
        return result

    def _find(self, name: str) -> tuple[Tool | None, str]:
        normalized = name.rsplit(".", 1)[-1].strip().lower().replace("-", "_").replace(" ", "_")
        found = self.get(name) or self.get(normalized)
        if found is not None and self._tool_enabled(found):
            return found, ""
        if found is not None:
            return None, f"Tool {found.name!r} is disabled here ([tools] enabled in config.toml)."
        for group in self.toolsets(failed=True):
            if group.error and name in group.declared:
                return None, f"Toolset {group.name} (of {name}) is unavailable: {group.error}"
        known = [n for n in self._known_names() if n != name]
        close = difflib.get_close_matches(normalized, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        return None, f"Unknown tool {name!r}.{hint} Use only the tools you were given, or load a toolset with {LOAD_TOOL}."

    def _known_names(self) -> list[str]:
        names = [n for n, t in self._tools.items() if self._tool_enabled(t)]
        for group in self.toolsets():
            names += [n for n in group.declared if n not in self._tools and self._allowed(n, group.name)]
        return names

    def _approve_and_run(self, found: Tool, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        need = found.needs_approval(args, ctx) if found.needs_approval else None
        if need:
            if isinstance(need, str):
                shown = json.dumps(args, ensure_ascii=False, default=str)
                action = f"{found.name} {shown if len(shown) <= 300 else shown[:297] + '...'}"
                need = ApprovalRequest(tool=found.name, reason=need, action=action)
            request = dataclasses.replace(need, tool=found.name, session_id=ctx.session_id)
            verdict = ctx.approver.review(request, ctx.door, ctx.approvals)
            if not verdict.approved:
                return ToolResult(verdict.message, is_error=True)
        if found.context_param:
            args = {**args, found.context_param: ctx}
        value = found.func(**args)
        if isinstance(value, ToolResult):
            return value
        if value is None:
            return ToolResult("(no output)")
        if isinstance(value, str):
            return ToolResult(value)
        try:
            return ToolResult(json.dumps(value, ensure_ascii=False, default=str))
        except (TypeError, ValueError):
            return ToolResult(str(value))

    def _load(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        requested = arguments.get("toolset") or arguments.get("name") or arguments.get("toolsets") or ""
        if isinstance(requested, list):
            requested = ",".join(str(r) for r in requested)
        names = [n for n in re.split(r"[,\s]+", str(requested)) if n]
        valid = {t.name: t for t in self.toolsets(failed=True)}
        if not names or any(n not in valid for n in names):
            bad = [n for n in names if n not in valid] or ["(none given)"]
            shown = sorted(t.name for t in valid.values() if self.ready(t))
            return ToolResult(f"Unknown toolset {', '.join(bad)}. Toolsets: {', '.join(shown)}.", is_error=True)
        lines = []
        for name in names:
            absent = self.missing(valid[name])
            if absent:
                return ToolResult(
                    f"Toolset {name} cannot run here: it needs {'; '.join(absent)}. Tell the user what to install.",
                    is_error=True,
                )
            tools = self.tools_in(name)
            if valid[name].error:
                return ToolResult(f"Toolset {name} is unavailable: {valid[name].error}", is_error=True)
            if name != CORE:
                ctx.loaded_toolsets.add(name)
            usable = [t.name for t in tools if not self.missing(t)]
            unusable = [f"{t.name} (needs {'; '.join(self.missing(t))})" for t in tools if self.missing(t)]
            line = f"{name}: {', '.join(usable) or '(no tools)'}"
            lines.append(line + (f"; not available here: {', '.join(unusable)}" if unusable else ""))
        return ToolResult("Loaded " + "; ".join(lines) + ". You can call these tools now.")


def _tools_of(source: Any) -> list[Tool]:
    """The tools a module (its ``TOOLS`` list, else every module-level Tool) or a list provides."""
    if isinstance(source, Tool):
        return [source]
    if isinstance(source, list | tuple):
        return [t for t in source if isinstance(t, Tool)]
    listed = getattr(source, "TOOLS", None)
    if listed is not None:
        return [t for t in listed if isinstance(t, Tool)]
    own = getattr(source, "__name__", None)
    return [v for v in vars(source).values() if isinstance(v, Tool) and v.func.__module__ == own]
