"""The one way things plug into Ember: a name, a ``module:attribute`` path, an entry-point group.

Built-ins are a small dict of names to import paths; a third-party package adds its own under
the same group in its pyproject.toml, and Ember finds it without any change here::

    [project.entry-points."ember.providers"]
    mistral = "ember_mistral:MistralProvider"

| group | what it is | built-ins in |
|---|---|---|
| ``ember.providers`` | a model adapter class ``(ModelSpec, httpx.Client | None)`` | ``models/catalog.py`` |
| ``ember.tools`` | a module of ``@tool`` functions (one toolset) | ``tools/catalog.py`` |
| ``ember.channels`` | a channel module (``NAME``, ``configure``, ``CHANNEL``) | ``gateway/channels/`` |
| ``ember.stores`` | a store backend ``(location, redactor=)`` -> ``Store``, by URL scheme | ``store/backends.py`` |

Nothing is imported until it is asked for; looking for plugins reads the installed
distributions' ``entry_points.txt`` files first, so a machine without plugins pays about a
millisecond, not ``importlib.metadata``'s import.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def load(path: str) -> Any:
    """The object at ``"package.module:attribute"``."""
    module, _, attribute = path.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attribute) if attribute else loaded


def group_declared(group: str) -> bool:
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


def plugin_paths(group: str) -> dict[str, Any]:
    """Every entry point of ``group`` installed here, by name (not loaded)."""
    if not group_declared(group):
        return {}
    from importlib.metadata import entry_points

    return {entry.name: entry for entry in entry_points(group=group)}


def names(group: str, builtin: Mapping[str, str]) -> list[str]:
    """The built-in names, then the plugins' (a plugin cannot take a built-in's name)."""
    return [*builtin, *(name for name in plugin_paths(group) if name not in builtin)]


def find(group: str, name: str, builtin: Mapping[str, str]) -> Any | None:
    """What ``name`` stands for in ``group``: a built-in, else a plugin's, else None."""
    if name in builtin:
        return load(builtin[name])
    entry = plugin_paths(group).get(name)
    if entry is None:
        return None
    try:
        return entry.load()
    except Exception:
        log.exception("the %s plugin %r could not be loaded", group, name)
        return None
