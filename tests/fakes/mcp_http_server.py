"""A small MCP server built with the official SDK, for the MCP client tests.

It speaks streamable HTTP (on 127.0.0.1, a free port) or stdio (``--stdio``), so the client is
tested against the real protocol on both transports. What it offers:

- tools: ``add(a, b)``, ``echo(text)``, ``whoami()`` (the Authorization header it received, to
  prove configured headers arrive), ``env(name)`` (a variable of its environment), ``image()``
  (a 1x1 PNG), ``fail(message)`` (an ``isError`` result), ``slow(seconds)``, ``crash()`` (the
  process exits at once: stdio only, for the restart tests), ``count()`` (calls so far in this
  process, to tell a restarted server from the first), ``pid()``;
- resources: ``note://greeting`` (text) and the template ``note://items/{item_id}``;
- prompts: ``review(topic)``.

In a test::

    from tests.fakes.mcp_http_server import McpHttpServer

    with McpHttpServer(token="s3cret-token") as server:   # 401 without "Authorization: Bearer s3cret-token"
        server.url                                        # "http://127.0.0.1:PORT/mcp"

From a shell::

    python -m tests.fakes.mcp_http_server --stdio
    python -m tests.fakes.mcp_http_server --port 8931 [--token T]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import threading
import time
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image

# The smallest valid PNG: one transparent pixel.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def build_server(*, allow_crash: bool) -> MCPServer:
    server = MCPServer("fake-notes", instructions="Notes and arithmetic for tests.", log_level="WARNING")
    calls = {"n": 0}

    @server.tool()
    def add(a: int, b: int) -> str:
        """Add two integers."""
        calls["n"] += 1
        return str(a + b)

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        calls["n"] += 1
        return text

    @server.tool()
    def whoami(ctx: Context) -> str:
        """The Authorization header of this request."""
        return (ctx.headers or {}).get("authorization", "(none)")

    @server.tool()
    def env(name: str) -> str:
        """The value of an environment variable of this server process."""
        return os.environ.get(name, "(unset)")

    @server.tool()
    def image() -> Image:
        """A tiny PNG image."""
        return Image(data=PIXEL_PNG, format="png")

    @server.tool()
    def fail(message: str) -> str:
        """Always fails with the given message."""
        raise ToolError(message)

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool()
    def pid() -> str:
        """The server's process id (to check that it is stopped after Ember exits)."""
        return str(os.getpid())

    @server.tool()
    def count() -> str:
        """How many add/echo calls this process has served."""
        return str(calls["n"])

    if allow_crash:

        @server.tool()
        def crash() -> str:
            """Exit the server process immediately."""
            os._exit(3)

    @server.resource("note://greeting", name="greeting", description="A friendly note", mime_type="text/plain")
    def greeting() -> str:
        return "Hello from the notes server."

    @server.resource("note://items/{item_id}", name="item", description="One item by id")
    def item(item_id: str) -> str:
        return f"Item {item_id}"

    @server.prompt()
    def review(topic: str) -> str:
        """Ask for a review of a topic."""
        return f"Please review {topic} carefully."

    return server


def _auth_middleware(app: Any, token: str | None) -> Any:
    """Refuse requests without the bearer token, as a real protected server would."""
    if not token:
        return app

    async def guarded(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
            if headers.get("authorization") != f"Bearer {token}":
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)

    return guarded


class McpHttpServer:
    """The fake server over streamable HTTP, in a thread of the test process."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> McpHttpServer:
        import uvicorn

        app = _auth_middleware(build_server(allow_crash=False).streamable_http_app(), self.token)
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake MCP server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> McpHttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdio", action="store_true", help="Serve on stdin/stdout.")
    parser.add_argument("--port", type=int, default=0, help="HTTP port (0: any free port).")
    parser.add_argument("--token", help="Require this bearer token.")
    args = parser.parse_args()
    if args.stdio:
        build_server(allow_crash=True).run("stdio")
        return
    import uvicorn

    app = _auth_middleware(build_server(allow_crash=False).streamable_http_app(), args.token)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
