"""The http toolset: call HTTP APIs, with named credentials the model never sees.

A credential is declared in config.toml (``[http.credentials.NAME]``: a header and a value such as
``"Bearer ${GITHUB_TOKEN}"`` whose ``${...}`` names come from ``.env`` or the environment). The
model passes only the name; the value is filled in here, sent only to the credential's ``hosts``
(never to a host a redirect leads to), and removed from anything that comes back. Methods that
change things (POST, PUT, PATCH, DELETE by default) and credentials without a hosts list need
approval. Responses are size-limited while they download and JSON is pretty-printed.

``fetch`` (a bounded download with timeouts and manual, checked redirects) is shared with
``web_extract``.
"""

from __future__ import annotations

import fnmatch
import json as jsonlib
import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin, urlsplit

from ember.config import kind_phrase
from ember.security.approval import ApprovalRequest
from ember.tools.base import ToolContext, ToolError, tool

if TYPE_CHECKING:
    import httpx

    from ember.config import Settings

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BYTES = 2_000_000
MAX_REDIRECTS = 5
CONFIRM_METHODS = ("POST", "PUT", "PATCH", "DELETE")
USER_AGENT = "Ember/0.1 (+https://github.com/ember-agent/ember)"
# Response headers worth the model's tokens; cookies are never shown (they are often sessions).
SHOWN_HEADERS = ("content-type", "content-length", "location", "retry-after", "www-authenticate", "link",
                 "etag", "last-modified", "x-request-id")
_TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# --- configuration ------------------------------------------------------------------------------------


def config_error(message: str) -> ToolError:
    """A problem in config.toml: the model cannot fix it, but it can tell the user exactly what to fix."""
    return ToolError(f"config.toml: {message}. Ask the user to fix config.toml (see docs/tools-web.md).")


def expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    """``value`` when it has the type ``kind`` (bools are not numbers), else a ToolError naming ``where``."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise config_error(f"{where} must be {kind_phrase(kinds)}, got {value!r}")
    return value


def section(settings: Settings | None, *path: str) -> dict[str, Any]:
    """The table at ``path`` in config.toml (``section(s, "http", "credentials")``), {} when absent."""
    table: Any = settings.raw if settings is not None else {}
    for depth, key in enumerate(path):
        table = table.get(key, {})
        expect(table, dict, "[" + ".".join(path[: depth + 1]) + "]")
    return table


def secret(settings: Settings | None, name: str) -> str | None:
    """A secret by name: EMBER_HOME/.env first, then the environment."""
    if settings is not None and settings.secrets.get(name):
        return settings.secrets[name]
    return os.environ.get(name) or None


@dataclass
class Credential:
    name: str
    header: str
    template: str = field(repr=False)
    hosts: list[str]

    def allows(self, url: str) -> bool:
        """True when this credential may be sent to ``url``'s host (``hosts`` patterns; none = any)."""
        if not self.hosts:
            return True
        parts = urlsplit(url)
        host, hostport = (parts.hostname or "").lower(), parts.netloc.rsplit("@", 1)[-1].lower()
        return any(fnmatch.fnmatchcase(host, p) or fnmatch.fnmatchcase(hostport, p) for p in self.hosts)

    def resolve(self, settings: Settings | None) -> tuple[str, list[str]]:
        """(header value, the secret values used) with every ``${NAME}`` filled in."""
        used: list[str] = []

        def fill(match: re.Match[str]) -> str:
            value = secret(settings, match.group(1))
            if value is None:
                raise ToolError(
                    f"Credential {self.name!r} needs {match.group(1)}, which is not set in EMBER_HOME/.env or the "
                    "environment. Ask the user to add it."
                )
            used.append(value)
            return value

        return _TEMPLATE.sub(fill, self.template), used


@dataclass
class HttpSettings:
    timeout: float = DEFAULT_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_BYTES
    confirm_methods: tuple[str, ...] = CONFIRM_METHODS
    credentials: dict[str, Credential] = field(default_factory=dict)


def http_settings(settings: Settings | None) -> HttpSettings:
    """``[http]`` from config.toml, validated; errors name the key."""
    table = section(settings, "http")
    unknown = sorted(set(table) - {"timeout", "max_response_bytes", "confirm_methods", "credentials"})
    if unknown:
        raise config_error(f"[http] has unknown keys {unknown}; use timeout, max_response_bytes, confirm_methods")
    methods = expect(table.get("confirm_methods", list(CONFIRM_METHODS)), list, "[http].confirm_methods")
    credentials = {}
    for name, entry in section(settings, "http", "credentials").items():
        where = f"[http.credentials.{name}]"
        expect(entry, dict, where)
        unknown_keys = set(entry) - {"header", "value", "hosts"}
        if unknown_keys:
            raise config_error(f"{where} has unknown keys {sorted(unknown_keys)}; use header, value and hosts")
        if "value" not in entry:
            raise config_error(f'{where}.value is missing; e.g. value = "Bearer ${{API_TOKEN}}"')
        hosts = expect(entry.get("hosts", []), list, f"{where}.hosts")
        credentials[name] = Credential(
            name=name,
            header=expect(entry.get("header", "Authorization"), str, f"{where}.header"),
            template=expect(entry["value"], str, f"{where}.value"),
            hosts=[expect(h, str, f"{where}.hosts[]").lower() for h in hosts],
        )
    return HttpSettings(
        timeout=float(expect(table.get("timeout", DEFAULT_TIMEOUT), (int, float), "[http].timeout")),
        max_response_bytes=int(expect(table.get("max_response_bytes", DEFAULT_MAX_BYTES), int,
                                      "[http].max_response_bytes")),
        confirm_methods=tuple(str(expect(m, str, "[http].confirm_methods[]")).upper() for m in methods),
        credentials=credentials,
    )


# --- a bounded fetch ----------------------------------------------------------------------------------


@dataclass
class Fetched:
    """A response read up to a size limit. ``url`` is where it came from after redirects."""

    url: str
    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    truncated: bool
    seconds: float
    redirects: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        match = re.search(r"charset=[\"']?([\w.:-]+)", self.headers.get("content-type", ""), re.I)
        return match.group(1) if match else None

    def text(self) -> str:
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # an unknown charset name
            return self.body.decode("utf-8", errors="replace")


def check_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL, else a ToolError the model can act on."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError(f"{url!r} is not an http:// or https:// URL with a host.")
    return url.strip()


def fetch(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    follow_redirects: bool = True,
    credential: Credential | None = None,
    credential_value: str | None = None,
) -> Fetched:
    """One request, read up to ``max_bytes``; redirects are followed by hand (at most five) so the
    credential header goes only to hosts the credential allows. Network errors become ToolErrors."""
    import httpx

    started = time.monotonic()
    redirects: list[str] = []
    notes: list[str] = []
    base = {"User-Agent": USER_AGENT, **(headers or {})}
    limits = httpx.Timeout(timeout, connect=min(timeout, 10.0))
    with httpx.Client(timeout=limits, follow_redirects=False) as client:
        while True:
            sent = dict(base)
            if credential is not None and credential_value is not None:
                if _may_send(credential, redirects[0] if redirects else url, url):
                    sent[credential.header] = credential_value
                else:
                    notes.append(f"credential {credential.name!r} was not sent to {urlsplit(url).netloc}")
            try:
                request = client.build_request(method, url, headers=sent, content=content)
                response = client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise ToolError(f"{method} {url} timed out after {timeout:g}s ({type(exc).__name__}).") from exc
            except httpx.HTTPError as exc:
                raise ToolError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from exc
            try:
                location = response.headers.get("location")
                if follow_redirects and response.is_redirect and location and len(redirects) < MAX_REDIRECTS:
                    redirects.append(url)
                    url = urljoin(url, location)
                    if urlsplit(url).scheme not in ("http", "https"):
                        raise ToolError(f"{redirects[-1]} redirected to {url!r}, which is not http(s).")
                    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                        method, content = "GET", None
                    continue
                body, truncated = _read_limited(response, max_bytes, timeout, started)
            except httpx.HTTPError as exc:
                raise ToolError(f"reading the response of {url} failed: {type(exc).__name__}: {exc}") from exc
            finally:
                response.close()
            return Fetched(
                url=url, status=response.status_code, reason=response.reason_phrase, headers=response.headers,
                body=body, truncated=truncated, seconds=time.monotonic() - started, redirects=redirects,
                notes=list(dict.fromkeys(notes)),
            )


def _may_send(credential: Credential, first: str, url: str) -> bool:
    """A credential with hosts goes to those hosts; one without goes only to the host first asked for."""
    if credential.hosts:
        return credential.allows(url)
    return urlsplit(first).netloc.lower() == urlsplit(url).netloc.lower()


def _read_limited(response: httpx.Response, max_bytes: int, timeout: float, started: float) -> tuple[bytes, bool]:
    """The body up to ``max_bytes`` (a slow drip is cut at twice the timeout, not waited on forever)."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > max_bytes:
            return bytes(data[:max_bytes]), True
        if time.monotonic() - started > 2 * timeout:
            raise ToolError(f"{response.url} kept sending for over {2 * timeout:g}s; stopped reading.")
    return bytes(data), False


def size(n: float) -> str:
    """Bytes for people: ``512 bytes``, ``2.0 KB``, ``1.5 MB``."""
    return f"{n:.0f} bytes" if n < 1024 else f"{n / 1024:.1f} KB" if n < 1024**2 else f"{n / 1024**2:.1f} MB"


# --- the tool -----------------------------------------------------------------------------------------


class _HttpApproval(ApprovalRequest):
    """Allowing "for the session" or "always" covers one method on one host: ``POST api.github.com *``."""

    @property
    def patterns(self) -> list[str]:
        return list(dict.fromkeys(" ".join(s.split()[:2]) + " *" for s in self.subjects))

    def matches(self, pattern: str, subject: str) -> bool:
        """Method and host word for word; the URL path with shell wildcards that may cross a ``/``
        (``POST api.github.com /repos/*``): a URL path is not a file on this machine."""
        import fnmatch

        want, have = pattern.split(), subject.split()
        return (len(want) == len(have) == 3 and want[:2] == have[:2]
                and fnmatch.fnmatchcase(have[2], want[2]))


def _approval(args: dict[str, Any], ctx: ToolContext) -> ApprovalRequest | None:
    method = str(args.get("method", "GET")).upper()
    url = str(args.get("url", ""))
    try:
        config = http_settings(ctx.settings)
        check_url(url)
    except ToolError:
        return None  # the tool itself reports the problem
    parts = urlsplit(url)
    reasons = []
    if method in config.confirm_methods:
        reasons.append(f"{method} may change data on {parts.netloc}")
    credential = config.credentials.get(str(args.get("credential") or ""))
    if credential is not None and not credential.hosts:
        reasons.append(f"sends credential {credential.name!r}, which has no hosts list, to {parts.netloc}")
    if not reasons:
        return None
    shown = f"{method} {url}" + (f" (credential {credential.name})" if credential else "")
    return _HttpApproval(tool="http_request", reason="; ".join(reasons), action=shown,
                         subjects=[f"{method} {parts.netloc} {parts.path or '/'}"])


@tool(toolset="http", needs_approval=_approval,
      more_hint="Ask for less (query parameters such as per_page or fields), or a narrower resource.")
def http_request(
    ctx: ToolContext,
    url: str,
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET",
    headers: dict[str, str] | None = None,
    json: dict | None = None,
    body: str | None = None,
    credential: str | None = None,
) -> str:
    """Call an HTTP API and return the status, key headers and body (JSON pretty-printed).

    Args:
        url: Full http(s) URL, query string included.
        method: HTTP method; POST, PUT, PATCH and DELETE may need the user's approval.
        headers: Extra request headers.
        json: JSON object to send as the body (sets Content-Type: application/json).
        body: Raw text body, when the API does not take a JSON object.
        credential: Name of a credential from the user's config to authenticate with; you never see its value.
    """
    config = http_settings(ctx.settings)
    url = check_url(url)
    if json is not None and body is not None:
        raise ToolError("Give either json or body, not both.")
    sent = {"Accept": "application/json, */*;q=0.5", **{str(k): str(v) for k, v in (headers or {}).items()}}
    content = None
    if json is not None:
        content = jsonlib.dumps(json, ensure_ascii=False).encode()
        sent.setdefault("Content-Type", "application/json")
    elif body is not None:
        content = body.encode()
        if not any(k.lower() == "content-type" for k in sent):
            sent["Content-Type"] = "text/plain; charset=utf-8"
    chosen: Credential | None = None
    value: str | None = None
    secrets: list[str] = []
    if credential:
        chosen = config.credentials.get(credential)
        if chosen is None:
            known = ", ".join(sorted(config.credentials)) or "none are configured"
            raise ToolError(f"Unknown credential {credential!r} (known: {known}).")
        if not chosen.allows(url):
            raise ToolError(
                f"Credential {credential!r} may only be sent to {', '.join(chosen.hosts)}, not "
                f"{urlsplit(url).netloc}."
            )
        value, secrets = chosen.resolve(ctx.settings)
        sent = {k: v for k, v in sent.items() if k.lower() != chosen.header.lower()}
    result = fetch(
        method, url, headers=sent, content=content, timeout=config.timeout, max_bytes=config.max_response_bytes,
        follow_redirects=method in ("GET", "HEAD", "OPTIONS"), credential=chosen, credential_value=value,
    )
    text = _render(method, result)
    if result.status in (401, 403) and chosen is None:
        usable = sorted(n for n, c in config.credentials.items() if c.hosts and c.allows(result.url))
        if usable:
            text += f"\n[credentials configured for this host: {', '.join(usable)}; pass credential=NAME]"
    return _redact(text, [*(s for s in [value] if s), *secrets], ctx.settings)


def _render(method: str, result: Fetched) -> str:
    lines = [f"HTTP {result.status} {result.reason} ({method} {result.url}, {result.seconds:.2f}s)"]
    if result.redirects:
        lines.append("redirected from: " + " -> ".join(result.redirects))
    lines += [f"[{note}]" for note in result.notes]
    for name, value in result.headers.items():
        if name.lower() in SHOWN_HEADERS or name.lower().startswith("x-ratelimit"):
            lines.append(f"{name.lower()}: {value}")
    lines.append("")
    lines.append(_body_text(result))
    if result.truncated:
        lines.append(f"[response cut at {size(len(result.body))} ([http] max_response_bytes); ask for less]")
    return "\n".join(lines).rstrip()


def _body_text(result: Fetched) -> str:
    if not result.body:
        return "(empty body)"
    kind = result.content_type
    textual = kind.startswith("text/") or any(t in kind for t in ("json", "xml", "javascript", "form-urlencoded"))
    if not textual and (kind or b"\0" in result.body[:2048]):
        return f"[binary body: {kind or 'unknown type'}, {size(len(result.body))}; not shown]"
    text = result.text()
    if "json" in kind or (not kind and text.lstrip()[:1] in ("{", "[")):
        try:
            return jsonlib.dumps(jsonlib.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass  # truncated or not really JSON: show it as it came
    return text


def _redact(text: str, used: list[str], settings: Settings | None) -> str:
    """Remove the credential's values and every secret Ember knows from what the model will read."""
    from ember.security.redact import Redactor

    return Redactor([*used, *(settings.secret_values() if settings is not None else [])]).redact(text)
