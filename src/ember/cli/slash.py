"""Slash commands of the interactive chat (``/help`` lists them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.cli.chat import ChatSession

HELP = {
    "/help": "show this help",
    "/new": "start a new session",
    "/sessions": "list recent sessions; /sessions ID switches to one",
    "/model": "show the models; /model NAME switches (a named model or a model id)",
    "/tools": "list toolsets and tools (* = loaded in this session)",
    "/usage": "tokens and cost of this session and of all sessions",
    "/reasoning": "show or hide the model's reasoning",
    "/exit": "leave (Ctrl-D works too)",
}


def handle_slash(chat: ChatSession, line: str) -> str | None:
    name, _, arg = line.partition(" ")
    handler = COMMANDS.get(name.lower())
    if handler is None:
        close = [c for c in HELP if c.startswith(name.lower()[:3])]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        chat.console.print(f"[red]unknown command {name}[/]{hint}; /help lists commands", highlight=False)
        return None
    return handler(chat, arg.strip())


def _help(chat: ChatSession, arg: str) -> None:
    for command, text in HELP.items():
        chat.console.print(f"  [bold]{command:<12}[/] {text}")


def _exit(chat: ChatSession, arg: str) -> str:
    return "exit"


def _new(chat: ChatSession, arg: str) -> None:
    chat.new_session()
    chat.console.print("[dim]new session (stored when you send its first message)[/]")


def _sessions(chat: ChatSession, arg: str) -> None:
    store = chat.runtime.store
    if arg:
        from ember.cli.errors import CliError
        from ember.cli.sessions import find_session

        try:
            info = find_session(store, arg)
        except CliError as exc:  # no match, or several: say so, the chat goes on
            chat.report(exc)
            return
        chat.session_id = info.id
        chat.console.print(f"[dim]switched to {info.id}[/]")
        chat.show_tail()
        return
    from ember.cli.sessions import session_table

    chat.console.print(session_table(store.list_sessions(limit=15), current=chat.session_id))


def _model(chat: ChatSession, arg: str) -> None:
    settings = chat.runtime.settings
    if arg:
        from ember.runtime import apply_model_choice

        apply_model_choice(settings, arg)
        chat.runtime.agent.router.close()  # providers are rebuilt for the new choice
    for name, spec in settings.models.items():
        routed = [k for k in ("chat", "tools", "learning") if settings.model_for(k) is spec]
        marker = f" [green]({', '.join(routed)})[/]" if routed else ""
        chat.console.print(f"  [bold]{name}[/] {spec.provider}:{spec.model} {spec.base_url}{marker}", highlight=False)


def _tools(chat: ChatSession, arg: str) -> None:
    registry = chat.runtime.agent.registry
    # no session yet (nothing sent): only the core toolset is loaded
    loaded = chat.runtime.agent.tool_context(chat.session_id).loaded_toolsets if chat.session_id else set()
    for toolset in registry.toolsets():
        mark = "*" if toolset.name == "core" or toolset.name in loaded else " "
        names = ", ".join(t.name for t in registry.tools_in(toolset.name))
        chat.console.print(f" {mark} [bold]{toolset.name}[/]: {toolset.description} [dim]({names})[/]", highlight=False)


def _usage(chat: ChatSession, arg: str) -> None:
    store = chat.runtime.store
    from ember.store.records import UsageTotals

    # no session yet: nothing spent in it (usage_totals(None) would be all sessions)
    here = store.usage_totals(chat.session_id) if chat.session_id else UsageTotals()
    for label, totals in (("this session", here), ("all sessions", store.usage_totals())):
        chat.console.print(
            f"  {label}: {totals.calls} model calls, {totals.input_tokens:,} in / "
            f"{totals.output_tokens:,} out tokens, ${totals.cost:.4f}"
        )


def _reasoning(chat: ChatSession, arg: str) -> None:
    chat.show_reasoning = not chat.show_reasoning
    chat.console.print(f"[dim]reasoning {'shown' if chat.show_reasoning else 'hidden'}[/]")


COMMANDS: dict[str, Callable[[ChatSession, str], str | None]] = {
    "/help": _help,
    "/new": _new,
    "/sessions": _sessions,
    "/model": _model,
    "/tools": _tools,
    "/usage": _usage,
    "/reasoning": _reasoning,
    "/exit": _exit,
    "/quit": _exit,
}
