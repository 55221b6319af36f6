"""Who may talk to Ember through the gateway: allow lists, pairing codes, and rate limits.

Unknown senders are refused by default: one short refusal at most once an hour, and nothing of
theirs reaches the model. A sender is allowed when their platform user id (never a display
name) is in the channel's allow list, or when they paired: ``ember gateway pair`` prints a
one-time code, and a stranger who sends it is allowed from then on. Each allowed sender is a
person (``platform:user`` unless ``ember gateway link`` joined several ids into one).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from ember.gateway.channel import Inbound
from ember.gateway.config import GatewayConfig
from ember.gateway.ledger import Ledger

REFUSAL = ("Sorry, I only answer people I know. If this is your Ember, run `ember gateway pair` "
           "on its machine and send me the code it prints.")
REFUSAL_EVERY = 3600.0  # seconds between two refusals to the same stranger


@dataclass
class Verdict:
    allowed: bool
    person: str = ""
    reply: str | None = None  # what to answer instead of running a turn (a refusal, "paired")


class Access:
    def __init__(self, ledger: Ledger, config: GatewayConfig, clock=time.monotonic) -> None:
        self.ledger = ledger
        self.config = config
        self.clock = clock
        self._refused_at: dict[str, float] = {}
        self._recent: dict[str, deque[float]] = {}
        self._slowed_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def _allow_list(self, platform: str) -> set[str]:
        channel = self.config.configs.get(platform)
        return set(getattr(channel, "allow", []) or [])

    def person(self, platform: str, user: str) -> str | None:
        """The person a sender is, or None for a stranger."""
        linked = self.ledger.sender(platform, user)
        if linked:
            return linked
        if user in self._allow_list(platform):
            return f"{platform}:{user}"
        return None

    def check(self, message: Inbound) -> Verdict:
        sender = f"{message.platform}:{message.user}"
        if message.platform == "webhook":  # the channel let only correctly signed requests through
            return Verdict(True, sender)
        person = self.person(message.platform, message.user)
        if person is not None:
            return Verdict(True, person)
        code = message.text.strip()
        if 6 <= len(code) <= 12 and code.isalnum() and self.ledger.use_pairing_code(code, sender):
            self.ledger.allow_sender(message.platform, message.user, sender, "paired")
            return Verdict(False, sender, "Paired: I will answer you from now on. What can I do for you?")
        with self._lock:
            now = self.clock()
            last = self._refused_at.get(sender)
            if last is not None and now - last < REFUSAL_EVERY:
                return Verdict(False)
            self._refused_at[sender] = now
        return Verdict(False, reply=REFUSAL)

    def too_fast(self, sender: str) -> str | None:
        """A short reply when ``sender`` sent more than ``rate_limit`` messages in a minute (once a
        minute), "" to drop silently, None when the message may go on."""
        with self._lock:
            now = self.clock()
            recent = self._recent.setdefault(sender, deque())
            while recent and now - recent[0] > 60:
                recent.popleft()
            if len(recent) < self.config.rate_limit:
                recent.append(now)
                return None
            if now - self._slowed_at.get(sender, -1e9) < 60:
                return ""
            self._slowed_at[sender] = now
        return f"You are sending messages faster than I take them ({self.config.rate_limit} a minute). Wait a moment."
