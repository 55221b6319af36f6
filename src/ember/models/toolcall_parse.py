"""Parse and, when it is safe, repair the tool calls models write.

Local models often emit almost-JSON: code fences, trailing commas, single quotes, Python's
``True``/``False``/``None``, unquoted keys, raw newlines in strings, or the arguments object
encoded a second time as a JSON string. Each of those has exactly one meaning, so we repair it.
Anything that would need a guess (truncated JSON, an unquoted value) is not repaired: the call
comes back with ``error`` set to a message the model can act on, and ``raw_arguments`` kept.
Nothing here raises on model output.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from ember.models.base import ToolCall

_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n?(.*?)\n?```$", re.S)
_NAME = re.compile(r"""["']?name["']?\s*:\s*["']([^"']+)["']""")
_WORDS = {"true": "true", "True": "true", "false": "false", "False": "false",
          "null": "null", "None": "null", "none": "null", "NaN": "NaN", "Infinity": "Infinity"}



def _obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (model and server output is untrusted)."""
    return value if isinstance(value, dict) else {}


def new_call_id() -> str:
    """An id for a tool call the model did not give one (Hermes blocks never carry ids)."""
    return "call_" + uuid.uuid4().hex[:24]


def _relax(text: str) -> str:
    """Rewrite relaxed JSON into strict JSON, one token at a time, never touching string contents."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j, buf = i + 1, []
            while j < n and text[j] != c:
                ch = text[j]
                if ch == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    buf.append("'" if (c == "'" and nxt == "'") else text[j : j + 2])
                    j += 2
                    continue
                buf.append('\\"' if (c == "'" and ch == '"') else ch)
                j += 1
            if j >= n:
                raise ValueError("a string is never closed")
            out.append('"' + "".join(buf) + '"')
            i = j + 1
            continue
        if c == ",":
            k = i + 1
            while k < n and text[k].isspace():
                k += 1
            if k < n and text[k] in "}]":
                i += 1  # trailing comma
                continue
        if c.isdigit() or (c in "-+." and i + 1 < n and text[i + 1].isdigit()):
            j = i + 1
            while j < n and (text[j].isdigit() or text[j] in ".eE+-"):
                j += 1
            out.append(text[i:j].lstrip("+"))  # a number, exponent included
            i = j
            continue
        if c.isalpha() or c in "_$":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_$-"):
                j += 1
            word = text[i:j]
            k = j
            while k < n and text[k].isspace():
                k += 1
            if k < n and text[k] == ":":
                out.append(json.dumps(word))  # unquoted key
            elif word in _WORDS:
                out.append(_WORDS[word])
            else:
                raise ValueError(f"unquoted value {word!r}")
            i = j
            continue
        out.append(c)
        i += 1
    return "".join(out)


def loads_relaxed(text: str) -> Any:
    """``json.loads`` that also accepts the relaxed forms above; raises ValueError otherwise."""
    text = text.strip()
    fence = _FENCE.match(text)
    if fence:
        text = fence.group(1).strip()
    try:
        return json.loads(text)
    except ValueError as exc:
        first_error = exc
    candidates = [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end and (start > 0 or end < len(text) - 1):
        candidates.append(text[start : end + 1])  # prose around the object
    for candidate in candidates:
        try:
            return json.loads(_relax(candidate), strict=False)
        except ValueError:
            continue
    raise ValueError(str(first_error)) from None


def parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    """Arguments as a dict, and an error message when they cannot be read safely."""
    if raw is None:
        return {}, None
    if isinstance(raw, dict):
        return raw, None
    if not isinstance(raw, str):
        return {}, f"the arguments must be a JSON object, not {type(raw).__name__}"
    if not raw.strip():
        return {}, None
    try:
        value = loads_relaxed(raw)
        if isinstance(value, str) and value.strip()[:1] in ("{", "`"):
            value = loads_relaxed(value)  # the object was JSON-encoded twice
    except ValueError as exc:
        return {}, f"the arguments are not valid JSON ({exc})"
    if isinstance(value, dict):
        return value, None
    return {}, f"the arguments must be a JSON object, not {type(value).__name__}"


def _explain(name: str, problem: str) -> str:
    what = f"Tool call {name!r}" if name else "A tool call"
    return (
        f"{what} was not run: {problem}. Call the tool again with its name and its arguments as one "
        f'valid JSON object, e.g. {{"name": "tool_name", "arguments": {{"key": "value"}}}}.'
    )


def make_tool_call(name: Any, arguments: Any, call_id: Any = None) -> ToolCall:
    """A ToolCall from a name and arguments in any shape a provider sends (dict or JSON text)."""
    name = str(name or "").strip()
    args, problem = parse_arguments(arguments)
    if not name:
        problem = "it has no function name"
    raw = arguments if isinstance(arguments, str) else None
    return ToolCall(
        id=str(call_id) if call_id else new_call_id(),
        name=name,
        arguments=args,
        raw_arguments=raw,
        error=_explain(name, problem) if problem else None,
    )


def parse_hermes_block(block: str) -> list[ToolCall]:
    """The tool calls inside one ``<tool_call>...</tool_call>`` block (one object or a list)."""
    text = block.strip()
    if not text:
        return [ToolCall(id=new_call_id(), name="", raw_arguments=block, error=_explain("", "the block is empty"))]
    try:
        value = loads_relaxed(text)
    except ValueError as exc:
        match = _NAME.search(text)
        name = match.group(1) if match else ""
        return [ToolCall(id=new_call_id(), name=name, raw_arguments=text,
                         error=_explain(name, f"its JSON could not be read ({exc})"))]
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        if not isinstance(item, dict):
            calls.append(ToolCall(id=new_call_id(), name="", raw_arguments=text,
                                  error=_explain("", "it is not a JSON object with name and arguments")))
            continue
        function = _obj(item.get("function"))
        name = item.get("name") or function.get("name")
        if "arguments" in item:
            args = item["arguments"]
        elif "parameters" in item:
            args = item["parameters"]
        else:
            args = function.get("arguments")
        call = make_tool_call(name, args, item.get("id"))
        if call.error and call.raw_arguments is None:
            call.raw_arguments = text
        calls.append(call)
    return calls
