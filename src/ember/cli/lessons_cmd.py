"""``ember memory lessons``: the lessons Ember learned, with how often each was used and helped."""

from __future__ import annotations

import json

import click


@click.command("lessons")
@click.option("--all", "show_all", is_flag=True, help="Include retired lessons.")
@click.option("--retire", "retire_id", type=int, metavar="ID", help="Retire a lesson (kept, no longer used).")
@click.option("--restore", "restore_id", type=int, metavar="ID", help="Bring a retired lesson back.")
@click.option("--forget", "forget_id", type=int, metavar="ID", help="Delete a lesson.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def lessons(show_all: bool, retire_id: int | None, restore_id: int | None, forget_id: int | None,
            as_json: bool) -> None:
    """List learned lessons with their use and success counts."""
    from ember.config import load_settings
    from ember.memory import lessons as memory
    from ember.runtime import open_store

    chosen = [name for name, value in (("--retire", retire_id), ("--restore", restore_id), ("--forget", forget_id))
              if value is not None]
    if len(chosen) > 1:
        raise click.UsageError(f"one action at a time: {' and '.join(chosen)} were both given")
    with open_store(load_settings()) as store:
        for lesson_id, action in ((retire_id, "retire"), (restore_id, "restore"), (forget_id, "forget")):
            if lesson_id is None:
                continue
            done = (memory.delete(store, lesson_id) if action == "forget"
                    else memory.set_retired(store, lesson_id, action == "retire"))
            if not done:
                raise click.ClickException(f"no lesson #{lesson_id}; see `ember memory lessons --all`")
            past = {"retire": "retired", "restore": "restored", "forget": "forgotten"}[action]
            click.echo(f"lesson #{lesson_id} {past}", err=True)
            return
        found = memory.list_lessons(store, include_retired=show_all)
        retired = 0 if show_all or found else sum(
            1 for lesson in memory.list_lessons(store, include_retired=True) if not lesson.active)
    if as_json:
        click.echo(json.dumps([lesson.as_dict() for lesson in found], ensure_ascii=False))
        return
    if not found and retired:
        click.echo(f"No active lessons ({retired} retired; `ember memory lessons --all` shows them).", err=True)
        return
    if not found:
        click.echo("No lessons yet. Ember learns them when you correct an answer or a failed step gets fixed.",
                   err=True)
        return
    click.echo("   id  used  helped  status   rule")
    for lesson in found:
        status = "active" if lesson.active else "retired"
        click.echo(f"{lesson.id:>5}  {lesson.uses:>4}  {lesson.successes:>6}  {status:<7}  {lesson.rule}")
