"""``ember memory learned`` and ``ember memory undo ID``: what the model put in USER.md and skills, and taking it back."""

from __future__ import annotations

import json

import click


def _store():
    from ember.config import load_settings
    from ember.runtime import open_store

    settings = load_settings()
    return settings, open_store(settings)


@click.command("learned")
@click.option("--all", "show_all", is_flag=True, help="Include changes already undone.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def learned(show_all: bool, as_json: bool) -> None:
    """List USER.md items and skills the model added or changed, newest first, with the id that undoes each."""
    from ember.memory.learning import learned as memory

    _, store = _store()
    with store:
        found = memory.entries(store, include_undone=show_all)
    if as_json:
        click.echo(json.dumps([entry.as_dict() for entry in found], ensure_ascii=False))
        return
    if not found:
        click.echo("Nothing learned yet: the model has not added to USER.md or written a skill.", err=True)
        return
    from ember.memory.search.index import local_time

    click.echo("   id  when         by        what")
    for entry in found:
        moment = local_time(entry.created_at)
        when = moment.strftime("%m-%d %H:%M") if moment else ""
        what = entry.what if len(entry.what) <= 90 else entry.what[:89] + "…"
        click.echo(f"{entry.id:>5}  {when:<11}  {entry.by:<8}  {what}" + ("  (undone)" if entry.undone else ""))
    click.echo("Take one back with `ember memory undo ID`.", err=True)


@click.command("undo")
@click.argument("event_id", metavar="ID", type=int)
def undo(event_id: int) -> None:
    """Undo a USER.md item or skill the model added (ID from `ember memory learned`)."""
    from ember.memory.learning import learned as memory

    settings, store = _store()
    with store:
        try:
            done = memory.undo(store, settings.home, event_id)
        except memory.UndoError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"undone #{event_id}: {done}", err=True)
