"""A question about a speaker, rewritten as that speaker would have said it: the query for the vectors.

Chat turns are written in the first person ("I finally read Becoming!"), questions about them in
the third ("What books has Tim read?"). Embedded as asked, the question is closer to turns
that talk *about* Tim than to Tim's own words; rewritten as "What books have I read?" it is
close to what Tim said. Only the query's vector uses this; the word search is unchanged.

For the speaker the query names first (``names`` are the history's speakers):

- "X's" becomes "my";
- "did / does / has / is / was ... X" becomes "did / do / have / am / was ... I";
- X after a preposition or a verb that takes an object ("with X", "tell X") becomes "me";
- any other X becomes "I".

Two speakers joined by "and" are rewritten together as "we" ("our", "us"). Any other speaker
the query names is dropped. Only when a speaker is named are "she / he / her / his / him /
herself / himself / they / their / them" made first person too: without a name, "her" may be
anyone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

_AUX = {"did", "does", "has", "is", "was", "do", "have", "are", "were", "will", "would", "can", "could",
        "should", "might", "may", "must", "had"}
_AUX_I = {"does": "do", "has": "have", "is": "am", "are": "am", "were": "was"}
_AUX_WE = {"does": "do", "has": "have", "is": "are", "am": "are", "was": "were"}
PREPOSITIONS = frozenset("""
about above across after against along among amongst around at before behind below beside besides between
beyond by despite during except for from in inside into like near of off on onto opposite outside over past
since than through throughout to toward towards under unlike until upon versus via with within without
""".split())
OBJECT_VERBS = frozenset("""
ask asked asks bring brings brought call called calls congratulate congratulated encourage encouraged
encourages gave give gives given help helped helps invite invited invites inspire inspired inspires join
joined joins keep keeps kept let lets made make makes meet meets met motivate motivated motivates offer
offered offers remind reminded reminds send sends sent show showed shown shows support supported supports
surprise surprised surprises taught teach teaches tell tells thank thanked thanks told visit visited visits
""".split())
_PRONOUNS = {"she": "I", "he": "I", "him": "me", "his": "my", "herself": "myself", "himself": "myself",
             "they": "we", "their": "our", "theirs": "ours", "them": "us", "themselves": "ourselves", "hers": "mine"}
# "her" before one of these (or at the end) is an object ("met her at", "gave her a"): "me"; otherwise "my"
_AFTER_OBJECT_HER = PREPOSITIONS | {"a", "an", "the", "and", "or", "but", "that", "this", "some", "when", "while",
                                   "because", "if", "so", "as", "feel", "feeling", "to"}
_TOKEN = re.compile(r"\x00\d+\x00|[^\W_]+(?:['’][^\W_]+)*|[^\w\s]", re.UNICODE)
_NO_SPACE_BEFORE = set(".,;:!?)]}'\"")


@functools.lru_cache(maxsize=16)
def _name_regex(names: tuple[str, ...]) -> re.Pattern[str] | None:
    cleaned = sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in cleaned) + r")(['’]s?)?(?!\w)", re.IGNORECASE)


class _Name:
    """A speaker's name in the query (``who``: lowercased), possessive or not; several for "X and Y"."""

    def __init__(self, who: str, possessive: bool):
        self.who = {who}
        self.possessive = possessive


def first_person(query: str, names: Iterable[str]) -> str:
    """``query`` as the first speaker it names would have said it; unchanged when it names none."""
    pattern = _name_regex(tuple(names))
    if pattern is None:
        return query
    found: list[_Name] = []

    def mark(m: re.Match[str]) -> str:
        found.append(_Name(m.group(1).lower(), bool(m.group(2))))
        return f" \x00{len(found) - 1}\x00 "

    marked = pattern.sub(mark, query)
    if not found:
        return query
    tokens: list[str | _Name] = []
    for tok in _TOKEN.findall(marked):
        tokens.append(found[int(tok[1:-1])] if tok.startswith("\x00") else tok)
    tokens = _join_pairs(tokens)
    main = next(t for t in tokens if isinstance(t, _Name))
    plural = len(main.who) > 1
    out: list[str] = []
    for i, tok in enumerate(tokens):
        before = out[-1].lower() if out else ""
        if isinstance(tok, str) and before in ("i", "we") and tok.lower() in _AUX:
            out.append(_keep_case(tok, (_AUX_WE if before == "we" else _AUX_I).get(tok.lower(), tok.lower())))
            continue
        if isinstance(tok, _Name):
            if tok is not main and not tok.who <= main.who:
                continue  # another speaker: dropped
            if tok.possessive:
                out.append("our" if plural else "my")
            elif before in _AUX:
                out[-1] = _keep_case(out[-1], (_AUX_WE if plural else _AUX_I).get(before, before))
                out.append("we" if plural else "I")
            elif before in PREPOSITIONS or before in OBJECT_VERBS:
                out.append("us" if plural else "me")
            else:
                out.append("we" if plural else "I")
            continue
        low = tok.lower()
        if low == "her":
            after = next((t for t in tokens[i + 1:] if isinstance(t, str)), "")
            out.append("me" if not after[:1].isalnum() or after.lower() in _AFTER_OBJECT_HER else "my")
        elif low in ("she", "he") and before in _AUX:
            out[-1] = _keep_case(out[-1], _AUX_I.get(before, before))
            out.append("I")
        elif low in _PRONOUNS:
            out.append(_keep_case(tok, _PRONOUNS[low]))
        else:
            out.append(tok)
    return _detokenize(out)


def _join_pairs(tokens: list[str | _Name]) -> list[str | _Name]:
    """"X and Y" (Y possibly possessive) as one name for both."""
    out: list[str | _Name] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if (isinstance(tok, _Name) and not tok.possessive and i + 2 < len(tokens)
                and isinstance(tokens[i + 1], str) and str(tokens[i + 1]).lower() == "and"
                and isinstance(tokens[i + 2], _Name)):
            other = tokens[i + 2]
            assert isinstance(other, _Name)
            pair = _Name(next(iter(tok.who)), other.possessive)
            pair.who |= other.who
            out.append(pair)
            i += 3
            continue
        out.append(tok)
        i += 1
    return out


def _keep_case(original: str, word: str) -> str:
    if word == "I":
        return word
    return word[:1].upper() + word[1:] if original[:1].isupper() else word


def _detokenize(tokens: list[str]) -> str:
    text, quoted = "", False
    for tok in tokens:
        opening = tok == '"' and not quoted
        if tok == '"':
            quoted = not quoted
        glued = tok in _NO_SPACE_BEFORE and not opening
        if text and not glued and not text.endswith(("(", "[", "{")) and not (text.endswith('"') and quoted
                                                                               and tok != '"'):
            text += " "
        text += tok
    return text
