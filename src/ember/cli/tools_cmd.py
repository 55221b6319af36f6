"""``ember tools list|show``."""

from __future__ import annotations

import json

import click

from ember.cli.group import DefaultGroup


def _registry():
    from ember.config import load_settings
    from ember.tools.builtin import builtin_registry

    return builtin_registry(load_settings())


@click.group(cls=DefaultGroup, default_command="list")
def tools() -> None:
    """List tools and show their schemas."""


@tools.command("list")
@click.option("--json", "as_json", is_flag=True, help="As a JSON array.")
def list_tools(as_json: bool) -> None:
    """Every tool with its toolset and whether its dependencies are present and import."""
    registry = _registry()
    registry.quiet = True  # a toolset that fails to load is a row here, not a warning on stderr
    rows = []
    for toolset in registry.toolsets():
        needs = registry.missing(toolset, deep=True)
        if needs and not toolset.declared:  # e.g. an MCP server without the mcp package: do not start it
            rows.append(_toolset_row(toolset, needs))
            continue
        tools = registry.tools_in(toolset.name)
        if toolset.error:  # could not be loaded: what it declares, or the toolset itself (an MCP server)
            missing = [f"{toolset.reason or toolset.error}" + (f"; {toolset.hint}" if toolset.hint else "")]
            names = list(toolset.declared)
            rows += [_toolset_row(toolset, missing, name) for name in names] or [_toolset_row(toolset, missing)]
        for tool in tools:
            missing = registry.missing(tool, deep=True)
            rows.append({
                "name": tool.name,
                "toolset": toolset.name,
                "description": tool.description.splitlines()[0] if tool.description else "",
                "available": not missing,
                "missing": missing or None,
            })
    if as_json:
        click.echo(json.dumps(rows))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("tool", "toolset", "ready", "description"):
        table.add_column(column)
    for row in rows:
        ready = "[green]yes[/]" if row["available"] else f"[red]no[/]: {'; '.join(row['missing'])}"
        table.add_row(row["name"], row["toolset"], ready, row["description"])
    Console(highlight=False).print(table)


def _toolset_row(toolset, missing: list[str], name: str | None = None) -> dict:
    """A row for a tool that could not be loaded, or (no ``name``) for a whole toolset, e.g. an MCP server."""
    return {"name": name or toolset.name, "toolset": toolset.name,
            "description": "" if name else toolset.description, "available": False, "missing": missing}


@tools.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Print a tool's JSON schema, as the model sees it."""
    registry = _registry()
    tool = registry.get(name)
    if tool is None:
        from ember.cli.errors import CliError

        raise CliError(f"no tool named {name!r}", "see `ember tools list`")
    click.echo(json.dumps(tool.schema, indent=2))
