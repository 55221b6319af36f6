"""What a tool is: a typed function with a schema, the context it runs in, and its result.

``@tool`` builds a ``Tool`` from a function (schema from type hints and the docstring, see
``schema.py``). A parameter annotated ``ToolContext`` is injected by the registry and never
shown to the model.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.models.base import ToolSchema
from ember.security.approval import ApprovalRequest, Approver
from ember.textio import truncate_middle
from ember.tools.schema import ToolDefinitionError, build_parameters, signature_line

if TYPE_CHECKING:
    from ember.agent.door import Door, TurnApprovals
    from ember.config import Settings
    from ember.models.router import Router
    from ember.store.ports import Store
    from ember.tools.services import SubAgents

CORE = "core"

__all__ = [
    "CORE", "Requirement", "Tool", "ToolContext", "ToolDefinitionError", "ToolError", "ToolResult", "needs_extra",
    "import_problem", "tool", "truncate_middle", "unmet",
]


class ToolError(Exception):
    """Raised by a tool for a problem the model can fix; the message is the whole result."""


@dataclass
class ToolResult:
    content: str
    is_error: bool = False
    images: list[str] = field(default_factory=list)


@dataclass
class ToolContext:
    """What a running tool may know about its session, and the services it may use.

    One per session; tools may keep state in ``state``. The agent sets ``door`` and
    ``approvals`` at the start of every turn (two turns of a session never overlap), so a tool
    asks the person of this turn and its approvals are counted in this turn. ``store``,
    ``router`` and ``subagents`` are None where no agent runs the tool (a test, ``ember mcp``).
    """

    workspace: Path
    settings: Settings | None = None
    session_id: str | None = None
    approver: Approver = field(default_factory=Approver)
    cancel: threading.Event = field(default_factory=threading.Event)
    interactive: bool = False
    max_output_chars: int = 20_000
    loaded_toolsets: set[str] = field(default_factory=set)
    cwd: Path = Path()  # the shell's working directory; relative means relative to the workspace
    state: dict[str, Any] = field(default_factory=dict)
    door: Door | None = None  # who answers this turn; None: the approver's default door
    approvals: TurnApprovals | None = None  # what this turn asked, allowed and refused
    store: Store | None = None
    router: Router | None = None
    subagents: SubAgents | None = None

    def __post_init__(self) -> None:
        self.workspace = Path(os.path.abspath(Path(self.workspace).expanduser()))
        self.cwd = self.resolve(self.cwd)

    def resolve(self, path: str | Path) -> Path:
        """A path the model gave: ``~`` expanded, relative to the workspace.

        Raises ``ToolError`` for a path in Ember's own home or a credential folder: no tool reads
        or writes those through a path (see ``boundary.private_reason``).
        """
        from ember.security.private import private_reason

        resolved = Path(path).expanduser()
        resolved = resolved if resolved.is_absolute() else self.workspace / resolved
        home = self.settings.home if self.settings is not None else None
        why = private_reason(resolved, workspace=self.workspace, home=home)
        if why:
            raise ToolError(why)
        return resolved

    def shown(self, path: Path) -> str:
        """How a path is reported back: relative when inside the workspace."""
        for root in (self.workspace, Path(os.path.realpath(self.workspace))):
            if path.is_relative_to(root):
                return str(path.relative_to(root)) or "."
        return str(path)


ApprovalCheck = Callable[[dict[str, Any], ToolContext], "str | ApprovalRequest | None"]
# "module:NAME" (an importable Python module) or "bin:NAME" (a program on PATH), optionally followed
# by " (hint)", e.g. "module:playwright (pip install 'ember-agent[browser]')"; or a function of the
# settings returning what is missing (None when nothing is), for a need that depends on config.toml.
Requirement = str | Callable[["Settings | None"], "str | None"]


def needs_extra(module: str, extra: str) -> str:
    """The requirement for a Python module that the ``ember-agent[extra]`` extra installs."""
    return f"module:{module} (pip install 'ember-agent[{extra}]')"


@functools.lru_cache(maxsize=256)
def _present(kind: str, target: str) -> bool:
    """Whether a module (``kind`` "module") or program is installed; asked once per process,
    since the registry asks on every model call and installs do not change under a running agent."""
    import importlib.util
    import shutil

    if kind == "module":
        try:
            return importlib.util.find_spec(target) is not None
        except (ImportError, ValueError):  # a dotted name whose parent package is missing
            return False
    return bool(shutil.which(target))


# Modules found installed that failed to import, with the error: once one fails, the tool that
# needs it is not offered again in this process.
_import_failures: dict[str, str] = {}


def import_problem(module: str) -> str | None:
    """Import ``module`` for real; None when it works, else what failed (``Type: message``).

    ``find_spec`` only says a module is installed. A package can be installed and still not import,
    e.g. trafilatura when one of its own dependencies is missing; this is the check that catches it.
    """
    if module in _import_failures:
        return _import_failures[module]
    import importlib
    import warnings

    try:
        with warnings.catch_warnings():  # a package's deprecation notices are not the user's business here
            warnings.simplefilter("ignore")
            importlib.import_module(module)
    except Exception as exc:  # ImportError, or anything a broken package raises while importing
        _import_failures[module] = f"{type(exc).__name__}: {exc}"
        return _import_failures[module]
    return None


def unmet(requires: tuple[Requirement, ...], settings: Settings | None = None, *, deep: bool = False) -> list[str]:
    """The requirements not met on this machine, each with its install hint.

    By default nothing is imported: a module is looked up with ``importlib.util.find_spec``
    (``_present``), cheap enough for every model call. ``deep`` imports each required module, as
    running the tool would: ``ember tools list`` and the moment a tool is called use it.
    """
    absent = []
    for requirement in requires:
        if callable(requirement):
            try:
                problem = requirement(settings)
            except Exception:  # a config.toml mistake: the tool itself reports it when called
                problem = None
            if problem:
                absent.append(problem)
            continue
        spec, _, hint = requirement.partition(" ")
        kind, _, target = spec.partition(":")
        if not _present(kind, target):
            absent.append(f"{target} {hint}".strip())
        elif kind == "module" and (deep or target in _import_failures):
            failure = import_problem(target)
            if failure:
                absent.append(f"{target} is installed but does not import ({failure}); reinstall it {hint}".strip())
    return absent


@dataclass
class Tool:
    """A function the model can call. Call it directly like the function it wraps."""

    name: str
    description: str
    parameters: dict[str, Any]
    func: Callable[..., Any]
    toolset: str = CORE
    needs_approval: ApprovalCheck | None = None
    context_param: str | None = None
    nullable: frozenset[str] = frozenset()
    more_hint: str = ""  # how to see the rest when the output is truncated
    # What must be installed for the tool to run; see ``unmet``. A tool with an unmet requirement
    # is listed as not ready by `ember tools list` and never offered to the model.
    requires: tuple[Requirement, ...] = ()

    def missing(self, settings: Settings | None = None, *, deep: bool = False) -> list[str]:
        """The requirements not met on this machine, each with its install hint (see ``unmet``)."""
        return unmet(self.requires, settings, deep=deep)

    @property
    def schema(self) -> ToolSchema:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def signature(self) -> str:
        return signature_line(self.name, self.parameters)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)


def tool(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    toolset: str = CORE,
    needs_approval: ApprovalCheck | None = None,
    description: str | None = None,
    more_hint: str = "",
    requires: tuple[Requirement, ...] = (),
) -> Any:
    """Make a function a tool: ``@tool`` or ``@tool(name=..., toolset=..., needs_approval=...)``.

    ``needs_approval(args, ctx)`` returns None, or a reason (or an ``ApprovalRequest``) when a
    person must approve this call. ``requires`` names what must be installed (see ``Requirement``). Raises ``ToolDefinitionError`` when the model would get a
    vague schema: a parameter without a type hint or an ``Args:`` description.
    """

    def build(f: Callable[..., Any]) -> Tool:
        tool_name = name or f.__name__
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tool_name):
            raise ToolDefinitionError(f"tool name {tool_name!r}: use 1-64 letters, digits, _ or -")
        parameters, nullable, context_param, summary = build_parameters(f, tool_name, ToolContext)
        if not (description or summary):
            raise ToolDefinitionError(f"tool {tool_name}: the docstring needs a one-line summary")
        return Tool(
            name=tool_name, description=description or summary, parameters=parameters, func=f,
            toolset=toolset, needs_approval=needs_approval, context_param=context_param,
            nullable=nullable, more_hint=more_hint, requires=tuple(requires),
        )

    return build(func) if func is not None else build
