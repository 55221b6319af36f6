"""``ember doctor``: check everything Ember depends on and print a fix for each problem."""

from __future__ import annotations

import json
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
    checks: list[Check] = []
    if not home.exists():
        return [Check("home", True, f"{home} does not exist yet; it is created on first use")]
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
    from ember.memory.store import StoreError
    from ember.runtime import open_store

    if not settings.db_path.exists():
        return Check("database", True, "not created yet")
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
    return Check("database", True, f"{settings.db_path} ok")


def check_endpoint(spec) -> Check:
    from ember.models.base import AuthError, ConnectError, Message, NotFoundError, ProviderError
    from ember.models.catalog import build_provider

    label = f"model {spec.name} ({spec.provider}:{spec.model} at {spec.base_url})"
    from ember.config import missing_key_message

    problem = missing_key_message(spec)
    if problem:
        return Check(label, False, problem, "set the key in EMBER_HOME/.env (or run `ember setup`)")
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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--offline", is_flag=True, help="Skip the real requests to model endpoints.")
def doctor(as_json: bool, offline: bool) -> int:
    """Check config, home dir, database and each endpoint; print a fix for each problem."""
    from ember.config import ConfigError, ember_home, load_settings

    checks: list[Check] = check_home(ember_home())
    try:
        settings = load_settings()
    except ConfigError as exc:
        checks.append(Check("config", False, str(exc), "fix the file, or run `ember setup` to write a new one"))
        settings = None
    else:
        checks.append(Check("config", True, f"provider {settings.default_model.provider}"))
        checks.append(check_database(settings))
        if not offline:
            checks.extend(check_endpoint(spec) for spec in settings.models.values())
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
