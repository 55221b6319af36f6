"""Local web servers for the web, http and browser tool tests.

``LocalSite`` is a real HTTP/1.1 server on 127.0.0.1 (port 0, a daemon thread) with routes and a
log of every request it received (method, path, query, headers, body), so a test can check what
actually arrived: a form a browser submitted, the credential header http_request sent.

The search fakes answer with each API's documented JSON shape, field for field, so Ember's real
client code parses what the real service would send:

- ``FakeSearxng``: ``GET /search?q=...&format=json`` (403 when JSON output is disabled, as SearXNG
  does unless ``search.formats`` lists ``json``).
- ``FakeBrave``: ``GET /res/v1/web/search`` with ``X-Subscription-Token``; 401 ``ErrorResponse``
  otherwise. Descriptions carry ``<strong>`` highlights, as Brave's do.
- ``FakeTavily``: ``POST /search``, the key as ``Authorization: Bearer`` or ``api_key`` in the body.
- ``FakeDuckDuckGo``: an HTTPS-intercepting proxy (``CONNECT``) that terminates TLS for
  ``html.duckduckgo.com`` with a certificate from a throw-away CA and serves the HTML results page
  that the ``ddgs`` package parses. Point ddgs at it with ``proxy=fake.proxy_url`` and
  ``verify=fake.ca_file``; no request leaves the machine.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Hit:
    """One request the server received. Header names are lower-case."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` body (or the query string), last value wins."""
        source = self.body.decode() if self.body else ""
        return {k: v[-1] for k, v in parse_qs(source, keep_blank_values=True).items()}

    def arg(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[-1]


@dataclass
class Answer:
    """A response: ``body`` (str or bytes), status, content type and extra headers."""

    body: str | bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
        return cls(json.dumps(payload), status, "application/json", dict(headers or {}))

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Answer:
        return cls(b"", status, "text/plain", {"Location": location})


Handler = Callable[[Hit], Answer]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - no per-request noise
        pass

    def _serve(self) -> None:
        site: LocalSite = self.server.site  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        hit = Hit(
            method=self.command, path=parts.path, query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()}, body=body,
        )
        with site.lock:
            site.hits.append(hit)
        answer = site.answer(hit)
        data = answer.body.encode() if isinstance(answer.body, str) else answer.body
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (size limits)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is normal
            super().handle_error(request, client_address)


class LocalSite:
    """A tiny web server on 127.0.0.1 with routes (exact paths) and a request log::

        with LocalSite() as site:
            site.page("/", "<h1>Hi</h1>").route("POST", "/send", lambda hit: Answer(hit.form()["name"]))
            ...  # site.url + "/", then site.hits[-1].headers["authorization"]
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self._server: _Server | None = None

    def route(self, method: str, path: str, handler: Handler) -> LocalSite:
        self.routes[(method.upper(), path)] = handler
        return self

    def page(self, path: str, html: str | bytes, content_type: str = "text/html; charset=utf-8") -> LocalSite:
        """Serve fixed content at ``path`` for GET (and HEAD)."""
        return self.route("GET", path, lambda _hit: Answer(html, content_type=content_type))

    def answer(self, hit: Hit) -> Answer:
        handler = self.routes.get((hit.method, hit.path))
        if handler is None and hit.method == "HEAD":
            handler = self.routes.get(("GET", hit.path))
        if handler is None:
            return Answer(f"no route for {hit.method} {hit.path}", 404, "text/plain")
        return handler(hit)

    def requests_to(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]

    @property
    def url(self) -> str:
        assert self._server is not None, "start the site first (use it as a context manager)"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalSite:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.site = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> LocalSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Found:
    """One search result to serve: what every API's result has in some shape."""

    title: str
    url: str
    snippet: str


class FakeSearxng(LocalSite):
    """SearXNG's JSON API (``/search?format=json``), as documented at docs.searxng.org/dev/search_api."""

    def __init__(self, results: list[Found], *, json_enabled: bool = True) -> None:
        super().__init__()
        self.results = results
        self.json_enabled = json_enabled
        self.route("GET", "/search", self._search)

    def _search(self, hit: Hit) -> Answer:
        if hit.arg("format") != "json":
            return Answer("<html><body>results as HTML</body></html>")
        if not self.json_enabled:
            return Answer("<html><body><h1>403 Forbidden</h1></body></html>", 403)
        results = []
        for position, found in enumerate(self.results, 1):
            netloc = urlsplit(found.url).netloc
            results.append({
                "url": found.url, "title": found.title, "content": found.snippet,
                "engine": "duckduckgo", "parsed_url": ["https", netloc, urlsplit(found.url).path, "", "", ""],
                "template": "default.html", "engines": ["duckduckgo", "brave"], "positions": [position, position],
                "score": 2.0 / position, "category": "general", "publishedDate": None, "thumbnail": "",
            })
        return Answer.json({
            "query": hit.arg("q"), "number_of_results": 0, "results": results, "answers": [],
            "corrections": [], "infoboxes": [], "suggestions": [f"{hit.arg('q')} tutorial"],
            "unresponsive_engines": [["google", "timeout"]],
        })


class FakeBrave(LocalSite):
    """Brave Search's web endpoint (``/res/v1/web/search``) with its ``X-Subscription-Token`` check."""

    def __init__(self, results: list[Found], *, api_key: str) -> None:
        super().__init__()
        self.results = results
        self.api_key = api_key
        self.route("GET", "/res/v1/web/search", self._search)

    def _search(self, hit: Hit) -> Answer:
        if hit.headers.get("x-subscription-token") != self.api_key:
            error = {"id": "3b4a2f10-0000-4000-8000-000000000000", "status": 401, "code": "SUBSCRIPTION_TOKEN_INVALID",
                     "detail": "The provided subscription token is invalid.", "meta": {"component": "authentication"}}
            return Answer.json({"type": "ErrorResponse", "error": error, "time": int(time.time())}, 401)
        results = []
        for found in self.results[: int(hit.arg("count", "20"))]:
            parts = urlsplit(found.url)
            results.append({
                "title": found.title, "url": found.url, "is_source_local": False, "is_source_both": False,
                "description": found.snippet.replace(hit.arg("q"), f"<strong>{hit.arg('q')}</strong>"),
                "page_age": "2026-01-10T08:00:00", "profile": {
                    "name": parts.netloc, "url": found.url, "long_name": parts.netloc,
                    "img": "https://imgs.search.brave.com/icon.png"},
                "language": "en", "family_friendly": True, "type": "search_result", "subtype": "generic",
                "is_live": False, "meta_url": {"scheme": parts.scheme, "netloc": parts.netloc,
                                               "hostname": parts.hostname, "favicon": "", "path": parts.path},
                "age": "January 10, 2026",
            })
        return Answer.json({
            "query": {"original": hit.arg("q"), "show_strict_warning": False, "is_navigational": False,
                      "is_news_breaking": False, "spellcheck_off": True, "country": "us", "bad_results": False,
                      "should_fallback": False, "postal_code": "", "city": "", "header_country": "",
                      "more_results_available": True, "state": ""},
            "mixed": {"type": "mixed", "main": [{"type": "web", "index": i, "all": False} for i in range(len(results))],
                      "top": [], "side": []},
            "type": "search", "web": {"type": "search", "results": results, "family_friendly": True},
        })


class FakeTavily(LocalSite):
    """Tavily's ``POST /search``: the key as a Bearer token or ``api_key`` in the JSON body."""

    def __init__(self, results: list[Found], *, api_key: str) -> None:
        super().__init__()
        self.results = results
        self.api_key = api_key
        self.route("POST", "/search", self._search)

    def _search(self, hit: Hit) -> Answer:
        body = hit.json() or {}
        bearer = hit.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key not in (bearer, body.get("api_key")):
            return Answer.json({"detail": {"error": "Unauthorized: missing or invalid API key."}}, 401)
        results = [
            {"url": f.url, "title": f.title, "content": f.snippet, "score": round(0.9 - i * 0.1, 2), "raw_content": None}
            for i, f in enumerate(self.results[: int(body.get("max_results", 5))])
        ]
        return Answer.json({
            "query": body.get("query"), "follow_up_questions": None, "answer": None, "images": [],
            "results": results, "response_time": 1.09, "request_id": "123e4567-e89b-12d3-a456-426614174111",
        })


def _ddg_results_page(query: str, results: list[Found]) -> str:
    """The structure of html.duckduckgo.com/html/ results, which ddgs's xpaths read."""
    blocks = []
    for found in results:
        blocks.append(
            '<div class="result results_links results_links_deep web-result ">'
            '<div class="links_main links_deep result__body">'
            f'<h2 class="result__title"><a rel="nofollow" class="result__a" href="{found.url}">{found.title}</a></h2>'
            '<div class="result__extras"><div class="result__extras__url">'
            f'<a class="result__url" href="{found.url}">{urlsplit(found.url).netloc}</a></div></div>'
            f'<a class="result__snippet" href="{found.url}">{found.snippet}</a>'
            '<div class="clear"></div></div></div>'
        )
    return (
        f'<!DOCTYPE html><html><head><title>{query} at DuckDuckGo</title></head><body>'
        f'<div id="links" class="results">{"".join(blocks)}</div></body></html>'
    )


class FakeDuckDuckGo(LocalSite):
    """An HTTPS-intercepting proxy that plays html.duckduckgo.com for the ``ddgs`` package.

    ``CONNECT html.duckduckgo.com:443`` is answered 200, then the tunnel is wrapped in TLS with a
    certificate signed by a CA made for this fake (``ca_file``), and the HTTP requests inside are
    served by this site's routes (``POST /html/``). Tunnels to any other host are refused.
    Needs the ``openssl`` command to make the certificates.
    """

    HOST = "html.duckduckgo.com"

    def __init__(self, results: list[Found], workdir: Path) -> None:
        super().__init__()
        self.results = results
        self.ca_file, cert, key = _make_certificates(workdir, self.HOST)
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(cert, key)
        self._tls.set_alpn_protocols(["http/1.1"])
        self.refused: list[str] = []
        self.route("POST", "/html/", self._search)
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()

    def _search(self, hit: Hit) -> Answer:
        return Answer(_ddg_results_page(hit.form().get("q", ""), self.results))

    @property
    def proxy_url(self) -> str:
        assert self._listener is not None
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> FakeDuckDuckGo:
        super().start()  # its handler serves the requests decrypted from the tunnel
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()
        super().stop()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                client, _ = self._listener.accept()  # type: ignore[union-attr]
                threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        client.settimeout(10)
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            target = head.split(b" ", 2)[1].decode()
            if not head.startswith(b"CONNECT ") or target != f"{self.HOST}:443":
                self.refused.append(target)
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            secure = self._tls.wrap_socket(client, server_side=True)
            self._server.finish_request(secure, secure.getpeername())  # type: ignore[union-attr]
        except (OSError, ssl.SSLError):
            pass
        finally:
            client.close()


def _make_certificates(workdir: Path, host: str) -> tuple[str, str, str]:
    """A throw-away CA and a certificate for ``host`` signed by it: (ca.pem, cert.pem, key.pem)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("the openssl command is needed to make the fake's certificates")
    workdir.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=workdir, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Ember test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}", "-keyout", "host.key", "-out", "host.csr")
    (workdir / "host.ext").write_text(
        f"subjectAltName=DNS:{host}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    run("x509", "-req", "-in", "host.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "host.ext", "-out", "host.pem")
    return str(workdir / "ca.pem"), str(workdir / "host.pem"), str(workdir / "host.key")
