"""``load_settings``: defaults < EMBER_HOME/config.toml < EMBER_HOME/.env < environment variables.

Each table of config.toml is read here into the objects of ``settings.py``, every value checked
with ``checks.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ember.config.checks import (
    AGENT_KEYS,
    MAX_STEPS_LIMIT,
    MODEL_KEYS,
    PRICE_KEYS,
    ROUTE_KEYS,
    STORE_KEYS,
    TOOLS_KEYS,
    as_table,
    bad,
    check_keys,
    check_top_level,
    expect,
    http_url,
    number,
    strings,
)
from ember.config.dotenv import read_dotenv
from ember.config.errors import ConfigError, HomeError
from ember.config.home import ember_home, home_problem
from ember.config.settings import (
    DEFAULT_BASE_URLS,
    DEFAULT_MODELS,
    PROVIDER_ALIASES,
    PROVIDER_KEY_ENV,
    PROVIDERS,
    AgentSettings,
    Price,
    Settings,
    ToolSettings,
    well_known_key_env,
)
from ember.models.spec import MIN_REASONING_BUDGET, REASONING_LEVELS, ModelSpec, context_window_for


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


def _model_spec(name: str, table: Mapping[str, Any], lookup: Mapping[str, str], where: str,
                from_env: Mapping[str, str] | None = None) -> ModelSpec:
    """The model table at ``where``; ``from_env`` names the variables that set some of its keys."""
    expect(table, dict, where)
    check_keys(table, MODEL_KEYS, where)

    def at(key: str) -> str:
        return (from_env or {}).get(key) or f"{where}.{key}"

    provider = expect(table.get("provider", "openai"), str, at("provider"))
    alias = PROVIDER_ALIASES.get(provider)
    if alias:  # e.g. openrouter: the OpenAI-compatible provider at OpenRouter's URL
        provider, default_url, default_model = alias
    elif provider in PROVIDERS:
        default_url, default_model = DEFAULT_BASE_URLS[provider], DEFAULT_MODELS[provider]
    else:
        from ember.plugins import plugin_paths

        if provider not in plugin_paths("ember.providers"):
            names = ", ".join((*PROVIDERS, *PROVIDER_ALIASES, *plugin_paths("ember.providers")))
            raise bad(at("provider"), f"names an unknown provider {provider!r}; use one of {names}")
        if not table.get("base_url"):  # a plugin's adapter: Ember knows no default endpoint for it
            raise bad(at("base_url"), f"is needed for the plugin provider {provider!r}")
        default_url, default_model = "", ""
    api_key = table.get("api_key")
    if api_key is not None:
        expect(api_key, str, f"{where}.api_key")
    key_env = table.get("api_key_env")
    if key_env is not None:
        api_key = lookup.get(expect(key_env, str, f"{where}.api_key_env")) or None
    headers = expect(table.get("headers", {}), dict, f"{where}.headers")
    for header, value in headers.items():
        expect(value, str, f"{where}.headers.{header}")
    endpoint = expect(table.get("endpoint", "chat"), str, f"{where}.endpoint")
    if endpoint not in ("chat", "completion", "completions"):
        raise bad(f"{where}.endpoint", f"must be \"chat\" or \"completion\", got {endpoint!r}")
    model = expect(table.get("model", ""), str, at("model")) or default_model
    base_url = table.get("base_url") or default_url
    window = table.get("context_window")
    reasoning, budget = _reasoning(table, where)
    return ModelSpec(
        name=name,
        provider=provider,
        model=model,
        base_url=http_url(base_url, at("base_url")),
        api_key=api_key,
        context_window=context_window_for(model) if window is None else number(
            window, f"{where}.context_window", integer=True, low=1),
        max_output_tokens=number(table.get("max_output_tokens", 4096), f"{where}.max_output_tokens",
                                  integer=True, low=1),
        timeout=float(number(table.get("timeout", 120.0), f"{where}.timeout", integer=False, low=0, above=True)),
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
        expect(budget, int, f"{where}.reasoning_budget")
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
    table = as_table(raw.get("routes", {}), "[routes]")
    check_keys(table, ROUTE_KEYS, "[routes]")
    fallback = table.pop("fallback", [])
    fallback = strings([fallback] if isinstance(fallback, str) else fallback, "[routes].fallback")
    routes: dict[str, str] = {}
    for kind, target in table.items():
        expect(target, str, f"[routes].{kind}")
        if target not in models:
            raise ConfigError(f"config.toml: [routes].{kind} = {target!r} names no model; define [models.{target}]")
        routes[kind] = target
    for target in fallback:
        if target not in models:
            raise ConfigError(f"config.toml: [routes].fallback names {target!r}, which is not a defined model")
    return routes, fallback


def _prices(raw: Mapping[str, Any]) -> dict[str, Price]:
    prices = {}
    for model_name, table in as_table(raw.get("prices", {}), "[prices]").items():
        where = f"[prices.{model_name}]" if re.fullmatch(r"[A-Za-z0-9_-]+", model_name) else f'[prices."{model_name}"]'
        expect(table, dict, where)
        check_keys(table, PRICE_KEYS, where)
        prices[model_name] = Price(
            input=float(number(table.get("input", 0.0), f"{where}.input", integer=False, low=0)),
            output=float(number(table.get("output", 0.0), f"{where}.output", integer=False, low=0)),
        )
    return prices


def _agent(raw: Mapping[str, Any], lookup: Mapping[str, str]) -> AgentSettings:
    table = as_table(raw.get("agent", {}), "[agent]")
    check_keys(table, AGENT_KEYS, "[agent]")
    agent = AgentSettings(
        max_steps=number(table.get("max_steps", 25), "[agent].max_steps", integer=True, low=1,
                          high=MAX_STEPS_LIMIT),
        compact_at=float(number(table.get("compact_at", 0.75), "[agent].compact_at", integer=False, low=0,
                                 high=1, above=True)),
        keep_recent_turns=number(table.get("keep_recent_turns", 6), "[agent].keep_recent_turns", integer=True,
                                  low=0),
        stream=expect(table.get("stream", True), bool, "[agent].stream"),
        identity=expect(table.get("identity", ""), str, "[agent].identity"),
    )
    steps = lookup.get("EMBER_MAX_STEPS", "").strip()
    if steps:
        if not re.fullmatch(r"[+-]?\d+", steps):
            raise ConfigError(f"EMBER_MAX_STEPS must be a whole number, got {lookup['EMBER_MAX_STEPS']!r}")
        agent.max_steps = number(int(steps), "EMBER_MAX_STEPS", integer=True, low=1, high=MAX_STEPS_LIMIT)
    return agent


def _tools(raw: Mapping[str, Any]) -> ToolSettings:
    table = as_table(raw.get("tools", {}), "[tools]")
    check_keys(table, TOOLS_KEYS, "[tools]")
    return ToolSettings(
        enabled=strings(table.get("enabled", ["*"]), "[tools].enabled"),
        shell_timeout=float(number(table.get("shell_timeout", 120.0), "[tools].shell_timeout", integer=False,
                                    low=0, above=True)),
        max_output_chars=number(table.get("max_output_chars", 20_000), "[tools].max_output_chars",
                                 integer=True, low=1),
        allow_commands=_allow_patterns(strings(table.get("allow_commands", []), "[tools].allow_commands")),
        network=expect(table.get("network", True), bool, "[tools].network"),
    )


def _allow_patterns(patterns: list[str]) -> list[str]:
    """Refuse a pattern that would allow everything (``*``, ``rm *``, ``/*``): see security/patterns."""
    if not patterns:
        return patterns
    from ember.security.patterns import problem

    for pattern in patterns:
        why = problem(pattern)
        if why:
            raise ConfigError(f"config.toml: [tools].allow_commands: {pattern!r} is refused: {why}")
    return patterns


def _store(raw: Mapping[str, Any], lookup: Mapping[str, str]) -> tuple[str | None, str]:
    """Where the store is, when not ``EMBER_HOME/ember.db``: EMBER_DATABASE_URL, else ``[store] url``
    (a URL such as ``postgresql://user@host/db`` or ``sqlite:///path/ember.db``, or a file path);
    and which of the two said so."""
    table = as_table(raw.get("store", {}), "[store]")
    check_keys(table, STORE_KEYS, "[store]")
    url = expect(table.get("url", ""), str, "[store].url").strip()
    source = "[store] url in config.toml" if url else ""
    if lookup.get("EMBER_DATABASE_URL", "").strip():
        url, source = lookup["EMBER_DATABASE_URL"].strip(), "EMBER_DATABASE_URL"
    if not url:
        return None, ""
    scheme, sep, _ = url.partition("://")
    if sep and not scheme.replace("+", "").isidentifier():
        from ember.store.locations import shown_location

        raise ConfigError(f"{source}: {shown_location(url)} is not a store URL; write it as "
                          "postgresql://user:password@host/database or sqlite:///path/to/ember.db")
    if not sep:  # a path to a SQLite file
        url = os.path.abspath(Path(url).expanduser())
    return url, source


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
    check_top_level(raw)

    model_table = as_table(raw.get("model", {}), "[model]")
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
        key_var = well_known_key_env(default.base_url)
        default.api_key = (lookup.get(key_var) or None) if key_var else None

    models = {"default": default}
    for name, table in as_table(raw.get("models", {}), "[models]").items():
        if name == "default":
            raise ConfigError("config.toml: [models.default] is reserved; put the default model in [model]")
        models[name] = _model_spec(name, table, lookup, f"[models.{name}]")

    routes, fallback = _routes(raw, models)
    prices = _prices(raw)
    agent = _agent(raw, lookup)
    tools = _tools(raw)
    workspace = expect(raw.get("workspace", ""), str, "workspace")
    workspace_from = "workspace in config.toml" if workspace else ""
    if lookup.get("EMBER_WORKSPACE"):
        workspace, workspace_from = lookup["EMBER_WORKSPACE"], "EMBER_WORKSPACE"
    cwd = _current_dir() if default_workspace == "cwd" and not workspace else None
    retries = number(raw.get("retries", 2), "retries", integer=True, low=0, high=100)
    store_url, store_from = _store(raw, lookup)
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
        store_url=store_url,
        store_from=store_from,
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
