"""Allow-patterns: what a person allowed once for a session or for good, and what they cover.

A pattern is matched word by word against an approval's subject: a simple command whose path
operands are already resolved (``dangerous.shown_path``: relative inside the workspace, absolute
outside, symlinks and ``..`` followed), or the resolved path of a file write. So:

- each pattern word matches exactly one word of the subject: ``*`` never swallows another
  argument (``rm -rf build*`` does not cover ``rm -rf build ~``);
- ``*`` and ``?`` never match a ``/`` (``allowed/*`` does not cover ``allowed/../../x``, which
  arrives resolved as ``/x`` anyway);
- a subject word that still holds something the shell expands later (``$``, a backtick, a glob)
  is matched only by the same literal word, never by a wildcard;
- a pattern that would allow everything (``*``, ``**``, ``rm *``, ``/*``) is refused.
"""

from __future__ import annotations

import os
import re
import shlex
from functools import lru_cache

_WILD = set("*?[")
_UNSETTLED = re.compile(r"[$`*?\[{]")  # expanded by the shell after we looked: literal matches only


class PatternError(ValueError):
    """A pattern that cannot be allowed; the message says why and what to write instead."""


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


@lru_cache(maxsize=1024)
def _word_regex(word: str) -> re.Pattern[str]:
    """fnmatch for one word, except that no wildcard crosses a ``/``."""
    out, i = [], 0
    while i < len(word):
        ch = word[i]
        if ch == "*":
            while i + 1 < len(word) and word[i + 1] == "*":
                i += 1  # ** is the same as *: it never crosses a /
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = word.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = word[i + 1 : end]
                body = "^" + body[1:] if body.startswith("!") else body
                out.append("(?!/)[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _word_matches(pattern: str, word: str) -> bool:
    if not (_WILD & set(pattern)):
        return pattern == word
    if _UNSETTLED.search(word):
        return False
    return bool(_word_regex(pattern).match(word))


def matches(pattern: str, subject: str) -> bool:
    """True when ``pattern`` covers ``subject`` word for word (see the module docstring)."""
    want, have = _words(normalize(pattern)), _words(subject)
    return len(want) == len(have) and all(_word_matches(p, w) for p, w in zip(want, have, strict=True))


def normalize(pattern: str) -> str:
    """A pattern as stored and matched: ``~`` expanded in path words, whitespace collapsed."""
    words = [os.path.expanduser(w) if w.startswith("~") else w for w in _words(pattern.strip())]
    return " ".join(shlex.quote(w) if re.search(r"\s", w) else w for w in words)


def problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be an allow-pattern, or None when it is acceptable."""
    words = _words(normalize(pattern))
    if not words:
        return "the pattern is empty"
    only_wild = [bool(w) and set(w) <= _WILD | {"]", "!"} for w in words]
    if len(words) == 1 and words[0].startswith("/"):
        parts = [p for p in words[0].split("/") if p]
        if ".." in parts:
            return "a path pattern may not contain '..'; write the real path"
        literal = [p for p in parts if not (_WILD & set(p))]
        if not parts or not literal or (_WILD & set(parts[0])):
            return "it allows writing anywhere; name a folder, e.g. /home/me/notes/*"
        return None
    if _WILD & set(words[0]):
        return "its first word has a wildcard, so it allows any program; start with the program's name"
    if len(words) == 1:
        return None  # one program with no arguments, e.g. "reboot"
    if all(only_wild[1:]):
        return (f"it allows {words[0]} with any arguments; name them, e.g. "
                f"'{words[0]} {' '.join(w if not o else 'ARG' for w, o in zip(words[1:], only_wild[1:], strict=True))}'"
                .replace("ARG", "something"))
    return None


def check(pattern: str) -> str:
    """``pattern`` normalized, or ``PatternError`` saying why it is refused."""
    why = problem(pattern)
    if why:
        raise PatternError(f"allow-pattern {pattern!r} is refused: {why}")
    return normalize(pattern)


def suggest(subject: str) -> str:
    """The pattern offered for "this session" / "always": the subject itself, with its last
    argument widened to ``*`` when that is a plain word (``sudo apt install *``, ``git push
    --force origin *``); paths and short commands stay exact."""
    words = _words(subject)
    if len(words) >= 3 and re.fullmatch(r"[A-Za-z0-9][\w.:+@=-]*", words[-1]):
        widened = " ".join([*map(_quote, words[:-1]), "*"])
        if problem(widened) is None:
            return widened
    return " ".join(map(_quote, words))


def _quote(word: str) -> str:
    return shlex.quote(word) if re.search(r"[\s'\"\\]", word) else word
