"""``ember db status|migrate|copy``: where the store is, its schema, and moving it to another backend.

The store is the one every command uses: EMBER_DATABASE_URL, else ``[store] url`` in config.toml,
else SQLite in ``EMBER_HOME/ember.db`` (docs/postgres.md). A URL is always shown with its password
masked. Every form takes ``--json`` for scripts.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from ember.cli.group import DefaultGroup

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ember.config import Settings
    from ember.store.ports import Store


@click.group(cls=DefaultGroup, default_command="status")
def db() -> None:
    """Where Ember's store is, its schema migrations, and copying it to another database."""


def _settings() -> Settings:
    from ember.config import load_settings

    return load_settings()


def _backend(location: str) -> str:
    from ember.store.locations import split_location

    return split_location(location)[0]


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON for scripts.")
def status(as_json: bool) -> None:
    """Show which store every command uses, its applied and pending migrations, and its size."""
    from ember.runtime import open_store

    settings = _settings()
    with open_store(settings, migrate=False) as store:
        applied = store.schema_version()
        pending = store.pending_migrations()
        counts = store.archive.counts(speakers=0) if not pending else None
        about = store.describe()
    data = {"store": settings.store_shown, "backend": _backend(settings.store_location),
            "set_by": settings.store_from or "default (EMBER_HOME/ember.db)", **about, "applied": len(applied),
            "pending": pending}
    if counts is not None:
        data.update(sessions=counts.sessions, messages=counts.messages)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"store:      {data['store']} ({data['set_by']})")
    extras = "".join(f"; {key} {value}" for key, value in about.items() if key not in ("engine", "file"))
    click.echo(f"engine:     {about['engine']}{extras}")
    click.echo(f"migrations: {len(applied)} applied" + (f", {len(pending)} pending: {', '.join(pending)} "
                                                         "(run `ember db migrate`)" if pending else ", none pending"))
    if counts is not None:
        click.echo(f"contents:   {counts.sessions:,} session(s), {counts.messages:,} message(s)")


@db.command("migrate")
@click.option("--json", "as_json", is_flag=True, help="Print what was applied as JSON for scripts.")
def migrate(as_json: bool) -> None:
    """Apply the schema migrations the store has not had yet.

    Any command applies them when it opens the store; this does it on its own, say before
    starting several gateway workers on a newer Ember. Safe to run while others use the store:
    one process applies them, the others wait and find nothing left to do.
    """
    from ember.runtime import open_store

    settings = _settings()
    with open_store(settings, migrate=False) as store:
        applied = store.migrate()
        total = len(store.schema_version())
    if as_json:
        click.echo(json.dumps({"store": settings.store_shown, "applied": applied, "migrations": total}, indent=2))
    elif applied:
        click.echo(f"applied {len(applied)} migration(s) to {settings.store_shown}:")
        for name in applied:
            click.echo(f"  {name}")
    else:
        click.echo(f"nothing to apply: {settings.store_shown} has all {total} migration(s)")


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A rich progress bar per table on stderr (none when ``enabled`` is False); yields ``update``."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def update(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=max(total, 1))
            bar.update(tasks[table], completed=done, total=max(total, done, 1))

        yield update


def _open(location: str, settings: Settings) -> Store:
    from ember.security.redact import Redactor
    from ember.store.backends import open_backend

    return open_backend(location, redactor=Redactor(settings.secret_values(), placeholders=False),
                        home=settings.home)


@db.command("copy")
@click.option("--from", "source", metavar="URL",
              help="The store to copy (default: SQLite in EMBER_HOME/ember.db), e.g. sqlite:///home/me/.ember/ember.db")
@click.option("--to", "destination", metavar="URL",
              help="Where to copy it (default: the configured store, EMBER_DATABASE_URL or [store] url), "
                   "e.g. postgresql://ember:...@db.internal/ember")
@click.option("--json", "as_json", is_flag=True, help="Print the counts per table as JSON for scripts.")
def copy(source: str | None, destination: str | None, as_json: bool) -> None:
    """Copy everything of one store into another: sessions, messages, lessons, jobs, the gateway's records...

    Rows keep their ids; a row the destination has already is left as it is, so running it again
    adds nothing (and adds what is new since). The destination's search index is then brought up
    to date from the copied messages; embeddings are copied, not computed again. Stop Ember on the
    source while copying, so that nothing is written there meanwhile.
    """
    from ember.cli.errors import CliError
    from ember.memory.search import index
    from ember.store.locations import shown_location
    from ember.store.transfer import copy_store

    settings = _settings()
    source = source or str(settings.db_path)
    destination = destination or settings.store_location
    if _same(source, destination):
        raise CliError(f"--from and --to are the same store ({shown_location(source)})",
                       "name the destination with --to, or set EMBER_DATABASE_URL to it")
    from ember.runtime import prepare_home

    prepare_home(settings.home)
    with _open(source, settings) as origin, _open(destination, settings) as target:
        with _progress(not as_json) as update:
            report = copy_store(origin, target, progress=update)
            indexed = index.refresh(target, progress=update).indexed
    tables = {r.table: r.as_json() for r in report}
    if as_json:
        click.echo(json.dumps({"from": shown_location(source), "to": shown_location(destination),
                               "tables": tables, "indexed": indexed}, indent=2))
        return
    click.echo(f"copied {shown_location(source)} -> {shown_location(destination)}")
    click.echo(f"  {'table':<18} {'rows':>9} {'added':>9} {'already there':>14}")
    for r in report:
        if r.source or r.added:
            click.echo(f"  {r.table:<18} {r.source:>9,} {r.added:>9,} {r.present:>14,}")
    added = sum(r.added for r in report)
    click.echo(f"{added:,} row(s) added; {indexed:,} message(s) indexed for search"
               + ("" if added else " (nothing was new: the destination had everything)"))


def _same(a: str, b: str) -> bool:
    import os

    from ember.store.locations import split_location

    (sa, ra), (sb, rb) = split_location(a), split_location(b)
    if sa == sb == "sqlite":
        return os.path.realpath(ra) == os.path.realpath(rb)
    return (sa, ra) == (sb, rb)
