"""Keep secrets out of logs, tool output and anything stored or sent to a model.

Two nets: the exact values Ember knows are secret (API keys from .env and config), and the
shapes secrets usually have (``sk-...``, ``Bearer ...``, AWS keys, private key blocks,
``api_key=...``), which catch keys Ember was never told about, e.g. printed by ``env`` or ``cat .env``.
The shapes are the scanner's (``ember.security.secret_patterns``); the redactor masks every match,
placeholders included: masking ``sk-xxxx`` in a log costs nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from ember.security.secret_patterns import MASK, find_secrets, mask

__all__ = ["MASK", "MIN_SECRET_LENGTH", "RedactingFilter", "Redactor"]

MIN_SECRET_LENGTH = 6  # shorter "secrets" would blank out ordinary words


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
        return mask(text, find_secrets(text))

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
