"""Keeping a Telegram bot token out of logs: Telegram puts it in every request URL
(``/bot<token>/<method>``), and httpx logs request URLs.

``guard_logs(token)`` attaches one filter to httpx's and httpcore's loggers that masks every token
it was given, and any ``/bot<id>:<secret>`` path; ``redact_token`` does the same to a text (the
channel's own errors).
"""

from __future__ import annotations

import logging
import re

_BOT_PATH = re.compile(r"(/(?:file/)?bot)\d+:[\w-]+")


def redact_token(text: str, token: str | None = None) -> str:
    """``text`` with the bot token (and any ``/bot<id>:<secret>`` path) masked."""
    if token and token in text:
        text = text.replace(token, "[REDACTED]")
    return _BOT_PATH.sub(r"\1[REDACTED]", text)


class _TokenFilter(logging.Filter):
    """Masks bot tokens in the records of the loggers it is attached to (httpx logs each URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's to report
            return True
        clean = message
        for token in list(self.tokens):
            clean = redact_token(clean, token)
        clean = redact_token(clean)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_FILTER = _TokenFilter()
_HTTP_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")


def guard_logs(token: str) -> None:
    """Mask ``token`` in the HTTP libraries' logs from now on."""
    _FILTER.tokens.add(token)
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
