"""Which adapter serves a ModelSpec (what we know about models themselves is in ``spec.py``).

Adapters are imported only when built, so loading the catalog (or ``ember --help``) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember.models.base import AuthError, Provider
from ember.models.spec import ModelSpec, missing_key_message

if TYPE_CHECKING:
    import httpx


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
