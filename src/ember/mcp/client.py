"""One MCP server connection, usable from Ember's synchronous agent loop.

The official SDK is async (anyio); the agent loop is not. Each connection owns a background
thread running its own asyncio event loop (``loop_thread.py``). The SDK session lives in one
long-running task on that loop (anyio needs a context manager entered and left in the same
task); every request is a coroutine run there with a timeout, while the calling thread watches
the turn's cancel event, so Ctrl-C stops an MCP call like any other tool.

A server starts on first use, not when Ember starts. When its connection drops (the process
crashed, the HTTP endpoint went away) the request fails with a message for the model and the
server is restarted once; a second crash leaves it stopped for the rest of the process.
Connections still open at exit are closed by an ``atexit`` hook, so stdio servers (which run in
their own process group) are never orphaned.

Secrets named in ``env``/``headers`` are resolved only here, and scrubbed (with anything shaped
like a key) from every message this module produces and from the server's log: its command line
and everything it writes to stderr (``server_log.py``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shlex
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TextIO, TypeVar

from ember.mcp import INSTALL_HINT, McpServerError
from ember.mcp.config import ServerConfig, resolve
from ember.mcp.loop_thread import LoopThread
from ember.mcp.server_info import ServerInfo, server_info
from ember.mcp.server_log import ServerLog
from ember.security.redact import Redactor

log = logging.getLogger(__name__)

T = TypeVar("T")
_live: weakref.WeakSet[McpConnection] = weakref.WeakSet()
_atexit_hooked = False


class ConnectionLost(Exception):
    """The transport under the session closed: the server crashed or went away."""


class McpConnection:
    """A started-on-demand connection to one server; thread-safe, one per server and process."""

    def __init__(
        self, config: ServerConfig, *, lookup: Mapping[str, str], workspace: Path | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.info: ServerInfo | None = None
        self.redact = Redactor()
        self._lookup = lookup
        self._workspace = workspace
        self.log_path = (log_dir / f"mcp-{config.name}.log") if log_dir and not config.url else None
        self._lock = threading.RLock()
        self._loop: LoopThread | None = None
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._errlog_start: int | None = None  # where this start's stderr begins in the log
        self._http_status: int | None = None  # the last HTTP error status, to explain a refused start
        self._failure: str | None = None  # set once the server is stopped for good
        self._restarts_left = 1
        self._generation = 0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def started(self) -> bool:
        return self._client is not None

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> ServerInfo:
        """Start the server (if it is not running) and finish the handshake; raises McpServerError."""
        with self._lock:
            if self._client is not None and self.info is not None:
                return self.info
            if self._failure:
                raise McpServerError(self._failure)
            try:
                self._connect()
            except McpServerError as exc:
                self.close()
                self._failure = str(exc)
                raise
            assert self.info is not None
            return self.info

    def close(self) -> None:
        """Stop the server (stdio: close its stdin, then terminate its process group) and the thread."""
        with self._lock:
            self._close_session()
            loop, self._loop = self._loop, None
            if loop is not None:
                loop.stop()
            _live.discard(self)

    def _connect(self) -> None:
        global _atexit_hooked
        if self._loop is None:
            self._loop = LoopThread(f"MCP server {self.name!r}")
            _live.add(self)
            if not _atexit_hooked:
                atexit.register(close_all)
                _atexit_hooked = True
        self._loop.run(self._open(), self.config.connect_timeout + 10)
        self._generation += 1

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[tuple[Any, ServerInfo]] = loop.create_future()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._serve(ready, self._stop))
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                self._client, self.info = await asyncio.shield(ready)
        except TimeoutError:
            ready.cancel()
            await self._end_task(graceful=False)
            raise McpServerError(self._explain(
                f"MCP server {self.name!r} did not finish starting within {self.config.connect_timeout:g} s "
                "(connect_timeout in its [mcp.servers] table)"
            )) from None
        except McpServerError:
            await self._end_task(graceful=False)
            raise
        except Exception as exc:
            await self._end_task(graceful=False)
            reason = _describe(exc)
            if "Connection closed" in reason:
                reason = "it exited (or closed the connection) during the handshake"
            if self._http_status is not None:
                reason = f"the server answered HTTP {self._http_status}; check its url and headers"
            raise McpServerError(self._explain(f"MCP server {self.name!r} could not start: {reason}")) from None

    async def _serve(self, ready: asyncio.Future[tuple[Any, ServerInfo]], stop: asyncio.Event) -> None:
        """The session's whole life, in one task: open, hand the client over, wait, close."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = await stack.enter_async_context(self._make_client(stack))
                if not ready.done():
                    ready.set_result((client, server_info(client)))
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else McpServerError("start-up was cancelled"))
            elif not isinstance(exc, asyncio.CancelledError):
                log.debug("MCP server %s: session ended with an error", self.name, exc_info=True)
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise

    async def _end_task(self, graceful: bool = True) -> None:
        """Close the session: let it finish (stdio: the SDK closes stdin, then terminates), or cancel it."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._stop is not None:
            self._stop.set()
        if graceful:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), timeout=10)
        if not task.done():
            task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await task

    def _close_session(self) -> None:
        if self._loop is not None and self._task is not None:
            try:
                self._loop.run(self._end_task(), 20)
            except Exception:
                log.debug("MCP server %s did not close cleanly", self.name, exc_info=True)
        self._client = None

    def _make_client(self, stack: contextlib.AsyncExitStack) -> Any:
        try:
            from mcp import Client, StdioServerParameters
            from mcp.client.stdio import stdio_client
            from mcp.types import Implementation
        except ImportError as exc:
            raise McpServerError(INSTALL_HINT) from exc
        from ember import __version__

        config = self.config
        if config.url:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            headers, secrets = resolve(config.headers, self._lookup, f"MCP server {self.name!r}: headers")
            self._scrub(secrets)

            async def remember_status(response: Any) -> None:
                if response.status_code >= 400:
                    self._http_status = response.status_code

            self._http_status = None
            http = httpx2.AsyncClient(
                headers=headers, timeout=httpx2.Timeout(config.connect_timeout, read=300),
                event_hooks={"response": [remember_status]},
            )
            stack.push_async_callback(http.aclose)
            transport = streamable_http_client(config.url, http_client=http)
        else:
            env, secrets = resolve(config.env, self._lookup, f"MCP server {self.name!r}: env")
            self._scrub(secrets)
            params = StdioServerParameters(
                command=os.path.expanduser(config.command or ""), args=list(config.args), env=env or None,
                cwd=self._cwd(),
            )
            errlog = self._open_errlog()
            if errlog is None:
                errlog_stream: TextIO = open(os.devnull, "w")  # noqa: SIM115 - closed with the session
                stack.callback(errlog_stream.close)
            else:
                errlog_stream = errlog.stream
                stack.callback(errlog.close)  # runs after the client (and the server process) has stopped
            transport = stdio_client(params, errlog=errlog_stream)
        info = Implementation(name="ember", version=__version__)
        return Client(transport, client_info=info, cache=None)

    def _cwd(self) -> str | None:
        if self.config.cwd:
            path = Path(os.path.expanduser(self.config.cwd))
            return str(path if path.is_absolute() or self._workspace is None else self._workspace / path)
        if self._workspace is not None:
            if self._workspace.parent.is_dir():  # only a missing last folder: never a mistyped tree
                self._workspace.mkdir(exist_ok=True)
            return str(self._workspace) if self._workspace.is_dir() else None
        return None

    def _open_errlog(self) -> ServerLog | None:
        """The server's stderr goes to EMBER_HOME/logs/mcp-NAME.log, never to the user's terminal,
        redacted like everything else this connection reports (the resolved secrets, key shapes)."""
        if self.log_path is None:
            return None
        command = shlex.join([self.config.command or "", *self.config.args])
        errlog = ServerLog(self.log_path, self.redact.redact,
                           f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {command}")
        self._errlog_start = errlog.start
        return errlog

    def _scrub(self, secrets: list[str]) -> None:
        for secret in secrets:
            self.redact.add(secret)

    # --- requests -----------------------------------------------------------------------------

    def request(
        self, what: str, call: Callable[[Any], Awaitable[T]], *, timeout: float | None = None,
        cancel: threading.Event | None = None,
    ) -> T:
        """Run ``call(client)`` on the session; every failure is a McpServerError worded for the model.

        ``what`` names the request in messages ("tool search"). A dropped connection restarts the
        server once; the request is not resent, since it may have had effects.
        """
        from ember.models.base import Cancelled

        if cancel is not None and cancel.is_set():
            raise Cancelled(f"MCP request to {self.name!r} cancelled")
        self.start()
        generation = self._generation
        limit = timeout or self.config.timeout
        assert self._loop is not None
        try:
            return self._loop.run(self._timed(call, limit, what), limit + 10, cancel)
        except ConnectionLost as exc:
            raise McpServerError(self._after_crash(generation, what, str(exc))) from None

    async def _timed(self, call: Callable[[Any], Awaitable[T]], limit: float, what: str) -> T:
        from mcp.shared.exceptions import MCPError
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        client = self._client
        if client is None:
            raise ConnectionLost("the session is closed")
        try:
            async with asyncio.timeout(limit):
                return await call(client)
        except TimeoutError:
            raise McpServerError(
                f"MCP server {self.name!r} did not answer {what} within {limit:g} s (timeout in its [mcp.servers] table)"
            ) from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                raise ConnectionLost(exc.message) from None
            if exc.code == REQUEST_TIMEOUT:
                raise McpServerError(f"MCP server {self.name!r} did not answer {what} in time") from None
            raise McpServerError(self.redact(f"MCP server {self.name!r} refused {what}: {exc.message}")) from None
        except (McpServerError, asyncio.CancelledError):
            raise
        except Exception as exc:
            if _is_transport_error(exc):
                raise ConnectionLost(_describe(exc)) from None
            raise McpServerError(self.redact(f"MCP server {self.name!r} failed {what}: {_describe(exc)}")) from None

    def _after_crash(self, generation: int, what: str, detail: str) -> str:
        """Restart once after a crash; the message tells the model what happened and what it can do."""
        with self._lock:
            if generation != self._generation and self._client is not None:
                return f"MCP server {self.name!r} stopped during {what} and was restarted; call it again if still needed."
            self._close_session()  # first: the server's last stderr lines are in its log once it is closed
            tail = self._stderr_tail(3)
            reason = detail[0].lower() + detail[1:] if detail else "the connection closed"
            reason += f"; its last stderr lines: {tail}" if tail else ""
            if self._restarts_left <= 0:
                self.close()
                self._failure = self._explain(
                    f"MCP server {self.name!r} stopped again ({reason}); it was already restarted once, so it "
                    "stays stopped until Ember restarts"
                )
                return self._failure
            self._restarts_left -= 1
            try:
                self._connect()
            except McpServerError as exc:
                self.close()
                self._failure = self.redact(
                    f"MCP server {self.name!r} stopped during {what} ({reason}) and could not be restarted: {exc}"
                )
                return self._failure
            log.info("MCP server %s stopped (%s) and was restarted", self.name, self.redact(reason))
            return self.redact(
                f"MCP server {self.name!r} stopped during {what} ({reason}). It has been restarted: call the "
                "tool again if it is still needed."
            )

    # --- messages -------------------------------------------------------------------------------

    def _stderr_tail(self, lines: int = 5) -> str:
        """The last lines the server wrote to stderr since it started (for crash reports)."""
        if self.log_path is None or self._errlog_start is None:
            return ""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                f.seek(self._errlog_start)
                text = f.read()[-4000:]
        except OSError:
            return ""
        tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
        return self.redact(" | ".join(tail))[-600:]

    def _explain(self, message: str) -> str:
        tail = self._stderr_tail()
        if tail:
            message += f"; its last output: {tail}"
        if self.log_path is not None:
            message += f" (log: {self.log_path})"
        return self.redact(message)


def _describe(exc: BaseException) -> str:
    """A one-line description of an exception, looking inside exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"{exc.filename!r} was not found (is it installed and on PATH?)"
    text = str(exc).strip() or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"


def _is_transport_error(exc: BaseException) -> bool:
    import anyio

    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream | OSError):
        return True
    try:
        import httpx2
    except ImportError:
        return False
    return isinstance(exc, httpx2.TransportError)


def close_all() -> None:
    """Close every open connection (atexit hook; safe to call more than once)."""
    for connection in list(_live):
        try:
            connection.close()
        except Exception:
            log.debug("closing MCP server %s failed", connection.name, exc_info=True)
