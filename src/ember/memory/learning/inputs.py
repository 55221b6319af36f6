"""What the learner works from: the ``[memory]`` settings of the learning loop, and a captured turn.

``learning.py`` (which plugs the loop into an Agent) fills them and ``learn.py`` (the learner)
reads them; neither needs the other to describe them.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.config import Settings
    from ember.models.base import Usage


@dataclass
class LearningConfig:
    """The ``[memory]`` settings of the learning loop (config.toml)."""

    learning: bool = True
    profile_max_chars: int = 2000
    lessons_in_prompt: int = 3
    skills_in_index: int = 20
    skill_min_tool_calls: int = 5
    retire_window: int = 5
    retire_below: float = 0.4
    skill_unused_days: float = 90.0
    learning_wait: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LearningConfig:
        from ember.config import ConfigError

        table = settings.raw.get("memory", {})
        if not isinstance(table, dict):
            raise ConfigError("config.toml: [memory] must be a table")
        config = cls()
        known = vars(cls())
        for key in table:
            # [memory] is shared with memory search, so only a near-miss of one of ours is an error.
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
            if key not in known and close:
                raise ConfigError(f"config.toml: [memory].{key} is not a setting; did you mean {close[0]}?")
        for name, default in known.items():
            if name not in table:
                continue
            value = table[name]
            kind = type(default)
            ok = isinstance(value, bool) if kind is bool else (
                isinstance(value, int | float) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
            )
            if not ok or (kind is not bool and value < 0):
                raise ConfigError(f"config.toml: [memory].{name} must be a {'boolean' if kind is bool else 'number >= 0'}"
                                  f", got {value!r}")
            setattr(config, name, kind(value))
        return config


@dataclass
class Turn:
    """What the turn listener hands to the learner: captured on the hot path, processed later."""

    session_id: str
    user_message: str
    answer: str
    model_calls: int
    usage: Usage
    lessons_used: list[int] = field(default_factory=list)
    finished_at: float = field(default_factory=time.time)
    # A turn that raised instead of answering: why ("step-limit", "provider", "cancelled", "error"),
    # its error as raised (the learner redacts it), and the id of its user message.
    failed: str | None = None
    error: str = ""
    message_id: int | None = None
