"""The effective configuration as plain data, every secret masked (``ember config show``)."""

from __future__ import annotations

from typing import Any

from ember.config.settings import Settings


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
        "store": settings.store_shown,
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
