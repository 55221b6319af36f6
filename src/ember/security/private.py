"""What no tool touches by path: Ember's own home and the user's credential folders.

Kept apart from the sandbox's module (``boundary.py``) because every tool context checks paths
with it, also on turns that run no command: importing it must cost next to nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CREDENTIAL_PATHS", "private_reason", "real"]

# Hidden from commands even though the rest of the root is readable (relative to $HOME).
CREDENTIAL_PATHS = (
    ".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".config/gcloud", ".config/gh",
    ".netrc", ".git-credentials", ".pypirc", ".npmrc", ".pgpass", ".config/hub", ".terraform.d",
    ".local/share/keyrings", ".password-store", ".vault-token", ".huggingface",
)


def real(path: Path | str) -> Path:
    """``path`` with ``~`` expanded and every symlink and ``..`` resolved."""
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def private_reason(path: Path, *, workspace: Path, home: Path | str | None = None) -> str | None:
    """Why a tool may not touch ``path`` by name (None when it may).

    Ember's home holds config.toml, .env, the database, USER.md and skills: the model changes
    those only through Ember's own tools (``user_profile``, ``skill_manage``), never by path, so
    that hostile text cannot rewrite approvals or read keys. Credential folders are the user's.
    The workspace is always allowed, also when it lies inside Ember's home.
    """
    if home is None:
        from ember.config import ember_home

        home = ember_home()
    resolved = real(path)
    if resolved.is_relative_to(real(workspace)):
        return None
    if resolved.is_relative_to(real(home)):
        return (f"{path} is inside Ember's own folder ({home}): tools cannot read or change it. "
                "Use user_profile for the user's preferences and skill_manage for skills.")
    user_home = real(Path.home())
    for name in CREDENTIAL_PATHS:
        if resolved.is_relative_to(user_home / name):
            return f"{path} holds the user's credentials (~/{name}): tools cannot read or change it."
    return None
