"""The learning loop's records, as the store keeps them: episodes, lessons, skill stats, events.

What these records mean, and what is done with them, is ``ember.memory``'s (``episodes``,
``lessons``, ``skill_stats``, ``learn``); the store only keeps and finds them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Step:
    """One tool call of a task: its name, arguments, whether it worked, and the start of its result."""

    tool: str
    arguments: dict[str, Any]
    ok: bool
    result: str

    def as_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "arguments": self.arguments, "ok": self.ok, "result": self.result}


@dataclass
class Episode:
    task: str
    session_id: str | None = None
    answer: str = ""
    steps: list[Step] = field(default_factory=list)
    outcome: str = "success"
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    lessons_used: list[int] = field(default_factory=list)
    skills_used: list[str] = field(default_factory=list)
    error: str = ""  # why the turn ended without an answer; "" when it answered
    id: int = 0
    created_at: float = 0.0

    @property
    def errors(self) -> list[str]:
        """The failed tool calls, then the turn's own error, if any."""
        return [f"{s.tool}: {s.result}" for s in self.steps if not s.ok] + ([self.error] if self.error else [])

    @property
    def summary(self) -> str:
        """Task and result in a few lines (memory search hits): the answer, or how it ended without one."""
        if self.error:
            return f"{self.task}\n✗ {self.outcome}: {self.error}"
        return f"{self.task}\n→ {self.answer}"

    @property
    def tool_calls(self) -> int:
        return len(self.steps)


@dataclass
class Lesson:
    id: int
    rule: str
    keywords: str
    kind: str
    episode_id: int | None
    uses: int
    successes: int
    recent: str
    confirmations: int
    retired_at: float | None
    retired_reason: str | None
    created_at: float

    @property
    def active(self) -> bool:
        return self.retired_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "rule": self.rule, "keywords": self.keywords, "kind": self.kind,
            "episode_id": self.episode_id, "uses": self.uses, "successes": self.successes,
            "confirmations": self.confirmations, "active": self.active, "retired_reason": self.retired_reason,
            "created_at": self.created_at,
        }


@dataclass
class SkillStats:
    name: str
    origin: str = "local"
    uses: int = 0
    successes: int = 0
    recent: str = ""
    last_used: float | None = None
    archived_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class LearningEvent:
    """One thing the learning loop did (a lesson, a skill, a refusal, an undo)."""

    id: int
    kind: str
    subject: str
    detail: str
    episode_id: int | None
    created_at: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
