"""The ``memory_search`` tool: the model looks things up in past conversations and what Ember learned.

One call of ``ember.memory.search.federated`` (BM25 + embeddings when installed, aware of speakers and
dates). Results are compact lines, one per hit, so that ten of them cost a few hundred tokens:
id, date, who, session and a snippet: the part of the hit with the most of the query's words.
The text is what people wrote earlier, i.e. data, not instructions; it is returned as a tool
result like any other.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from ember.tools.base import ToolContext, ToolError, tool

if TYPE_CHECKING:
    from ember.memory.search.hits import Hit

Scope = Literal["all", "messages", "episodes", "lessons", "skills"]
SNIPPET = 220


def snippet(text: str, query: str, limit: int = SNIPPET) -> str:
    """What of a hit's text to show: all of it when it fits, else the ``limit`` characters with the
    most of the query's words, the rarer in the text the more (a long answer's finding is seldom in
    its first lines); from the start when no window beats it."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    from ember.memory.search.textproc import query_terms

    terms, _ = query_terms(query)
    patterns = [re.compile(r"\b" + re.escape(term[:5]), re.I) for term in terms if len(term) > 2]  # memory ~ memories
    found = {pattern: [m.start() for m in pattern.finditer(text)] for pattern in patterns}

    def score(start: int) -> float:
        window = text[start:start + limit]
        return sum(1 / len(found[pattern]) for pattern in patterns if found[pattern] and pattern.search(window))

    starts = {max(0, min(at - limit // 4, len(text) - limit)) for places in found.values() for at in places}
    best = max(starts, key=lambda start: (score(start), -start), default=0)
    if score(best) <= score(0):
        return text[:limit - 1] + "…"
    cut = text.find(" ", best) + 1 if text[best - 1] != " " else best  # start at a word
    shown = text[cut:cut + limit - 2]
    return "…" + shown + ("…" if cut + limit - 2 < len(text) else "")


def _line(hit: Hit, query: str) -> str:
    from ember.memory.search.index import local_time

    moment = local_time(hit.created_at)
    when = moment.strftime("%Y-%m-%d") if moment else ""
    who = hit.speaker or hit.role or hit.source
    where = f"session {hit.session_id}" if hit.session_id else hit.source
    head = " · ".join(part for part in (hit.id, when, who, where) if part)
    return f"- [{head}] {snippet(hit.text, query)}"


@tool(toolset="memory")
def memory_search(ctx: ToolContext, query: str, k: int = 8, scope: Scope = "all", session: str | None = None) -> str:
    """Search past conversations, episodes, lessons and skills; best matches first.

    Args:
        query: What to look for, in plain words. Names and dates help ("what did Ana say about the move in May 2023").
        k: How many results, 1 to 30.
        scope: Where to look: everything, or only messages, episodes, lessons or skills.
        session: Only this session's messages (a session id); omit to search every session.
    """
    from ember.memory.search.federated import search

    store = ctx.store
    if store is None:
        raise ToolError("memory_search needs Ember's store; it is not available in this context.")
    if not query.strip():
        raise ToolError("query is empty: say what to look for.")
    if not 1 <= k <= 30:
        raise ToolError("k must be between 1 and 30.")
    if session is not None:
        info = store.get_session(session)
        if info is None or info.person != store.person_of(ctx.session_id):
            raise ToolError(f"no session {session!r}; omit session to search all of them.")
        session = info.id
    # Only this person's memory (the owner's in the terminal): never another person's.
    hits = search(store, query, k=k, scope=scope, session=session, person=store.person_of(ctx.session_id))
    if not hits:
        return f"Nothing found for {query!r}. Try other words, a name, or a broader scope."
    return f"{len(hits)} result(s) for {query!r}, best first:\n" + "\n".join(_line(h, query) for h in hits)
