"""EMBER_HOME: where it is, and whether Ember can read and write it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def ember_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("EMBER_HOME") or Path.home() / ".ember").expanduser()


def home_issue(home: Path, *, write: bool = False) -> tuple[str, str] | None:
    """Why Ember cannot use ``home`` (read it; with ``write``, also write in it) and what to do,
    or None.

    A home that does not exist yet is fine: it is created on first use. Reading needs a folder
    this user may list and enter; writing (the database and its WAL files, the chat history)
    needs it writable, and SQLite cannot open ember.db without that.
    """
    where = f"the Ember home {home} (EMBER_HOME)"
    elsewhere = "or set EMBER_HOME to another folder"
    try:
        is_dir = home.is_dir()
        exists = is_dir or home.exists()
    except OSError as exc:  # a parent that cannot be entered
        return (f"cannot use {where}: {exc.strerror or exc}",
                f"fix the permissions of its parent folders, {elsewhere}")
    if not exists:
        return None
    if not is_dir:
        return f"{where} is a file, not a folder", f"move that file away, {elsewhere}"
    if not os.access(home, os.R_OK | os.X_OK):
        return f"{where} cannot be read by this user", f"`chmod u+rwx {home}`, {elsewhere}"
    if write and not os.access(home, os.W_OK):
        return (f"{where} is read-only, and Ember keeps its database there",
                f"make it writable (`chmod u+w {home}`), {elsewhere}")
    return None


def home_problem(home: Path, *, write: bool = False) -> str | None:
    """``home_issue`` as one line: what is wrong; what to do."""
    issue = home_issue(home, write=write)
    return f"{issue[0]}; {issue[1]}" if issue else None
