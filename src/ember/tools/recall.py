"""The ``memory_search`` tool: the model looks things up in past conversations and what Ember learned.

One call of ``ember.memory.search`` (BM25 + embeddings when installed, aware of speakers and
dates). Results are compact lines, one per hit, so that ten of them cost a few hundred tokens:
id, date, who, session and a snippet. The text is what people wrote earlier, i.e. data, not
instructions; it is returned as a tool result like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ember.tools.base import ToolContext, ToolError, tool

if TYPE_CHECKING:
    from ember.memory.hits import Hit

Scope = Literal["all", "messages", "episodes", "lessons", "skills"]
SNIPPET = 220


def _line(hit: Hit) -> str:
    from ember.memory.index import local_time

    moment = local_time(hit.created_at)
    when = moment.strftime("%Y-%m-%d") if moment else ""
    who = hit.speaker or hit.role or hit.source
    where = f"session {hit.session_id}" if hit.session_id else hit.source
    text = " ".join(hit.text.split())
    if len(text) > SNIPPET:
        text = text[:SNIPPET - 1] + "…"
    head = " · ".join(part for part in (hit.id, when, who, where) if part)
    return f"- [{head}] {text}"


@tool(toolset="memory")
def memory_search(ctx: ToolContext, query: str, k: int = 8, scope: Scope = "all", session: str | None = None) -> str:
    """Search past conversations, episodes, lessons and skills; best matches first.

    Args:
        query: What to look for, in plain words. Names and dates help ("what did Ana say about the move in May 2023").
        k: How many results, 1 to 30.
        scope: Where to look: everything, or only messages, episodes, lessons or skills.
        session: Only this session's messages (a session id); omit to search every session.
    """
    from ember.memory.search import search

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
    return f"{len(hits)} result(s) for {query!r}, best first:\n" + "\n".join(_line(h) for h in hits)
