"""Why a turn could not finish. Raised by the loop, caught by its callers (sub-agents, the doors)."""

from __future__ import annotations


class AgentError(Exception):
    """The turn could not finish; the message says why and what to do."""


class StepLimitReached(AgentError):
    pass
