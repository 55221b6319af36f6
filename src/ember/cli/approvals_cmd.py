"""``ember approvals list|remove``: everything a person ever allowed, and a way to take it back.

Patterns come from two places: ``[tools] allow_commands`` in config.toml (edited by hand) and
"always" answers, stored in the database. Neither is reachable by the model: the sandbox hides
``EMBER_HOME`` and the file tools refuse it, so this command is the one way to see and change
the stored ones.
"""

from __future__ import annotations

import json

import click

from ember.cli.errors import CliError
from ember.cli.group import DefaultGroup


def _rows() -> list[dict[str, object]]:
    from ember.config import load_settings
    from ember.runtime import open_store
    from ember.security.patterns import problem

    settings = load_settings()
    store = open_store(settings)
    try:
        stored = store.allowed_commands()
    finally:
        store.close()
    rows: list[dict[str, object]] = [
        {"pattern": p, "source": "config.toml", "refused": problem(p)} for p in settings.tools.allow_commands
    ]
    rows += [{"pattern": p, "source": "ember.db", "refused": problem(p)} for p in stored]
    return rows


@click.group(cls=DefaultGroup, default_command="list")
def approvals() -> None:
    """List or remove what you allowed: [tools] allow_commands and "always" answers."""


@approvals.command("list")
@click.option("--json", "as_json", is_flag=True, help="As a JSON array of {pattern, source, refused}.")
def list_approvals(as_json: bool) -> None:
    """Every allow-pattern in force, where it comes from, and any that is refused (too broad)."""
    rows = _rows()
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("Nothing is allowed beyond the defaults: every command that leaves the sandbox asks.")
        return
    # The pattern last and whole: it is what `ember approvals remove` takes, so it is never cut.
    for row in rows:
        status = "refused" if row["refused"] else "in force"
        click.echo(f"{row['source']:<12} {status:<9} {row['pattern']}")
        if row["refused"]:
            click.echo(f"{'':<22} ({row['refused']})")


@approvals.command("remove")
@click.argument("pattern")
def remove(pattern: str) -> None:
    """Forget an "always" answer (PATTERN exactly as `ember approvals list` shows it)."""
    from ember.config import load_settings
    from ember.runtime import open_store

    settings = load_settings()
    store = open_store(settings)
    try:
        removed = store.remove_allowed_command(pattern)
    finally:
        store.close()
    if removed:
        click.echo(f"Removed {pattern!r}: it asks again from the next run.")
        return
    if pattern in settings.tools.allow_commands:
        raise CliError(f"{pattern!r} comes from config.toml, not from an answer",
                       f"delete it from [tools] allow_commands in {settings.home / 'config.toml'}")
    raise CliError(f"no stored approval {pattern!r}", "see `ember approvals list`")
