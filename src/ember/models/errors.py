"""Turn HTTP failures into the ProviderError classes of ``base.py`` with messages a person can act on.

Every message says what to try next and is passed through ``redact`` so an API key echoed back
by a server (OpenAI's 401 body quotes part of the key) never reaches a log, a UI or a prompt.
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


def server_message(body: str) -> str:
    """The human part of an error body: ``error.message`` in JSON, else a short snippet."""
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
    if not message:
        message = " ".join(body.split())
    message = str(message)
    return message[:300] + ("…" if len(message) > 300 else "")


def error_for_status(
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    url: str,
    label: str,
    model: str,
    secret: str | None,
) -> ProviderError:
    """Map an HTTP error status to the matching ProviderError.

    The message reads: what happened, the server's own words, then the next step, so that a UI
    that shortens long messages still shows the server's explanation.
    """
    detail = server_message(body).rstrip(".")

    def text(head: str, step: str) -> str:
        return redact(f"{head}: {detail}. {step}" if detail else f"{head}. {step}", secret)

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
        return ServerError(
            text(f"{label} at {url} failed (HTTP {status})", "Try again later."),
            status=status,
            retry_after=retry_after,
        )
    if status in (400, 413, 422):
        return BadRequestError(
            text(f"{label} rejected the request (HTTP {status})",
                 f"The prompt may be too long for {model!r}, or a parameter is unsupported."),
            status=status,
        )
    return ProviderError(text(f"{label} at {url} answered HTTP {status}", "Check base_url."), status=status)


def bad_response(label: str, url: str, what: str, snippet: str | bytes, secret: str | None) -> BadResponseError:
    """The endpoint spoke something other than the protocol (HTML, truncated JSON, broken SSE)."""
    if isinstance(snippet, bytes):
        snippet = snippet.decode("utf-8", "replace")
    snippet = " ".join(snippet.split())[:160]
    return BadResponseError(
        redact(
            f"{label} at {url} sent {what}: {snippet!r}. Check that base_url points at the API root "
            f"of a server that speaks this protocol.",
            secret,
        )
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
