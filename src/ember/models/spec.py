"""What a model endpoint is: ``ModelSpec``, its reasoning levels, whether it needs a key, and the
context windows of common models.

Models own this description; ``ember.config`` fills it from config.toml, and nothing here imports
the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

# Context windows (tokens) by model-id prefix, longest prefix wins. Used when config.toml does not
# set ``context_window``; a local model's real window depends on how the server was started.
CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-5": 400_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "claude-": 200_000,
    "deepseek-chat": 128_000,
    "deepseek-reasoner": 128_000,
    "qwen3": 32_768,
    "qwen2.5": 32_768,
    "llama3.1": 131_072,
    "llama3.2": 131_072,
    "hermes-3": 131_072,
    "mistral-small": 32_768,
    "gemma3": 131_072,
}


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


def context_window_for(model: str, default: int = 32_000) -> int:
    """The known context window of ``model`` (provider prefixes like ``openai/`` are ignored)."""
    name = model.lower().rsplit("/", 1)[-1]
    best = ""
    for prefix in CONTEXT_WINDOWS:
        if name.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return CONTEXT_WINDOWS[best] if best else default
