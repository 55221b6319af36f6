"""Words for memory search: query terms, stopwords, speaker names, sentences.

Stemming itself is left to SQLite (FTS5's ``porter`` tokenizer stems both the index and the
query), so this module only decides *which* words a query searches for. Speaker names are
taken out of the text on both sides and handled as a field by the ranker: in chat, names are
mostly greetings ("Wow, Caroline!"), and matching them as words ranks every turn that greets
someone above the turn that answers the question about them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
else ever few for from further get gets got had hadn't has hasn't have haven't having he he'd he'll he's her
here here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
just kind let's like many may me might more most much must mustn't my myself no nor not now of off on once only
or other ought our ours ourselves out over own really same shall shan't she she'd she'll she's should shouldn't
so some such than that that's the their theirs them themselves then there there's these they they'd they'll
they're they've thing things this those through to too type under until up upon us very was wasn't we we'd
we'll we're we've were weren't what what's when when's where where's whether which while who who's whom whose
why why's will with won't would wouldn't yes yet you you'd you'll you're you've your yours yourself yourselves
""".split())
"""English function words and question words: they carry no topic, and in an OR query they only add noise."""

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\s*\[image:\s*")


def words(text: str) -> list[str]:
    """Lowercased words; apostrophes kept inside a word ("don't"), typographic ones made plain."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


def _bare(word: str) -> str:
    return word[:-2] if word.endswith("'s") else word


def query_terms(text: str, names: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """(topic terms, speaker names mentioned): stopwords dropped, possessives reduced, order kept."""
    known = {n.lower() for n in names}
    terms: list[str] = []
    named: list[str] = []
    for word in words(text):
        bare = _bare(word)
        if bare in known:
            if bare not in named:
                named.append(bare)
        elif bare not in STOPWORDS and word not in STOPWORDS and bare not in terms:
            terms.append(bare)
    return terms, named


def name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """A regex for whole-word speaker names (with a possessive 's), or None when there are none."""
    cleaned = sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(n) for n in cleaned) + r")(?:['’]s)?\b", re.IGNORECASE)


def strip_names(text: str, pattern: re.Pattern[str] | None) -> str:
    """``text`` without the speaker names ``pattern`` matches, whitespace tidied."""
    if pattern is None:
        return text
    return " ".join(pattern.sub(" ", text).split())


def sentences(text: str, min_words: int = 3) -> list[str]:
    """The sentences of a message (an image caption counts as one) with at least ``min_words`` words."""
    parts = [p.strip().rstrip("]") for p in _SENTENCE.split(text)]
    return [p for p in parts if len(p.split()) >= min_words]


def vocabulary_words(text: str) -> set[str]:
    """The words of ``text`` worth a vector for query expansion: alphabetic, 3+ letters, not stopwords."""
    return {w for w in words(text) if len(w) > 2 and w.isalpha() and w not in STOPWORDS}


_LIST_QUESTION = re.compile(r"\b(?:what|which)\s+(?:(?:kinds?|types?|sorts?)\s+of\s+)?([^\W\d_][\w'’-]*)"
                            r"(?:\s+([^\W\d_][\w'’-]*))?(?:\s+([^\W\d_][\w'’-]*))?", re.IGNORECASE)
_IRREGULAR_PLURALS = frozenset({"people", "children", "men", "women", "feet", "teeth", "mice", "geese"})
_NOT_PLURALS = frozenset({"news", "series", "species", "physics", "mathematics", "politics", "gymnastics"})
_AFTER_VERB = frozenset({"the", "a", "an", "his", "her", "their", "my", "your", "our", "you", "him", "them", "me",
                         "us", "it", "people", "someone"})


def _plural(word: str) -> bool:
    if word in _IRREGULAR_PLURALS:
        return True
    return (len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "'s", "’s"))
            and word not in STOPWORDS and word not in _NOT_PLURALS)


def asks_for_list(query: str, names: Iterable[str] = ()) -> bool:
    """Whether ``query`` asks for several things: "what / which [kinds / types of] W1 [W2]" with W1 or
    W2 plural ("What books has Tim read?", "Which outdoor activities ..."). A plural-looking word
    followed by a name or a determiner is a verb ("What motivates John", "what inspires the ...")."""
    known = {n.lower() for n in names}
    for m in _LIST_QUESTION.finditer(query):
        w1, w2, w3 = (_bare(g.lower().replace("’", "'")) if g else "" for g in m.groups())
        if w1 in STOPWORDS or w1 in known:
            continue
        if _plural(w1) and w2 not in known and w2 not in _AFTER_VERB:
            return True
        if w2 and w2 not in STOPWORDS and w2 not in known and _plural(w2) and w3 not in known and w3 not in _AFTER_VERB:
            return True
    return False
