"""Settings: defaults < EMBER_HOME/config.toml < EMBER_HOME/.env < environment variables.

Secrets live in ``.env`` (mode 0600) or the environment and are referenced from config.toml by
name (``api_key_env = "OPENROUTER_API_KEY"``), so config.toml can be shared without leaking them.
A broken file raises ``ConfigError`` naming the file and line, never a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROVIDERS = ("openai", "anthropic", "hermes")

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "hermes": "http://127.0.0.1:8080/v1",
}

DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "hermes": "hermes"}

# Names of the well-known key variables each provider falls back to when EMBER_API_KEY is unset.
PROVIDER_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "hermes": ""}

TASK_KINDS = ("chat", "learning", "tools")

# ``reasoning`` levels of a model table, least to most. Anthropic: adaptive thinking at that
# effort on current models, else extended thinking with ``REASONING_BUDGETS`` tokens to think
# (``reasoning_budget`` asks for a fixed budget on any model); OpenAI-compatible:
# ``reasoning_effort``; hermes: ignored (a local model thinks, or not, by its chat template).
REASONING_LEVELS = ("off", "low", "medium", "high")
REASONING_BUDGETS = {"low": 2048, "medium": 8192, "high": 16384}
MIN_REASONING_BUDGET = 1024  # the Anthropic API's floor for ``budget_tokens``

# Hosted endpoints that always need a key; local servers (Ollama, llama.cpp, vLLM...) usually do not.
HOSTED_KEY_HOSTS = (
    "api.openai.com", "openrouter.ai", "api.anthropic.com", "api.groq.com", "api.together.xyz",
    "api.deepseek.com", "api.mistral.ai", "api.fireworks.ai", "generativelanguage.googleapis.com",
)


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and what to do."""


@dataclass
class ModelSpec:
    """One named model endpoint (``default``, ``cheap``, ``strong``...)."""

    name: str
    provider: str
    model: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    context_window: int = 32_000
    max_output_tokens: int = 4096
    timeout: float = 120.0
    # "chat" (Chat Completions) or "completion" (raw /completions with a Hermes/ChatML prompt).
    hermes_endpoint: str = "chat"
    extra_headers: dict[str, str] = field(default_factory=dict)
    # One of REASONING_LEVELS; what each adapter makes of it is described above REASONING_LEVELS.
    reasoning: str = "off"
    # Anthropic only: thinking tokens instead of the level's REASONING_BUDGETS entry.
    reasoning_budget: int | None = None


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


@dataclass
class Settings:
    home: Path
    models: dict[str, ModelSpec]
    routes: dict[str, str] = field(default_factory=dict)
    fallback: list[str] = field(default_factory=list)
    prices: dict[str, Price] = field(default_factory=dict)
    agent: AgentSettings = field(default_factory=AgentSettings)
    tools: ToolSettings = field(default_factory=ToolSettings)
    workspace: Path | None = None
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
        return self.workspace or (self.home / "workspace")

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


def missing_key_message(spec: ModelSpec) -> str | None:
    """Why ``spec`` cannot work without an API key, or None when it has one or needs none."""
    if spec.api_key:
        return None
    if spec.provider == "anthropic" or any(host in spec.base_url for host in HOSTED_KEY_HOSTS):
        where = "EMBER_API_KEY" if spec.name == "default" else f"the variable named by [models.{spec.name}].api_key_env"
        return (
            f"no API key for model {spec.name!r} ({spec.provider} at {spec.base_url}); "
            f"set {where} in EMBER_HOME/.env or the environment, or run `ember setup`"
        )
    return None


def ember_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("EMBER_HOME") or Path.home() / ".ember").expanduser()


# --- .env -----------------------------------------------------------------------------------------

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_dotenv(text: str, source: str = ".env") -> dict[str, str]:
    values: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if not match:
            raise ConfigError(f"{source}, line {lineno}: expected NAME=value, got {stripped[:40]!r}")
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
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


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"config.toml: {where} must be a {names}, got {value!r}")
    return value


def _model_spec(name: str, table: Mapping[str, Any], lookup: Mapping[str, str], where: str) -> ModelSpec:
    _expect(table, dict, where)
    provider = str(table.get("provider", "openai"))
    if provider not in PROVIDERS:
        raise ConfigError(
            f"{where}: unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}"
        )
    api_key = table.get("api_key")
    key_env = table.get("api_key_env")
    if key_env is not None:
        api_key = lookup.get(_expect(key_env, str, f"{where}.api_key_env")) or None
    headers = table.get("headers", {})
    _expect(headers, dict, f"{where}.headers")
    endpoint = str(table.get("endpoint", "chat"))
    if endpoint not in ("chat", "completion", "completions"):
        raise ConfigError(f"config.toml: {where}.endpoint must be \"chat\" or \"completion\", got {endpoint!r}")
    reasoning, budget = _reasoning(table, where)
    return ModelSpec(
        name=name,
        provider=provider,
        model=str(table.get("model") or DEFAULT_MODELS[provider]),
        base_url=str(table.get("base_url") or DEFAULT_BASE_URLS[provider]).rstrip("/"),
        api_key=api_key,
        context_window=int(_expect(table.get("context_window") or _known_window(table, provider), int,
                                   f"{where}.context_window")),
        max_output_tokens=int(_expect(table.get("max_output_tokens", 4096), int, f"{where}.max_output_tokens")),
        timeout=float(_expect(table.get("timeout", 120.0), (int, float), f"{where}.timeout")),
        hermes_endpoint=endpoint,
        extra_headers={str(k): str(v) for k, v in headers.items()},
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


def _known_window(table: Mapping[str, Any], provider: str) -> int:
    from ember.models.catalog import context_window_for  # imported late: catalog imports this module

    return context_window_for(str(table.get("model") or DEFAULT_MODELS[provider]))


def load_settings(home: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load the effective settings. Raises ``ConfigError`` with a clear message on bad input."""
    env = dict(os.environ if env is None else env)
    home = home or ember_home(env)
    dotenv = read_dotenv(home / ".env")
    lookup = {**dotenv, **env}  # the environment wins over .env
    raw = read_toml(home / "config.toml")

    model_table = dict(_expect(raw.get("model", {}), dict, "[model]"))
    # Environment variables override the [model] table.
    for key, var in (("provider", "EMBER_PROVIDER"), ("base_url", "EMBER_BASE_URL"), ("model", "EMBER_MODEL")):
        if lookup.get(var):
            model_table[key] = lookup[var]
    provider = str(model_table.get("provider", "openai"))
    if "api_key" not in model_table and "api_key_env" not in model_table:
        key = lookup.get("EMBER_API_KEY") or lookup.get(PROVIDER_KEY_ENV.get(provider, "") or "\0")
        if key:
            model_table["api_key"] = key
    elif lookup.get("EMBER_API_KEY"):
        model_table.pop("api_key_env", None)
        model_table["api_key"] = lookup["EMBER_API_KEY"]

    models = {"default": _model_spec("default", model_table, lookup, "[model]")}
    for name, table in _expect(raw.get("models", {}), dict, "[models]").items():
        if name == "default":
            raise ConfigError("config.toml: [models.default] is reserved; put the default model in [model]")
        models[name] = _model_spec(name, table, lookup, f"[models.{name}]")

    routes_table = dict(_expect(raw.get("routes", {}), dict, "[routes]"))
    fallback = routes_table.pop("fallback", [])
    if isinstance(fallback, str):
        fallback = [fallback]
    _expect(fallback, list, "[routes].fallback")
    routes: dict[str, str] = {}
    for kind, target in routes_table.items():
        _expect(target, str, f"[routes].{kind}")
        if target not in models:
            raise ConfigError(f"config.toml: [routes].{kind} = {target!r} names no model; define [models.{target}]")
        routes[kind] = target
    for target in fallback:
        if target not in models:
            raise ConfigError(f"config.toml: [routes].fallback names {target!r}, which is not a defined model")

    prices = {}
    for model_name, table in _expect(raw.get("prices", {}), dict, "[prices]").items():
        _expect(table, dict, f"[prices.{model_name}]")
        prices[model_name] = Price(
            input=float(_expect(table.get("input", 0.0), (int, float), f"[prices.{model_name}].input")),
            output=float(_expect(table.get("output", 0.0), (int, float), f"[prices.{model_name}].output")),
        )

    agent_table = _expect(raw.get("agent", {}), dict, "[agent]")
    agent = AgentSettings(
        max_steps=int(_expect(agent_table.get("max_steps", 25), int, "[agent].max_steps")),
        compact_at=float(_expect(agent_table.get("compact_at", 0.75), (int, float), "[agent].compact_at")),
        keep_recent_turns=int(_expect(agent_table.get("keep_recent_turns", 6), int, "[agent].keep_recent_turns")),
        stream=bool(agent_table.get("stream", True)),
        identity=str(agent_table.get("identity", "")),
    )
    if lookup.get("EMBER_MAX_STEPS"):
        try:
            agent.max_steps = int(lookup["EMBER_MAX_STEPS"])
        except ValueError as exc:
            raise ConfigError(f"EMBER_MAX_STEPS must be a whole number, got {lookup['EMBER_MAX_STEPS']!r}") from exc

    tools_table = _expect(raw.get("tools", {}), dict, "[tools]")
    tools = ToolSettings(
        enabled=list(_expect(tools_table.get("enabled", ["*"]), list, "[tools].enabled")),
        shell_timeout=float(_expect(tools_table.get("shell_timeout", 120.0), (int, float), "[tools].shell_timeout")),
        max_output_chars=int(_expect(tools_table.get("max_output_chars", 20_000), int, "[tools].max_output_chars")),
        allow_commands=list(_expect(tools_table.get("allow_commands", []), list, "[tools].allow_commands")),
    )
    workspace = lookup.get("EMBER_WORKSPACE") or raw.get("workspace")
    retries = int(_expect(raw.get("retries", 2), int, "retries"))
    secrets = {k: v for k, v in dotenv.items()}
    for var in ("EMBER_API_KEY", *filter(None, PROVIDER_KEY_ENV.values())):
        if lookup.get(var):
            secrets[var] = lookup[var]
    return Settings(
        home=home,
        models=models,
        routes=routes,
        fallback=list(fallback),
        prices=prices,
        agent=agent,
        tools=tools,
        workspace=Path(workspace).expanduser() if workspace else None,
        retries=retries,
        raw=raw,
        secrets=secrets,
    )


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
