"""``ember skills list|show|install|archive|restore|remove``: the SKILL.md library in EMBER_HOME/skills."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ember.cli.errors import CliError
from ember.cli.group import DefaultGroup


def _context() -> tuple[Any, Any]:
    """(settings, store) for the current EMBER_HOME."""
    from ember.config import load_settings
    from ember.runtime import open_store

    settings = load_settings()
    return settings, open_store(settings)


def _when(ts: float | None) -> str:
    from ember.memory.search.index import local_time

    if not ts:
        return "never"
    moment = local_time(ts)
    return moment.strftime("%Y-%m-%d") if moment else "unknown"


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(cls=DefaultGroup, default_command="list")
def skills() -> None:
    """List, show, install, archive or remove skills (Agent Skills SKILL.md folders)."""


@skills.command("list")
@click.option("--archived", is_flag=True, help="List archived skills instead.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def list_skills(archived: bool, as_json: bool) -> None:
    """List skills with their usage counts."""
    from ember.memory.skills import library
    from ember.memory.skills import stats as skill_stats

    settings, store = _context()
    with store:
        infos = library.list_skills(settings.home, archived=archived)
        counts = skill_stats.stats(store)
    rows: list[dict[str, Any]] = []
    for info in infos:
        record = counts.get(info.name)
        rows.append({
            "name": info.name, "description": info.description, "path": str(info.path), "archived": info.archived,
            "problem": info.problem, "refused": info.refused, "origin": record.origin if record else "local",
            "uses": record.uses if record else 0, "successes": record.successes if record else 0,
            "last_used": record.last_used if record else None,
        })
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        where = "archived" if archived else f"in {library.skills_dir(settings.home)}"
        click.echo(f"No skills {where} yet. Ember writes them after long tasks; "
                   "`ember skills install PATH` adds one.", err=True)
        return
    width = max(len(r["name"]) for r in rows)
    click.echo(f"{'name':<{width}}  uses  ok  last used   origin     description")
    for r in rows:
        text = f"BROKEN: {r['problem']}" if r["problem"] else r["description"]
        if r["refused"]:
            text = f"LEFT OUT: {r['refused']}"  # said in full: the reason is the point
        elif len(text) > 70:
            text = text[:69] + "…"
        click.echo(f"{r['name']:<{width}}  {r['uses']:>4}  {r['successes']:>2}  {_when(r['last_used']):<10}  "
                   f"{r['origin']:<9}  {text}")
    left_out = [r["name"] for r in rows if r["refused"]]
    if left_out:
        click.echo(f"{', '.join(left_out)}: left out of the prompt by the scan; inspect with `ember skills show NAME`, "
                   "fix the file or `ember skills remove NAME`.", err=True)


@skills.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Front matter, body, files and counts as JSON.")
def show(name: str, as_json: bool) -> None:
    """Print a skill's SKILL.md (and list its other files)."""
    from ember.memory.skills import library
    from ember.memory.skills import stats as skill_stats

    settings, store = _context()
    with store:
        info = library.find(settings.home, name) or library.find(settings.home, name, archived=True)
        if info is None:
            raise CliError(f"no skill named {name!r}", "see `ember skills list`")
        record = skill_stats.stats(store).get(info.name)
    text = (info.path / "SKILL.md").read_text(encoding="utf-8")
    files = library.skill_files(info.path)
    if as_json:
        payload = {"name": info.name, "description": info.description, "path": str(info.path),
                   "archived": info.archived, "files": files, "text": text,
                   "uses": record.uses if record else 0, "successes": record.successes if record else 0}
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    click.echo(text.rstrip("\n"))
    if files:
        click.echo("\nfiles: " + ", ".join(files), err=True)
    if record:
        click.echo(f"used {record.uses} times, {record.successes} successful, last {_when(record.last_used)}", err=True)


@skills.command("install")
@click.argument("path", type=click.Path(exists=True, path_type=str))
@click.option("--force", is_flag=True, help="Replace an installed skill of the same name.")
@click.option("--yes", "-y", is_flag=True, help="Install even if files hold what look like real secrets (listed).")
def install(path: str, force: bool, yes: bool) -> None:
    """Install a skill folder (with a SKILL.md) after validating and scanning it."""
    from pathlib import Path

    from ember.memory.skills import library

    def confirm(found: list[str]) -> bool:
        click.echo("These files hold what look like real secrets; the agent would read them:", err=True)
        for line in found:
            click.echo(f"  {line}", err=True)
        if yes:
            click.echo("Installing anyway (--yes).", err=True)
            return True
        if not sys.stdin.isatty():
            return False
        return click.confirm("Install anyway?", default=False, err=True)

    settings, store = _context()
    with store:
        try:
            info = library.install(settings.home, Path(path), store, secrets=settings.secret_values(), replace=force,
                                   confirm_secrets=confirm)
        except library.SecretsFound as exc:
            hint = None if sys.stdin.isatty() else "check them; add --yes to install anyway"
            raise CliError(f"{exc.name} was not installed", hint, exit_code=1) from exc
        except library.SkillError as exc:
            raise _fail(exc) from exc
    click.echo(f"installed {info.name}: {info.description}", err=True)


@skills.command("archive")
@click.argument("name")
def archive(name: str) -> None:
    """Move a skill to skills/.archive (out of the prompt, kept on disk)."""
    from ember.memory.skills import library

    settings, store = _context()
    with store:
        try:
            where = library.archive(settings.home, name, store, "archived by the user")
        except library.SkillError as exc:
            raise _fail(exc) from exc
    click.echo(f"archived {name} -> {where}", err=True)


@skills.command("restore")
@click.argument("name")
def restore(name: str) -> None:
    """Bring an archived skill back."""
    from ember.memory.skills import library

    settings, store = _context()
    with store:
        try:
            library.restore(settings.home, name, store)
        except library.SkillError as exc:
            raise _fail(exc) from exc
    click.echo(f"restored {name}", err=True)


@skills.command("remove")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def remove(name: str, yes: bool) -> None:
    """Delete a skill folder and its counts (archive keeps it instead)."""
    from ember.memory.skills import library

    settings, store = _context()
    with store:
        if library.find(settings.home, name) is None and library.find(settings.home, name, archived=True) is None:
            raise CliError(f"no skill named {name!r}", "see `ember skills list`")
        if not yes:
            if not sys.stdin.isatty():
                raise click.UsageError("removing needs confirmation: add --yes in scripts (or use `archive`)")
            click.confirm(f"Delete skill {name!r} and its files?", abort=True)
        try:
            where = library.remove(settings.home, name, store)
        except library.SkillError as exc:
            raise _fail(exc) from exc
    click.echo(f"removed {where}", err=True)
