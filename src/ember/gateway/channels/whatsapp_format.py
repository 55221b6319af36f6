"""The agent's Markdown as WhatsApp's own formatting.

WhatsApp shows single-star bold, underscore italics, single-tilde strike-through, monospace
blocks in triple backticks, inline code, ``- `` lists and ``> `` quotes, and nothing else: so
``**bold**`` and ``__bold__`` become ``*bold*``, ``*italic*`` becomes ``_italic_``, ``~~x~~``
becomes ``~x~``, a heading becomes a bold line, ``[text](url)`` becomes ``text (url)`` (WhatsApp
links a bare URL), and a table goes into a monospace block so its columns line up. Code is left
as it is (a fence's language tag dropped).
"""

from __future__ import annotations

import re

_CODE = re.compile(r"```[^\n`]*\n.*?```|`[^`\n]+`", re.S)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|(?<!\w)__(?=\S)(.+?)(?<=\S)__(?![\w.])")
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_LINK = re.compile(r"\[([^\]\n]+)\]\((\S+?)\)")
_ANGLE_URL = re.compile(r"<(https?://[^>\s]+)>")
_BULLET = re.compile(r"^(\s*)[*+]\s+")


def to_whatsapp(text: str) -> str:
    """``text`` (Markdown) in WhatsApp's formatting."""
    out: list[str] = []
    last = 0
    for match in _CODE.finditer(text):
        out.append(_prose(text[last:match.start()]))
        code = match.group(0)
        out.append(re.sub(r"^```[^\n`]*\n", "```\n", code) if code.startswith("```") else code)
        last = match.end()
    out.append(_prose(text[last:]))
    return "".join(out)


def _prose(text: str) -> str:
    lines = text.split("\n")
    result: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith("|") and index + 1 < len(lines) and _TABLE_RULE.match(lines[index + 1]):
            end = index
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                end += 1
            result.append("```\n" + "\n".join(lines[index:end]) + "\n```")
            index = end
            continue
        result.append(_line(line))
        index += 1
    return "\n".join(result)


def _line(line: str) -> str:
    heading = _HEADING.match(line)
    if heading:
        plain = _BOLD.sub(lambda m: m.group(1) or m.group(2), heading.group(1))
        return f"*{plain}*" if plain else line
    line = _BULLET.sub(r"\1- ", line)
    line = _LINK.sub(lambda m: m.group(1) if m.group(1) == m.group(2) else f"{m.group(1)} ({m.group(2)})", line)
    line = _ANGLE_URL.sub(r"\1", line)
    line = _BOLD.sub(lambda m: "\x01" + (m.group(1) or m.group(2)) + "\x01", line)
    line = _ITALIC.sub(r"_\1_", line)
    line = _STRIKE.sub(r"~\1~", line)
    return line.replace("\x01", "*")
