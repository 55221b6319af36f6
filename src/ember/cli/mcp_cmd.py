"""``ember mcp list|add|remove|test|serve``: MCP servers as toolsets, and Ember's memory as one.

Nothing of the ``mcp`` SDK is imported until a server is started or served.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any

import click

from ember.cli.errors import CliError
from ember.cli.group import DefaultGroup

if TYPE_CHECKING:
    from ember.config import Settings

_SECRET_KEY = re.compile(r"(?i)authorization|token|secret|key|passw")


def _settings() -> Settings:
    from ember.config import load_settings

    return load_settings()


@click.group(cls=DefaultGroup, default_command="list")
def mcp() -> None:
    """Connect MCP servers as toolsets; serve Ember's memory over MCP."""


@mcp.command("list")
@click.option("--json", "as_json", is_flag=True, help="As a JSON array.")
@click.option("--no-connect", is_flag=True, help="Show the configuration only; start no server.")
def list_servers(as_json: bool, no_connect: bool) -> None:
    """Every configured server with its status and tool count (each is started briefly)."""
    from ember.mcp.config import server_configs
    from ember.mcp.probe import probe_all

    settings = _settings()
    configs = list(server_configs(settings).values())
    reports = probe_all(settings, [c for c in configs if c.enabled and not no_connect])
    rows = []
    for config in configs:
        report = reports.get(config.name) or {"status": "disabled" if not config.enabled else "not checked"}
        rows.append({
            "name": config.name, "transport": config.transport, "target": config.target,
            "description": config.description, "status": report["status"], "error": report.get("error"),
            "tools": len(report["tools"]) if "tools" in report and report["status"] == "ok" else None,
        })
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("No MCP servers configured. Add one with `ember mcp add NAME -- COMMAND ARGS...` "
                   "or `ember mcp add NAME --url URL`.")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("server", "transport", "status", "tools", "command or url"):
        table.add_column(column)
    for row in rows:
        status = {"ok": "[green]ok[/]", "error": "[red]error[/]"}.get(row["status"], row["status"])
        tools = "" if row["tools"] is None else str(row["tools"])
        table.add_row(row["name"], row["transport"], status, tools, escape(row["target"]))
    console = Console(highlight=False)
    console.print(table)
    for row in rows:
        if row["error"]:
            console.print(f"[red]{escape(row['name'])}[/]: {escape(row['error'])}")


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition(":" if what == "header" and ":" in value.split("=")[0] else "=")
        if not sep or not key.strip():
            example = "'Authorization: Bearer ${TOKEN}'" if what == "header" else "LOG_LEVEL=debug"
            raise click.BadParameter(f"{value!r}: expected e.g. {example}", param_hint=f"--{what}")
        out[key.strip()] = rest.strip()
    return out


def _configured_names(settings: Settings) -> set[str]:
    """The names under ``[mcp.servers]`` of config.toml (whether or not their tables are valid)."""
    servers = settings.raw.get("mcp", {})
    servers = servers.get("servers", {}) if isinstance(servers, dict) else {}
    return set(servers) if isinstance(servers, dict) else set()


@mcp.command("add", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--url", help="A streamable HTTP endpoint, instead of a command.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="HTTP header (repeatable).")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="Environment variable (repeatable).")
@click.option("--description", help="One line telling the model what the server is for.")
@click.option("--cwd", help="Working directory of the command (default: the workspace).")
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds per call (default 60).")
@click.option("--no-check", is_flag=True, help="Do not start the server to check it.")
@click.option("--replace", is_flag=True, help="Replace a server of the same name.")
def add(
    name: str, command: tuple[str, ...], url: str | None, headers: tuple[str, ...], env: tuple[str, ...],
    description: str | None, cwd: str | None, timeout: float | None, no_check: bool, replace: bool,
) -> None:
    """Add a server: `ember mcp add NAME -- COMMAND ARGS...` or `ember mcp add NAME --url URL`.

    Put secrets in EMBER_HOME/.env and refer to them as ${NAME} (quote it for the shell), e.g.
    --header 'Authorization: Bearer ${GITHUB_TOKEN}'.
    """
    from ember.config import ConfigError
    from ember.mcp.config import parse_server
    from ember.mcp.config_edit import add_server
    from ember.mcp.probe import probe

    if bool(command) == bool(url):
        raise click.UsageError("give a command after `--` (stdio) or --url URL (streamable HTTP), not both")
    settings = _settings()
    if not replace and name in _configured_names(settings):  # refused before anything is started
        raise CliError(f"a server named {name} exists; use --replace to overwrite it")
    table: dict[str, Any] = {"url": url} if url else {"command": command[0]}
    if command[1:]:
        table["args"] = list(command[1:])
    for key, value in (("env", _pairs(env, "env")), ("headers", _pairs(headers, "header"))):
        if value:
            table[key] = value
    for key, option in (("cwd", cwd), ("timeout", timeout), ("description", description)):
        if option is not None:
            table[key] = option
    for key, value in {**table.get("env", {}), **table.get("headers", {})}.items():
        if _SECRET_KEY.search(key) and "${" not in value:
            click.echo(f"warning: {key} is written to config.toml as is; for a secret put it in .env "
                       f"and write ${{NAME}} instead", err=True)
    try:
        config = parse_server(name, table)
    except ConfigError as exc:  # the name or a flag is wrong: a usage error
        raise CliError(str(exc).removeprefix("config.toml: "), "see `ember mcp add --help`") from None
    report = None if no_check else probe(settings, config)
    if report and report["status"] == "ok" and not description and report.get("summary"):
        table["description"] = report["summary"]
    try:
        add_server(settings.home / "config.toml", name, table, replace=replace)
    except ConfigError as exc:  # e.g. config.toml cannot be parsed: say so, with no `ember doctor` detour
        raise CliError(str(exc).removeprefix("config.toml: ")) from None
    click.echo(f"Added MCP server {name} to {settings.home / 'config.toml'}.")
    if report is None:
        return
    if report["status"] == "ok":
        click.echo(f"It started and offers {len(report['tools'])} tools; the model sees them as {name}__TOOL.")
    else:
        click.echo(f"warning: it did not start: {report['error']}", err=True)
        click.echo(f"Fix that, then check with `ember mcp test {name}`.", err=True)


@mcp.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove a server from config.toml."""
    from ember.mcp.config_edit import remove_server

    settings = _settings()
    if not remove_server(settings.home / "config.toml", name):
        raise CliError(f"no MCP server named {name!r}", "see `ember mcp list`")
    click.echo(f"Removed MCP server {name}.")


@mcp.command("test")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
def test(name: str, as_json: bool) -> None:
    """Start a server, list its tools, resources and prompts, and stop it."""
    from ember.mcp.config import server_configs
    from ember.mcp.probe import probe

    settings = _settings()
    configs = server_configs(settings)
    if name not in configs:
        known = ", ".join(configs) or "none"
        raise CliError(f"no MCP server named {name!r} (configured: {known})", "see `ember mcp add --help`")
    report = probe(settings, configs[name])
    if as_json:
        click.echo(json.dumps(report))
    elif report["status"] == "ok":
        version = f" {report['version']}" if report["version"] else ""
        click.echo(f"{name}: connected to {report['server']}{version} over {report['transport']} "
                   f"(protocol {report['protocol']}) in {report['seconds']} s")
        if report["summary"]:
            click.echo(f"  {report['summary']}")
        click.echo(f"{len(report['tools'])} tools:")
        for tool in report["tools"]:
            click.echo(f"  {tool['name']}: {tool['description'][:100]}")
    if report["status"] != "ok":
        if as_json:
            sys.exit(1)
        raise click.ClickException(report["error"])


@mcp.command("serve")
@click.option("--http", "port", type=click.IntRange(0, 65535), help="Serve streamable HTTP on PORT (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on with --http.")
@click.option("--allow-writes", is_flag=True, help="Also offer user_profile_update (USER.md).")
@click.option("--token-env", default="EMBER_MCP_TOKEN", show_default=True,
              help="With --http: if this variable is set (.env or environment), require it as a bearer token.")
def serve(port: int | None, host: str, allow_writes: bool, token_env: str) -> None:
    """Share Ember's memory search, USER.md and skills with other MCP clients (stdio by default)."""
    import os

    from ember.mcp import McpServerError
    from ember.mcp.server import serve_http, serve_stdio

    settings = _settings()
    try:
        if port is None:
            serve_stdio(settings, allow_writes=allow_writes)
        else:
            token = os.environ.get(token_env) or settings.secrets.get(token_env)
            serve_http(settings, port=port, host=host, allow_writes=allow_writes, token=token)
    except McpServerError as exc:
        raise click.ClickException(str(exc)) from None
