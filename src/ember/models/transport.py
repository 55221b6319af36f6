"""The one HTTP path every adapter uses: JSON requests, SSE streams, error mapping, cancel.

We speak the providers' documented HTTP protocols with ``httpx`` instead of their SDKs:
``import openai`` alone costs about 0.29 s, which every ``ember`` command would pay. httpx is
imported lazily, inside functions, so ``ember --help`` does not load it either.

Cancel: ``cancel`` (a ``threading.Event``) is checked before a request and between SSE lines;
when set, the response is closed and ``Cancelled`` raised. A server that sends nothing at all is
noticed only at the read timeout (``ModelSpec.timeout``); a plain request is checked before it
is sent and when it returns. A Ctrl-C (KeyboardInterrupt) unwinds through the same ``with``
blocks, so the connection is always closed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ember.models.base import Cancelled, ConnectError, ProviderError, TimeoutError_
from ember.models.errors import MAX_BODY, bad_response, error_for_status, not_the_api, redact
from ember.models.spec import ModelSpec

if TYPE_CHECKING:
    import httpx


@dataclass
class SSEEvent:
    """One server-sent event: the ``event:`` name (may be empty) and the joined ``data:`` lines."""

    event: str
    data: str


def load_httpx() -> Any:
    """Import httpx without its command-line entry point.

    httpx's ``__init__`` imports its own CLI (``httpx._main``: click, rich, pygments) whenever
    those are installed, about 40 ms of every one-shot run for code Ember never calls. A ``None``
    entry in ``sys.modules`` makes that optional import raise ImportError, which httpx handles by
    defining a stub ``main``; nothing else changes.
    """
    import sys

    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx

    return httpx


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled by the user")


class HttpTransport:
    """JSON over HTTP for one ModelSpec, with errors mapped to ProviderError.

    ``client`` is injected by tests (or shared by the router); a client we create ourselves is
    closed by ``close()``, an injected one is left to its owner.
    """

    def __init__(self, spec: ModelSpec, headers: dict[str, str], label: str, client: httpx.Client | None = None):
        self.spec = spec
        self.label = label
        self.headers = {"content-type": "application/json", **headers, **spec.extra_headers}
        # The protocol this endpoint should speak, as error messages name it.
        self.api = "the Anthropic API" if spec.provider == "anthropic" else "the OpenAI API"
        self._client = client
        self._owns_client = client is None
        self._plain = False  # our own client was made for plain http: it has no CA bundle

    def _client_for(self, url: str) -> httpx.Client:
        """The client, made on first use.

        Loading the CA bundle is ~35 ms of every one-shot run. A plain-http endpoint (Ollama,
        llama.cpp, vLLM or LM Studio on this machine) never uses it, so a client made for an
        http:// URL skips it; it never follows redirects, and an https:// URL gets a client
        that verifies certificates, as every client does by default.
        """
        plain = url.startswith("http://")
        if self._client is not None and self._owns_client and self._plain and not plain:
            self._client.close()
            self._client = None
        if self._client is None:
            httpx = load_httpx()
            timeout = httpx.Timeout(self.spec.timeout, connect=min(self.spec.timeout, 15.0))
            self._client = httpx.Client(timeout=timeout, verify=not plain, follow_redirects=False)
            self._plain = plain
        return self._client

    @property
    def client(self) -> httpx.Client:
        return self._client_for(self.spec.base_url or "https://")

    def close(self) -> None:
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None

    # --- requests -----------------------------------------------------------------------------

    def get_json(self, url: str) -> Any:
        with self._mapped(url):
            response = self._client_for(url).get(url, headers=self.headers)
        return self.decode_response(response, url)

    def post_json(self, url: str, body: dict[str, Any], cancel: threading.Event | None = None) -> Any:
        check_cancel(cancel)
        with self._mapped(url):
            response = self._client_for(url).post(url, json=body, headers=self.headers)
        check_cancel(cancel)
        return self.decode_response(response, url)

    @contextmanager
    def open_stream(
        self, url: str, body: dict[str, Any], cancel: threading.Event | None = None
    ) -> Iterator[httpx.Response]:
        """POST and yield the open response (status already checked); closed on any exit."""
        check_cancel(cancel)
        headers = {**self.headers, "accept": "text/event-stream"}
        with self._mapped(url), self._client_for(url).stream("POST", url, json=body, headers=headers) as response:
            if response.status_code >= 400:
                response.read()
                raise self._status_error(response, url)
            if "html" in response.headers.get("content-type", "").lower():  # a web page, not a stream
                response.read()
                raise not_the_api(self.label, url, response.status_code, response.text, self.api, self.spec.api_key)
            yield response

    def iter_sse(self, response: httpx.Response, url: str, cancel: threading.Event | None) -> Iterator[SSEEvent]:
        """Parse ``text/event-stream`` lines into events, checking ``cancel`` between lines."""
        event = ""
        data: list[str] = []
        seen_field = False
        for line in response.iter_lines():
            check_cancel(cancel)
            if not line:
                if data:
                    yield SSEEvent(event, "\n".join(data))
                event, data = "", []
                continue
            if line.startswith(":"):
                continue  # comment / keep-alive
            field, sep, value = line.partition(":")
            if not sep and not seen_field:
                raise bad_response(self.label, url, "a stream that is not server-sent events", line, self.spec.api_key,
                                   api=self.api)
            seen_field = True
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field == "event":
                event = value
        check_cancel(cancel)
        if data:
            yield SSEEvent(event, "\n".join(data))

    def decode_event(self, event: SSEEvent, url: str) -> dict[str, Any]:
        """The JSON object inside one SSE ``data`` field; anything else is a BadResponseError."""
        try:
            value = json.loads(event.data)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise bad_response(self.label, url, "a stream event that is not a JSON object", event.data, self.spec.api_key,
                               api=self.api)
        return value

    # --- helpers ------------------------------------------------------------------------------

    def decode_response(self, response: httpx.Response, url: str) -> Any:
        if response.status_code >= 400:
            raise self._status_error(response, url)
        try:
            return response.json()
        except ValueError:
            raise bad_response(self.label, url, "a reply that is not JSON", response.content[:MAX_BODY],
                               self.spec.api_key, api=self.api) from None

    def _status_error(self, response: httpx.Response, url: str) -> ProviderError:
        return error_for_status(
            response.status_code,
            response.text,
            response.headers,
            url=url,
            label=self.label,
            model=self.spec.model,
            secret=self.spec.api_key,
            api=self.api,
        )

    @contextmanager
    def _mapped(self, url: str) -> Iterator[None]:
        """Translate httpx exceptions (raised while connecting or reading) into ProviderErrors."""
        httpx = load_httpx()

        try:
            yield
        except httpx.TimeoutException as exc:
            raise TimeoutError_(
                f"{self.label} at {url} did not answer within {self.spec.timeout:g}s "
                f"({type(exc).__name__}); check the server, or raise `timeout` for this model in config.toml."
            ) from None
        except httpx.ConnectError as exc:
            raise ConnectError(
                redact(
                    f"cannot connect to {self.label} at {url}: is the server running at {self.spec.base_url}? "
                    f"({exc})",
                    self.spec.api_key,
                )
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.DecodingError) as exc:
            raise bad_response(  # a dropped connection: another attempt may get the whole reply
                self.label, url, "a broken or truncated reply", f"{type(exc).__name__}: {exc}", self.spec.api_key,
                retryable=True,
            ) from None
        except httpx.HTTPError as exc:
            raise ProviderError(redact(f"{self.label} at {url}: {type(exc).__name__}: {exc}", self.spec.api_key)) from None
