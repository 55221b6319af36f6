"""``ember models``: configured models, and what each endpoint lists at /models.

Exit code 1 when an endpoint could not be asked (down, a refused key, not a model API), after
everything is shown: a script sees the failure, a person sees which endpoint and why.
"""

from __future__ import annotations

import json
from typing import Any

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
@click.option("--offline", is_flag=True, help="Do not ask the endpoints what they serve.")
def models(as_json: bool, offline: bool) -> int:
    """Show configured models and what their endpoints offer."""
    from ember.config import load_settings
    from ember.models.base import ProviderError
    from ember.models.catalog import build_provider

    settings = load_settings()
    configured: list[dict[str, Any]] = []
    listed: dict[str, dict] = {}
    for name, spec in settings.models.items():
        routes = [kind for kind in ("chat", "tools", "learning") if settings.model_for(kind) is spec]
        configured.append({
            "name": name, "provider": spec.provider, "model": spec.model, "base_url": spec.base_url,
            "routes": routes, "fallback": name in settings.fallback, "reasoning": spec.reasoning,
            "reasoning_budget": spec.reasoning_budget,
        })
        key = f"{spec.provider} {spec.base_url}"
        if offline or key in listed:
            continue
        try:
            provider = build_provider(spec)
        except ProviderError as exc:
            listed[key] = {"base_url": spec.base_url, "models": [], "error": str(exc)}
            continue
        try:
            listed[key] = {"base_url": spec.base_url, "models": provider.list_models(), "error": None}
        except ProviderError as exc:
            listed[key] = {"base_url": spec.base_url, "models": [], "error": str(exc)}
        finally:
            provider.close()
    if as_json:
        click.echo(json.dumps({"configured": configured, "endpoints": list(listed.values())}))
        return _failed(listed)
    from rich.console import Console

    console = Console(highlight=False)
    console.print("[bold]Configured models[/]")
    for row in configured:
        extra = []
        if row["routes"]:
            extra.append("routes: " + ", ".join(row["routes"]))
        if row["fallback"]:
            extra.append("fallback")
        if row["reasoning"] != "off":
            note = f", {row['reasoning_budget']} tokens" if row["reasoning_budget"] else ""
            if row["provider"] == "hermes":
                note = ", ignored by hermes"
            extra.append(f"reasoning: {row['reasoning']}{note}")
        suffix = f" [green]({'; '.join(extra)})[/]" if extra else ""
        console.print(f"  [bold]{row['name']}[/] {row['provider']}:{row['model']} [dim]{row['base_url']}[/]{suffix}")
    for endpoint in listed.values():
        console.print(f"\n[bold]{endpoint['base_url']}[/] serves:")
        if endpoint["error"]:
            console.print(f"  [red]could not list models:[/] {endpoint['error']}")
        for model_id in endpoint["models"][:100]:
            console.print(f"  {model_id}")
        if len(endpoint["models"]) > 100:
            console.print(f"  [dim]… and {len(endpoint['models']) - 100} more[/]")
    return _failed(listed)


def _failed(listed: dict[str, dict]) -> int:
    """0, or 1 with one line on stderr when some endpoint could not list its models."""
    from ember.cli.errors import EXIT_MODEL, error

    failed = [endpoint["base_url"] for endpoint in listed.values() if endpoint["error"]]
    if not failed:
        return 0
    error(f"could not list the models of {', '.join(failed)}", "run `ember doctor` to test the endpoint")
    return EXIT_MODEL
