"""``ember config show|path``: the effective configuration, secrets masked."""

from __future__ import annotations

import json
import re

import click

from ember.cli.group import DefaultGroup


@click.group(cls=DefaultGroup, default_command="show")
def config() -> None:
    """Show the effective configuration (secrets masked)."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
def show(as_json: bool) -> None:
    """Print the effective config: defaults < config.toml < .env < environment."""
    from ember.config import effective_config, load_settings

    data = effective_config(load_settings())
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(_toml_like(data))


@config.command("path")
def path() -> None:
    """Print where the config files live."""
    from ember.config import ember_home

    home = ember_home()
    for name in ("config.toml", ".env", "ember.db", "USER.md"):
        click.echo(str(home / name))


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    """A TOML key: bare when it may be, else a quoted string (``"openai/gpt-4o-mini"``)."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _toml_like(data: dict, prefix: str = "") -> str:
    scalars, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            scalars.append(f"{_key(key)} = {json.dumps(value, ensure_ascii=False)}")
    lines = ([f"[{prefix}]"] if prefix and scalars else []) + scalars
    out = "\n".join(lines)
    for key, value in tables:
        name = f"{prefix}.{_key(key)}" if prefix else _key(key)
        block = _toml_like(value, name)
        if block:
            out += ("\n\n" if out else "") + block
    return out
