"""The registry of the toolsets Ember ships, and of third-party toolsets from the ``ember.tools``
entry-point group.

The built-in toolsets are listed in ``catalog.py`` (``TOOLSETS``, ``TOOLSET_REQUIRES``); their
tools are declared once, in their modules, and read from there (``catalog.tool_names``).
Modules are imported only when the toolset is loaded or one of its tools is called, so a heavy
dependency (a browser, an SSH client) costs nothing until it is used.

A plugin package declares, in its pyproject.toml::

    [project.entry-points."ember.tools"]
    weather = "ember_weather.tools"        # a module with TOOLS = [...] or module-level @tool functions

The entry-point name is the toolset name; the distribution's summary is its description.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ember.tools.catalog import TOOLSET_REQUIRES, TOOLSETS, tool_names
from ember.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from ember.config import Settings

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ember.tools"

__all__ = ["ENTRY_POINT_GROUP", "TOOLSETS", "TOOLSET_REQUIRES", "builtin_registry", "discover_entry_points"]


def __getattr__(name: str) -> object:
    if name == "BUILTIN_TOOLSETS":  # each toolset with its tool names (catalog.BUILTIN_TOOLSETS)
        from ember.tools.catalog import BUILTIN_TOOLSETS

        return BUILTIN_TOOLSETS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

def builtin_registry(settings: Settings | None = None, *, plugins: bool = True) -> ToolRegistry:
    """A registry with the built-in toolsets (not yet imported) and, lazily, installed plugins."""
    registry = ToolRegistry()
    registry.settings = settings
    names = tool_names()  # read from the tool modules' source, cached: nothing is imported
    for name, description, modules in TOOLSETS:
        registry.add_toolset(name, description, modules=modules, tools=names[name],
                             requires=TOOLSET_REQUIRES.get(name, ()))
    if plugins:
        registry.add_discovery(discover_entry_points)
    if settings is not None:
        registry.enable(settings.tools.enabled)
        if settings.raw.get("mcp"):  # one toolset per MCP server, started on first use (docs/mcp.md)
            from ember.mcp.toolset import add_mcp_servers

            add_mcp_servers(registry, settings)
    return registry


def discover_entry_points(registry: ToolRegistry, group: str = ENTRY_POINT_GROUP) -> None:
    """Declare one toolset per entry point of ``group``; nothing is imported until it is used."""
    from ember.plugins import group_declared

    if not group_declared(group):
        return
    from importlib.metadata import entry_points

    known = {t.name for t in registry.toolsets()} | {name for name, *_ in TOOLSETS}
    for entry in entry_points(group=group):
        if entry.name in known:
            log.warning("plugin toolset %r (%s) clashes with an existing toolset; ignored", entry.name, entry.value)
            continue
        dist = getattr(entry, "dist", None)
        summary = (dist.metadata.get("Summary") if dist is not None else None) or ""
        description = summary or f"tools from the {dist.name if dist else entry.value} plugin"
        registry.add_toolset(entry.name, description, entry_point=entry)
        known.add(entry.name)
