"""Slack's Web API over httpx: one ``call`` that turns every failure into a ``SendError``.

A method answers ``{"ok": true, ...}`` or ``{"ok": false, "error": "channel_not_found"}`` (HTTP
200 either way); rate limits come as HTTP 429 with ``Retry-After``. What can get better by
waiting (429, ``ratelimited``, 5xx, timeouts, a dropped connection, a body that is not Slack's
JSON) is retryable; every other ``ok: false`` is permanent, named in the message. Tokens go in
the ``Authorization`` header only, so they never appear in a URL, a log line or an error.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ember.gateway.channel import SendError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("ember.gateway.slack")

# ok:false errors that waiting can cure; everything else (channel_not_found, not_in_channel,
# is_archived, invalid_auth, account_inactive, token_revoked, msg_too_long, ...) is permanent.
RETRYABLE_ERRORS = frozenset({
    "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
    "request_timeout", "team_added_to_org",
})
PERMANENT_STATUS = frozenset({400, 401, 403, 404, 405, 410, 413})
MAX_DOWNLOAD = 100 * 1024 * 1024  # bytes of one incoming file


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


class SlackAPI:
    """Calls to ``api_base`` with the bot token (or another token given per call)."""

    def __init__(self, token: str, api_base: str, client: httpx.Client) -> None:
        self._token = token
        self.api_base = api_base.rstrip("/")
        self.client = client

    def call(self, method: str, params: dict[str, Any] | None = None, *, as_json: bool = False,
             token: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """``method``'s answer when ``ok``; else ``SendError``. ``as_json`` posts a JSON body
        (write methods with nested values); the default is a form, which every method takes."""
        import httpx

        url = f"{self.api_base}/{method}"
        headers = {"Authorization": f"Bearer {token or self._token}"}
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            if as_json:
                response = self.client.post(url, json=params or {}, headers=headers, **extra)
            else:
                form = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in (params or {}).items()
                        if v is not None}
                response = self.client.post(url, data=form, headers=headers, **extra)
        except httpx.TimeoutException as exc:
            raise SendError(f"slack {method}: timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise SendError(f"slack {method}: {type(exc).__name__}: {exc}") from None
        return self.check(method, response)

    @staticmethod
    def check(method: str, response: httpx.Response) -> dict[str, Any]:
        """The JSON of a Slack answer that says ``ok``, else the ``SendError`` it deserves."""
        status = response.status_code
        if status == 429:
            retry_after = _retry_after(response)
            raise SendError(f"slack {method}: rate limited (HTTP 429, retry after {retry_after} s)",
                            retry_after=retry_after)
        if status >= 500:
            raise SendError(f"slack {method}: HTTP {status}")
        if status in PERMANENT_STATUS:
            raise SendError(f"slack {method}: HTTP {status}", permanent=True)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or "ok" not in payload:
            raise SendError(f"slack {method}: HTTP {status} without Slack's JSON answer")
        if payload["ok"] is not True:
            error = str(payload.get("error") or "unknown_error")
            if error in RETRYABLE_ERRORS:
                raise SendError(f"slack {method}: {error}", retry_after=_retry_after(response))
            raise SendError(f"slack {method}: {error}", permanent=True)
        return payload

    # --- the methods the channel uses -----------------------------------------------------------

    def post_message(self, channel: str, text: str, thread_ts: str | None = None,
                     blocks: list[dict[str, Any]] | None = None) -> str:
        """``chat.postMessage``; the new message's ``ts``."""
        params: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if thread_ts:
            params["thread_ts"] = thread_ts
        if blocks:
            params["blocks"] = blocks
        answer = self.call("chat.postMessage", params, as_json=True)
        ts = answer.get("ts")
        if not isinstance(ts, str) or not ts:
            raise SendError("slack chat.postMessage: ok without a ts; not counted as delivered")
        return ts

    def upload_file(self, channel: str, name: str, data: bytes, comment: str, thread_ts: str | None) -> str:
        """The three steps of an upload (URL, bytes, complete); the shared message's ``ts`` when
        Slack already says it, else the file id."""
        import httpx

        ticket = self.call("files.getUploadURLExternal", {"filename": name, "length": str(len(data))})
        upload_url, file_id = ticket.get("upload_url"), ticket.get("file_id")
        if not isinstance(upload_url, str) or not isinstance(file_id, str):
            raise SendError("slack files.getUploadURLExternal: no upload_url or file_id in the answer")
        try:  # a pre-signed URL: no token goes with it
            response = self.client.post(upload_url, content=data,
                                         headers={"Content-Type": "application/octet-stream"})
        except httpx.TimeoutException:
            raise SendError("slack file upload: timed out") from None
        except httpx.HTTPError as exc:
            raise SendError(f"slack file upload: {type(exc).__name__}") from None
        if response.status_code == 429:
            raise SendError("slack file upload: rate limited (HTTP 429)", retry_after=_retry_after(response))
        if response.status_code != 200:
            raise SendError(f"slack file upload: HTTP {response.status_code}",
                            permanent=response.status_code in PERMANENT_STATUS)
        params: dict[str, Any] = {"files": [{"id": file_id, "title": name}], "channel_id": channel}
        if comment:
            params["initial_comment"] = comment
        if thread_ts:
            params["thread_ts"] = thread_ts
        answer = self.call("files.completeUploadExternal", params, as_json=True)
        return _shared_ts(answer, channel) or file_id

    def download(self, url: str) -> bytes:
        """A file's bytes from its ``url_private_download`` (the bot token goes only to Slack's
        own hosts, or to ``api_base``'s host)."""
        import httpx

        host = urlsplit(url).hostname or ""
        ours = urlsplit(self.api_base).hostname or ""
        headers = {}
        if host == ours or host == "slack.com" or host.endswith(".slack.com"):
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            with self.client.stream("GET", url, headers=headers, follow_redirects=True) as response:
                if response.status_code != 200:
                    raise SendError(f"slack file download: HTTP {response.status_code}",
                                    permanent=response.status_code in PERMANENT_STATUS)
                if "text/html" in response.headers.get("content-type", ""):  # Slack's login page
                    raise SendError("slack file download: got a sign-in page (is files:read granted?)",
                                    permanent=True)
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_DOWNLOAD:
                        raise SendError(f"slack file download: larger than {MAX_DOWNLOAD} bytes", permanent=True)
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise SendError(f"slack file download: {type(exc).__name__}") from None


def _shared_ts(answer: dict[str, Any], channel: str) -> str | None:
    """The ts of the message that shared an uploaded file, when the answer already holds it."""
    for file in answer.get("files") or []:
        shares = file.get("shares") if isinstance(file, dict) else None
        for kind in ("public", "private"):
            for share in ((shares or {}).get(kind) or {}).get(channel) or []:
                if isinstance(share, dict) and isinstance(share.get("ts"), str):
                    return str(share["ts"])
    return None
