"""``ember sessions list|show|export|delete``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ember.cli.errors import CliError
from ember.cli.group import DefaultGroup

if TYPE_CHECKING:
    from ember.store.records import SessionInfo, StoredMessage


def _store():
    from ember.config import load_settings
    from ember.runtime import open_store

    return open_store(load_settings())


def _when(ts: float) -> str:
    from ember.memory.search.index import local_time

    moment = local_time(ts)  # None for a time no datetime holds (a store from before import checked)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "unknown"


def session_table(infos: list[SessionInfo], current: str | None = None):
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("id", "updated", "messages", "source", "title"):
        table.add_column(column)
    for info in infos:
        mark = " *" if info.id == current else ""
        table.add_row(info.id + mark, _when(info.updated_at), str(info.message_count), info.source, info.title or "")
    return table


def _session_json(info: SessionInfo) -> dict[str, Any]:
    return {
        "id": info.id, "title": info.title, "source": info.source, "model": info.model,
        "created_at": info.created_at, "updated_at": info.updated_at, "message_count": info.message_count,
    }


def _message_json(stored: StoredMessage) -> dict[str, Any]:
    m = stored.message
    data: dict[str, Any] = {"id": stored.id, "role": m.role, "content": m.content, "created_at": stored.created_at}
    if m.tool_calls:
        data["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in m.tool_calls]
    if m.tool_call_id:
        data["tool_call_id"] = m.tool_call_id
        data["name"] = m.name
        data["is_error"] = m.is_error
    if m.reasoning:
        data["reasoning"] = m.reasoning
    if stored.model:
        data["model"] = stored.model
    if stored.usage:
        data["usage"] = stored.usage.as_dict()
    return data


def _read_session(store, ref: str) -> tuple[SessionInfo, list[StoredMessage]]:
    """The session ``ref`` names and its messages, secrets masked once more on the way out: what
    an older Ember stored before it redacted everything is shown and exported masked too."""
    from dataclasses import replace

    from ember.store.records import redact_message

    info = find_session(store, ref)
    messages = [replace(m, message=redact_message(m.message, store.redact)) for m in store.get_messages(info.id)]
    return replace(info, title=store.redact(info.title) if info.title else info.title), messages


def find_session(store, ref: str) -> SessionInfo:
    """The session ``ref`` names (an id or a unique prefix); ``CliError`` (exit code 2) otherwise."""
    from ember.store.records import AmbiguousSessionError

    try:
        info = store.get_session(ref)
    except AmbiguousSessionError as exc:
        raise CliError(str(exc), "give more of the id (`ember sessions list` shows them)") from None
    if info is None:
        raise CliError(f"no session matches {ref!r}", "see `ember sessions list`")
    return info


@click.group(cls=DefaultGroup, default_command="list")
def sessions() -> None:
    """List, show, export or delete stored sessions."""


@sessions.command("list")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=30, show_default=True, help="How many sessions.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def list_sessions(limit: int, as_json: bool) -> None:
    """List sessions, newest first."""
    store = _store()
    infos = store.list_sessions(limit=limit)
    if as_json:
        click.echo(json.dumps([_session_json(i) for i in infos]))
        return
    if not infos:
        click.echo("No sessions yet. Start one with `ember` or `ember run \"hello\"`.", err=True)
        return
    from rich.console import Console

    Console().print(session_table(infos))


@sessions.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="The session and its messages as JSON.")
def show(ref: str, as_json: bool) -> None:
    """Show a session's messages."""
    store = _store()
    info, messages = _read_session(store, ref)
    if as_json:
        click.echo(json.dumps({**_session_json(info), "messages": [_message_json(m) for m in messages]}))
        return
    from rich.console import Console
    from rich.markdown import Markdown

    console = Console(highlight=False)
    console.print(f"[bold]{info.id}[/] {info.title or ''} [dim]({info.message_count} messages, {info.source})[/]")
    for stored in messages:
        m = stored.message
        if m.role == "user":
            console.print(f"\n[bold cyan]user[/] [dim]{_when(stored.created_at)}[/]")
            console.print(m.content, markup=False)
        elif m.role == "assistant":
            console.print(f"\n[bold green]assistant[/] [dim]{stored.model or ''}[/]")
            if m.content:
                console.print(Markdown(m.content))
            for call in m.tool_calls:
                console.print(f"  [cyan]→[/] {call.name}({json.dumps(call.arguments)[:200]})", markup=True)
        elif m.role == "tool":
            mark = "[red]✗[/]" if m.is_error else "[green]✓[/]"
            first = m.content.strip().splitlines()[0][:150] if m.content.strip() else ""
            from rich.markup import escape

            console.print(f"  {mark} [dim]{escape(first)}[/]")


@sessions.command("export")
@click.argument("ref")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "markdown", "json"]), default="markdown", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File to write (default stdout).")
def export(ref: str, fmt: str, output: str | None) -> None:
    """Export a session as Markdown, JSON or JSONL."""
    store = _store()
    info, messages = _read_session(store, ref)
    if fmt == "jsonl":
        text = "".join(json.dumps(_message_json(m), ensure_ascii=False) + "\n" for m in messages)
    elif fmt == "json":
        text = json.dumps({**_session_json(info), "messages": [_message_json(m) for m in messages]}, indent=2) + "\n"
    else:
        lines = [f"# Session {info.id}", ""]
        if info.title:
            lines += [f"_{info.title}_", ""]
        for stored in messages:
            m = stored.message
            if m.role == "tool":
                lines += [f"**tool {m.name}**{' (error)' if m.is_error else ''}:", "", "```", m.content, "```", ""]
                continue
            lines += [f"## {m.role} · {_when(stored.created_at)}", ""]
            if m.content:
                lines += [m.content, ""]
            for call in m.tool_calls:
                lines += [f"- calls `{call.name}` with `{json.dumps(call.arguments)}`"]
            if m.tool_calls:
                lines.append("")
        text = "\n".join(lines)
    if output:
        _write_export(Path(output), text)
        click.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.write(text)


def _write_export(path: Path, text: str) -> None:
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise CliError(f"cannot write {path}: the folder {folder} {what}", "create it first, or give another -o path")
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}", "give another -o path") from None


@sessions.command("delete")
@click.argument("refs", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete(refs: tuple[str, ...], yes: bool) -> None:
    """Delete sessions and everything stored with them."""
    store = _store()
    infos = [find_session(store, ref) for ref in refs]
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("deleting needs confirmation: add --yes in scripts")
        click.confirm(f"Delete {len(infos)} session(s) and their messages?", abort=True)
    for info in infos:
        store.delete_session(info.id)
        click.echo(f"deleted {info.id}", err=True)
