"""The WhatsApp Cloud API (Meta's Graph API) over httpx: every failure a ``SendError`` that says
whether to retry.

The access token goes in ``Authorization: Bearer`` only. Graph errors come as
``{"error": {"message", "type", "code", "error_data": {"details"}}}``; the ``code`` decides:
131047 (more than 24 hours since the person last wrote) is permanent and said plainly; rate limits
(4, 80007, 130429, 131048, 131056), Meta's own trouble (1, 2, 131000, 131016, 133004), 5xx,
timeouts and dropped connections are worth another try; a refused token (190), a bad recipient
(100, 131030, 131026...) and everything else are permanent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ember.gateway.channel import SendError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("ember.gateway.whatsapp")

WINDOW_CLOSED = 131047
RATE_LIMITS = frozenset({4, 613, 80007, 130429, 131048, 131056})
RETRYABLE = RATE_LIMITS | {1, 2, 131000, 131016, 133004}
TOKEN_CODES = frozenset({190})
MAX_DOWNLOAD = 100 * 1024 * 1024
WINDOW_HELP = ("WhatsApp refuses replies more than 24 hours after the person last wrote; they must write first "
               "(code 131047)")
TOKEN_HELP = ("WhatsApp refused the access token (code 190: expired or revoked): put a new one in WHATSAPP_TOKEN "
              "in EMBER_HOME/.env (a system user's token does not expire; docs/gateway-whatsapp.md), then restart "
              "the gateway")
REASONS = {
    131030: "this number is not in the test number's list of recipients (WhatsApp > API Setup > To)",
    131026: "the message could not be delivered (the number is not on WhatsApp, or uses an old version)",
    131021: "the recipient is the business number itself",
    131051: "WhatsApp does not take this kind of message",
    131052: "the media could not be downloaded",
    131053: "the media could not be uploaded (type or size)",
    100: "WhatsApp refused a parameter",
    10: "the token lacks the whatsapp_business_messaging permission",
    200: "the token lacks the whatsapp_business_messaging permission",
}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def graph_error(what: str, code: int, detail: str, retry_after: float | None = None) -> SendError:
    """The ``SendError`` a Graph error code deserves (also for a failed status's error)."""
    if code == WINDOW_CLOSED:
        return SendError(f"{what}: {WINDOW_HELP}", permanent=True)
    if code in TOKEN_CODES:
        return SendError(TOKEN_HELP, permanent=True)
    if code in RATE_LIMITS:
        return SendError(f"{what}: rate limited (code {code}): {detail}", retry_after=retry_after)
    if code in RETRYABLE:
        return SendError(f"{what}: WhatsApp had trouble (code {code}): {detail}", retry_after=retry_after)
    reason = REASONS.get(code)
    return SendError(f"{what}: {reason + ': ' if reason else ''}{detail} (code {code})", permanent=True)


class GraphAPI:
    """Calls to ``api_base`` with the access token."""

    def __init__(self, token: str, api_base: str, phone_number_id: str, client: httpx.Client) -> None:
        self._token = token
        self.api_base = api_base.rstrip("/")
        self.phone_number_id = phone_number_id
        self.client = client

    def call(self, method: str, path: str, *, body: dict[str, Any] | None = None, form: dict[str, str] | None = None,
             file: tuple[str, bytes, str] | None = None, timeout: float | None = None) -> dict[str, Any]:
        """One Graph request; its JSON, or ``SendError``."""
        import httpx

        what = f"whatsapp {method} {path}"
        headers = {"Authorization": f"Bearer {self._token}"}
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            if file is not None:
                response = self.client.request(method, self.api_base + path, headers=headers, data=form or {},
                                               files={"file": file}, **extra)
            else:
                response = self.client.request(method, self.api_base + path, headers=headers, json=body, **extra)
        except httpx.TimeoutException:
            raise SendError(f"{what}: no answer in time") from None
        except httpx.HTTPError as exc:
            raise SendError(f"{what}: could not reach {self.api_base} ({type(exc).__name__})") from None
        return self.check(what, response)

    @staticmethod
    def check(what: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if 200 <= status < 300 and isinstance(body, dict) and error is None:
            return body
        if isinstance(error, dict) and isinstance(error.get("code"), int):
            details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else ""
            detail = str(details or error.get("message") or "refused")
            failure = graph_error(what, int(error["code"]), detail, _retry_after(response))
            if status >= 500 or status == 429:  # whatever the code, the server says "later"
                failure.permanent = False
            raise failure
        if status == 429 or status >= 500:
            raise SendError(f"{what}: HTTP {status}", retry_after=_retry_after(response))
        if status == 401:
            raise SendError(TOKEN_HELP, permanent=True)
        raise SendError(f"{what}: HTTP {status} without a Graph API answer (is EMBER_WHATSAPP_API_BASE the Graph "
                        "API?)", permanent=400 <= status < 500)

    # --- the calls the channel makes -------------------------------------------------------------

    def send(self, payload: dict[str, Any]) -> str:
        """``POST /{phone-number-id}/messages``; the new message's id (``messages[0].id``)."""
        answer = self.call("POST", f"/{self.phone_number_id}/messages",
                           body={"messaging_product": "whatsapp", "recipient_type": "individual", **payload})
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], dict) else {}
        if not first.get("id"):
            raise SendError("whatsapp: a message was accepted without an id; not counted as delivered")
        return str(first["id"])

    def mark_read(self, message_id: str, typing: bool = False) -> None:
        """Blue ticks on ``message_id``, and "typing..." (up to 25 s, or until the reply) with ``typing``."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            body["typing_indicator"] = {"type": "text"}
        self.call("POST", f"/{self.phone_number_id}/messages", body=body, timeout=10.0)

    def upload(self, name: str, data: bytes, mime: str) -> str:
        """``POST /{phone-number-id}/media``; the media id to send."""
        answer = self.call("POST", f"/{self.phone_number_id}/media", form={"messaging_product": "whatsapp",
                                                                             "type": mime},
                           file=(name, data, mime), timeout=120.0)
        if not answer.get("id"):
            raise SendError("whatsapp: an upload was accepted without a media id")
        return str(answer["id"])

    def phone_number(self) -> dict[str, Any]:
        """The business number (``GET /{phone-number-id}``): a check of the token and the id."""
        return self.call("GET", f"/{self.phone_number_id}", timeout=15.0)

    def download(self, media_id: str) -> bytes:
        """A received file: ``GET /{media-id}`` names a short-lived URL, fetched with the token."""
        import httpx

        info = self.call("GET", f"/{media_id}", timeout=30.0)
        url = info.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise SendError("whatsapp: the media answer has no URL", permanent=True)
        try:
            with self.client.stream("GET", url, headers={"Authorization": f"Bearer {self._token}"},
                                    follow_redirects=True, timeout=120.0) as response:
                if response.status_code != 200:
                    raise SendError(f"whatsapp media download: HTTP {response.status_code}",
                                    permanent=response.status_code in (400, 401, 403, 404))
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_DOWNLOAD:
                        raise SendError(f"whatsapp media: larger than {MAX_DOWNLOAD} bytes", permanent=True)
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise SendError(f"whatsapp media download: {type(exc).__name__}") from None
