"""Fold older turns of a long session into a summary made by the model (cheap route).

The summary is stored beside the history, never instead of it: every message stays in the store
and searchable; only what is sent to the model shrinks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ember.models.base import Message

SUMMARY_INSTRUCTIONS = (
    "You compact a conversation between a user and their AI agent so the agent can continue it. "
    "Write a concise summary in Markdown with three sections: **Decisions** (what was decided or "
    "done, with file names, commands and values), **Facts** (what was learned about the user, the "
    "task and the environment), **Open tasks** (what is still to do). Keep exact names, numbers and "
    "paths. Do not add anything that is not in the conversation. Reply with the summary only."
)

TOOL_OUTPUT_CHARS = 600


@dataclass
class CompactionPlan:
    """Which stored messages to fold: everything up to and including ``upto_id``."""

    upto_id: int
    folded: list[Message]


def plan_compaction(entries: list[tuple[int, Message]], keep_recent_turns: int) -> CompactionPlan | None:
    """Fold all but the last ``keep_recent_turns`` user turns; ``None`` when there is too little.

    The cut falls just before a user message, so an assistant tool call and its results are never
    separated.
    """
    user_positions = [i for i, (_, m) in enumerate(entries) if m.role == "user"]
    if len(user_positions) <= max(keep_recent_turns, 1):
        return None
    cut = user_positions[-max(keep_recent_turns, 1)]
    if cut == 0:
        return None
    folded = [m for _, m in entries[:cut]]
    return CompactionPlan(upto_id=entries[cut - 1][0], folded=folded)


def render_transcript(messages: list[Message], previous_summary: str | None = None) -> str:
    lines: list[str] = []
    if previous_summary:
        lines.append(f"[Earlier summary]\n{previous_summary}\n")
    for message in messages:
        if message.role == "tool":
            text = message.content
            if len(text) > TOOL_OUTPUT_CHARS:
                text = text[:TOOL_OUTPUT_CHARS] + f" …[{len(message.content) - TOOL_OUTPUT_CHARS} chars cut]"
            lines.append(f"TOOL RESULT ({message.name or 'tool'}): {text}")
        elif message.role == "assistant":
            if message.content:
                lines.append(f"ASSISTANT: {message.content}")
            for call in message.tool_calls:
                lines.append(f"ASSISTANT CALLS {call.name}({call.arguments})")
        elif message.role == "user":
            lines.append(f"USER: {message.content}")
    return "\n".join(lines)


def summary_request(messages: list[Message], previous_summary: str | None) -> list[Message]:
    return [
        Message(role="system", content=SUMMARY_INSTRUCTIONS),
        Message(role="user", content=render_transcript(messages, previous_summary)),
    ]
