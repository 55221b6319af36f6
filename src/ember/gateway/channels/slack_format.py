"""Text between the agent's Markdown and Slack's mrkdwn, and the blocks of a question with buttons.

Out: ``to_mrkdwn`` turns Markdown into what Slack renders (``**b**`` -> ``*b*``, ``[t](u)`` ->
``<u|t>``, headings -> bold lines, ``- item`` -> ``• item``, tables into a code block) and
escapes ``&``, ``<`` and ``>`` everywhere, so a message can never carry a ``<!channel>`` ping or
a forged link that the agent did not write as a Markdown link.

In: ``from_slack`` turns a message's text back into plain text for the agent: the bot's own
mention removed, ``<url|label>`` -> ``label (url)``, ``<#C1|team>`` -> ``#team``, entities
unescaped.
"""

from __future__ import annotations

import re
from typing import Any

SECTION_LIMIT = 3000  # the longest text of one section block

_FENCE = re.compile(r"```[^\n`]*\n?(.*?)```", re.S)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"!?\[([^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|(?<!\w)__(?=\S)((?:(?!__).)+?)(?<=\S)__(?=[\s,;:!?)]|$)")
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.M)
_RULE = re.compile(r"^[ \t]*(?:-[ \t]*){3,}$|^[ \t]*(?:\*[ \t]*){3,}$|^[ \t]*(?:_[ \t]*){3,}$", re.M)
_TABLE = re.compile(r"^[ \t]*\|.*\|[ \t]*(?:\n[ \t]*\|.*\|[ \t]*)+$", re.M)
_TOKEN = re.compile("\x00(\\d+)\x00")
_BOLD_MARK = "\x01"


def escape(text: str) -> str:
    """Slack's three control characters as entities (what every text field must do)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """The agent's Markdown as Slack mrkdwn, with ``&``, ``<``, ``>`` escaped."""
    saved: list[str] = []

    def keep(value: str) -> str:
        saved.append(value)
        return f"\x00{len(saved) - 1}\x00"

    text = markdown.replace("\x00", "").replace(_BOLD_MARK, "")
    text = _FENCE.sub(lambda m: keep("```\n" + escape(m.group(1).rstrip("\n")) + "\n```"), text)
    text = _TABLE.sub(lambda m: keep("```\n" + escape(m.group(0)) + "\n```"), text)
    text = _INLINE_CODE.sub(lambda m: keep("`" + escape(m.group(1)) + "`"), text)
    text = _LINK.sub(lambda m: keep(_link(m.group(2), m.group(1))), text)
    text = _AUTOLINK.sub(lambda m: keep(_link(m.group(1), "")), text)
    text = escape(text)
    text = _RULE.sub("──────────", text)
    text = _HEADING.sub(lambda m: _BOLD_MARK + _plain(m.group(1)) + _BOLD_MARK, text)
    text = _BOLD.sub(lambda m: _BOLD_MARK + (m.group(1) or m.group(2)) + _BOLD_MARK, text)
    text = _BULLET.sub(r"\1• ", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    text = text.replace(_BOLD_MARK, "*")
    while _TOKEN.search(text):  # a saved piece may hold another (a link label with code)
        text = _TOKEN.sub(lambda m: saved[int(m.group(1))], text)
    return text


def _plain(text: str) -> str:
    """A heading's words without their own emphasis marks (the whole line becomes bold)."""
    return re.sub(r"\*\*|__|" + _BOLD_MARK, "", text)


def _link(url: str, label: str) -> str:
    url = escape(url).replace("|", "%7C")
    label = _plain(label).replace("|", "¦").strip()
    if not label or label == url:
        return f"<{url}>"
    return f"<{url}|{escape(label)}>"


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_SLACK_REF = re.compile(r"<([^<>]+)>")


def from_slack(text: str, bot_user: str = "") -> str:
    """A Slack message's text as plain text for the agent (the bot's own mention removed)."""
    if bot_user:
        text = re.sub(rf"<@{re.escape(bot_user)}(?:\|[^>]*)?>[,:]?", "", text)

    def ref(m: re.Match[str]) -> str:
        target, _, label = m.group(1).partition("|")
        if target.startswith("#"):  # a channel
            return "#" + (label or target[1:])
        if target.startswith("@"):  # another user: keep the id, the agent may answer to it
            return f"<{target}>"
        if target.startswith("!"):  # <!here>, <!channel>, <!subteam^S1|@team>
            return label or "@" + target[1:].split("^")[0]
        target = _unescape(target)
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        if label and _unescape(label) != target:
            return f"{_unescape(label)} ({target})"
        return target

    text = _SLACK_REF.sub(ref, text)
    return re.sub(r"[ \t]{2,}", " ", _unescape(text)).strip()


def question_blocks(text: str, buttons: list[tuple[str, str]], request_id: str) -> list[dict[str, Any]]:
    """Section blocks holding ``text`` (mrkdwn, cut at section size) and one actions block whose
    buttons carry their choice in ``value`` and the question's id in ``block_id`` and ``action_id``."""
    from ember.gateway.channel import split_text

    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": part}}
        for part in split_text(text, SECTION_LIMIT)
    ]
    elements: list[dict[str, Any]] = []
    for index, (label, value) in enumerate(buttons[:25]):
        button: dict[str, Any] = {
            "type": "button", "text": {"type": "plain_text", "text": label[:75] or value[:75], "emoji": True},
            "value": value[:2000], "action_id": f"ember:{request_id}:{index}",
        }
        if value.lower() in ("deny", "no", "refuse", "cancel"):
            button["style"] = "danger"
        elif index == 0:
            button["style"] = "primary"
        elements.append(button)
    blocks.append({"type": "actions", "block_id": f"ember:{request_id}", "elements": elements})
    return blocks


def request_id_of(action: dict[str, Any]) -> str | None:
    """The question id a pressed button carries, from its ``block_id`` (else its ``action_id``)."""
    block_id = str(action.get("block_id") or "")
    if block_id.startswith("ember:"):
        return block_id.removeprefix("ember:")
    action_id = str(action.get("action_id") or "")
    if action_id.startswith("ember:"):
        return action_id.removeprefix("ember:").rpartition(":")[0] or None
    return None
