"""What config.toml may hold, and the checks every value passes.

Every key of a table Ember reads is checked: a misspelt one is an error that names it and
suggests the closest, never silently ignored; a value of the wrong type or out of range is an
error that says what it must be (``config.toml: [agent].max_steps must be an integer from 1 to
1000, got 0``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ember.config.errors import ConfigError
from ember.config.settings import TASK_KINDS

# The keys of each table load.py reads. Every key is checked: a misspelt one is an error that
# names it and suggests the closest, never silently ignored.
TOP_LEVEL_KEYS = ("retries", "workspace")
MODEL_KEYS = (
    "provider", "model", "base_url", "api_key", "api_key_env", "context_window", "max_output_tokens",
    "timeout", "headers", "endpoint", "reasoning", "reasoning_budget",
)
ROUTE_KEYS = (*TASK_KINDS, "fallback")
PRICE_KEYS = ("input", "output")
AGENT_KEYS = ("max_steps", "compact_at", "keep_recent_turns", "stream", "identity")
TOOLS_KEYS = ("enabled", "shell_timeout", "max_output_chars", "allow_commands", "network")
STORE_KEYS = ("url",)
OWN_TABLES = ("model", "models", "routes", "prices", "agent", "tools", "store")
# Tables other modules read (and check) when they are used; see docs/configuration.md. A table
# that is in neither list is left alone (a plugin's, say) unless its name is a near miss of one.
OTHER_TABLES = (
    "ssh", "sandbox", "web", "http", "browser", "vision", "speech", "images", "delegate", "mcp", "memory",
    "gateway",
)
MAX_STEPS_LIMIT = 1000  # as `ember run --max-steps` (1 to 1000)

_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
               dict: "a table"}


def kind_phrase(kind: type | tuple[type, ...]) -> str:
    """What a config value of type ``kind`` must be, in words ("an integer", "a number", ...)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)


def bad(where: str, what: str) -> ConfigError:
    """``config.toml: [table].key must be ...``; ``where`` may name an environment variable instead."""
    prefix = "" if where.startswith("EMBER_") else "config.toml: "
    return ConfigError(f"{prefix}{where} {what}")


def expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    numeric = int in kinds or float in kinds
    if not isinstance(value, kinds) or (numeric and isinstance(value, bool)):
        raise bad(where, f"must be {kind_phrase(kinds)}, got {value!r}")
    return value


def number(value: Any, where: str, *, integer: bool, low: float, high: float | None = None,
            above: bool = False) -> Any:
    """An int (``integer``) or number from ``low`` (or ``above`` it) to ``high``, else a ConfigError."""
    expect(value, int if integer else (int, float), where)
    if (value <= low if above else value < low) or (high is not None and value > high):
        kind = "an integer" if integer else "a number"
        if high is not None:
            bounds = f"above {low:g} and at most {high:g}" if above else f"from {low:g} to {high:g}"
        else:
            bounds = f"above {low:g}" if above else f"of at least {low:g}"
        raise bad(where, f"must be {kind} {bounds}, got {value!r}")
    return value


def strings(value: Any, where: str) -> list[str]:
    expect(value, list, where)
    for item in value:
        if not isinstance(item, str):
            raise bad(where, f"must be a list of strings, got {item!r} in it")
    return list(value)


def as_table(value: Any, where: str) -> dict[str, Any]:
    return dict(expect(value, dict, where))


def check_keys(table: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    """Every key of ``table`` is one of ``known``; else a ConfigError naming it and the closest key."""
    for key in table:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        if key in TOP_LEVEL_KEYS:
            hint = f"; {key} is a top-level key: put it before the first [table] header"
        elif close:
            hint = f' (did you mean "{close[0]}"?)'
        else:
            hint = f"; the keys are {', '.join(known)}"
        raise ConfigError(f'config.toml: {where} has no key "{key}"{hint}')


def check_top_level(raw: Mapping[str, Any]) -> None:
    tables = (*OWN_TABLES, *OTHER_TABLES)
    for key, value in raw.items():
        if key in TOP_LEVEL_KEYS or key in tables:
            continue
        if isinstance(value, dict) or (value and isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            # a table (or array of tables) of its own, a plugin's say: only a near miss is an error
            close = difflib.get_close_matches(key, tables, n=1, cutoff=0.75)
            if close:
                raise ConfigError(f"config.toml: there is no table [{key}] (did you mean [{close[0]}]?)")
            continue
        close = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else f"; the top-level keys are {', '.join(TOP_LEVEL_KEYS)}"
        raise ConfigError(f'config.toml: there is no top-level key "{key}"{hint}')


def http_url(value: Any, where: str) -> str:
    expect(value, str, where)
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad(where, f"must be an http:// or https:// URL, got {value!r}")
    return value.strip().rstrip("/")
