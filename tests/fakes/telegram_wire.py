"""The fake Telegram's wire: Telegram's HTML as its servers parse it, request parameters
(query string, JSON, form or multipart), the HTTP handler, and the webhook pusher. The fake
itself, and how tests use it, is in ``tests.fakes.telegram_server``.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from tests.fakes.telegram_server import FakeTelegram

DEFAULT_ERRORS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

# --- Telegram's HTML ---------------------------------------------------------------------------

_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span",
         "tg-spoiler", "tg-emoji", "blockquote"}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")


class EntityError(ValueError):
    """Telegram's "can't parse entities" reason."""


def parse_html(text: str) -> str:
    """The text a person sees for ``parse_mode: "HTML"`` ``text``, or ``EntityError`` as Telegram refuses it."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        offset = len(text[:pos].encode())
        if char == "<":
            match = _TAG.match(text, pos)
            if not match:
                raise EntityError(f'Unsupported start tag "" at byte offset {offset}')
            closing, name = match.group(1), match.group(2).lower()
            if name not in _TAGS:
                raise EntityError(f'Unsupported start tag "{name}" at byte offset {offset}')
            if closing:
                if not stack:
                    raise EntityError(f'Unexpected end tag at byte offset {offset}')
                if stack[-1] != name:
                    raise EntityError(f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", '
                                      f'found "</{name}>"')
                stack.pop()
            else:
                if name == "span" and "tg-spoiler" not in match.group(3):
                    raise EntityError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
                stack.append(name)
            pos = match.end()
        elif char == "&":
            match = _ENTITY.match(text, pos)
            if not match:
                raise EntityError(f"Unsupported HTML entity at byte offset {offset}")
            out.append(html.unescape(match.group(0)))
            pos = match.end()
        elif char == ">":
            raise EntityError(f"Unexpected end of name token at byte offset {offset}")
        else:
            out.append(char)
            pos += 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


# --- requests and answers ----------------------------------------------------------------------

@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict, repr=False)


@dataclass
class Fault:
    what: int | str
    description: str
    retry_after: int | None


class Answer(Exception):
    """A Bot API error answer."""

    def __init__(self, code: int, description: str = "", parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description or DEFAULT_ERRORS.get(code, "Error")
        self.parameters = parameters

def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def entities(text: str) -> list[dict[str, Any]]:
    """Mentions and bot commands, with UTF-16 offsets as Telegram gives them."""
    found = []
    for match in re.finditer(r"(?<![\w@/])(@\w{5,32}|/\w{1,32}(?:@\w{5,32})?)", text):
        kind = "mention" if match.group(1).startswith("@") else "bot_command"
        if kind == "bot_command" and match.start() != 0:
            continue
        found.append({"type": kind, "offset": utf16_len(text[: match.start()]), "length": utf16_len(match.group(1))})
    return found


def multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes, str]] = {}
    if not boundary:
        return fields, files
    for part in body.split(b"--" + boundary.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part[2:].partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        headers = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]*)"', headers)
        filename = re.search(r'filename="([^"]*)"', headers)
        mime = re.search(r"(?im)^content-type:\s*(\S+)", headers)
        if not name:
            continue
        if filename:
            files[name.group(1)] = (filename.group(1), data, mime.group(1) if mime else "application/octet-stream")
        else:
            fields[name.group(1)] = data.decode("utf-8", "replace")
    return fields, files


def decoded(value: Any) -> Any:
    """A form field that holds JSON (reply_markup, allowed_updates) as the object it names."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# --- HTTP ---------------------------------------------------------------------------------------

class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeTelegram

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is normal
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _json(self, status: int, payload: Any) -> None:
        self._reply(status, json.dumps(payload).encode())

    def _dispatch(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path.startswith("/_fake/"):
            self._control(path.removeprefix("/_fake/"), body)
            return
        route = re.fullmatch(r"/(file/)?bot([^/]+)/(.+)", path)
        if not route:
            self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        if route.group(2) != fake.token:
            self._json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        if route.group(1):
            data = fake.download(route.group(3))
            if data is None:
                self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            else:
                self._reply(200, data, "application/octet-stream")
            return
        method = route.group(3)
        params: dict[str, Any] = dict(parse_qsl(url.query))
        files: dict[str, tuple[str, bytes, str]] = {}
        content_type = self.headers.get("content-type", "")
        try:
            if content_type.startswith("application/json") and body:
                params.update(json.loads(body))
            elif content_type.startswith("multipart/form-data"):
                fields, files = multipart(content_type, body)
                params.update(fields)
            elif body:
                params.update(parse_qsl(body.decode()))
        except ValueError:
            self._json(400, {"ok": False, "error_code": 400, "description": "Bad Request: can't parse JSON object"})
            return
        params = {k: decoded(v) for k, v in params.items()}
        fake.record_call(Call(method, params, files))
        fault = fake.take_fault(method)
        if fault is not None and fault.what in ("hang", "drop"):
            if fault.what == "hang":
                fake.stopped.wait(30)
            self.close_connection = True
            return
        try:
            if fault is not None:
                assert isinstance(fault.what, int)
                extra = {"retry_after": fault.retry_after} if fault.retry_after else None
                raise Answer(fault.what, fault.description, extra)
            result = fake.call(method, params, files)
        except Answer as answer:
            payload: dict[str, Any] = {"ok": False, "error_code": answer.code, "description": answer.description}
            if answer.parameters:
                payload["parameters"] = answer.parameters
            self._json(answer.code, payload)
            return
        self._json(200, {"ok": True, "result": result})

    def _control(self, action: str, body: bytes) -> None:
        fake = self.server.fake
        try:
            args = json.loads(body) if body else {}
            if action == "sent":
                result: Any = [{**asdict(s), "file": None} for s in list(fake.sent)]
            elif action in ("user_says", "press"):
                result = getattr(fake, action)(**args)
            else:
                raise ValueError(f"no control action {action!r}")
        except (TypeError, ValueError, AssertionError) as exc:
            self._json(400, {"ok": False, "error_code": 400, "description": str(exc)})
            return
        self._json(200, {"ok": True, "result": result})


# --- webhook mode: Telegram POSTs updates ------------------------------------------------------

def push_updates(fake: FakeTelegram) -> None:
    """POST queued updates to ``fake.push_to`` one at a time, as Telegram delivers to a webhook:
    an update is forgotten on a 2xx answer, else tried again after ``fake.retry_delay``."""
    import httpx

    with httpx.Client(timeout=10) as client:
        while not fake.stopped.is_set():
            job = fake.next_push()
            if job is None:
                fake.stopped.wait(0.02)
                continue
            address, secret, update = job
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
            try:
                status = client.post(address, json=update, headers=headers).status_code
            except httpx.HTTPError:
                status = 0
            fake.pushed(update, status)
            if not 200 <= status < 300:
                fake.stopped.wait(fake.retry_delay)
