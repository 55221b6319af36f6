"""SSH for the ssh toolset: one asyncssh event loop in a thread, one connection per host, reused.

Tools are synchronous; asyncssh is not. A daemon thread runs one event loop for the whole
process and keeps a connection per configured host (with keepalives), so a run of ssh_run calls
pays for the handshake once. A tool call submits a coroutine and waits for it while watching
``ctx.cancel``; a cancel cancels the coroutine, which kills the remote command.

Host keys are always checked against the known_hosts file. An unknown host is refused with the
command that trusts it, unless the host has ``trust_on_first_use = true``: then its key is
fetched, recorded and reported once. A key that differs from the recorded one is always refused.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ember.config import ConfigError
from ember.models.base import Cancelled
from ember.tools.base import ToolError
from ember.tools.ssh_hosts import SshHost, SshSettings

T = TypeVar("T")
KEEPALIVE = 30.0


def load_asyncssh() -> Any:
    """The asyncssh module, or a ToolError saying which extra installs it."""
    try:
        import asyncssh
    except ImportError:
        raise ToolError(
            "The ssh tools need the asyncssh package: pip install 'ember-agent[ssh]' (or pip install asyncssh)."
        ) from None
    return asyncssh


class SshClient:
    """The process-wide loop and connection cache; ``client()`` returns the one instance."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="ember-ssh", daemon=True)
        self.thread.start()
        self.connections: dict[str, tuple[tuple[Any, ...], Any]] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    # --- calling into the loop ----------------------------------------------------------------

    def call(self, coro: Coroutine[Any, Any, T], cancel: threading.Event, limit: float) -> T:
        """Run ``coro`` on the loop; a cancel (or ``limit`` seconds, a safety net) cancels it."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        deadline = time.monotonic() + limit
        while True:
            try:
                return future.result(timeout=0.05)
            except TimeoutError:
                if cancel.is_set() or time.monotonic() > deadline:
                    future.cancel()
                    with contextlib.suppress(BaseException):
                        future.result(timeout=5)
                    if cancel.is_set():
                        raise Cancelled("the SSH operation was cancelled") from None
                    raise ToolError(f"the SSH operation did not finish within {limit:g}s") from None

    def close(self) -> None:
        async def close_all() -> None:
            for _, conn in self.connections.values():
                conn.close()
            self.connections.clear()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout=2)
        self.loop.call_soon_threadsafe(self.loop.stop)

    # --- connections --------------------------------------------------------------------------

    async def with_connection(
        self, host: SshHost, settings: SshSettings, operation: Callable[[Any], Awaitable[T]],
    ) -> tuple[T, str]:
        """``operation(conn)`` on a (cached) connection; returns its result and a note for the model."""
        asyncssh = load_asyncssh()
        for attempt in (1, 2):
            conn, note = await self._connection(host, settings)
            try:
                return await operation(conn), note
            except Stale:
                self._drop(host.name)
                if attempt == 2:
                    raise ToolError(f"The SSH connection to {host.name} keeps closing; try again later.") from None
            except asyncssh.Error as exc:
                raise ToolError(f"SSH error on {host.name}: {exc.reason or exc}") from None
        raise AssertionError("unreachable")

    def _drop(self, name: str) -> None:
        cached = self.connections.pop(name, None)
        if cached is not None:
            cached[1].close()

    async def _connection(self, host: SshHost, settings: SshSettings) -> tuple[Any, str]:
        lock = self.locks.setdefault(host.name, asyncio.Lock())
        async with lock:
            cached = self.connections.get(host.name)
            if cached is not None and cached[0] == _stamp(host, settings) and not cached[1].is_closed():
                return cached[1], ""
            self._drop(host.name)
            note = await _ensure_known(host, settings)
            conn = await _connect(host, settings)
            self.connections[host.name] = (_stamp(host, settings), conn)
            return conn, note


def _stamp(host: SshHost, settings: SshSettings) -> tuple[Any, ...]:
    """What a cached connection depends on: a change (an edited known_hosts too) means reconnecting."""
    try:
        mtime = settings.known_hosts.stat().st_mtime_ns
    except OSError:
        mtime = None
    return (host, settings.known_hosts, mtime)


class Stale(Exception):
    """A cached connection turned out to be closed before anything ran on it: reconnect and retry."""


async def opening(step: Awaitable[T]) -> T:
    """Await a channel-opening step; a failure there means nothing ran, so a retry is safe."""
    asyncssh = load_asyncssh()
    try:
        return await step
    except (asyncssh.ChannelOpenError, asyncssh.ConnectionLost, BrokenPipeError, ConnectionResetError) as exc:
        raise Stale(str(exc)) from exc


_client: SshClient | None = None
_client_lock = threading.Lock()


def client() -> SshClient:
    global _client
    with _client_lock:
        if _client is None:
            load_asyncssh()
            _client = SshClient()
            atexit.register(_client.close)
        return _client


# --- host keys ------------------------------------------------------------------------------


def _is_known(host: SshHost, known_hosts: Path) -> bool:
    if not known_hosts.exists():
        return False
    asyncssh = load_asyncssh()
    try:
        entries = asyncssh.read_known_hosts(str(known_hosts))
    except (OSError, ValueError) as exc:
        raise ToolError(f"cannot read {known_hosts}: {exc}") from None
    return any(entries.match(host.host, host.host, host.port if host.port != 22 else None)[:2])


def _trust_hint(host: SshHost, known_hosts: Path) -> str:
    port = f"-p {host.port} " if host.port != 22 else ""
    return (
        f"check the server's fingerprint, then either add its key with\n"
        f"  ssh-keyscan {port}{host.host} >> {known_hosts}\n"
        f"or set trust_on_first_use = true under [ssh.hosts.{host.name}] in config.toml to record it on "
        "the first connection"
    )


async def _ensure_known(host: SshHost, settings: SshSettings) -> str:
    """Refuse an unknown host, or (trust on first use) record its key; returns a note for the model."""
    path = settings.known_hosts
    if _is_known(host, path):
        return ""
    if not host.trust_on_first_use:
        raise ToolError(
            f"The host key of {host.name} ({host.host}:{host.port}) is not in {path}, so Ember will not "
            f"connect to it. Ask the user to {_trust_hint(host, path)}."
        )
    asyncssh = load_asyncssh()
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(host.host, host.port, config=None), host.connect_timeout
        )
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        raise ToolError(f"Could not connect to {host.name} ({host.host}:{host.port}): {str(exc) or 'timed out'}") from None
    if key is None:
        raise ToolError(f"{host.name} offered no host key to record.")
    kind, data = key.export_public_key().decode().split()[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as out:
        out.write(f"{host.address} {kind} {data}\n")
    return f"[trusted {host.name} on first use: recorded its {kind} host key {key.get_fingerprint()} in {path}]"


async def _connect(host: SshHost, settings: SshSettings) -> Any:
    asyncssh = load_asyncssh()
    options: dict[str, Any] = {
        "port": host.port, "known_hosts": str(settings.known_hosts), "config": None,
        "connect_timeout": host.connect_timeout, "keepalive_interval": KEEPALIVE, "keepalive_count_max": 3,
    }
    if host.user:
        options["username"] = host.user
    try:
        if host.key_file is not None:
            passphrase = (
                settings.secret(host.key_passphrase_env, f"[ssh.hosts.{host.name}].key_passphrase_env")
                if host.key_passphrase_env else None
            )
            try:
                options["client_keys"] = [asyncssh.read_private_key(str(host.key_file), passphrase)]
            except (OSError, ValueError) as exc:  # KeyImportError, KeyEncryptionError
                hint = " (if the key is encrypted, set key_passphrase_env)" if not passphrase else ""
                if "bcrypt" in str(exc):
                    hint = " (pip install 'ember-agent[ssh]' installs bcrypt)"
                raise ToolError(f"Cannot load key_file {host.key_file} of [ssh.hosts.{host.name}]: {exc}{hint}") from None
            options["agent_path"] = None
        if host.password_env:
            options["password"] = settings.secret(host.password_env, f"[ssh.hosts.{host.name}].password_env")
            if host.key_file is None:
                options["client_keys"], options["agent_path"] = None, None
    except ConfigError as exc:
        raise ToolError(str(exc)) from None
    where = f"{host.name} ({host.host}:{host.port})"
    try:
        return await asyncssh.connect(host.host, **options)
    except asyncssh.HostKeyNotVerifiable:
        raise ToolError(
            f"The host key of {where} does NOT match the one recorded in {settings.known_hosts}. Either the "
            "server was reinstalled or someone is intercepting the connection; Ember will not connect. If the "
            f"user knows why the key changed, they can remove the old one with: ssh-keygen -R '{host.address}' "
            f"-f {settings.known_hosts}"
        ) from None
    except asyncssh.PermissionDenied:
        raise ToolError(
            f"SSH login to {where} as {host.user or 'the local user'} was refused: check user, key_file or "
            f"password_env under [ssh.hosts.{host.name}]."
        ) from None
    except (TimeoutError, OSError) as exc:
        raise ToolError(f"Could not connect to {where}: {str(exc) or 'timed out'}") from None
    except asyncssh.Error as exc:
        raise ToolError(f"SSH connection to {where} failed: {exc.reason or exc}") from None
