"""Which adapter serves a ModelSpec (what we know about models themselves is in ``spec.py``).

Adapters are imported only when built, so loading the catalog (or ``ember --help``) costs nothing.
A third-party adapter registers under the ``ember.providers`` entry-point group (``ember.plugins``)
and is used with ``provider = "its-name"`` and a ``base_url``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember.models.base import AuthError, Provider
from ember.models.spec import ModelSpec, missing_key_message
from ember.plugins import find, names

PROVIDER_GROUP = "ember.providers"
# provider name -> its adapter class, built with (ModelSpec, httpx.Client | None)
PROVIDERS: dict[str, str] = {
    "openai": "ember.models.openai_compat:OpenAICompatProvider",
    "anthropic": "ember.models.anthropic:AnthropicProvider",
    "hermes": "ember.models.hermes:HermesProvider",
}

if TYPE_CHECKING:
    import httpx


def build_provider(spec: ModelSpec, client: httpx.Client | None = None) -> Provider:
    """The adapter for ``spec.provider`` (``openai``, ``anthropic`` or ``hermes``).

    A hosted endpoint without a key fails here, before any request, with what to set.
    """
    problem = missing_key_message(spec)
    if problem:
        raise AuthError(problem)
    adapter = find(PROVIDER_GROUP, spec.provider, PROVIDERS)
    if adapter is None:
        known = ", ".join(names(PROVIDER_GROUP, PROVIDERS))
        raise ValueError(f"unknown provider {spec.provider!r} for model {spec.name!r}; use one of {known}")
    provider: Provider = adapter(spec, client)
    return provider
