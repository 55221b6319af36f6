"""Searching past messages: candidates from words, vectors and time, ordered by ``ranking``.

For a query, candidates come from three places:

1. FTS5 BM25 over each message and its neighbours (``search_fts``: body weighted 1, neighbours
   0.4), with stopwords and speaker names left out of the query, and again with expansion
   words: the indexed words whose vectors are closest to the query's words.
2. With embeddings, the messages whose vectors (each mixed with its neighbours') are closest
   to the query's, speaker names taken out of both.
3. When the query names a period ("in May 2023", "last week"), the messages said in it or
   talking about it.

Each candidate is then scored on the features of ``ranking`` and the best ``k`` returned; while
the embedding index is incomplete, vectors are used where they exist (``embedding_index``).
A ``MessageSearcher`` keeps vectors and names in memory between queries and reads only what
was added since; it is cheap to keep and cheap to ask again. The store gives the candidates
(``store.index``: BM25, time ranges) and the vectors (``store.vectors``); the scoring is here.
"""

from __future__ import annotations

import math
from concurrent import futures
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ember.memory.importer import MAX_TIME
from ember.memory.search import index, query_rewrite, ranking, textproc, timeref
from ember.memory.search.hits import Hit

if TYPE_CHECKING:
    import numpy as np

    from ember.memory.search.embeddings import Embedder
    from ember.store.ports import Store
    from ember.store.search_records import Candidate, Scope

LEX_LIMIT = 300
EXPANSION_LIMIT = 300
POSTINGS_BUDGET = 10_000  # matches one BM25 query may score (``_affordable``)
EXPANSION_BUDGET = 5_000  # the same for the expansion words, a weaker signal
DENSE_LIMIT = 300
TIME_LIMIT = 500  # messages said in (and as many talking about) a period the query names
EXPAND_PER_WORD = 5
EXPAND_MIN_COSINE = 0.6
BODY_WEIGHT, CONTEXT_WEIGHT = 1.0, 0.4
NEIGHBOUR_MIX = 0.5
SNIPPET_CHARS = 300
MATCH_COUNTS_KEPT = 50_000


@dataclass(frozen=True)
class _Nearest:
    """What the query's vectors found, before the store is asked about the candidates."""

    query: np.ndarray  # the first-person query's unit vector
    z: np.ndarray  # every message's similarity to it, as a z-score
    messages: set[int]  # the DENSE_LIMIT nearest
    expansions: list[str]  # indexed words close to the query's words


def _same_stem(a: str, b: str) -> bool:
    """A cheap test for inflections ("paint"/"painting"): FTS5 already matches those."""
    n = min(len(a), len(b))
    common = 0
    while common < n and a[common] == b[common]:
        common += 1
    return common >= 4 and common >= n - 2


class MessageSearcher:
    """Search over one store's messages; see the module docstring."""

    def __init__(self, store: Store, embedder: Embedder | None = None):
        self.store = store
        self.embedder = embedder
        self.names: list[str] = []
        self._synced: tuple[int, ...] = ()
        self._missing = 0  # messages without vectors at the last sync
        self._match_counts: dict[str, int] = {}  # word -> messages it matches (capped), until the next change
        self._vectors: Any = None
        self._mixed: Any = None
        self._parts_order: Any = None
        self._sorted_part_ids: Any = None
        self._sample: Any = None
        self._pool: futures.ThreadPoolExecutor | None = None
        self._words: Any = None  # vectors.WordVectors

    # --- keeping caches in step ----------------------------------------------------------------

    def sync(self, progress: index.Progress | None = None, *, embed_limit: int | None = None) -> index.RefreshReport:
        """Index the text of what is new and embed the messages without vectors, then reload names
        and vectors if anything changed (here or in another connection).

        With ``embed_limit``, messages are embedded only when at most that many lack vectors (a
        few new chat messages); a bigger backlog is left to ``ember memory index`` or a
        ``BackgroundIndexer``, and search uses the vectors that exist meanwhile.
        """
        version = self.store.index.version()  # changes when messages change, here or in another process
        if version == self._synced and not (self._missing and (embed_limit is None or self._missing <= embed_limit)):
            return index.RefreshReport()  # nothing was written anywhere since the last sync
        report = index.refresh(self.store, progress)
        self._missing = 0
        if self.embedder is not None:
            from ember.memory.search import embedding_index

            missing = embedding_index.embedding_state(self.store, self.embedder.name).missing
            if missing and (embed_limit is None or missing <= embed_limit):
                done = embedding_index.embed_missing(self.store, self.embedder, progress=progress)
                report.embedded, report.words = done.embedded, done.words
                missing = embedding_index.embedding_state(self.store, self.embedder.name).missing
            self._missing = missing
        if version == self._synced and not (report.indexed or report.embedded):
            return report
        self._synced = self.store.index.version() if report.indexed or report.embedded else version
        self._match_counts.clear()
        self.names = sorted(set(self.store.index.speakers()))
        if self.embedder is not None:
            self._load_vectors()
        return report

    def _load_vectors(self) -> None:
        import numpy as np

        from ember.memory.search.vectors import MessageVectors, WordVectors, single_threaded_blas, to_unit

        assert self.embedder is not None
        single_threaded_blas()
        if self._vectors is None:
            self._vectors = MessageVectors(self.embedder.name, self.embedder.dim)
        added = self._vectors.refresh(self.store.vectors)
        vec = self._vectors
        if added is None or self._mixed is None:
            self._mixed = np.empty((len(vec.whole_ids), vec.dim), dtype=np.float32)
            self._mix(self.store.vectors.embedded_messages(self.embedder.name))
        elif len(added):  # a batch was embedded: mix the new vectors, and redo their sessions' others
            grown = np.empty((len(vec.whole_ids), vec.dim), dtype=np.float32)
            grown[:len(self._mixed)] = self._mixed
            self._mixed = grown
            sessions = self.store.index.sessions_of(int(m) for m in added)
            rows = [(mid, session) for session in sorted(sessions)
                    for mid in self.store.index.session_message_ids(session) if vec.row_of(mid) is not None]
            self._mix(rows)
        if added is None or len(added):
            self._parts_order = np.argsort(vec.part_ids, kind="stable")
            self._sorted_part_ids = vec.part_ids[self._parts_order]
            sample = np.random.default_rng(0).choice(len(vec.whole_ids), min(len(vec.whole_ids), 4096), replace=False)
            self._sample = to_unit(vec.whole[np.sort(sample)])
        if self._words is None:
            self._words = WordVectors(self.embedder.name, self.embedder.dim)
        self._words.refresh(self.store.vectors)

    def _mix(self, rows: list[tuple[int, str]]) -> None:
        """``_mixed`` for the messages ``rows`` ((id, session id), each session's in id order, all with
        vectors): each message's vector mixed with its neighbours' in the same session."""
        import numpy as np

        from ember.memory.search.vectors import to_unit

        vec = self._vectors
        order = np.array([vec.row_of(r[0]) for r in rows], dtype=np.int64)
        same = np.array([rows[i][1] == rows[i + 1][1] for i in range(len(rows) - 1)], dtype=bool)
        prev = np.full(len(order), -1, dtype=np.int64)
        nxt = np.full(len(order), -1, dtype=np.int64)
        if len(order) > 1:
            nxt[:-1][same] = order[1:][same]
            prev[1:][same] = order[:-1][same]
        for start in range(0, len(order), 20_000):
            span = slice(start, start + 20_000)
            block = to_unit(vec.whole[order[span]])
            for side in (prev[span], nxt[span]):
                has = side >= 0
                block[has] += NEIGHBOUR_MIX * to_unit(vec.whole[side[has]])
            self._mixed[order[span]] = block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-9)

    # --- the query -----------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, session: str | None = None, *, sync: bool = True,
               person: str | None = None) -> list[Hit]:
        """The ``k`` best messages for ``query`` (in ``session`` only, and only ``person``'s sessions,
        when given)."""
        if sync:
            from ember.memory.search.embedding_index import INLINE_LIMIT

            self.sync(embed_limit=INLINE_LIMIT)
        rows, features, dense = self.candidates(query, session, person)
        # While the embedding index fills in, a message without vectors is scored with the lexical
        # weights, not as an average vector: on LoCoMo with half the messages embedded, R@10 0.816
        # against 0.793 (and 0.800 with no vectors at all), so every batch embedded helps.
        scored = sorted(((ranking.score(features[mid], dense and "dense" in features[mid]), mid) for mid in rows),
                        key=lambda t: (-t[0], t[1]))
        return [self._hit(rows[mid], value) for value, mid in scored[:k]]

    def candidates(self, query: str, session: str | None = None, person: str | None = None
                   ) -> tuple[dict[int, Candidate], dict[int, dict[str, float]], bool]:
        """(rows, features, dense): every candidate message and its ``ranking`` features."""
        scope = (session, person)
        # The newest message's time anchors "last week"; a time no datetime can hold (from a store
        # written before import checked them) is passed over, so one bad row never breaks search.
        latest = self.store.index.latest_time(scope, MAX_TIME)
        if latest is None and not self.store.index.has_messages(scope):
            return {}, {}, False
        now = index.local_time(latest) or datetime.now()
        ranges, rest = timeref.query_ranges(query, now)
        terms, named = textproc.query_terms(rest, self.names)
        features: dict[int, dict[str, float]] = {}

        def put(ids_scores: dict[int, float], name: str) -> None:
            best = max(ids_scores.values(), default=0.0)
            for mid, value in ids_scores.items():
                features.setdefault(mid, {})[name] = value / best if best > 0 else 0.0

        dense = self.embedder is not None and self._mixed is not None and len(self._mixed) > 0
        if dense:
            # The query's BM25 (SQLite or the server, not holding the GIL) runs beside embedding it
            # and scoring every vector (onnxruntime and BLAS, not holding it either): at 100,000
            # messages each takes 10-20 ms, so a search waits for the longer, not for both.
            lex = self._worker().submit(self._bm25, terms, scope, LEX_LIMIT)
            try:
                near = self._nearest(query, terms, scope)
            except BaseException:
                futures.wait([lex])
                raise
            put(lex.result(), "lex")
        else:
            put(self._bm25(terms, scope, LEX_LIMIT), "lex")
        if ranges:
            self._time(ranges, scope, features)
        if dense:
            self._dense(near, scope, features, put)
        rows = self.store.index.candidates(list(features), index.SEARCHABLE_ROLES) if features else {}
        best_lex: dict[str, float] = {}
        for mid, row in rows.items():
            f = features[mid]
            if named:
                mine = (row.speaker or "").lower() in named
                f["speaker"], f["other"] = (1.0, 0.0) if mine else (0.0, 1.0)
            if ranges:
                said = any(a <= row.created_at < b for a, b in ranges)
                f["in_time"] = 1.0 if said else 0.0
                f.setdefault("mentions", 0.0)
                f["off_time"] = 0.0 if said or f["mentions"] else 1.0
            f["answer"] = 1.0 if row.after_question else 0.0
            best_lex[row.session_id] = max(best_lex.get(row.session_id, 0.0), f.get("lex", 0.0))
        listy = textproc.asks_for_list(query, self.names)
        for mid, row in rows.items():
            f = features[mid]
            f["session"] = best_lex[row.session_id]
            f.update(ranking.turn_features(row.content))
            ranking.derive(f, listy)
        return rows, features, dense

    def _bm25(self, words: list[str], scope: Scope, limit: int, budget: int | None = None) -> dict[int, float]:
        """BM25 of an OR query over the words; see ``_affordable`` for how cost is bounded."""
        budget = POSTINGS_BUDGET if budget is None else budget
        kept, total = self._affordable(words, budget)
        if not any(kept):
            return {}
        newest = budget if total > budget else 0  # one very common word: score its most recent matches
        return self.store.index.lexical(kept, scope, limit=limit, weights=(BODY_WEIGHT, CONTEXT_WEIGHT), newest=newest)

    def _affordable(self, words: list[str], budget: int) -> tuple[list[str], int]:
        """The rarest words whose matches add up to at most ``budget`` (at least one), and how many
        matches they have.

        FTS5 scores every row that matches any word of an OR query, so a word found in half of a
        100,000-message history costs more than the whole latency budget. Such a word has a low
        IDF and adds little to the ranking; leaving it out keeps search fast on big stores and
        changes nothing on small ones, where every word fits the budget.
        """
        counted = []
        for word in dict.fromkeys(words):
            count = self._match_counts.get(word)
            if count is None:
                count = self._match_counts[word] = self.store.index.match_count(word, POSTINGS_BUDGET * 4)
                if len(self._match_counts) > MATCH_COUNTS_KEPT:
                    del self._match_counts[next(iter(self._match_counts))]
            if count:
                counted.append((count, word))
        counted.sort()
        kept: list[str] = []
        total = 0
        for count, word in counted:
            if kept and total + count > budget:
                break
            kept.append(word)
            total += count
        return kept, total

    def _worker(self) -> futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ember-search")
        return self._pool

    def _nearest(self, query: str, terms: list[str], scope: Scope) -> _Nearest:
        """The query's vectors and every message's z-scored similarity to it (no store reads
        unless ``scope`` narrows the search, so it can run while the store answers BM25)."""
        import numpy as np

        assert self.embedder is not None
        words = [t for t in terms if len(t) > 2 and t.isalpha()]
        unknown = [w for w in words if w not in self._words.row]
        qv = self.embedder.embed([query_rewrite.first_person(query, self.names), *unknown])
        expansions: list[str] = []
        if words and len(self._words.words):
            fresh = dict(zip(unknown, qv[1:], strict=True))
            word_vectors = np.array([fresh[w] if w in fresh else self._words.matrix[self._words.row[w]] for w in words])
            expansions = self._expansions(words, word_vectors)
        sims = self._mixed @ qv[0]
        mean, std = float(sims.mean()), float(sims.std()) or 1.0
        z = (sims - mean) / std
        allowed = self._scope_mask(scope)
        ranked = np.where(allowed, z, -np.inf) if allowed is not None else z
        top = np.argpartition(-ranked, min(DENSE_LIMIT, len(ranked) - 1))[:DENSE_LIMIT]
        nearest = {int(self._vectors.whole_ids[i]) for i in top if np.isfinite(ranked[i])}
        return _Nearest(qv[0], z, nearest, expansions)

    def _dense(self, near: _Nearest, scope: Scope, features: dict[int, dict[str, float]], put: Any) -> None:
        """``lexexp``, ``dense`` and ``sentence``: the expansion words' BM25, and the vector
        scores of the nearest messages and of every other candidate that has vectors."""
        vec = self._vectors
        if near.expansions:
            put(self._bm25(near.expansions, scope, EXPANSION_LIMIT, EXPANSION_BUDGET), "lexexp")
        candidates = near.messages | {mid for mid in features if vec.row_of(mid) is not None}
        for mid in candidates:
            features.setdefault(mid, {})["dense"] = float(near.z[vec.row_of(mid)])
        self._sentences(near.query, candidates, features)

    def _sentences(self, qv: np.ndarray, candidates: set[int], features: dict[int, dict[str, float]]) -> None:
        """``sentence``: the best of the message's own and its sentences' cosines, as a z-score.

        Only the candidates' rows are read back from int8; the z-score's mean and spread come
        from a fixed sample of all messages.
        """
        import numpy as np

        from ember.memory.search.vectors import to_unit

        vec = self._vectors
        sample_sims = self._sample @ qv
        mean, std = float(sample_sims.mean()), float(sample_sims.std()) or 1.0
        ids = np.array(sorted(candidates), dtype=np.int64)
        rows = np.array([vec.row_of(int(m)) for m in ids], dtype=np.int64)
        best = to_unit(vec.whole[rows]) @ qv
        if len(vec.part_ids):
            lo = np.searchsorted(self._sorted_part_ids, ids, "left")
            counts = np.searchsorted(self._sorted_part_ids, ids, "right") - lo
            has = np.nonzero(counts)[0]
            if len(has):
                counts, lo = counts[has], lo[has]
                starts = np.cumsum(counts) - counts  # where each candidate's sentences begin in ``sims``
                at = np.arange(int(counts.sum())) - np.repeat(starts, counts) + np.repeat(lo, counts)
                sims = to_unit(vec.parts[self._parts_order[at]]) @ qv
                best[has] = np.maximum(best[has], np.maximum.reduceat(sims, starts))
        for mid, value in zip(ids, best, strict=True):
            features[int(mid)]["sentence"] = (float(value) - mean) / std

    def _expansions(self, words: list[str], word_vectors: np.ndarray) -> list[str]:
        """Indexed words whose vectors are close to the query's words (not mere inflections of them)."""
        import numpy as np

        sims = word_vectors @ self._words.matrix.T
        found: dict[str, float] = {}
        for i in range(len(words)):
            n = min(EXPAND_PER_WORD, sims.shape[1])
            order = np.argpartition(-sims[i], n - 1)[:n]
            for j in order:
                candidate = self._words.words[j]
                if sims[i, j] >= EXPAND_MIN_COSINE and not any(_same_stem(candidate, w) for w in words):
                    found[candidate] = max(found.get(candidate, 0.0), float(sims[i, j]))
        return list(found)

    def _scope_mask(self, scope: Scope) -> np.ndarray | None:
        import numpy as np

        if scope == (None, None):
            return None
        ids = self.store.index.message_ids(scope)
        return np.array([int(m) in ids for m in self._vectors.whole_ids], dtype=bool)

    def _time(self, ranges: list[timeref.Range], scope: Scope, features: dict[int, dict[str, float]]) -> None:
        """Messages said in, or talking about, the periods asked for become candidates."""
        for start, end in ranges:
            for mid in self.store.index.said_between(start, end, scope, index.SEARCHABLE_ROLES, TIME_LIMIT):
                features.setdefault(mid, {})
            for mid in self.store.index.mentioning(start, end, scope, TIME_LIMIT):
                features.setdefault(mid, {})["mentions"] = 1.0

    def _hit(self, row: Candidate, score: float) -> Hit:
        text = row.content
        return Hit(
            id=row.external_id if row.external_id is not None else str(row.id),
            score=round(score, 4) if math.isfinite(score) else 0.0,
            source="messages", text=text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS - 1] + "…",
            session_id=row.session_id, speaker=row.speaker, role=row.role,
            created_at=row.created_at, message_id=row.id,
        )
