"""One memory search over messages, episodes, lessons and skills.

    from ember.memory.search.federated import search
    hits = search(store, "what did Caroline paint in May 2023?", k=10, scope="all")

``scope`` is ``all``, ``messages`` or the name of a registered source (``episodes``,
``lessons``, ``skills``); ``session`` limits messages to one session; ``person`` limits
everything to one person's memory ("" the owner; None, the default, is everyone's, for the
owner's own commands): every door passes the person of its turn, so one person's memory never
reaches another person's prompt. Messages are searched by
``message_search`` (BM25 + embeddings when installed, time- and speaker-aware); with scope
``all``, every source's hits are fused with them by reciprocal rank, so that one source's
score scale cannot drown the others.

Other parts of Ember make their data searchable without this module knowing their tables::

    from ember.memory.search.federated import register_source

    def search_lessons(store, query, k, person=None):   # -> list[Hit], best first; person: above
        return [Hit(id=f"lessons:{l.id}", score=s, source="lessons", text=l.rule) for l, s in ...]

    register_source("lessons", search_lessons,
                    count=lambda store: ...,       # optional: shown by `ember memory show`
                    forget=lambda store, key: ...) # optional: `ember memory forget lessons:3`

A module listed in ``SOURCE_MODULES`` is imported before any search that is not limited to
messages, so registering at import time is enough. A source is called with the store, the
query, ``k`` and ``person``; a source whose function takes no ``person`` is left out of a search
scoped to a person (it could not keep people apart). An exception in one is logged and that
source skipped, so a broken plugin never breaks recall. ``Hit.id`` of a source should be
``<source>:<its id>`` so that ``forget`` can route it back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ember.memory.search.hits import Hit

if TYPE_CHECKING:
    from ember.memory.search.embedding_index import EmbeddingState
    from ember.memory.search.embeddings import Embedder
    from ember.memory.search.index import Progress, RefreshReport
    from ember.memory.search.messages import MessageSearcher
    from ember.store.ports import Store

__all__ = ["SCOPES", "Hit", "MemorySearch", "Source", "register_source", "search", "searcher_for", "sources"]

log = logging.getLogger(__name__)

SCOPES = ("all", "messages", "episodes", "lessons", "skills")
RRF_K = 60

SourceSearch = Callable[..., list[Hit]]


@dataclass
class Source:
    name: str
    search: SourceSearch
    count: Callable[[Store], int] | None = None
    forget: Callable[[Store, str], bool] | None = None

    @property
    def scoped(self) -> bool:
        """Whether the source keeps people apart (its function takes ``person``)."""
        import inspect

        try:
            return "person" in inspect.signature(self.search).parameters
        except (TypeError, ValueError):
            return False


_SOURCES: dict[str, Source] = {}


def register_source(
    name: str, search: SourceSearch, *, count: Callable[[Store], int] | None = None,
    forget: Callable[[Store, str], bool] | None = None,
) -> None:
    """Make ``name`` searchable (see the module docstring); registering a name again replaces it."""
    if name in ("all", "messages"):
        raise ValueError(f"{name!r} is reserved")
    _SOURCES[name] = Source(name, search, count, forget)


def sources() -> dict[str, Source]:
    """The registered sources, by name (after importing the modules that register them)."""
    _load_builtin_sources()
    return dict(_SOURCES)


SOURCE_MODULES = ["ember.memory.episodes", "ember.memory.lessons", "ember.memory.skills.library"]
"""Imported before a search that is not limited to messages: each may call ``register_source``."""


_imported: set[str] = set()


def _load_builtin_sources() -> None:
    import importlib

    for module in [m for m in SOURCE_MODULES if m not in _imported]:
        _imported.add(module)
        try:
            importlib.import_module(module)
        except ImportError:  # not part of this installation
            log.debug("memory source module %s is not available", module)


def _fuse(lists: list[list[Hit]], k: int) -> list[Hit]:
    """Reciprocal-rank fusion: each list's rank r adds 1/(RRF_K + r); ties keep list order."""
    scores: dict[tuple[str, str], float] = {}
    first: dict[tuple[str, str], Hit] = {}
    for hits in lists:
        for rank, hit in enumerate(hits):
            key = (hit.source, hit.id)
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
            first.setdefault(key, hit)
    ordered = sorted(scores, key=lambda key: -scores[key])[:k]
    return [Hit(**{**first[key].__dict__, "score": round(scores[key], 6)}) for key in ordered]


class MemorySearch:
    """Search over one store, keeping indexes in memory between queries (one per store is enough)."""

    def __init__(self, store: Store, embedder: Embedder | None | Literal["auto"] = "auto"):
        from ember.memory.search.embeddings import load_embedder
        from ember.memory.search.messages import MessageSearcher

        self.store = store
        self.embedder: Embedder | None = load_embedder() if embedder == "auto" else embedder
        self.messages: MessageSearcher = MessageSearcher(store, self.embedder)
        self._lock = threading.Lock()

    def refresh(self, progress: Progress | None = None, *, embed_limit: int | None = None) -> RefreshReport:
        """Bring the index up to date: the text of new messages, and their vectors when a backend is
        installed (with ``embed_limit``, only when at most that many messages lack vectors)."""
        with self._lock:
            return self.messages.sync(progress, embed_limit=embed_limit)

    def embedding_state(self) -> EmbeddingState | None:
        """How far the embedding index is; None when search is lexical (no backend, or turned off)."""
        from ember.memory.search.embedding_index import embedding_state

        return None if self.embedder is None else embedding_state(self.store, self.embedder.name)

    def search(self, query: str, k: int = 10, scope: str = "all", session: str | None = None,
               *, refresh: bool = True, person: str | None = None) -> list[Hit]:
        """The ``k`` best hits for ``query`` in ``scope``; see the module docstring."""
        k = max(1, int(k))
        known = sources()
        if scope not in SCOPES and scope not in known:
            raise ValueError(f"unknown scope {scope!r}; use one of {', '.join(sorted({*SCOPES, *known}))}")
        lists: list[list[Hit]] = []
        if scope in ("all", "messages"):
            with self._lock:
                if refresh:
                    from ember.memory.search.embedding_index import INLINE_LIMIT

                    self.messages.sync(embed_limit=INLINE_LIMIT)
                lists.append(self.messages.search(query, k, session, sync=False, person=person))
        if scope != "messages" and session is None:
            for name, source in known.items():
                if scope in ("all", name):
                    if person is not None and not source.scoped:
                        log.debug("memory source %r keeps no people apart; left out of %r's search", name, person)
                        continue
                    try:
                        found = source.search(self.store, query, k, person=person) if source.scoped else \
                            source.search(self.store, query, k)
                        lists.append(found)
                    except Exception:  # a broken source must not break recall
                        log.warning("memory source %r failed for %r", name, query, exc_info=True)
        if len(lists) == 1:
            return lists[0][:k]
        return _fuse(lists, k)


_searchers_lock = threading.Lock()


def searcher_for(store: Store) -> MemorySearch:
    """The ``MemorySearch`` of ``store``, made once and kept on the store (so it lives as long)."""
    with _searchers_lock:
        found = getattr(store, "_memory_search", None)
        if found is None:
            found = MemorySearch(store)
            store._memory_search = found  # type: ignore[attr-defined]
        return found


def search(store: Store, query: str, k: int = 10, scope: str = "all",
           session: str | None = None, *, person: str | None = None) -> list[Hit]:
    """``searcher_for(store).search(...)``: the one memory search (module docstring)."""
    return searcher_for(store).search(query, k, scope, session, person=person)
