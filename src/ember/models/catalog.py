"""Which adapter serves a ModelSpec, and what we know about common models' context windows.

Adapters are imported only when built, so loading the catalog (or ``ember --help``) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember.config import ModelSpec, missing_key_message
from ember.models.base import AuthError, Provider

if TYPE_CHECKING:
    import httpx

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


def context_window_for(model: str, default: int = 32_000) -> int:
    """The known context window of ``model`` (provider prefixes like ``openai/`` are ignored)."""
    name = model.lower().rsplit("/", 1)[-1]
    best = ""
    for prefix in CONTEXT_WINDOWS:
        if name.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return CONTEXT_WINDOWS[best] if best else default


def build_provider(spec: ModelSpec, client: httpx.Client | None = None) -> Provider:
    """The adapter for ``spec.provider`` (``openai``, ``anthropic`` or ``hermes``).

    A hosted endpoint without a key fails here, before any request, with what to set.
    """
    problem = missing_key_message(spec)
    if problem:
        raise AuthError(problem)
    if spec.provider == "anthropic":
        from ember.models.anthropic import AnthropicProvider

        return AnthropicProvider(spec, client)
    if spec.provider == "hermes":
        from ember.models.hermes import HermesProvider

        return HermesProvider(spec, client)
    if spec.provider == "openai":
        from ember.models.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(spec, client)
    raise ValueError(f"unknown provider {spec.provider!r} for model {spec.name!r}; use openai, anthropic or hermes")
