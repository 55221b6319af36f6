"""Ember: a personal AI agent runtime that learns, remembers and gets better every day.

The public surface is small on purpose: ``Agent``, the ``tool`` decorator and the provider protocol.
They are imported lazily so ``import ember`` (and ``ember --help``) stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Agent", "Provider", "tool", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Agent":
        from ember.agent.loop import Agent

        return Agent
    if name == "tool":
        from ember.tools.registry import tool

        return tool
    if name == "Provider":
        from ember.models.base import Provider

        return Provider
    raise AttributeError(name)
