"""The toolsets Ember ships: one line of ``TOOLSETS`` each.

A line gives the toolset's name, the description the model sees while it is not loaded, and the
modules that hold its tools. A tool is declared once, where it is written (``@tool``): the names
the prompt's index lists are read from those modules' source without importing them
(``tool_names``, kept in ``EMBER_HOME/cache/tool-index.json`` while the files are unchanged, so
start-up pays a file read, not a parse). ``BUILTIN_TOOLSETS`` gives each line with its tools.
A toolset all of whose tools need an optional package names it in ``TOOLSET_REQUIRES`` too (each
tool also declares it with ``@tool(requires=...)``), so that, without the package, the toolset is
left out of the prompt's index without importing its module.

Nothing here imports a tool: ``builtin.py`` builds the registry from these lines, and the MCP
configuration reads the names to keep servers from taking them.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

from ember.tools.base import needs_extra

# (name, description for the model, modules). A new toolset appends one line here.
TOOLSETS: list[tuple[str, str, tuple[str, ...]]] = [
    ("core", "files and shell in the workspace", ("ember.tools.files", "ember.tools.shell")),
    ("files", "patch, move, delete; read PDFs and images", ("ember.tools.files_extra",)),
    ("processes", "background processes", ("ember.tools.processes",)),
    ("ssh", "remote terminal on named SSH hosts", ("ember.tools.ssh",)),
    ("code", "run Python, JavaScript or shell code in a sandbox", ("ember.tools.code",)),
    ("web", "search the web and extract pages as text", ("ember.tools.web",)),
    ("http", "call HTTP APIs with named credentials", ("ember.tools.http",)),
    ("browser", "drive a real browser: open, read, click, type, screenshot", ("ember.tools.browser",)),
    ("media", "look at images, speak text, generate images",
     ("ember.tools.vision", "ember.tools.speech", "ember.tools.images")),
    ("planning", "a task list, and questions to the user", ("ember.tools.planning",)),
    ("delegate", "hand sub-tasks to sub-agents", ("ember.tools.delegate",)),
    ("memory", "search past conversations and lessons; read and update the user profile",
     ("ember.tools.recall", "ember.tools.profile")),
    ("skills", "view and manage reusable skills", ("ember.tools.skills",)),
    ("schedule", "run a task later or on a schedule, results delivered to a chat", ("ember.tools.schedule",)),
]


def _module_file(module: str) -> Path:
    """The source file of one of our tool modules, without importing it (or its package's others)."""
    return Path(__file__).parent / f"{module.rsplit('.', 1)[-1]}.py"


def declared_tools(module: str) -> list[str]:
    """The tools ``module`` declares (``@tool`` / ``@tool(name=...)``), in order, read from its source."""
    tree = ast.parse(_module_file(module).read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Name) and target.id == "tool":
                name = node.name
                for keyword in decorator.keywords if isinstance(decorator, ast.Call) else []:
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        name = str(keyword.value.value)
                names.append(name)
    return names


_names: dict[str, tuple[str, ...]] | None = None


def tool_names() -> dict[str, tuple[str, ...]]:
    """Each built-in toolset's tool names: from the cache while the modules are unchanged, else
    read from their source (about 25 ms) and cached again."""
    global _names
    if _names is not None:
        return _names
    files = sorted({_module_file(m) for _, _, modules in TOOLSETS for m in modules})
    key = [[f.name, f.stat().st_mtime_ns, f.stat().st_size] for f in files]
    cache = _cache_file()
    try:
        stored: dict[str, Any] = json.loads(cache.read_text()) if cache is not None else {}
    except (OSError, ValueError):
        stored = {}
    if stored.get("key") == key and isinstance(stored.get("names"), dict):
        _names = {name: tuple(tools) for name, tools in stored["names"].items()}
        if set(_names) == {name for name, *_ in TOOLSETS}:
            return _names
    _names = {name: tuple(t for m in modules for t in declared_tools(m)) for name, _, modules in TOOLSETS}
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps({"key": key, "names": _names}))
            os.replace(temporary, cache)
        except OSError:
            pass  # a read-only home: parse again next time
    return _names


def _cache_file() -> Path | None:
    home = os.environ.get("EMBER_HOME") or str(Path.home() / ".ember")
    return Path(home).expanduser() / "cache" / "tool-index.json" if home else None


def __getattr__(name: str) -> Any:
    if name == "BUILTIN_TOOLSETS":  # (name, description, modules, tool names), as the registry takes them
        names = tool_names()
        return [(toolset, description, modules, names[toolset]) for toolset, description, modules in TOOLSETS]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# What every tool of a toolset needs, checked with find_spec before the toolset is imported.
TOOLSET_REQUIRES: dict[str, tuple[str, ...]] = {
    "ssh": (needs_extra("asyncssh", "ssh"),),
    "browser": (needs_extra("playwright", "browser"),),
}
