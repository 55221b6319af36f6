"""The Hermes text format: ``<tools>`` in the system prompt, ``<tool_call>`` and ``<think>`` in replies.

Raw local models (NousResearch Hermes 2/3, Qwen and many fine-tunes) call tools by writing
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` into their text, and reason inside
``<think>...</think>``. ``TagStreamParser`` splits such text into text, reasoning and tool-call
blocks; it is incremental so a stream never shows the user half a tag such as ``<tool_`` (a
possible tag prefix is held back until the next chunk resolves it). The same parser serves whole
replies, so streaming and non-streaming results are identical by construction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ember.models.base import Message, ToolCall, ToolSchema

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
_ALL_TAGS = (THINK_OPEN, THINK_CLOSE, CALL_OPEN, CALL_CLOSE)

Segment = tuple[str, str]
"""``("text" | "reasoning" | "tool_call", content)``; a tool_call segment is one whole block."""

# The instruction Hermes 2 Pro / Hermes 3 were trained on (NousResearch/Hermes-Function-Calling).
TOOLS_PROMPT = (
    "You are a function calling AI model. You are provided with function signatures within "
    "<tools></tools> XML tags. You may call one or more functions to assist with the user query. "
    "Don't make assumptions about what values to plug into functions. Here are the available tools: "
    "<tools>\n{tools}\n</tools>\n"
    "Use the following pydantic model json schema for each tool call you will make: "
    '{{"properties": {{"name": {{"title": "Name", "type": "string"}}, "arguments": {{"title": "Arguments", '
    '"type": "object"}}}}, "required": ["name", "arguments"], "title": "FunctionCall", "type": "object"}}\n'
    "For each function call return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags as follows:\n"
    "<tool_call>\n"
    '{{"name": <function-name>, "arguments": <args-dict>}}\n'
    "</tool_call>"
)


def _held_suffix(buf: str, tags: Iterable[str]) -> int:
    """Length of the longest tail of ``buf`` that could still grow into one of ``tags``."""
    longest = max(len(t) for t in tags)
    for k in range(min(len(buf), longest - 1), 0, -1):
        tail = buf[-k:]
        if any(t.startswith(tail) for t in tags):
            return k
    return 0


def _earliest(buf: str, tags: Iterable[str]) -> tuple[int, str | None]:
    best, found = -1, None
    for tag in tags:
        i = buf.find(tag)
        if i >= 0 and (best < 0 or i < best):
            best, found = i, tag
    return best, found


class TagStreamParser:
    """Incrementally split text into text, reasoning and ``<tool_call>`` block segments.

    A stray closing tag in plain text is dropped (chat templates sometimes leave one), an
    unclosed ``<think>`` or ``<tool_call>`` is closed by ``finish()``, and a second
    ``<tool_call>`` before the first one's ``</tool_call>`` starts a new block.
    """

    def __init__(self) -> None:
        self.mode = "text"  # "text" | "reasoning" | "tool_call"
        self._buf = ""

    def feed(self, chunk: str) -> list[Segment]:
        self._buf += chunk
        out: list[Segment] = []
        while True:
            buf = self._buf
            if self.mode == "text":
                i, tag = _earliest(buf, _ALL_TAGS)
                if tag is None:
                    keep = _held_suffix(buf, _ALL_TAGS)
                    self._emit(out, "text", buf[: len(buf) - keep])
                    self._buf = buf[len(buf) - keep :]
                    return out
                self._emit(out, "text", buf[:i])
                self._buf = buf[i + len(tag) :]
                if tag == THINK_OPEN:
                    self.mode = "reasoning"
                elif tag == CALL_OPEN:
                    self.mode = "tool_call"
            elif self.mode == "reasoning":
                i = buf.find(THINK_CLOSE)
                if i < 0:
                    keep = _held_suffix(buf, (THINK_CLOSE,))
                    self._emit(out, "reasoning", buf[: len(buf) - keep])
                    self._buf = buf[len(buf) - keep :]
                    return out
                self._emit(out, "reasoning", buf[:i])
                self._buf = buf[i + len(THINK_CLOSE) :]
                self.mode = "text"
            else:
                i, tag = _earliest(buf, (CALL_CLOSE, CALL_OPEN))
                if tag is None:
                    return out  # the block is not complete yet: keep all of it
                out.append(("tool_call", buf[:i]))
                self._buf = buf[i + len(tag) :]
                self.mode = "tool_call" if tag == CALL_OPEN else "text"

    def finish(self) -> list[Segment]:
        """Flush what is held back at the end of the reply."""
        rest, mode = self._buf, self.mode
        self._buf, self.mode = "", "text"
        if mode == "tool_call":
            return [("tool_call", rest)]
        out: list[Segment] = []
        self._emit(out, mode, rest)
        return out

    @staticmethod
    def _emit(out: list[Segment], kind: str, text: str) -> None:
        if text:
            out.append((kind, text))


def split_tagged_text(text: str) -> list[Segment]:
    """Parse a whole reply in one go (the non-streaming path)."""
    parser = TagStreamParser()
    return parser.feed(text) + parser.finish()


# --- rendering requests ---------------------------------------------------------------------------


def render_tools_prompt(tools: list[ToolSchema]) -> str:
    lines = [
        json.dumps(
            {"type": "function", "function": {"name": t["name"], "description": t.get("description", ""),
                                              "parameters": t.get("parameters", {"type": "object", "properties": {}})}},
            ensure_ascii=False,
        )
        for t in tools
    ]
    return TOOLS_PROMPT.format(tools="\n".join(lines))


def render_tool_calls(calls: list[ToolCall]) -> str:
    """Assistant tool calls written back as the text the model itself produces."""
    blocks = []
    for call in calls:
        if call.error and call.raw_arguments is not None and not call.arguments:
            body = json.dumps({"name": call.name, "arguments": call.raw_arguments}, ensure_ascii=False)
        else:
            body = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
        blocks.append(f"{CALL_OPEN}\n{body}\n{CALL_CLOSE}")
    return "\n".join(blocks)


def render_tool_response(name: str, content: str, is_error: bool = False) -> str:
    payload: dict[str, Any] = {"name": name, "content": content}
    if is_error:
        payload["is_error"] = True
    return f"<tool_response>\n{json.dumps(payload, ensure_ascii=False)}\n</tool_response>"


def to_hermes_messages(messages: list[Message], tools: list[ToolSchema] | None) -> list[Message]:
    """Rewrite neutral messages into plain-text Hermes turns (``tool_calls`` become text).

    System messages are merged into one, followed by the tool instructions; tool results become
    ``tool`` messages whose content is a ``<tool_response>`` block.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    if tools:
        system = (system + "\n\n" if system else "") + render_tools_prompt(tools)
    out: list[Message] = [Message(role="system", content=system)] if system else []
    names: dict[str, str] = {}
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "assistant":
            for call in m.tool_calls:
                names[call.id] = call.name
            parts = [p for p in (m.content.strip(), render_tool_calls(m.tool_calls)) if p]
            out.append(Message(role="assistant", content="\n".join(parts)))
        elif m.role == "tool":
            name = m.name or names.get(m.tool_call_id or "", "")
            out.append(Message(role="tool", content=render_tool_response(name, m.content, m.is_error),
                               tool_call_id=m.tool_call_id))
        else:
            out.append(Message(role=m.role, content=m.content, images=list(m.images)))
    return out


def render_chatml(messages: list[Message]) -> str:
    """A ChatML prompt ending in an open assistant turn, for the raw ``/completions`` endpoint.

    Consecutive tool results share one ``tool`` turn, as in the Hermes training data.
    """
    turns: list[tuple[str, str]] = []
    for m in messages:
        content = m.content
        if m.images:
            content += "\n[image omitted: the completion endpoint takes text only]"
        if turns and m.role == "tool" and turns[-1][0] == "tool":
            turns[-1] = ("tool", turns[-1][1] + "\n" + content)
        else:
            turns.append((m.role, content))
    body = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns)
    return body + "<|im_start|>assistant\n"
