"""Keep secrets out of logs, tool output and anything stored or sent to a model.

Two nets: the exact values Ember knows are secret (API keys from .env and config), and the
shapes secrets usually have (``sk-...``, ``Bearer ...``, AWS keys, private key blocks,
``api_key=...``), which catch keys Ember was never told about, e.g. printed by ``env`` or ``cat .env``.
A known value is also caught reversed and base64-encoded (on one line), the two transforms that
carry a file past a filter most cheaply (``rev .env``, ``base64 .env``).

The shapes are the scanner's (``ember.security.secret_patterns``). By default every match is
masked, placeholders included: masking ``sk-xxxx`` in a log or a tool result costs nothing. What
is stored as conversation (``placeholders=False``, the store's redactor) keeps placeholders
visible, as memory writes do: a ``<your-token>`` or ``sk-...`` in an answer is documentation,
not a secret.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable

from ember.security.secret_patterns import MASK, PLACEHOLDER, find_secrets, mask

__all__ = ["MASK", "MIN_SECRET_LENGTH", "RedactingFilter", "Redactor", "derived_forms"]

MIN_SECRET_LENGTH = 6  # shorter "secrets" would blank out ordinary words
MIN_DERIVED_LENGTH = 8  # a reversed or base64 form shorter than this would match by chance


def derived_forms(secret: str) -> list[str]:
    """``secret`` reversed, and the part of its base64 encoding that is the same wherever it
    starts in an encoded file (three alignments, standard and URL-safe alphabets)."""
    forms = [secret[::-1]]
    raw = secret.encode("utf-8")
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        # Character i holds bits 6i..6i+5: it depends on the secret alone when they lie within it.
        core = encoded[-(-offset * 8 // 6):(offset + len(raw)) * 8 // 6]
        forms += [core, core.replace("+", "-").replace("/", "_")]
    return [form for form in dict.fromkeys(forms) if form != secret and len(form) >= MIN_DERIVED_LENGTH]


class Redactor:
    """Replaces secret values and secret-shaped strings with ``[REDACTED]``; thread-safe.

    ``placeholders=False`` leaves secret-shaped text that is visibly a placeholder as it is
    (``<your-token>``, ``${TOKEN}``, ``sk-...``): the policy for what is stored as conversation.
    """

    def __init__(self, secrets: Iterable[str] = (), *, placeholders: bool = True) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []
        self.placeholders = placeholders
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Also redact ``secret`` and its reversed and base64 forms (ignored when too short to be
        a real secret)."""
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret not in self._secrets:
                # Longest first, so a secret containing another is replaced whole.
                known = {*self._secrets, secret, *derived_forms(secret)}
                self._secrets = sorted(known, key=len, reverse=True)

    def redact(self, text: str) -> str:
        if not text:
            return text
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        findings = find_secrets(text)
        if findings and not self.placeholders:
            findings = [f for f in findings if f.verdict != PLACEHOLDER]
        return mask(text, findings) if findings else text

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
