"""The registry of the toolsets Ember ships, and of third-party toolsets from the ``ember.tools``
entry-point group.

The built-in toolsets are listed in ``catalog.py`` (``BUILTIN_TOOLSETS``, ``TOOLSET_REQUIRES``).
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

from ember.tools.catalog import BUILTIN_TOOLSETS, TOOLSET_REQUIRES
from ember.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from ember.config import Settings

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ember.tools"

__all__ = ["BUILTIN_TOOLSETS", "ENTRY_POINT_GROUP", "TOOLSET_REQUIRES", "builtin_registry", "discover_entry_points"]

def builtin_registry(settings: Settings | None = None, *, plugins: bool = True) -> ToolRegistry:
    """A registry with the built-in toolsets (not yet imported) and, lazily, installed plugins."""
    registry = ToolRegistry()
    registry.settings = settings
    for name, description, modules, tools in BUILTIN_TOOLSETS:
        registry.add_toolset(name, description, modules=modules, tools=tools, requires=TOOLSET_REQUIRES.get(name, ()))
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

    known = {t.name for t in registry.toolsets()} | {name for name, *_ in BUILTIN_TOOLSETS}
    for entry in entry_points(group=group):
        if entry.name in known:
            log.warning("plugin toolset %r (%s) clashes with an existing toolset; ignored", entry.name, entry.value)
            continue
        dist = getattr(entry, "dist", None)
        summary = (dist.metadata.get("Summary") if dist is not None else None) or ""
        description = summary or f"tools from the {dist.name if dist else entry.value} plugin"
        registry.add_toolset(entry.name, description, entry_point=entry)
        known.add(entry.name)
