"""Search backends for ``web_search``: SearXNG, Brave Search, Tavily and DuckDuckGo (``ddgs``).

Each backend turns a query into a list of ``SearchResult`` through the service's own API; base
URLs come from ``[web]`` in config.toml, so a self-hosted SearXNG, a proxy, or a test server can
stand in for the public endpoint. API keys are read by name from ``.env`` or the environment and
never appear in results or errors.

With no ``backend`` set, the first one that is configured wins: SearXNG when ``searxng_url`` is
set, then Brave or Tavily when their key is present, else DuckDuckGo, which needs no key.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ember.tools.base import ToolError
from ember.tools.http import config_error, expect, secret, section

if TYPE_CHECKING:
    from ember.config import Settings

BACKENDS = ("searxng", "brave", "tavily", "duckduckgo")
DEFAULT_BRAVE_URL = "https://api.search.brave.com"
DEFAULT_TAVILY_URL = "https://api.tavily.com"
DEFAULT_TIMEOUT = 20.0
DEFAULT_MAX_DOWNLOAD = 5_000_000


@dataclass
class SearchResult:
    title: str
    url: str
    snippet: str


@dataclass
class WebSettings:
    backend: str
    searxng_url: str | None = None
    brave_url: str = DEFAULT_BRAVE_URL
    brave_api_key_env: str = "BRAVE_API_KEY"
    tavily_url: str = DEFAULT_TAVILY_URL
    tavily_api_key_env: str = "TAVILY_API_KEY"
    ddgs_backend: str = "auto"
    ddgs_proxy: str | None = None
    ddgs_ca_file: str | None = None
    region: str = "us-en"
    safesearch: str = "moderate"
    timeout: float = DEFAULT_TIMEOUT
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD


_KEYS = {"backend", "searxng_url", "brave_url", "brave_api_key_env", "tavily_url", "tavily_api_key_env",
         "ddgs_backend", "ddgs_proxy", "ddgs_ca_file", "region", "safesearch", "timeout", "max_download_bytes"}


def web_settings(settings: Settings | None) -> WebSettings:
    """``[web]`` from config.toml, validated; errors name the key."""
    table = section(settings, "web")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise config_error(f"[web] has unknown keys {unknown}; known keys: {', '.join(sorted(_KEYS))}")

    def text(key: str, default: str | None) -> Any:
        value = table.get(key, default)
        return value if value is None else expect(value, str, f"[web].{key}")

    config = WebSettings(
        backend="",
        searxng_url=text("searxng_url", None),
        brave_url=text("brave_url", DEFAULT_BRAVE_URL).rstrip("/"),
        brave_api_key_env=text("brave_api_key_env", "BRAVE_API_KEY"),
        tavily_url=text("tavily_url", DEFAULT_TAVILY_URL).rstrip("/"),
        tavily_api_key_env=text("tavily_api_key_env", "TAVILY_API_KEY"),
        ddgs_backend=text("ddgs_backend", "auto"),
        ddgs_proxy=text("ddgs_proxy", None),
        ddgs_ca_file=text("ddgs_ca_file", None),
        region=text("region", "us-en"),
        safesearch=text("safesearch", "moderate"),
        timeout=float(expect(table.get("timeout", DEFAULT_TIMEOUT), (int, float), "[web].timeout")),
        max_download_bytes=int(expect(table.get("max_download_bytes", DEFAULT_MAX_DOWNLOAD), int,
                                      "[web].max_download_bytes")),
    )
    if config.safesearch not in ("on", "moderate", "off"):
        raise config_error(f"[web].safesearch must be on, moderate or off, got {config.safesearch!r}")
    backend = text("backend", None)
    if backend is not None and backend not in BACKENDS:
        raise config_error(f"[web].backend = {backend!r} is not a search backend; use one of {', '.join(BACKENDS)}")
    config.backend = backend or _first_configured(config, settings)
    if config.backend == "searxng" and not config.searxng_url:
        raise config_error('[web].backend is "searxng" but [web].searxng_url is not set')
    return config


def _first_configured(config: WebSettings, settings: Settings | None) -> str:
    if config.searxng_url:
        return "searxng"
    if secret(settings, config.brave_api_key_env):
        return "brave"
    if secret(settings, config.tavily_api_key_env):
        return "tavily"
    return "duckduckgo"


def search(config: WebSettings, settings: Settings | None, query: str, max_results: int) -> list[SearchResult]:
    """Results from the configured backend, at most ``max_results``."""
    backend: Callable[[WebSettings, Settings | None, str, int], list[SearchResult]] = {
        "searxng": _searxng, "brave": _brave, "tavily": _tavily, "duckduckgo": _duckduckgo,
    }[config.backend]
    return backend(config, settings, query, max_results)[:max_results]


def _clean(text: Any) -> str:
    """Plain text from an API's snippet (Brave highlights words with <strong>; entities are escaped)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", str(text or ""))).split())


def _api_key(settings: Settings | None, name: str, backend: str, key: str) -> str:
    value = secret(settings, name)
    if not value:
        raise ToolError(
            f"The {backend} search backend needs an API key: ask the user to set {name} in EMBER_HOME/.env "
            f"(or point [web].{key} at another variable), or to choose another [web].backend."
        )
    return value


def _get_json(method: str, url: str, config: WebSettings, backend: str, secret_value: str | None = None,
              **kwargs: Any) -> Any:
    """The decoded JSON answer of a search API; failures become ToolErrors that never show the key."""
    import httpx

    try:
        # A key sent as a custom header would follow a redirect to any host: only keyless requests follow.
        response = httpx.request(method, url, timeout=config.timeout, follow_redirects=not secret_value,
                                 **kwargs)
    except httpx.HTTPError as exc:
        raise ToolError(f"The {backend} search request failed: {type(exc).__name__}: {exc}") from exc
    detail = response.text[:300]
    if secret_value:
        detail = detail.replace(secret_value, "[REDACTED]")
    if response.status_code in (401, 403):
        hint = {
            "searxng": " SearXNG answers 403 when JSON output is off: add json to search.formats in its settings.yml.",
        }.get(backend, " Check the API key.")
        raise ToolError(f"The {backend} search API refused the request (HTTP {response.status_code}).{hint}")
    if response.status_code == 429:
        raise ToolError(f"The {backend} search API is rate-limiting (HTTP 429); wait, or search less often.")
    if response.status_code >= 400:
        raise ToolError(f"The {backend} search API answered HTTP {response.status_code}: {detail}")
    try:
        return response.json()
    except ValueError as exc:
        raise ToolError(f"The {backend} search API did not answer JSON: {detail[:120]!r}") from exc


def _searxng(config: WebSettings, settings: Settings | None, query: str, limit: int) -> list[SearchResult]:
    safe = {"off": "0", "moderate": "1", "on": "2"}[config.safesearch]
    assert config.searxng_url
    data = _get_json("GET", config.searxng_url.rstrip("/") + "/search", config, "searxng",
                     params={"q": query, "format": "json", "safesearch": safe})
    items = data.get("results") if isinstance(data, dict) else None
    return [
        SearchResult(_clean(r.get("title")), str(r.get("url", "")), _clean(r.get("content")))
        for r in (items or []) if isinstance(r, dict) and r.get("url")
    ]


def _brave(config: WebSettings, settings: Settings | None, query: str, limit: int) -> list[SearchResult]:
    key = _api_key(settings, config.brave_api_key_env, "brave", "brave_api_key_env")
    safe = {"off": "off", "moderate": "moderate", "on": "strict"}[config.safesearch]
    data = _get_json(
        "GET", config.brave_url + "/res/v1/web/search", config, "brave", key,
        params={"q": query, "count": min(limit, 20), "safesearch": safe},
        headers={"Accept": "application/json", "X-Subscription-Token": key},
    )
    web = data.get("web") if isinstance(data, dict) else None
    items = web.get("results") if isinstance(web, dict) else None
    return [
        SearchResult(_clean(r.get("title")), str(r.get("url", "")), _clean(r.get("description")))
        for r in (items or []) if isinstance(r, dict) and r.get("url")
    ]


def _tavily(config: WebSettings, settings: Settings | None, query: str, limit: int) -> list[SearchResult]:
    key = _api_key(settings, config.tavily_api_key_env, "tavily", "tavily_api_key_env")
    data = _get_json(
        "POST", config.tavily_url + "/search", config, "tavily", key,
        json={"query": query, "max_results": min(limit, 20), "search_depth": "basic", "api_key": key},
        headers={"Authorization": f"Bearer {key}"},
    )
    items = data.get("results") if isinstance(data, dict) else None
    return [
        SearchResult(_clean(r.get("title")), str(r.get("url", "")), _clean(r.get("content")))
        for r in (items or []) if isinstance(r, dict) and r.get("url")
    ]


def _duckduckgo(config: WebSettings, settings: Settings | None, query: str, limit: int) -> list[SearchResult]:
    try:
        from ddgs import DDGS
        from ddgs.exceptions import DDGSException
    except ImportError as exc:
        raise ToolError(
            "The duckduckgo search backend needs the ddgs package: ask the user to install "
            "ember-agent[web] (pip install 'ember-agent[web]'), or to configure [web].backend = searxng, "
            "brave or tavily."
        ) from exc
    client = DDGS(proxy=config.ddgs_proxy, timeout=int(config.timeout), verify=config.ddgs_ca_file or True)
    try:
        items = client.text(query, region=config.region, safesearch=config.safesearch, max_results=limit,
                            backend=config.ddgs_backend)
    except DDGSException as exc:
        if "No results found" in str(exc):
            return []
        raise ToolError(f"The duckduckgo search failed: {exc}") from exc
    return [SearchResult(_clean(r.get("title")), str(r.get("href", "")), _clean(r.get("body"))) for r in items]
