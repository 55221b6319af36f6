"""A web server that is not a model API, for the tests of a wrong ``EMBER_BASE_URL``.

It answers the way ordinary web servers do: ``python -m http.server`` answers a POST with an HTML
``501 Unsupported method`` page and an unknown path with an HTML ``404 File not found`` page;
nginx, a router's admin page or a company proxy answer with their own HTML. ``WebServer`` does
the same on 127.0.0.1, counting the requests it got, so a test can tell whether Ember retried::

    with WebServer() as web:                     # GET: 404 page, POST: 501 page
        ...                                      # point EMBER_BASE_URL at web.base_url
        assert web.count == 1

    WebServer(post_status=404, title="404 Not Found")          # nginx's way
    WebServer(post_status=500, body="x" * 1_000_000, content_type="text/plain")   # a huge non-HTML body
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE = """<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>{title}</title>
    </head>
    <body>
        <h1>{title}</h1>
        <p>Error code: {status}</p>
        <p>Message: {message}.</p>
        <p>Error code explanation: {status} - {explanation}.</p>
    </body>
</html>
"""

_TEXTS = {
    404: ("File not found", "Nothing matches the given URI"),
    501: ("Unsupported method ('POST')", "Server does not support this operation"),
    502: ("Bad Gateway", "Invalid responses from another server/proxy"),
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:
        self._answer(self.server.web.get_status)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self._answer(self.server.web.post_status)

    def _answer(self, status: int) -> None:
        web = self.server.web
        with web.lock:
            web.requests.append((self.command, self.path))
        body = web.page(status).encode()
        self.send_response(status)
        self.send_header("Content-Type", web.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    web: WebServer


class WebServer:
    """Serves an error page (or ``body``) to every request; ``requests`` lists (method, path)."""

    def __init__(self, *, get_status: int = 404, post_status: int = 501, title: str = "Error response",
                 body: str | None = None, content_type: str = "text/html;charset=utf-8") -> None:
        self.get_status = get_status
        self.post_status = post_status
        self.title = title
        self.body = body
        self.content_type = content_type
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._server: _Server | None = None

    def page(self, status: int) -> str:
        if self.body is not None:
            return self.body
        message, explanation = _TEXTS.get(status, ("Error", "Something went wrong"))
        return PAGE.format(title=self.title, status=status, message=message, explanation=explanation)

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """Where an OpenAI-compatible ``base_url`` would point (the Anthropic one is ``url``)."""
        return self.url + "/v1"

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def __enter__(self) -> WebServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.web = self
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
