"""Settings: defaults < EMBER_HOME/config.toml < EMBER_HOME/.env < environment variables.

Secrets live in ``.env`` (mode 0600) or the environment and are referenced from config.toml by
name (``api_key_env = "OPENROUTER_API_KEY"``), so config.toml can be shared without leaking them.
A broken file raises ``ConfigError`` naming the file and line, never a traceback; so does a value
of the wrong type or a misspelt key in a table this module reads (with the closest key suggested).
"""

from __future__ import annotations

import codecs
import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ember.models.spec import (  # noqa: F401 (re-exported: models own them)
    HOSTED_KEY_HOSTS,
    MIN_REASONING_BUDGET,
    REASONING_BUDGETS,
    REASONING_LEVELS,
    ModelSpec,
    context_window_for,
    missing_key_message,
)

PROVIDERS = ("openai", "anthropic", "hermes")

# Provider names that stand for one of PROVIDERS at a known endpoint: (provider, base_url, model).
PROVIDER_ALIASES = {"openrouter": ("openai", "https://openrouter.ai/api/v1", "openai/gpt-4o-mini")}

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "hermes": "http://127.0.0.1:8080/v1",
}

DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "hermes": "hermes"}

# Names of the well-known key variables of each provider (kept among the secrets to redact).
PROVIDER_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "hermes": ""}

# The one host each well-known key may be sent to. Without EMBER_API_KEY, and with no key named in
# [model], the default model uses the key of its endpoint's host: a local server or a third-party
# API never receives the user's OpenAI or Anthropic key (name one with api_key_env for those).
KEY_ENV_HOSTS = {"api.openai.com": "OPENAI_API_KEY", "api.anthropic.com": "ANTHROPIC_API_KEY"}

TASK_KINDS = ("chat", "learning", "tools")

class ConfigError(Exception):
    """The configuration cannot be used; the message says where and what to do."""


class HomeError(ConfigError):
    """EMBER_HOME cannot be used (a file, unreadable, read-only); the message says what to do."""


@dataclass
class Price:
    """US dollars per million tokens."""

    input: float = 0.0
    output: float = 0.0


@dataclass
class AgentSettings:
    max_steps: int = 25
    compact_at: float = 0.75  # share of the context window that triggers compaction
    keep_recent_turns: int = 6
    stream: bool = True
    identity: str = ""


@dataclass
class ToolSettings:
    enabled: list[str] = field(default_factory=lambda: ["*"])
    shell_timeout: float = 120.0
    max_output_chars: int = 20_000
    allow_commands: list[str] = field(default_factory=list)
    network: bool = True  # whether sandboxed commands (shell, process_start) reach the network


@dataclass
class Settings:
    home: Path
    models: dict[str, ModelSpec]
    routes: dict[str, str] = field(default_factory=dict)
    fallback: list[str] = field(default_factory=list)
    prices: dict[str, Price] = field(default_factory=dict)
    agent: AgentSettings = field(default_factory=AgentSettings)
    tools: ToolSettings = field(default_factory=ToolSettings)
    workspace: Path | None = None  # set by `workspace` in config.toml or EMBER_WORKSPACE
    workspace_from: str = ""  # which of the two set it, for messages
    default_workspace: Path | None = None  # the door's default when none is set (see load_settings)
    retries: int = 2
    raw: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def default_model(self) -> ModelSpec:
        return self.models["default"]

    @property
    def db_path(self) -> Path:
        return self.home / "ember.db"

    @property
    def workspace_dir(self) -> Path:
        """Where the tools work: the configured workspace, else the door's default, else
        ``EMBER_HOME/workspace``."""
        return self.workspace or self.default_workspace or (self.home / "workspace")

    def model_for(self, kind: str) -> ModelSpec:
        """The model a task kind is routed to (``chat``, ``learning``, ``tools``), else the default."""
        name = self.routes.get(kind, "default")
        return self.models.get(name, self.default_model)

    def cost_of(self, model: str, usage: Any) -> float:
        """US dollars for ``usage`` on ``model`` from the ``[prices]`` table (0 when unpriced)."""
        price = self.prices.get(model)
        if price is None:
            return 0.0
        return (usage.input_tokens * price.input + usage.output_tokens * price.output) / 1_000_000

    def secret_values(self) -> list[str]:
        """Every secret value known, so logs and prompts can redact them."""
        values = [v for v in self.secrets.values() if v and len(v) >= 6]
        values += [m.api_key for m in self.models.values() if m.api_key and len(m.api_key) >= 6]
        return sorted(set(values), key=len, reverse=True)


def ember_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("EMBER_HOME") or Path.home() / ".ember").expanduser()


def home_issue(home: Path, *, write: bool = False) -> tuple[str, str] | None:
    """Why Ember cannot use ``home`` (read it; with ``write``, also write in it) and what to do,
    or None.

    A home that does not exist yet is fine: it is created on first use. Reading needs a folder
    this user may list and enter; writing (the database and its WAL files, the chat history)
    needs it writable, and SQLite cannot open ember.db without that.
    """
    where = f"the Ember home {home} (EMBER_HOME)"
    elsewhere = "or set EMBER_HOME to another folder"
    try:
        is_dir = home.is_dir()
        exists = is_dir or home.exists()
    except OSError as exc:  # a parent that cannot be entered
        return (f"cannot use {where}: {exc.strerror or exc}",
                f"fix the permissions of its parent folders, {elsewhere}")
    if not exists:
        return None
    if not is_dir:
        return f"{where} is a file, not a folder", f"move that file away, {elsewhere}"
    if not os.access(home, os.R_OK | os.X_OK):
        return f"{where} cannot be read by this user", f"`chmod u+rwx {home}`, {elsewhere}"
    if write and not os.access(home, os.W_OK):
        return (f"{where} is read-only, and Ember keeps its database there",
                f"make it writable (`chmod u+w {home}`), {elsewhere}")
    return None


def home_problem(home: Path, *, write: bool = False) -> str | None:
    """``home_issue`` as one line: what is wrong; what to do."""
    issue = home_issue(home, write=write)
    return f"{issue[0]}; {issue[1]}" if issue else None


# --- .env -----------------------------------------------------------------------------------------
# The python-dotenv syntax: ``NAME=value``, ``export NAME=value``, '#' comment lines, a value in
# single or double quotes (which may span lines and keeps a '#' inside the quotes) followed by an
# optional comment, and an unquoted value whose comment starts at whitespace then '#'.

_DOTENV_NAME = re.compile(r"[^\S\r\n]*(?:export[^\S\r\n]+)?([A-Za-z_][A-Za-z0-9_]*)[^\S\r\n]*=")
_DOTENV_QUOTED = {"'": re.compile(r"'((?:\\'|[^'])*)'"), '"': re.compile(r'"((?:\\"|[^"])*)"')}
_DOTENV_ESCAPES = {"'": re.compile(r"\\[\\']"), '"': re.compile(r"\\[\\'\"abfnrtv]")}
_DOTENV_AFTER_QUOTE = re.compile(r"[^\S\r\n]*(?:#[^\r\n]*)?")
_DOTENV_REST_OF_LINE = re.compile(r"[^\r\n]*")
_DOTENV_LINE_END = re.compile(r"\r\n|\r|\n")


def _span(pattern: re.Pattern[str], text: str, pos: int) -> str:
    """What ``pattern`` (which matches the empty string too) matches at ``pos``."""
    match = pattern.match(text, pos)
    return match.group() if match else ""


def parse_dotenv(text: str, source: str = ".env") -> dict[str, str]:
    values: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        lineno = text.count("\n", 0, pos) + 1
        line = _span(_DOTENV_REST_OF_LINE, text, pos)
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            match = _DOTENV_NAME.match(text, pos)
            if not match:
                raise ConfigError(f"{source}, line {lineno}: expected NAME=value, got {stripped[:40]!r}")
            name, pos = match.group(1), match.end()
            rest = _span(_DOTENV_REST_OF_LINE, text, pos)
            quote = rest.lstrip()[:1]
            if quote in _DOTENV_QUOTED:
                pos += len(rest) - len(rest.lstrip())
                quoted = _DOTENV_QUOTED[quote].match(text, pos)
                if not quoted:
                    raise ConfigError(f"{source}, line {lineno}: the value of {name} has no closing {quote}")
                value = _DOTENV_ESCAPES[quote].sub(lambda m: codecs.decode(m.group(), "unicode-escape"), quoted[1])
                pos = quoted.end() + len(_span(_DOTENV_AFTER_QUOTE, text, quoted.end()))
                if pos < len(text) and text[pos] not in "\r\n":
                    raise ConfigError(  # the text itself is not shown: it may be part of a secret
                        f"{source}, line {lineno}: unexpected text after the closing {quote} of {name}'s value; "
                        "a comment there needs a space and '#'"
                    )
            else:
                value = re.sub(r"\s+#.*", "", rest).strip()  # "a#b" keeps its '#', "a # b" is "a"
                pos += len(rest)
            values[name] = value
        else:
            pos += len(line)
        pos += len(_span(_DOTENV_LINE_END, text, pos))
    return values


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return parse_dotenv(text, str(path))


# --- config.toml ----------------------------------------------------------------------------------

# The keys of each table this module reads. Every key is checked: a misspelt one is an error that
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
OWN_TABLES = ("model", "models", "routes", "prices", "agent", "tools")
# Tables other modules read (and check) when they are used; see docs/configuration.md. A table
# that is in neither list is left alone (a plugin's, say) unless its name is a near miss of one.
OTHER_TABLES = (
    "ssh", "sandbox", "web", "http", "browser", "vision", "speech", "images", "delegate", "mcp", "memory",
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


def read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    import tomllib

    try:
        data = path.read_bytes()
        return tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already says "(at line N, column M)"; add the file and a next step.
        raise ConfigError(f"{path}: {exc}. Fix that line, or run `ember setup` to write a new config.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def _bad(where: str, what: str) -> ConfigError:
    """``config.toml: [table].key must be ...``; ``where`` may name an environment variable instead."""
    prefix = "" if where.startswith("EMBER_") else "config.toml: "
    return ConfigError(f"{prefix}{where} {what}")


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    numeric = int in kinds or float in kinds
    if not isinstance(value, kinds) or (numeric and isinstance(value, bool)):
        raise _bad(where, f"must be {kind_phrase(kinds)}, got {value!r}")
    return value


def _number(value: Any, where: str, *, integer: bool, low: float, high: float | None = None,
            above: bool = False) -> Any:
    """An int (``integer``) or number from ``low`` (or ``above`` it) to ``high``, else a ConfigError."""
    _expect(value, int if integer else (int, float), where)
    if (value <= low if above else value < low) or (high is not None and value > high):
        kind = "an integer" if integer else "a number"
        if high is not None:
            bounds = f"above {low:g} and at most {high:g}" if above else f"from {low:g} to {high:g}"
        else:
            bounds = f"above {low:g}" if above else f"of at least {low:g}"
        raise _bad(where, f"must be {kind} {bounds}, got {value!r}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    _expect(value, list, where)
    for item in value:
        if not isinstance(item, str):
            raise _bad(where, f"must be a list of strings, got {item!r} in it")
    return list(value)


def _table(value: Any, where: str) -> dict[str, Any]:
    return dict(_expect(value, dict, where))


def _check_keys(table: Mapping[str, Any], known: Sequence[str], where: str) -> None:
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


def _check_top_level(raw: Mapping[str, Any]) -> None:
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


def _url(value: Any, where: str) -> str:
    _expect(value, str, where)
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _bad(where, f"must be an http:// or https:// URL, got {value!r}")
    return value.strip().rstrip("/")


def well_known_key_env(base_url: str) -> str | None:
    """The well-known key variable whose key may be sent to ``base_url`` (see ``KEY_ENV_HOSTS``)."""
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or port not in (None, 443):
        return None
    return KEY_ENV_HOSTS.get((parts.hostname or "").lower())


def _model_spec(name: str, table: Mapping[str, Any], lookup: Mapping[str, str], where: str,
                from_env: Mapping[str, str] | None = None) -> ModelSpec:
    """The model table at ``where``; ``from_env`` names the variables that set some of its keys."""
    _expect(table, dict, where)
    _check_keys(table, MODEL_KEYS, where)

    def at(key: str) -> str:
        return (from_env or {}).get(key) or f"{where}.{key}"

    provider = _expect(table.get("provider", "openai"), str, at("provider"))
    alias = PROVIDER_ALIASES.get(provider)
    if alias:  # e.g. openrouter: the OpenAI-compatible provider at OpenRouter's URL
        provider, default_url, default_model = alias
    elif provider in PROVIDERS:
        default_url, default_model = DEFAULT_BASE_URLS[provider], DEFAULT_MODELS[provider]
    else:
        names = ", ".join((*PROVIDERS, *PROVIDER_ALIASES))
        raise _bad(at("provider"), f"names an unknown provider {provider!r}; use one of {names}")
    api_key = table.get("api_key")
    if api_key is not None:
        _expect(api_key, str, f"{where}.api_key")
    key_env = table.get("api_key_env")
    if key_env is not None:
        api_key = lookup.get(_expect(key_env, str, f"{where}.api_key_env")) or None
    headers = _expect(table.get("headers", {}), dict, f"{where}.headers")
    for header, value in headers.items():
        _expect(value, str, f"{where}.headers.{header}")
    endpoint = _expect(table.get("endpoint", "chat"), str, f"{where}.endpoint")
    if endpoint not in ("chat", "completion", "completions"):
        raise _bad(f"{where}.endpoint", f"must be \"chat\" or \"completion\", got {endpoint!r}")
    model = _expect(table.get("model", ""), str, at("model")) or default_model
    base_url = table.get("base_url") or default_url
    window = table.get("context_window")
    reasoning, budget = _reasoning(table, where)
    return ModelSpec(
        name=name,
        provider=provider,
        model=model,
        base_url=_url(base_url, at("base_url")),
        api_key=api_key,
        context_window=context_window_for(model) if window is None else _number(
            window, f"{where}.context_window", integer=True, low=1),
        max_output_tokens=_number(table.get("max_output_tokens", 4096), f"{where}.max_output_tokens",
                                  integer=True, low=1),
        timeout=float(_number(table.get("timeout", 120.0), f"{where}.timeout", integer=False, low=0, above=True)),
        hermes_endpoint=endpoint,
        extra_headers=dict(headers),
        reasoning=reasoning,
        reasoning_budget=budget,
    )


def _reasoning(table: Mapping[str, Any], where: str) -> tuple[str, int | None]:
    """``reasoning`` and ``reasoning_budget`` of a model table, checked."""
    level = table.get("reasoning", "off")
    if level is False:
        level = "off"
    if not isinstance(level, str) or level.strip().lower() not in REASONING_LEVELS:
        choices = ", ".join(f'"{name}"' for name in REASONING_LEVELS)
        raise ConfigError(f"config.toml: {where}.reasoning must be one of {choices}, got {level!r}")
    level = level.strip().lower()
    budget = table.get("reasoning_budget")
    if budget is not None:
        _expect(budget, int, f"{where}.reasoning_budget")
        if budget < MIN_REASONING_BUDGET:
            raise ConfigError(
                f"config.toml: {where}.reasoning_budget must be at least {MIN_REASONING_BUDGET} tokens "
                f"(the Anthropic API's minimum), got {budget}"
            )
        if level == "off":
            raise ConfigError(
                f"config.toml: {where}.reasoning_budget is set but reasoning is off; "
                'set reasoning = "low", "medium" or "high" too, or remove reasoning_budget'
            )
    return level, budget


def _routes(raw: Mapping[str, Any], models: Mapping[str, ModelSpec]) -> tuple[dict[str, str], list[str]]:
    table = _table(raw.get("routes", {}), "[routes]")
    _check_keys(table, ROUTE_KEYS, "[routes]")
    fallback = table.pop("fallback", [])
    fallback = _strings([fallback] if isinstance(fallback, str) else fallback, "[routes].fallback")
    routes: dict[str, str] = {}
    for kind, target in table.items():
        _expect(target, str, f"[routes].{kind}")
        if target not in models:
            raise ConfigError(f"config.toml: [routes].{kind} = {target!r} names no model; define [models.{target}]")
        routes[kind] = target
    for target in fallback:
        if target not in models:
            raise ConfigError(f"config.toml: [routes].fallback names {target!r}, which is not a defined model")
    return routes, fallback


def _prices(raw: Mapping[str, Any]) -> dict[str, Price]:
    prices = {}
    for model_name, table in _table(raw.get("prices", {}), "[prices]").items():
        where = f"[prices.{model_name}]" if re.fullmatch(r"[A-Za-z0-9_-]+", model_name) else f'[prices."{model_name}"]'
        _expect(table, dict, where)
        _check_keys(table, PRICE_KEYS, where)
        prices[model_name] = Price(
            input=float(_number(table.get("input", 0.0), f"{where}.input", integer=False, low=0)),
            output=float(_number(table.get("output", 0.0), f"{where}.output", integer=False, low=0)),
        )
    return prices


def _agent(raw: Mapping[str, Any], lookup: Mapping[str, str]) -> AgentSettings:
    table = _table(raw.get("agent", {}), "[agent]")
    _check_keys(table, AGENT_KEYS, "[agent]")
    agent = AgentSettings(
        max_steps=_number(table.get("max_steps", 25), "[agent].max_steps", integer=True, low=1,
                          high=MAX_STEPS_LIMIT),
        compact_at=float(_number(table.get("compact_at", 0.75), "[agent].compact_at", integer=False, low=0,
                                 high=1, above=True)),
        keep_recent_turns=_number(table.get("keep_recent_turns", 6), "[agent].keep_recent_turns", integer=True,
                                  low=0),
        stream=_expect(table.get("stream", True), bool, "[agent].stream"),
        identity=_expect(table.get("identity", ""), str, "[agent].identity"),
    )
    steps = lookup.get("EMBER_MAX_STEPS", "").strip()
    if steps:
        if not re.fullmatch(r"[+-]?\d+", steps):
            raise ConfigError(f"EMBER_MAX_STEPS must be a whole number, got {lookup['EMBER_MAX_STEPS']!r}")
        agent.max_steps = _number(int(steps), "EMBER_MAX_STEPS", integer=True, low=1, high=MAX_STEPS_LIMIT)
    return agent


def _tools(raw: Mapping[str, Any]) -> ToolSettings:
    table = _table(raw.get("tools", {}), "[tools]")
    _check_keys(table, TOOLS_KEYS, "[tools]")
    return ToolSettings(
        enabled=_strings(table.get("enabled", ["*"]), "[tools].enabled"),
        shell_timeout=float(_number(table.get("shell_timeout", 120.0), "[tools].shell_timeout", integer=False,
                                    low=0, above=True)),
        max_output_chars=_number(table.get("max_output_chars", 20_000), "[tools].max_output_chars",
                                 integer=True, low=1),
        allow_commands=_allow_patterns(_strings(table.get("allow_commands", []), "[tools].allow_commands")),
        network=_expect(table.get("network", True), bool, "[tools].network"),
    )


def _allow_patterns(patterns: list[str]) -> list[str]:
    """Refuse a pattern that would allow everything (``*``, ``rm *``, ``/*``): see security/patterns."""
    from ember.security.patterns import problem

    for pattern in patterns:
        why = problem(pattern)
        if why:
            raise ConfigError(f"config.toml: [tools].allow_commands: {pattern!r} is refused: {why}")
    return patterns


def load_settings(home: Path | None = None, env: Mapping[str, str] | None = None, *,
                  default_workspace: str = "home") -> Settings:
    """Load the effective settings. Raises ``ConfigError`` with a clear message on bad input.

    ``default_workspace`` is where the tools work when neither ``workspace`` in config.toml nor
    EMBER_WORKSPACE says: ``"home"`` (``EMBER_HOME/workspace``, for long-running doors: the
    gateway, cron, ``ember mcp serve``) or ``"cwd"`` (the current directory, for the terminal
    doors ``ember`` and ``ember run``, which work where they are started like other CLI agents).
    """
    if default_workspace not in ("home", "cwd"):
        raise ValueError(f"default_workspace must be 'home' or 'cwd', not {default_workspace!r}")
    env = dict(os.environ if env is None else env)
    home = home or ember_home(env)
    problem = home_problem(home)
    if problem:
        raise HomeError(problem)
    dotenv = read_dotenv(home / ".env")
    lookup = {**dotenv, **env}  # the environment wins over .env
    raw = read_toml(home / "config.toml")
    _check_top_level(raw)

    model_table = _table(raw.get("model", {}), "[model]")
    # Environment variables override the [model] table.
    from_env = {}
    for key, var in (("provider", "EMBER_PROVIDER"), ("base_url", "EMBER_BASE_URL"), ("model", "EMBER_MODEL")):
        if lookup.get(var):
            model_table[key] = lookup[var]
            from_env[key] = var
    default = _model_spec("default", model_table, lookup, "[model]", from_env)
    if lookup.get("EMBER_API_KEY"):  # wins over the table's api_key and api_key_env
        default.api_key = lookup["EMBER_API_KEY"]
    elif "api_key" not in model_table and "api_key_env" not in model_table:
        # A well-known key goes only to its own host, never to a local server or a third party.
        var = well_known_key_env(default.base_url)
        default.api_key = (lookup.get(var) or None) if var else None

    models = {"default": default}
    for name, table in _table(raw.get("models", {}), "[models]").items():
        if name == "default":
            raise ConfigError("config.toml: [models.default] is reserved; put the default model in [model]")
        models[name] = _model_spec(name, table, lookup, f"[models.{name}]")

    routes, fallback = _routes(raw, models)
    prices = _prices(raw)
    agent = _agent(raw, lookup)
    tools = _tools(raw)
    workspace = _expect(raw.get("workspace", ""), str, "workspace")
    workspace_from = "workspace in config.toml" if workspace else ""
    if lookup.get("EMBER_WORKSPACE"):
        workspace, workspace_from = lookup["EMBER_WORKSPACE"], "EMBER_WORKSPACE"
    cwd = _current_dir() if default_workspace == "cwd" and not workspace else None
    retries = _number(raw.get("retries", 2), "retries", integer=True, low=0, high=100)
    secrets = {k: v for k, v in dotenv.items()}
    for var in ("EMBER_API_KEY", *filter(None, PROVIDER_KEY_ENV.values())):
        if lookup.get(var):
            secrets[var] = lookup[var]
    return Settings(
        home=home,
        models=models,
        routes=routes,
        fallback=fallback,
        prices=prices,
        agent=agent,
        tools=tools,
        workspace=Path(os.path.abspath(Path(workspace).expanduser())) if workspace else None,
        workspace_from=workspace_from,
        default_workspace=cwd,
        retries=retries,
        raw=raw,
        secrets=secrets,
    )


def _current_dir() -> Path:
    try:
        return Path.cwd()
    except OSError as exc:  # the folder was deleted (or made unreadable) under the shell
        raise ConfigError(
            f"the current directory cannot be used as the workspace ({exc.strerror or exc}); "
            "cd into a folder, or set EMBER_WORKSPACE"
        ) from None


def mask(secret: str | None) -> str:
    if not secret:
        return "(not set)"
    if len(secret) <= 8:
        return "****"
    return f"{secret[:3]}…{secret[-2:]}"


def effective_config(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret masked (for ``ember config show``)."""
    models = {}
    for name, spec in settings.models.items():
        models[name] = {
            "provider": spec.provider,
            "model": spec.model,
            "base_url": spec.base_url,
            "api_key": mask(spec.api_key),
            "context_window": spec.context_window,
            "max_output_tokens": spec.max_output_tokens,
            "timeout": spec.timeout,
            "reasoning": spec.reasoning,
        }
        if spec.reasoning_budget is not None:
            models[name]["reasoning_budget"] = spec.reasoning_budget
    return {
        "home": str(settings.home),
        "workspace": str(settings.workspace_dir),
        "models": models,
        "routes": dict(settings.routes),
        "fallback": list(settings.fallback),
        "prices": {k: {"input": p.input, "output": p.output} for k, p in settings.prices.items()},
        "agent": vars(settings.agent),
        "tools": vars(settings.tools),
        "retries": settings.retries,
        "secrets": {k: mask(v) for k, v in sorted(settings.secrets.items())},
    }
