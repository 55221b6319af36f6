"""The agent's Markdown as the HTML subset Telegram renders (``parse_mode: "HTML"``).

Telegram understands ``<b> <i> <s> <code> <pre> <a href> <blockquote> <tg-spoiler>`` and three
entities (``&lt; &gt; &amp;``); anything else in the text must be escaped, and tags must nest, or
the whole message is refused ("can't parse entities"). So the conversion escapes everything it
does not turn into a tag, and a line whose emphasis markers would cross (``*a **b* c**``) keeps
its markers as plain text instead of producing tags that do not nest.

What survives: bold, italic, strikethrough, spoilers (``||x||``), inline code, fenced code blocks
(with their language), links, block quotes; headings become bold lines, list bullets ``•``,
tables keep their columns in a ``<pre>`` block, an image becomes a link to it. The channel falls back to plain text when
Telegram still refuses the result, so a message is never lost to formatting.
"""

from __future__ import annotations

import html
import re

__all__ = ["to_telegram_html"]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)[^`]*$")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_QUOTE = re.compile(r"^ {0,3}>\s?(.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")

_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~>])")
_LINK = re.compile(r"!?\[([^\]\n]+)\]\(\s*<?([^\s)>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<((?:https?|tg|mailto):[^\s<>]+)>")
_SAFE_URL = re.compile(r"^(?:https?://|tg://|mailto:)", re.IGNORECASE)
_SLOT = re.compile(r"\x00(\d+)\x00")

# Applied in this order, on text already escaped; each pattern yields a matching pair of tags.
_EMPHASIS = [
    (re.compile(r"\*\*(?!\s)(.+?)(?<!\s)\*\*"), "b"),
    (re.compile(r"(?<!\w)__(?!\s)(.+?)(?<!\s)__(?!\w)"), "b"),
    (re.compile(r"(?<![*\w])\*(?![\s*])(.+?)(?<![\s*])\*(?![*\w])"), "i"),
    (re.compile(r"(?<![\w_])_(?![\s_])(.+?)(?<![\s_])_(?![\w_])"), "i"),
    (re.compile(r"~~(?!\s)(.+?)(?<!\s)~~"), "s"),
    (re.compile(r"\|\|(?!\s)(.+?)(?<!\s)\|\|"), "tg-spoiler"),
]
_TAG = re.compile(r"<(/?)(b|i|s|tg-spoiler)>")


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _nests(text: str) -> bool:
    """Whether the emphasis tags in ``text`` open and close in order."""
    stack: list[str] = []
    for match in _TAG.finditer(text):
        closing, name = match.groups()
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


class _Slots:
    """Finished HTML pieces (code spans, links) kept out of the way of the emphasis patterns."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def put(self, piece: str) -> str:
        self.pieces.append(piece)
        return f"\x00{len(self.pieces) - 1}\x00"

    def restore(self, text: str) -> str:
        while _SLOT.search(text):
            text = _SLOT.sub(lambda m: self.pieces[int(m.group(1))], text)
        return text


def _inline(text: str, slots: _Slots, links: bool = True) -> str:
    text = _CODE_SPAN.sub(lambda m: slots.put(f"<code>{_escape(m.group(2).strip() or m.group(2))}</code>"), text)
    text = _ESCAPED.sub(lambda m: slots.put(_escape(m.group(1))), text)
    if links:
        def link(match: re.Match[str]) -> str:
            label, url = match.group(1), match.group(2)
            if not _SAFE_URL.match(url):
                return match.group(0)
            return slots.put(f'<a href="{html.escape(url, quote=True)}">{_inline(label, slots, links=False)}</a>')

        text = _LINK.sub(link, text)
        text = _AUTOLINK.sub(lambda m: slots.put(_escape(m.group(1))), text)
    escaped = _escape(text)
    styled = escaped
    for pattern, tag in _EMPHASIS:
        styled = pattern.sub(rf"<{tag}>\1</{tag}>", styled)
    return styled if _nests(styled) else escaped


def _code_block(lines: list[str], language: str) -> str:
    body = _escape("\n".join(lines))
    if language:
        return f'<pre><code class="language-{language}">{body}</code></pre>'
    return f"<pre>{body}</pre>"


def to_telegram_html(markdown: str) -> str:
    """``markdown`` as Telegram HTML; every ``<``, ``>`` and ``&`` not part of a tag is escaped."""
    lines = markdown.replace("\x00", "").replace("\r\n", "\n").split("\n")
    slots = _Slots()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            marker = fence.group(1)
            body: list[str] = []
            i += 1
            while i < len(lines) and not (lines[i].strip().startswith(marker)
                                          and set(lines[i].strip()) == {marker[0]}):
                body.append(lines[i])
                i += 1
            out.append(_code_block(body, fence.group(2)))
            i += 1  # the closing fence (or the end of the text, for a block left open)
            continue
        if line.lstrip().startswith("|") and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]):
            table: list[str] = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                table.append(lines[i].strip())
                i += 1
            out.append(_code_block(table, ""))
            continue
        if _QUOTE.match(line):
            quoted: list[str] = []
            while i < len(lines) and (match := _QUOTE.match(lines[i])):
                quoted.append(_inline(match.group(1), slots))
                i += 1
            out.append("<blockquote>" + "\n".join(quoted) + "</blockquote>")
            continue
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        if heading:
            out.append(f"<b>{_inline(heading.group(1), slots)}</b>")
        elif bullet and not re.fullmatch(r"\s*([-*_])(\s*\1){2,}\s*", line):
            out.append(f"{bullet.group(1)}• {_inline(bullet.group(2), slots)}")
        else:
            out.append(_inline(line, slots))
        i += 1
    return slots.restore("\n".join(out))
