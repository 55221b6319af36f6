"""``ember memory show|search|import|index|forget|export|lessons|learned|undo``: what Ember remembers.

The search and import forms are also the benchmark interface (benchmarks/locomo.py); their
JSON shapes are kept stable: ``{"qid": ..., "hits": [{"id": ..., "score": ...}]}``.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from ember.cli.group import DefaultGroup

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ember.memory.search.embedding_index import EmbeddingState
    from ember.memory.search.hits import Hit


def _store():
    from ember.config import load_settings
    from ember.runtime import open_store

    return open_store(load_settings())


def _session_id(store: Any, ref: str | None) -> str | None:
    """The full id of the session ``ref`` names (an id or a unique beginning of one), or None."""
    if ref is None:
        return None
    info = store.get_session(ref)
    if info is None:
        raise click.UsageError(f"no session matches {ref!r}; see `ember sessions list`")
    return info.id


@contextmanager
def _progress() -> Iterator[Any]:
    """A rich progress display on stderr; yields ``update(stage, done, total)``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:,.0f}/s" if task.speed else "", style="progress.data.speed")

    labels = {"import": "importing messages", "index": "indexing text", "embed": "embedding messages"}
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(), TimeElapsedColumn(),
                  TextColumn("left"), TimeRemainingColumn(), console=console,
                  transient=not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@click.group(cls=DefaultGroup, default_command="show",
             unknown_hint="to see a message: ember memory show {arg}")
def memory() -> None:
    """Search, import, show, forget or export what Ember remembers."""


def _name(file: Any) -> str:
    name = getattr(file, "name", "-")
    return "-" if name in ("<stdin>", 0) or not isinstance(name, str) else name


def _when(timestamp: float | None, fmt: str) -> str:
    from ember.memory.search.index import local_time

    when = local_time(timestamp) if timestamp else None
    return when.strftime(fmt) if when else ""


@memory.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--strict", is_flag=True, help="Import nothing if any line is bad (default: skip bad lines).")
def import_(file: Any, strict: bool) -> None:
    """Import messages from a JSONL file (one message per line) and index their text.

    Each line: {"id", "session", "role", "speaker", "content", "timestamp"}; only "content" is
    required. Search works as soon as this returns; the embedding index is filled by
    `ember memory index` (or while `ember chat` runs). See docs/memory-search.md.
    """
    from ember.memory.importer import ImportReport, import_messages, read_jsonl
    from ember.memory.search import index

    report = ImportReport()
    messages = read_jsonl(file, report)
    for number, problem in report.problems:
        click.echo(f"{_name(file)}:{number}: {problem}" + ("" if strict else " (line skipped)"), err=True)
    if strict and report.problems:
        raise click.UsageError(f"{len(report.problems)} bad line(s); nothing imported (--strict)")
    store = _store()
    with _progress() as update:
        import_messages(store, messages, report, progress=lambda done, total: update("import", done, total))
        indexed = index.refresh(store, progress=update)
    skipped = f", {len(report.problems)} bad line(s) skipped" if report.problems else ""
    dupes = f", {report.duplicates} already there" if report.duplicates else ""
    click.echo(
        f"imported {report.messages} message(s) into {report.sessions_created} new session(s){dupes}{skipped}; "
        f"indexed {indexed.indexed} for search", err=True,
    )
    state = _embedding_state(store)
    if state is not None and not state.complete:
        click.echo(state.line(), err=True)


def _embedding_state(store: Any) -> EmbeddingState | None:
    """The embedding index's state, without loading the model; None when search is lexical."""
    from ember.memory.search.embedding_index import embedding_state
    from ember.memory.search.embeddings import installed_model_name

    model = installed_model_name()
    return None if model is None else embedding_state(store, model)


@memory.command("index")
@click.option("--rebuild", is_flag=True, help="Drop the search index and build it again from the messages.")
@click.option("--batch", type=click.IntRange(min=1), default=None, metavar="N",
              help="Messages embedded and committed together (default 512); an interruption loses at most one batch.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON for scripts.")
def index_cmd(rebuild: bool, batch: int | None, as_json: bool) -> None:
    """Bring the search index up to date: index new messages' text and embed every message without vectors.

    Finished batches are kept: after an interruption (Ctrl-C) run it again to go on. Another
    Ember process (chat, a second `ember memory index`) may fill the index at the same time.
    """
    import time

    from ember.memory.search import index
    from ember.memory.search.embedding_index import BATCH, EmbedReport, embed_missing
    from ember.memory.search.embeddings import (
        EXTRA_HINT,
        embeddings_available,
        embeddings_enabled,
        load_embedder,
    )

    store = _store()
    started = time.monotonic()
    text = index.RefreshReport()
    vectors = EmbedReport()
    embedder = None
    try:
        with _progress() as update:
            text = index.rebuild(store, update) if rebuild else index.refresh(store, update)
            before = _embedding_state(store)
            embedder = load_embedder() if before is not None and not before.complete else None
            if embedder is not None:
                embed_missing(store, embedder, progress=update, batch=batch or BATCH, wait_for_others=True,
                              report=vectors)
    except KeyboardInterrupt:
        vectors.interrupted = True
    seconds = time.monotonic() - started
    state = _embedding_state(store)
    if as_json:
        click.echo(json.dumps({
            "indexed": text.indexed, "embedded": vectors.embedded, "words": vectors.words,
            "seconds": round(seconds, 1), "interrupted": vectors.interrupted,
            "embedding_index": state.as_json() if state else None,
        }))
    else:
        done = f"indexed {text.indexed:,} message(s) for search"
        if embedder is not None:
            done += f"; embedded {vectors.embedded:,} message(s) and {vectors.words:,} new word(s) in {seconds:.1f} s"
            done += f" ({vectors.embedded / seconds:,.0f} messages/s)" if vectors.embedded and seconds > 0 else ""
        click.echo(done, err=True)
        if state is not None:
            click.echo(state.line(), err=True)
        elif not embeddings_enabled():
            click.echo("embeddings are off (EMBER_EMBEDDINGS): search is lexical", err=True)
        elif not embeddings_available():
            click.echo(f"no embedding backend, search is lexical: {EXTRA_HINT}", err=True)
    if vectors.interrupted:
        if not as_json:
            click.echo("interrupted: finished batches are kept; run `ember memory index` again to go on", err=True)
        sys.exit(130)


def _hits_json(qid: Any, hits: list[Hit], state: EmbeddingState | None) -> str:
    return json.dumps({"qid": qid, "hits": [{"id": h.id, "score": h.score} for h in hits],
                       "embedding_index": state.as_json() if state else None}, ensure_ascii=False)


def _print_hits(query: str, hits: list[Hit]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if not hits:
        console.print(Text(f"no match for {query!r}"))
        return
    table = Table(box=None, pad_edge=False, title=Text(query), title_justify="left")
    for column in ("id", "when", "who", "text"):
        table.add_column(column, overflow="fold")
    for h in hits:  # user text as Text: "[/tmp]" or "[image: ...]" is shown, never read as markup
        table.add_row(Text(str(h.id)), _when(h.created_at, "%Y-%m-%d"), Text(h.speaker or h.role or h.source or ""),
                      Text(h.text.replace("\n", " ")[:160]))
    console.print(table)


@memory.command("search")
@click.argument("query", required=False)
@click.option("--batch", type=click.File("r", encoding="utf-8-sig"),
              help='JSONL of {"qid": ..., "query": ...}; one result line per query, in order.')
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="How many hits.")
@click.option("--scope", default="all", show_default=True, help="all, messages, episodes, lessons or skills.")
@click.option("--session", help="Only this session's messages (an id or a unique beginning of one).")
@click.option("--person", default=None,
              help="Only one person's memory (a gateway person such as telegram:123456789; 'owner' for yours).")
@click.option("--json", "as_json", is_flag=True, help="JSON output for scripts.")
def search_cmd(query: str | None, batch: Any, k: int, scope: str, session: str | None, person: str | None,
               as_json: bool) -> None:
    """Search past conversations (and lessons, episodes, skills) for QUERY."""
    from ember.memory.search.federated import MemorySearch

    if (query is None) == (batch is None):
        raise click.UsageError("give a QUERY or --batch FILE (not both)")
    from ember.memory.search.embedding_index import INLINE_LIMIT

    store = _store()
    session = _session_id(store, session)
    searcher = MemorySearch(store)
    searcher.refresh(embed_limit=INLINE_LIMIT)  # a small backlog is embedded now; a big one is not waited for
    state = searcher.embedding_state()
    if state is not None and not state.complete:
        click.echo(state.line(), err=True)

    def run(text: str) -> list[Hit]:
        try:
            return searcher.search(text, k, scope, session, refresh=False,
                                   person=None if person is None else "" if person == "owner" else person)
        except ValueError as e:
            raise click.UsageError(str(e)) from e

    if batch is None:
        assert query is not None
        hits = run(query)
        click.echo(_hits_json(None, hits, state)) if as_json else _print_hits(query, hits)
        return
    for number, raw in enumerate(batch, 1):
        if not raw.strip():
            continue
        qid, text, problem = _query_line(raw)
        if problem is not None:  # still one output line, so results stay aligned with the input
            click.echo(f"{_name(batch)}:{number}: bad query line: {problem} (no search run)", err=True)
            if as_json:
                click.echo(json.dumps({"qid": qid, "hits": [], "error": f"line {number}: {problem}"},
                                      ensure_ascii=False))
            else:
                click.echo(f"line {number}: {problem}")
            continue
        assert text is not None
        hits = run(text)
        if as_json:
            click.echo(_hits_json(qid, hits, state))
        else:
            _print_hits(text, hits)


def _query_line(raw: str) -> tuple[Any, str | None, str | None]:
    """(qid, query text, problem) of one ``--batch`` line; the problem is None for a good line."""
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as e:  # e.msg without json's own "line 1": the caller names the file's line
        return None, None, f"not valid JSON: {e.msg.removesuffix(' at')} at column {e.colno}"
    if not isinstance(item, dict):
        return None, None, 'not a JSON object like {"qid": "7", "query": "..."}'
    qid, text = item.get("qid"), item.get("query")
    if "query" not in item:
        return qid, None, 'no "query"'
    if not isinstance(text, str):
        return qid, None, '"query" is not text'
    return qid, text, None


@memory.command("show")
@click.argument("ref", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON output for scripts.")
def show(ref: str | None, as_json: bool) -> None:
    """Show what is stored (counts and index state), or one message by id."""
    from ember.memory import inventory

    store = _store()
    if ref is not None:
        try:
            row = inventory.find_message(store, ref)
        except inventory.AmbiguousMessage as e:
            raise click.ClickException(str(e)) from e
        if row is None:
            raise click.ClickException(f"no message {ref!r}")
        data = {k: row[k] for k in ("id", "external_id", "session_id", "role", "speaker", "created_at", "content")}
        if as_json:
            click.echo(json.dumps(data, ensure_ascii=False))
        else:
            when = _when(row["created_at"], "%Y-%m-%d %H:%M") or "unknown time"
            click.echo(f"{row['external_id'] or row['id']} · {row['session_id']} · {row['speaker'] or row['role']} · {when}")
            click.echo(row["content"])
        return
    data = inventory.counts(store)
    from ember.memory.learning.wiring import recent_learning  # lessons, skills, USER.md changes and refusals

    data["learned_recently"] = recent_learning(store)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    width = max(len(k) for k in data)
    for key, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"{key.replace('_', ' '):<{width}}  {shown}")


@memory.command("forget")
@click.argument("refs", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def forget(refs: tuple[str, ...], yes: bool) -> None:
    """Delete messages (by id or external id) or other items (lessons:3), with their index entries."""
    from ember.memory import inventory

    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("forgetting needs confirmation: add --yes in scripts")
        click.confirm(f"Forget {len(refs)} item(s) for good?", abort=True)
    store = _store()
    missing, ambiguous = [], []
    for ref in refs:
        try:
            done = inventory.forget(store, ref)
        except inventory.AmbiguousMessage as e:
            ambiguous.append(str(e))
            continue
        if done is None:
            missing.append(ref)
        else:
            click.echo(f"forgot {done}", err=True)
    problems = ambiguous + ([f"nothing stored under {', '.join(missing)}"] if missing else [])
    if problems:
        raise click.ClickException("\n".join(problems) + ("\n(nothing was forgotten for these)" if ambiguous else ""))


@memory.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "markdown"]), default="jsonl", show_default=True)
@click.option("--session", help="Only this session (an id or a unique beginning of one).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File to write (default stdout).")
def export(fmt: str, session: str | None, output: str | None) -> None:
    """Export every message (JSONL in the import format, or Markdown)."""
    from pathlib import Path

    from ember.memory import inventory

    if output:
        folder = Path(output).expanduser().resolve().parent
        if not folder.is_dir():
            raise click.UsageError(f"cannot write {output}: the folder {folder} does not exist")
    store = _store()
    session = _session_id(store, session)
    items = inventory.export_messages(store, session)
    chunks = inventory.as_jsonl(items) if fmt == "jsonl" else inventory.as_markdown(items)
    if output:
        try:
            with open(Path(output).expanduser(), "w", encoding="utf-8") as handle:
                handle.writelines(chunks)
        except OSError as e:
            raise click.ClickException(f"cannot write {output}: {e.strerror or e}") from e
        click.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.writelines(chunks)


from ember.cli.learned_cmd import learned, undo  # noqa: E402  (what the model added, and taking it back)
from ember.cli.lessons_cmd import lessons  # noqa: E402  (`ember memory lessons`, from the learning loop)

memory.add_command(lessons)
memory.add_command(learned)
memory.add_command(undo)
