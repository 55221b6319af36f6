"""Full-text queries on PostgreSQL: what a user or a search typed, made into a ``tsquery`` that
cannot fail.

The words are passed as parameters and each is made a query by PostgreSQL itself
(``phraseto_tsquery``: a word its parser splits, such as ``e-mail``, is a phrase of its parts), so
no input is a ``tsquery`` operator or a syntax error; ``word*`` is a prefix, as in FTS5.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SNIPPET_MARKS = ("**", "**")
"""What ``SearchHit.snippet`` puts around matched terms (as the SQLite store)."""


def words_query(config: str, op: str = "&", name: str = "q") -> str:
    """SQL for the ``tsquery`` of the words in the parameters ``{name}_words`` (text[]) and
    ``{name}_prefix`` (bool[]), joined by ``op`` (``&`` all, ``|`` any); NULL when none is left."""
    if op not in ("&", "|") or not name.isidentifier() or not config.replace("_", "").isalnum():
        raise ValueError("bad query shape")
    one = f"phraseto_tsquery('{config}', t.w)::text"
    return (f"(SELECT string_agg('(' || {one} || CASE WHEN t.p THEN ':*' ELSE '' END || ')', ' {op} ')::tsquery"
            f" FROM unnest(%({name}_words)s::text[], %({name}_prefix)s::bool[]) AS t(w, p)"
            f" WHERE {one} <> '')")


def _terms(text: str) -> list[tuple[str, bool]]:
    terms = []
    for raw in text.split():
        word = "".join(ch for ch in raw if ch.isprintable())
        prefix = word.endswith("*")
        word = word.rstrip("*")
        if any(ch.isalnum() for ch in word):
            terms.append((word, prefix))
    return terms


def text_query(text: str, *, any_terms: bool = False, name: str = "q") -> dict[str, Any] | None:
    """The parameters of ``words_query`` for user text (every word, ``word*`` a prefix), or None
    when nothing searchable is left. Words are ANDed unless ``any_terms``."""
    terms = _terms(text)
    if not terms:
        return None
    return {f"{name}_words": [w for w, _ in terms], f"{name}_prefix": [p for _, p in terms]}


def prefixes(words: Iterable[str], name: str = "q") -> dict[str, Any]:
    """The parameters of ``words_query`` matching any word that begins with one of ``words``."""
    wanted = [w for w in words if w]
    return {f"{name}_words": wanted, f"{name}_prefix": [True] * len(wanted)}
