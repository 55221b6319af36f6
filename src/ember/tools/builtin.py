"""The toolsets Ember ships, and third-party toolsets from the ``ember.tools`` entry-point group.

A built-in toolset is one line of ``BUILTIN_TOOLSETS``: its name, the description the model sees
while it is not loaded, the modules that hold its tools, and the tools' names (so the prompt's
index needs no import). Modules are imported only when the toolset is loaded or one of its tools
is called, so a heavy dependency (a browser, an SSH client) costs nothing until it is used.

A plugin package declares, in its pyproject.toml::

    [project.entry-points."ember.tools"]
    weather = "ember_weather.tools"        # a module with TOOLS = [...] or module-level @tool functions

The entry-point name is the toolset name; the distribution's summary is its description.

A toolset all of whose tools need an optional package names it in ``TOOLSET_REQUIRES`` too (each
tool also declares it with ``@tool(requires=...)``), so that, without the package, the toolset is
left out of the prompt's index without importing its module.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ember.tools.base import needs_extra
from ember.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from ember.config import Settings

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ember.tools"

# (name, description for the model, modules, tool names). Later toolsets append one line here.
BUILTIN_TOOLSETS: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    ("core", "files and shell in the workspace", ("ember.tools.files", "ember.tools.shell"),
     ("read_file", "write_file", "edit_file", "list_dir", "search_files", "shell")),
    ("files", "patch, move, delete; read PDFs and images", ("ember.tools.files_extra",),
     ("apply_patch", "move_file", "delete_file", "read_pdf", "image_info")),
    ("processes", "background processes", ("ember.tools.processes",),
     ("process_start", "process_output", "process_kill", "process_list")),
    ("ssh", "remote terminal on named SSH hosts", ("ember.tools.ssh",), ("ssh_run", "ssh_upload", "ssh_download")),
    ("code", "run Python, JavaScript or shell code in a sandbox", ("ember.tools.code",), ("run_code",)),
    ("web", "search the web and extract pages as text", ("ember.tools.web",), ("web_search", "web_extract")),
    ("http", "call HTTP APIs with named credentials", ("ember.tools.http",), ("http_request",)),
    ("browser", "drive a real browser: open, read, click, type, screenshot", ("ember.tools.browser",),
     ("browser_open", "browser_snapshot", "browser_click", "browser_type", "browser_select", "browser_press",
      "browser_scroll", "browser_back", "browser_screenshot", "browser_close")),
    ("media", "look at images, speak text, generate images",
     ("ember.tools.vision", "ember.tools.speech", "ember.tools.images"),
     ("vision_analyze", "text_to_speech", "image_generate")),
    ("planning", "a task list, and questions to the user", ("ember.tools.planning",), ("todo", "clarify")),
    ("delegate", "hand sub-tasks to sub-agents", ("ember.tools.delegate",), ("delegate",)),
    ("memory", "search past conversations and lessons; read and update the user profile",
     ("ember.tools.recall", "ember.tools.profile"), ("memory_search", "user_profile")),
    ("skills", "view and manage reusable skills", ("ember.tools.skills",), ("skill_view", "skill_manage")),
    ("schedule", "run a task later or on a schedule, results delivered to a chat", ("ember.tools.schedule",),
     ("schedule_job", "list_jobs", "cancel_job")),
]

# What every tool of a toolset needs, checked with find_spec before the toolset is imported.
TOOLSET_REQUIRES: dict[str, tuple[str, ...]] = {
    "ssh": (needs_extra("asyncssh", "ssh"),),
    "browser": (needs_extra("playwright", "browser"),),
}


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


def _group_declared(group: str) -> bool:
    """Whether any distribution on ``sys.path`` declares entry points of ``group``.

    ``importlib.metadata`` costs ~15 ms to import (it pulls in ``email``) and more to read every
    distribution's metadata: a tenth of a one-shot ``ember run``, spent on most machines to find
    no plugin at all. Reading the ``entry_points.txt`` files straight off the path entries answers
    "none" in about a millisecond; when one matches, ``importlib.metadata`` does the real work.
    """
    import os
    import sys

    header = f"[{group}]"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # a zip file, or a path entry that is not there (python311.zip usually is not)
            if os.path.isfile(entry):
                return True  # cannot look inside cheaply: let importlib.metadata decide
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(entry or ".", name, "entry_points.txt"), encoding="utf-8") as handle:
                    if any(line.strip() == header for line in handle):
                        return True
            except (OSError, UnicodeDecodeError):
                continue
    return False


def discover_entry_points(registry: ToolRegistry, group: str = ENTRY_POINT_GROUP) -> None:
    """Declare one toolset per entry point of ``group``; nothing is imported until it is used."""
    if not _group_declared(group):
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
