"""Turn HTTP failures into the ProviderError classes of ``base.py`` with messages a person can act on.

Every message says what to try next and is passed through ``redact`` so an API key echoed back
by a server (OpenAI's 401 body quotes part of the key) never reaches a log, a UI or a prompt.
Messages are one line: a JSON error's ``message`` or a snippet of the body, at most
``MAX_DETAIL`` characters, and an HTML page (a web server, a proxy, a wrong ``base_url``) is
summarised by its title instead of being quoted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from ember.models.base import (
    AuthError,
    BadRequestError,
    BadResponseError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    ServerError,
)

MAX_DETAIL = 300
"""Characters of a server's own words kept in a message."""

MAX_BODY = 100_000
"""Characters of an error body looked at; a server may send megabytes."""

GATEWAY_STATUSES = (502, 503, 504)
"""Statuses a proxy in front of a model server answers while it is down: worth a retry, HTML or not."""

BASE_URL_HINTS = {
    "the OpenAI API": "OpenAI-compatible servers usually end in /v1",
    "the Anthropic API": "the host root, e.g. https://api.anthropic.com",
}


def redact(text: str, secret: str | None) -> str:
    """Remove the secret (and its distinctive halves) from ``text``."""
    if not secret or len(secret) < 6:
        return text
    text = text.replace(secret, "****")
    # Servers often echo a truncated key ("sk-abc...wxyz"); hide the long prefix and suffix too.
    for part in (secret[: len(secret) // 2], secret[-(len(secret) // 2) :]):
        if len(part) >= 8:
            text = text.replace(part, "****")
    return text


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: either a number of seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def looks_like_html(body: str, content_type: str = "") -> bool:
    """True for a web page: an HTML content type, or a body that opens with HTML tags."""
    if "html" in content_type.lower():
        return True
    head = body.lstrip()[:1024].lower()
    return head.startswith("<") and any(tag in head for tag in ("<!doctype html", "<html", "<head", "<body",
                                                                 "<title", "<h1"))


def page_title(body: str) -> str:
    """The ``<title>`` (else the first ``<h1>``) of an HTML page, as short plain text; "" if none."""
    import html
    import re

    page = body[:MAX_BODY]
    found = (re.search(r"<title[^>]*>(.*?)</title>", page, re.I | re.S)
             or re.search(r"<h1[^>]*>(.*?)</h1>", page, re.I | re.S))
    if not found:
        return ""
    text = " ".join(html.unescape(re.sub(r"<[^>]*>", " ", found.group(1))).split())
    return text[:60] + ("…" if len(text) > 60 else "")


def not_the_api(label: str, url: str, status: int | None, body: str, api: str, secret: str | None) -> BadResponseError:
    """An HTML page where the model API should be: a wrong ``base_url``, or not a model server at all.

    One line naming the page's title; never retried, since the same URL will send the same page.
    """
    title = page_title(body)
    shown = f' ("{title}")' if title else ""
    answered = f" (HTTP {status})" if status else ""
    hint = BASE_URL_HINTS.get(api)
    step = f"Check base_url or EMBER_BASE_URL ({hint})." if hint else "Check base_url or EMBER_BASE_URL."
    return BadResponseError(
        redact(f"{label} at {url}{answered}: this URL answered with an HTML page{shown}, not {api}: "
               f"is the base URL right? {step}", secret),
        status=status,
        retryable=False,
    )


def server_message(body: str) -> str:
    """The human part of an error body, on one line: ``error.message`` in JSON, else a short snippet."""
    body = body[:MAX_BODY]
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        data = None
    message = None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            message = err.get("message") or err.get("detail") or err.get("type")
        elif isinstance(err, str):
            message = err
        message = message or data.get("message") or data.get("detail")
    message = " ".join(str(message or body).split())
    return message[:MAX_DETAIL] + ("…" if len(message) > MAX_DETAIL else "")


def error_for_status(
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    url: str,
    label: str,
    model: str,
    secret: str | None,
    api: str = "the model API",
) -> ProviderError:
    """Map an HTTP error status to the matching ProviderError.

    The message reads: what happened, the server's own words, then the next step, so that a UI
    that shortens long messages still shows the server's explanation. An HTML page is not the
    API's error (``api`` names the API expected, e.g. "the OpenAI API"): it is summarised in one
    line and, unless a gateway or rate limiter sent it, not retried.
    """
    html_page = looks_like_html(body, headers.get("content-type", ""))
    if html_page and status not in (401, 403, 429, *GATEWAY_STATUSES):
        return not_the_api(label, url, status, body, api, secret)
    if html_page:
        title = page_title(body)
        detail = f'an HTML page ("{title}")' if title else "an HTML page"
        if status in (401, 403):
            detail += f", not {api}: is the base URL right?"
    else:
        detail = server_message(body).rstrip(".")

    def text(head: str, step: str) -> str:
        if not detail:
            return redact(f"{head}. {step}", secret)
        end = "" if detail.endswith(("?", "!", "…")) else "."
        return redact(f"{head}: {detail}{end} {step}", secret)

    retry_after = parse_retry_after(headers.get("retry-after"))
    if status in (401, 403):
        return AuthError(
            text(f"{label} at {url} refused the API key (HTTP {status})",
                 "Check EMBER_API_KEY, or the api_key_env that config.toml names for this model."),
            status=status,
        )
    if status == 404:
        return NotFoundError(
            text(f"{label} has nothing at {url} (HTTP 404)",
                 f"Check the model name {model!r} and base_url (OpenAI-compatible servers usually end in /v1)."),
            status=status,
        )
    if status == 429:
        wait = f"Retry after {retry_after:.0f}s, or" if retry_after is not None else "Wait, or"
        return RateLimitError(
            text(f"{label} rate-limited the request (HTTP 429)", f"{wait} add a fallback model in [routes].fallback."),
            status=status,
            retry_after=retry_after,
        )
    if status >= 500:
        # 501 Not Implemented and 505 HTTP Version Not Supported say the same on every attempt.
        return ServerError(
            text(f"{label} at {url} failed (HTTP {status})", "Try again later."),
            status=status,
            retry_after=retry_after,
            retryable=status not in (501, 505),
        )
    if status in (400, 413, 422):
        return BadRequestError(
            text(f"{label} rejected the request (HTTP {status})",
                 f"The prompt may be too long for {model!r}, or a parameter is unsupported."),
            status=status,
        )
    return ProviderError(text(f"{label} at {url} answered HTTP {status}", "Check base_url."), status=status)


def bad_response(
    label: str, url: str, what: str, snippet: str | bytes, secret: str | None, *,
    api: str = "the model API", retryable: bool = False,
) -> BadResponseError:
    """The endpoint spoke something other than the protocol (HTML, truncated JSON, broken SSE).

    ``retryable`` for a reply that was cut off (another attempt may get all of it); an HTML page
    becomes ``not_the_api``'s one-line summary.
    """
    if isinstance(snippet, bytes):
        snippet = snippet[:MAX_BODY].decode("utf-8", "replace")
    if looks_like_html(snippet):
        return not_the_api(label, url, None, snippet, api, secret)
    snippet = " ".join(snippet[:1000].split())[:160]
    return BadResponseError(
        redact(
            f"{label} at {url} sent {what}: {snippet!r}. Check that base_url points at the API root "
            f"of a server that speaks this protocol.",
            secret,
        ),
        retryable=retryable,
    )


def error_from_payload(error: object, label: str, secret: str | None) -> ProviderError:
    """An error reported inside a 200 stream (OpenAI ``{"error": ...}`` chunk, Anthropic ``error`` event)."""
    kind, message, code = "", "", None
    if isinstance(error, dict):
        kind = str(error.get("type") or "")
        message = str(error.get("message") or kind or error)
        code = error.get("code")
    else:
        message = str(error)
    text = redact(f"{label} reported an error mid-stream: {message[:300]}", secret)
    if kind in ("rate_limit_error",) or code == 429:
        return RateLimitError(text + " Wait, or add a fallback model in [routes].fallback.", status=429)
    if kind in ("authentication_error", "permission_error") or code in (401, 403):
        return AuthError(text + " Check EMBER_API_KEY.", status=401)
    if kind in ("invalid_request_error",) or code == 400:
        return BadRequestError(text, status=400)
    if kind == "not_found_error" or code == 404:
        return NotFoundError(text + " Check the model name.", status=404)
    return ServerError(text + " Try again later.", status=code if isinstance(code, int) else None)
