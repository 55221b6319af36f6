"""``ember doctor``: check everything Ember depends on and print a fix for each problem."""

from __future__ import annotations

import json
import re
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    fix: str = ""


def check_home(home: Path) -> list[Check]:
    """The home: a folder this user can read and write, not open to others; ``.env`` private."""
    from ember.config import home_issue

    issue = home_issue(home, write=True)
    if issue:
        return [Check("home", False, *issue)]
    if not home.exists():
        return [Check("home", True, f"{home} does not exist yet; it is created on first use")]
    checks: list[Check] = []
    mode = home.stat().st_mode
    if mode & stat.S_IWOTH:
        checks.append(Check("home", False, f"{home} is writable by every user", f"chmod 700 {home}"))
    else:
        checks.append(Check("home", True, str(home)))
    env_file = home / ".env"
    if env_file.exists() and env_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        checks.append(Check(".env", False, f"{env_file} can be read by other users", f"chmod 600 {env_file}"))
    elif env_file.exists():
        checks.append(Check(".env", True, "mode 0600"))
    return checks


def check_database(settings) -> Check:
    import os

    from ember.config import home_issue
    from ember.runtime import open_store
    from ember.store.records import StoreError

    path = settings.store_file
    if path is None:  # a database server (EMBER_DATABASE_URL or [store] url)
        return _check_server(settings)
    if not path.exists():
        return Check("database", True, "not created yet")
    if home_issue(settings.home, write=True):
        # SQLite needs to write its WAL files next to ember.db: a healthy file cannot be opened
        return Check("database", True, f"skipped: {path} cannot be opened while its folder is read-only (see home)")
    if not os.access(path, os.R_OK | os.W_OK):
        return Check("database", False, f"{path} cannot be read and written by this user", f"chmod u+rw {path}")
    try:
        store = open_store(settings)
    except StoreError as exc:
        return Check("database", False, str(exc), "move the file away or restore a backup (see docs/store.md)")
    try:
        problems = store.integrity_problems()
    finally:
        store.close()
    if problems:
        return Check("database", False, "; ".join(problems[:3]), "restore a backup, or export sessions and start fresh")
    return Check("database", True, f"{path} ok")


def _check_server(settings) -> Check:
    """The store on a database server: reachable, Ember's, healthy (the URL shown without its password)."""
    from ember.runtime import open_store
    from ember.store.records import StoreError

    where = f"{settings.store_shown} (set by {settings.store_from})"
    try:
        store = open_store(settings, migrate=False)
    except StoreError as exc:
        return Check("database", False, str(exc), f"start the server, or fix {settings.store_from} "
                     "(see docs/postgres.md)")
    try:
        problems = store.integrity_problems()
        pending = store.pending_migrations()
    except StoreError as exc:
        problems, pending = [str(exc)], []
    finally:
        store.close()
    if problems:
        return Check("database", False, f"{where}: " + "; ".join(problems[:3]), "see docs/postgres.md")
    if pending:
        return Check("database", True, f"{where} ok; {len(pending)} migration(s) to apply (`ember db migrate`, "
                                       "or any command applies them)")
    return Check("database", True, f"{where} ok")


def check_workspace(settings) -> Check:
    """Where the tools work; a configured folder must exist or have a parent to be created in."""
    path, source = settings.workspace, settings.workspace_from
    if path is None:
        return Check("workspace", True, f"the current directory for `ember` and `ember run`; "
                                        f"{settings.workspace_dir} for other doors")
    if path.is_dir():
        return Check("workspace", True, f"{path} (set by {source})")
    fix = f"fix {source}, or create the folder"
    if path.exists():
        return Check("workspace", False, f"{path} (set by {source}) is not a folder", fix)
    if not path.parent.is_dir():
        return Check("workspace", False, f"{path} (set by {source}) does not exist, nor does its parent", fix)
    return Check("workspace", True, f"{path} (set by {source}) does not exist yet; it is created on first use")


def check_sandbox(settings) -> Check:
    """Whether commands run in the sandbox here; without one, every command that writes asks."""
    from ember.config import ConfigError
    from ember.security.boundary import sandbox_problem
    from ember.security.sandbox import INSTALL_HINT, sandbox_settings

    try:
        mode = sandbox_settings(settings.raw).mode
    except ConfigError as exc:
        return Check("sandbox", False, str(exc), "fix the [sandbox] table (see docs/tools-processes-ssh-code.md)")
    problem = sandbox_problem(mode)
    if problem is None:
        network = "with" if settings.tools.network else "without"
        return Check("sandbox", True, f"bubblewrap: commands run with the workspace writable, {network} network")
    if mode == "none":
        return Check("sandbox", True, f"off ({problem}): every command that is not read-only asks first")
    return Check("sandbox", False, f"no sandbox for commands: {problem}; every command that is not read-only "
                 "asks first", INSTALL_HINT.split(", or set")[0])


def check_plain_keys(settings) -> list[Check]:
    """A failed check for each ``api_key`` written in config.toml in clear (the key is not shown)."""
    tables = [("[model]", "EMBER_API_KEY", settings.raw.get("model"))]
    models = settings.raw.get("models")
    if isinstance(models, dict):
        tables += [(f"[models.{name}]", f"{name.upper().replace('-', '_')}_API_KEY", table)
                   for name, table in models.items()]
    env_file = settings.home / ".env"
    checks = []
    for where, variable, table in tables:
        if not (isinstance(table, dict) and table.get("api_key")):
            continue
        if where == "[model]":
            fix = f"move it to {env_file} (mode 0600) as {variable}=..., and delete api_key from {where}"
        else:
            fix = (f"move it to {env_file} (mode 0600) as {variable}=..., and replace api_key in {where} "
                   f'with api_key_env = "{variable}"')
        checks.append(Check(f"{where} api_key", False,
                            "an API key is written in config.toml in clear (anyone who sees the file sees it)", fix))
    return checks


def _model_label(spec) -> str:
    return f"model {spec.name} ({spec.provider}:{spec.model} at {spec.base_url})"


def check_key(spec) -> Check | None:
    """A failed check when ``spec`` needs an API key and has none (local: no request is made)."""
    from ember.config import missing_key_message

    problem = missing_key_message(spec)
    if problem:
        return Check(_model_label(spec), False, problem, "set the key in EMBER_HOME/.env (or run `ember setup`)")
    return None


def check_offline(spec) -> Check:
    """What ``--offline`` can say about a model: whether its key is there (no request is made)."""
    return check_key(spec) or Check(_model_label(spec), True, "skipped: --offline sends no request")


def check_endpoint(spec) -> Check:
    from ember.models.base import AuthError, ConnectError, Message, NotFoundError, ProviderError
    from ember.models.catalog import build_provider

    label = _model_label(spec)
    missing = check_key(spec)
    if missing:
        return missing
    provider = build_provider(spec)
    started = time.monotonic()
    try:
        provider.complete([Message(role="user", content="Reply with the word ok.")], None, max_tokens=8)
    except AuthError as exc:
        return Check(label, False, str(exc), "check EMBER_API_KEY (or the api_key_env of this model)")
    except NotFoundError as exc:
        return Check(label, False, str(exc), "check the model name (`ember models` lists what the endpoint serves)")
    except ConnectError as exc:
        return Check(label, False, str(exc), "start the server, or fix EMBER_BASE_URL / base_url")
    except ProviderError as exc:
        return Check(label, False, str(exc), "see docs/models.md for this provider's settings")
    finally:
        provider.close()
    return Check(label, True, f"answered in {time.monotonic() - started:.2f}s")


def check_memory_scan(settings) -> Check:
    """Skills and USER.md lines the scan leaves out of the prompt (placed or edited by hand, or written
    before the scan knew better), with why."""
    from ember.config import home_issue
    from ember.memory import profile
    from ember.memory.skills import library as skills
    from ember.store.records import StoreError

    try:
        refused = [info for info in skills.list_skills(settings.home) if info.refused]
        _, left_out = profile.screened(settings.home)
        # The store needs a writable folder (SQLite's WAL files): with a read-only home, lessons are not checked
        store_file = settings.store_file
        planted = _refused_lessons(settings) if (store_file is None or store_file.exists()) \
            and not home_issue(settings.home, write=True) else []
    except (OSError, StoreError) as exc:  # the store turns its database's errors into StoreError
        return Check("memory scan", True, f"skipped: {exc}")
    found = [f"skill {info.name}: it contains {info.refused}" for info in refused]
    found += [f"USER.md line {line!r}: {why}" for line, why in left_out]
    found += [f"lesson #{lesson_id}: it contains {why}" for lesson_id, why in planted]
    if not found:
        return Check("memory scan", True, "skills, lessons and USER.md are clean")
    fixes = [f"inspect with `ember skills show {refused[0].name}`, then fix or `ember skills remove "
             f"{refused[0].name}`"] if refused else []
    if left_out:
        fixes.append(f"edit {profile.path_in(settings.home)}")
    if planted:
        fixes.append(f"`ember memory lessons --forget {planted[0][0]}`")
    return Check("memory scan", False, "left out of the prompt: " + "; ".join(found), "; ".join(fixes))


def _refused_lessons(settings) -> list[tuple[int, str]]:
    """(id, why) of each active lesson the scan refuses (the prompt leaves them out)."""
    from ember.memory import lessons
    from ember.runtime import open_store
    from ember.security.scan import refusals

    with open_store(settings) as store:
        active = lessons.list_lessons(store)
    return [(lesson.id, "; ".join(problems)) for lesson in active if (problems := refusals(lesson.rule))]


MCP_LIMIT = 10.0  # seconds doctor gives each MCP server to start, and to answer each request


def check_mcp_servers(settings, offline: bool = False) -> list[Check]:
    """One check per ``[mcp.servers.NAME]``: each enabled server is started (all at once), asked
    for its tools and stopped, within ``MCP_LIMIT`` seconds per step."""
    from ember.config import ConfigError
    from ember.mcp.config import server_configs
    from ember.mcp.probe import probe_all, scrubber

    try:
        configs = list(server_configs(settings).values())
    except ConfigError as exc:
        return [Check("mcp servers", False, str(exc), "fix the [mcp.servers.NAME] table (see docs/mcp.md)")]
    checked = [c for c in configs if c.enabled and not offline]
    reports = probe_all(settings, checked, limit=MCP_LIMIT)
    checks = []
    for config in configs:
        scrub = scrubber(config)  # the command line or url could hold a key, e.g. ?api_key=...
        label = f"mcp server {config.name} ({config.transport}: {scrub(config.target)})"
        report = reports.get(config.name)
        if not config.enabled:
            checks.append(Check(label, True, "skipped: enabled = false in its table"))
        elif report is None:
            checks.append(Check(label, True, "skipped: --offline starts no server"))
        elif report["status"] == "ok":
            server = " ".join(filter(None, (report["server"], report["version"]))) or "the server"
            count = len(report["tools"])
            checks.append(Check(label, True, f"{server} answered in {report['seconds']:.2f}s, "
                                             f"{count} tool{'' if count == 1 else 's'}"))
        else:
            checks.append(Check(label, False, report["error"], scrub(_mcp_fix(config, report["error"]))))
    return checks


def _mcp_fix(config, error: str) -> str:
    """What to do next about a server that failed, from the error ``probe`` reported."""
    from ember.mcp import INSTALL_HINT

    table = f"[mcp.servers.{config.name}] in config.toml"
    then = f"; then `ember mcp test {config.name}`"
    if INSTALL_HINT in error:
        return "pip install 'ember-agent[mcp]'"
    missing = re.search(r"\$\{(\w+)\}, which is not set", error)
    if missing:
        return f"add {missing.group(1)}=... to EMBER_HOME/.env (or set it in the environment){then}"
    if config.command and "was not found" in error:
        return f"install {config.command}, or fix `command` of {table} (a full path works when it is not on PATH)"
    if "did not finish starting within" in error or "did not answer" in error:
        slow = (f"`ember mcp test {config.name}` waits its full connect_timeout ({config.connect_timeout:g} s)"
                if config.connect_timeout > MCP_LIMIT else f"raise connect_timeout and timeout of {table}")
        return f"start it by hand to see whether it hangs; if it is only slow, {slow}"
    if config.url:
        if "answered HTTP" in error:
            return f"check `url` and `headers` (the token in EMBER_HOME/.env) of {table}{then}"
        return f"check that {config.url} is right and its server is running (`url` of {table}){then}"
    if "exited" in error:
        return f"run `{config.target}` by hand to see why it exits, or fix `command`/`args`/`env` of {table}{then}"
    return f"run `ember mcp test {config.name}` for details, or set enabled = false in {table}"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--offline", is_flag=True,
              help="Skip the real requests to model endpoints and MCP servers (API keys are still checked).")
def doctor(as_json: bool, offline: bool) -> int:
    """Check config, home dir, database, each endpoint and MCP server; print a fix for each problem."""
    from ember.config import ConfigError, ember_home, home_issue, load_settings

    home = ember_home()
    checks: list[Check] = check_home(home)
    if home_issue(home):  # cannot even be read: nothing else can be checked
        checks.append(Check("config", True, "skipped: the home cannot be read (see home)"))
        settings = None
    else:
        try:
            settings = load_settings()
        except ConfigError as exc:
            checks.append(Check("config", False, str(exc), "fix the file, or run `ember setup` to write a new one"))
            settings = None
    if settings is not None:
        checks.append(Check("config", True, f"provider {settings.default_model.provider}"))
        checks.append(check_database(settings))
        checks.append(check_workspace(settings))
        checks.append(check_sandbox(settings))
        checks.append(check_memory_scan(settings))
        checks.extend(check_plain_keys(settings))
        check_model = check_offline if offline else check_endpoint
        checks.extend(check_model(spec) for spec in settings.models.values())
        checks.extend(check_mcp_servers(settings, offline))
    failed = [c for c in checks if not c.ok]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}))
    else:
        for check in checks:
            mark = click.style("✓", fg="green") if check.ok else click.style("✗", fg="red")
            click.echo(f"{mark} {check.name}: {check.detail}")
            if check.fix:
                click.echo(f"    fix: {check.fix}")
        click.echo(("all good" if not failed else f"{len(failed)} problem(s) found"), err=True)
    return 1 if failed else 0
