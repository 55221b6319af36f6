"""Keep secrets out of logs, tool output and anything stored or sent to a model.

Two nets: the exact values Ember knows are secret (API keys from .env and config), and the
shapes secrets usually have (``sk-...``, ``Bearer ...``, AWS keys, private key blocks,
``api_key=...``), which catch keys Ember was never told about, e.g. printed by ``env`` or ``cat .env``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 6  # shorter "secrets" would blank out ordinary words

_SHAPES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S),
        "[REDACTED PRIVATE KEY]",
    ),
    (re.compile(r"\bsk-(?:ant-|proj-|or-)?[A-Za-z0-9_-]{16,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}"), MASK),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), MASK),
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.I), rf"\1 {MASK}"),
    (
        # key = value, key: value, "key": "value" where the key names a secret.
        re.compile(
            r"(?i)\b([\w.-]*(?:api[_-]?key|secret|token|passw(?:or)?d|access[_-]?key|private[_-]?key)[\w.-]*)"
            r"(['\"]?\s*[:=]\s*)(['\"]?)(?!\d+\b)(?!\[REDACTED)([^\s'\",;&]{6,})"
        ),
        rf"\1\2\3{MASK}",
    ),
]


class Redactor:
    """Replaces secret values and secret-shaped strings with ``[REDACTED]``; thread-safe."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Also redact ``secret`` (ignored when too short to be a real secret)."""
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret not in self._secrets:
                # Longest first, so a secret containing another is replaced whole.
                self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def redact(self, text: str) -> str:
        if not text:
            return text
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
        return text

    __call__ = redact


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (attach it to the app's handlers)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        redacted = self.redactor.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
