"""A click group that runs a default subcommand when none is given (``ember sessions`` = ``list``).

Only an empty argument list, or one that starts with an option, runs the default command: a
first word that is not a command is never taken as the default command's argument (``ember
memory D1:3`` is an error, not ``ember memory show D1:3``), so a mistyped command name cannot
quietly turn into a lookup. ``unknown_hint`` adds what to run instead to that error.
"""

from __future__ import annotations

from typing import Any

import click


class DefaultGroup(click.Group):
    def __init__(self, *args: Any, default_command: str = "list", unknown_hint: str | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("invoke_without_command", False)
        super().__init__(*args, **kwargs)
        self.default_command = default_command
        self.unknown_hint = unknown_hint  # e.g. "to see a message: ember memory show {arg}"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help")):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if (self.unknown_hint and name and not name.startswith("-") and not ctx.resilient_parsing
                and self.get_command(ctx, name) is None):
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f'did you mean "{close[0]}"?' if close else self.unknown_hint.format(arg=name)
            ctx.fail(f'no command "{name}"; {hint}')
        return super().resolve_command(ctx, args)
