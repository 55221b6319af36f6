"""Store locations as people write them: a path (SQLite) or a URL whose scheme names the backend,
and how to show one without its password. Standard library only, so configuration can use it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT = "sqlite"


def split_location(location: str | Path) -> tuple[str, str]:
    """(scheme, the rest): ``sqlite:///a/b.db`` -> ("sqlite", "/a/b.db"); a plain path is SQLite's."""
    text = str(location)
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme.isidentifier():
        return DEFAULT, text
    return scheme.lower(), rest


def location_secrets(location: str | Path) -> list[str]:
    """The secrets a location holds: the password of ``scheme://user:password@host``, and of a
    ``password=`` in its query (both as written and decoded)."""
    text = str(location)
    if "://" not in text:
        return []
    try:
        parts = urlsplit(text)
        found = [parts.password] if parts.password else []
        found += [value for key, value in parse_qsl(parts.query) if key.lower() == "password" and value]
    except ValueError:
        return []
    secrets = {variant for secret in found for variant in (secret, unquote(secret)) if variant}
    raw = parts.netloc.rpartition("@")[0].partition(":")[2] if "@" in parts.netloc else ""
    if raw:
        secrets.add(raw)
    return sorted(secrets, key=len, reverse=True)


def shown_location(location: str | Path) -> str:
    """``location`` as messages, logs and ``ember doctor`` show it: any password replaced by ``***``."""
    text = str(location)
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return text.split("://", 1)[0] + "://***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{host}"
    query = "&".join(f"{key}=***" if key.lower() == "password" else (f"{key}={value}" if value else key)
                     for key, value in parse_qsl(parts.query, keep_blank_values=True))
    shown = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    for secret in location_secrets(text):  # whatever the parsing above missed
        shown = shown.replace(secret, "***")
    return shown
