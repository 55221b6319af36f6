"""The ``ember`` command: a click group whose subcommands are imported only when used.

Start-up time is a feature (``ember --help`` in well under 0.15 s), so this module imports click
and nothing else; each noun lives in its own module under ``ember.cli``.
"""

from __future__ import annotations

import importlib
import sys

import click

# command name -> (module, attribute, one-line help shown by `ember --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "chat": ("ember.cli.chat", "chat", "Talk with Ember interactively (the default)."),
    "run": ("ember.cli.run", "run", "Answer one message and exit (for scripts)."),
    "sessions": ("ember.cli.sessions", "sessions", "List, show, export or delete stored sessions."),
    "memory": ("ember.cli.memory_cmd", "memory", "Search, import, show, forget or export what Ember remembers."),
    "models": ("ember.cli.models_cmd", "models", "Show configured models and what the endpoint offers."),
    "tools": ("ember.cli.tools_cmd", "tools", "List tools and show their schemas."),
    "mcp": ("ember.cli.mcp_cmd", "mcp", "Add, list, test MCP servers; serve Ember's memory over MCP."),
    "skills": ("ember.cli.skills_cmd", "skills", "List, show, install, archive or remove skills (SKILL.md)."),
    "config": ("ember.cli.config_cmd", "config", "Show the effective configuration (secrets masked)."),
    "approvals": ("ember.cli.approvals_cmd", "approvals", "List or remove what you allowed to run outside the sandbox."),
    "gateway": ("ember.cli.gateway_cmd", "gateway", "Run Ember in your chat apps (Telegram, Slack, Discord...); status, pairing."),
    "send": ("ember.cli.gateway_cmd", "send", "Send a message to a chat through the gateway's outbox."),
    "cron": ("ember.cli.cron_cmd", "cron", "Scheduled jobs: add, list, pause, run now, see their runs."),
    "db": ("ember.cli.db_cmd", "db", "Where the store is; apply migrations; copy it to PostgreSQL."),
    "doctor": ("ember.cli.doctor", "doctor", "Check config, home, database and endpoints; print fixes."),
    "setup": ("ember.cli.setup", "setup", "First-run setup: find local model servers, write config."),
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every subcommand module.
        rows = [(name, help_text) for name, (_, _, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ember-agent", prog_name="ember")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Ember: a personal AI agent that learns, remembers and gets better every day.

    Run `ember` to chat, `ember run "question"` for one answer. Configure the model with
    EMBER_PROVIDER, EMBER_BASE_URL, EMBER_API_KEY, EMBER_MODEL or `ember setup`.
    """
    if ctx.invoked_subcommand is None:
        chat = cli.get_command(ctx, "chat")
        assert chat is not None  # a subcommand of this group
        ctx.invoke(chat)


def main() -> None:
    from ember.cli.errors import run_cli

    sys.exit(run_cli(cli))


if __name__ == "__main__":
    main()
