"""The settings objects, and the provider defaults they start from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ember.models.spec import ModelSpec

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
    store_url: str | None = None  # EMBER_DATABASE_URL or [store] url; None: EMBER_HOME/ember.db
    store_from: str = ""  # which of the two set it, for messages
    raw: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def default_model(self) -> ModelSpec:
        return self.models["default"]

    @property
    def db_path(self) -> Path:
        """The default store: the SQLite file ``EMBER_HOME/ember.db``."""
        return self.home / "ember.db"

    @property
    def store_location(self) -> str:
        """Where the store is, as ``store.backends.open_backend`` takes it: the configured URL, else
        the path of ``EMBER_HOME/ember.db``. It may hold a password: show ``store_shown``."""
        return self.store_url or str(self.db_path)

    @property
    def store_shown(self) -> str:
        """``store_location`` as messages and ``ember doctor`` show it: any password masked."""
        from ember.store.locations import shown_location

        return shown_location(self.store_location)

    @property
    def store_file(self) -> Path | None:
        """The SQLite file of the store, or None when the store is a server (PostgreSQL)."""
        from ember.store.locations import split_location

        scheme, rest = split_location(self.store_location)
        return Path(rest) if scheme == "sqlite" else None

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
        if self.store_url:  # the store's password
            from ember.store.locations import location_secrets

            values += [v for v in location_secrets(self.store_url) if len(v) >= 6]
        return sorted(set(values), key=len, reverse=True)


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
