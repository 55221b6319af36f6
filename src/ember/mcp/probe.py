"""Start a configured server, list what it offers, stop it: `ember mcp list/test/add` and `ember doctor`.

``probe`` returns a plain dict (the JSON of ``ember mcp test --json``); it never raises for a
server that fails, it reports ``status="error"`` with a message saying what went wrong.
``probe_all`` checks several servers at once, so a slow one does not hold up the rest.

Reports never hold a secret: the connection scrubs the ``${NAME}`` values it resolved, and the
error is scrubbed again of the literal values of ``headers`` and of secret-looking ``env`` keys.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.config import Settings
    from ember.mcp.config import ServerConfig
    from ember.security.redact import Redactor

MAX_PARALLEL = 8
SECRET_KEY = re.compile(r"(?i)authorization|token|secret|key|passw|cookie|credential")


def probe(settings: Settings, config: ServerConfig, *, limit: float | None = None) -> dict[str, Any]:
    """Start the server, list its tools, stop it; never raises for the server's own failures.

    ``limit`` caps (for this check only: ``ember doctor``'s) the seconds to start the server and
    for each request, whatever ``connect_timeout`` and ``timeout`` the server's table sets; a
    timeout the cap caused is reported as the cap's, not as the table's.
    """
    from ember.mcp import McpServerError
    from ember.mcp.client import McpConnection
    from ember.mcp.config import secret_lookup
    from ember.mcp.toolset import McpLoader

    configured = config
    if limit is not None:
        config = dataclasses.replace(
            config, connect_timeout=min(config.connect_timeout, limit), timeout=min(config.timeout, limit),
        )
    lookup = secret_lookup(settings)
    connection = McpConnection(config, lookup=lookup, workspace=settings.workspace_dir, log_dir=settings.home / "logs")
    started = time.monotonic()
    report: dict[str, Any] = {"name": config.name, "transport": config.transport, "target": config.target}
    try:
        tools = McpLoader(connection).load()
        info = connection.info
        assert info is not None
        report.update(
            status="ok", seconds=round(time.monotonic() - started, 2), server=info.name, version=info.version,
            protocol=info.protocol_version, summary=info.summary, resources=info.resources, prompts=info.prompts,
            tools=[{"name": t.name, "description": t.description.splitlines()[0] if t.description else ""}
                   for t in tools],
        )
    except McpServerError as exc:
        error = _name_the_limit(str(exc), configured, limit)
        report.update(status="error", error=scrubber(config, lookup)(error), tools=[])
    finally:
        connection.close()
    return report


def probe_all(
    settings: Settings, configs: Iterable[ServerConfig], *, limit: float | None = None,
) -> dict[str, dict[str, Any]]:
    """``probe`` each server, several at a time; the reports by server name, in the given order."""
    configs = list(configs)
    if not configs:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(configs)), thread_name_prefix="mcp-probe") as pool:
        reports = pool.map(lambda c: probe(settings, c, limit=limit), configs)
        return {config.name: report for config, report in zip(configs, reports, strict=True)}


def _name_the_limit(error: str, config: ServerConfig, limit: float | None) -> str:
    """Say that a timeout was ``limit`` (doctor's cap), not the table's setting, where the cap was lower.

    The client's message reads "within 10 s (connect_timeout in its [mcp.servers] table)", which is
    wrong when the table says 60 s and the 10 s came from the cap.
    """
    if limit is None:
        return error
    for key, configured in (("connect_timeout", config.connect_timeout), ("timeout", config.timeout)):
        if configured > limit:
            error = error.replace(
                f"({key} in its [mcp.servers] table)",
                f"(ember doctor's limit; `ember mcp test {config.name}` waits the full {key} "
                f"of {configured:g} s)",
            )
    return error


def scrubber(config: ServerConfig, lookup: dict[str, str] | None = None) -> Redactor:
    """A redactor for text about ``config``: its literal header values and secret-looking env values,
    the values its ``${NAME}`` references stand for, and the usual shapes of keys and tokens."""
    from ember.mcp.config import _REFERENCE
    from ember.security.redact import Redactor

    redactor = Redactor()
    for key, value in [*config.headers.items(), *config.env.items()]:
        names = _REFERENCE.findall(value)
        if not names and (key in config.headers or SECRET_KEY.search(key)):
            redactor.add(value)  # a literal secret, written in config.toml itself
        for name in names:
            redactor.add((lookup or {}).get(name))
    return redactor
