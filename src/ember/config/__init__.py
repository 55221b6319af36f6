"""Settings: defaults < EMBER_HOME/config.toml < EMBER_HOME/.env < environment variables.

Secrets live in ``.env`` (mode 0600) or the environment and are referenced from config.toml by
name (``api_key_env = "OPENROUTER_API_KEY"``), so config.toml can be shared without leaking them.
A broken file raises ``ConfigError`` naming the file and line, never a traceback; so does a value
of the wrong type or a misspelt key in a table Ember reads (with the closest key suggested).

One job per module: ``home.py`` (EMBER_HOME and whether it can be used), ``dotenv.py`` (.env),
``checks.py`` (the known keys and the value checks), ``settings.py`` (the settings objects and
provider defaults), ``load.py`` (``load_settings``), ``show.py`` (``ember config show``).
``ModelSpec`` belongs to the models (``ember.models.spec``) and is re-exported here.
"""

from __future__ import annotations

from ember.config.checks import (
    AGENT_KEYS,
    MAX_STEPS_LIMIT,
    MODEL_KEYS,
    OTHER_TABLES,
    OWN_TABLES,
    PRICE_KEYS,
    ROUTE_KEYS,
    TOOLS_KEYS,
    TOP_LEVEL_KEYS,
    kind_phrase,
)
from ember.config.dotenv import parse_dotenv, read_dotenv
from ember.config.errors import ConfigError, HomeError
from ember.config.home import ember_home, home_issue, home_problem
from ember.config.load import load_settings, read_toml
from ember.config.settings import (
    DEFAULT_BASE_URLS,
    DEFAULT_MODELS,
    KEY_ENV_HOSTS,
    PROVIDER_ALIASES,
    PROVIDER_KEY_ENV,
    PROVIDERS,
    TASK_KINDS,
    AgentSettings,
    Price,
    Settings,
    ToolSettings,
    well_known_key_env,
)
from ember.config.show import effective_config, mask
from ember.models.spec import (
    HOSTED_KEY_HOSTS,
    MIN_REASONING_BUDGET,
    REASONING_BUDGETS,
    REASONING_LEVELS,
    ModelSpec,
    missing_key_message,
)

__all__ = [
    "AGENT_KEYS", "DEFAULT_BASE_URLS", "DEFAULT_MODELS", "HOSTED_KEY_HOSTS", "KEY_ENV_HOSTS", "MAX_STEPS_LIMIT",
    "MIN_REASONING_BUDGET", "MODEL_KEYS", "OTHER_TABLES", "OWN_TABLES", "PRICE_KEYS", "PROVIDERS",
    "PROVIDER_ALIASES", "PROVIDER_KEY_ENV", "REASONING_BUDGETS", "REASONING_LEVELS", "ROUTE_KEYS", "TASK_KINDS",
    "TOOLS_KEYS", "TOP_LEVEL_KEYS",
    "AgentSettings", "ConfigError", "HomeError", "ModelSpec", "Price", "Settings", "ToolSettings",
    "effective_config", "ember_home", "home_issue", "home_problem", "kind_phrase", "load_settings", "mask",
    "missing_key_message", "parse_dotenv", "read_dotenv", "read_toml", "well_known_key_env",
]
