"""FTS5 query text: what a user or a search typed, made into a MATCH expression that cannot fail.

Quoting makes FTS5 operators and punctuation (``OR``, ``(``, ``"``, ``NEAR``) plain text, so no
input can raise a syntax error.
"""

from __future__ import annotations

from collections.abc import Iterable


def fts_query(text: str, *, any_terms: bool = False) -> str:
    """Turn user text into a safe FTS5 query: every word a quoted string, ``word*`` a prefix.

    Words are ANDed unless ``any_terms``. Empty when nothing searchable is left.
    """
    terms = []
    for raw in text.split():
        word = "".join(ch for ch in raw if ch.isprintable())
        prefix = word.endswith("*")
        word = word.rstrip("*")
        if any(ch.isalnum() for ch in word):
            terms.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
    return (" OR " if any_terms else " ").join(terms)


def fts_any(terms: Iterable[str]) -> str:
    """An FTS5 query matching any of ``terms``; each is quoted, so no input is an FTS5 operator."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms if t)


def fts_prefixes(words: Iterable[str]) -> str:
    """An FTS5 query matching any word that begins with one of ``words`` (plain words: letters
    and digits, as ``lessons.keywords`` gives them)."""
    return " OR ".join(f'"{w}"*' for w in words)
