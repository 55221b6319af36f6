"""The memory search's text index on PostgreSQL: the ``SearchIndex`` port.

``search_docs`` holds each searchable message's text and its neighbours' as one ``tsvector``
(``ember_search``: English stems, no stopwords, as FTS5's porter tokenizer) behind a GIN index,
and for each stem its count in the message and in the neighbours (``tf``: stem -> 1000 x the
message's count + the neighbours'; a tsvector keeps at most 256 positions of a stem) with both
lengths.
``lexical`` is BM25 exactly as FTS5's ``bm25()`` computes it (k1 = 1.2, b = 0.75, IDF
``ln((N - n + 0.5) / (n + 0.5))`` floored at 1e-6, the message's and the neighbours' counts
weighted, the length of both against the average): the GIN index finds the matches, and only
their counts are read. ``search_stats`` keeps N and the total length, and ``search_df`` each
stem's n, maintained by triggers, so nothing is counted at query time.
Writers of the index take the ``search`` advisory lock, one at a time, as SQLite's one writer.
``search_times`` holds the periods a message talks about; the mark ``search.indexed_upto`` in
``meta`` says how far the text was indexed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ember.store.postgres.migrations import TEXT_LIMIT
from ember.store.postgres.queries import words_query
from ember.store.search_records import Candidate, IndexedMessage, IndexEntry, Scope, TimeMention

if TYPE_CHECKING:
    from ember.store.postgres.database import Database

INDEXED_UPTO = "search.indexed_upto"
EMBEDDED_UPTO = "search.embedded_upto"  # written by older SQLite stores only; cleared with the index
VECTOR_MODEL = "search.vector_model"
CONFIG = "ember_search"

# Uses the parameters %(session)s and %(person)s (None: any).
IN_SCOPE = ("(%(session)s::text IS NULL OR session_id = %(session)s) AND (%(person)s::text IS NULL OR session_id IN "
            "(SELECT s.id FROM sessions s WHERE s.person = %(person)s))")

# One search_docs row per (id, body, context) of the arrays %(ids)s, %(bodies)s, %(contexts)s whose
# message still exists: the stripped tsvector for the GIN index, each stem's counts, both lengths.
_DOCS = f"""
INSERT INTO search_docs (message_id, session_id, doc, tf, body_len, context_len)
SELECT m.id, m.session_id, strip(v.b || v.c),
       COALESCE((SELECT jsonb_object_agg(x.lexeme, x.nb * 1000 + x.nc) FROM (
           SELECT y.lexeme, sum(y.nb) AS nb, sum(y.nc) AS nc FROM (
               SELECT u.lexeme, cardinality(u.positions) AS nb, 0 AS nc FROM unnest(v.b) AS u
               UNION ALL
               SELECT u.lexeme, 0, cardinality(u.positions) FROM unnest(v.c) AS u) AS y
           GROUP BY y.lexeme) AS x), '{{}}'::jsonb),
       (SELECT COALESCE(sum(cardinality(u.positions)), 0) FROM unnest(v.b) AS u),
       (SELECT COALESCE(sum(cardinality(u.positions)), 0) FROM unnest(v.c) AS u)
FROM unnest(%(ids)s::bigint[], %(bodies)s::text[], %(contexts)s::text[]) AS e(id, body, context)
JOIN messages m ON m.id = e.id,
LATERAL (SELECT to_tsvector('{CONFIG}', left(e.body, {TEXT_LIMIT})) AS b,
                to_tsvector('{CONFIG}', left(e.context, {TEXT_LIMIT})) AS c) AS v
"""

# The stems of %(words)s, how many docs hold each, and the number and total length of the docs.
_STEMS = f"""
SELECT q.lexeme, COALESCE(df.docs, 0), s.docs, s.tokens
FROM (SELECT DISTINCT u.lexeme FROM unnest(%(words)s::text[]) AS w(word),
             unnest(to_tsvector('{CONFIG}', w.word)) AS u) AS q
CROSS JOIN search_stats s LEFT JOIN search_df df ON df.lexeme = q.lexeme
ORDER BY q.lexeme
"""

K1, B = 1.2, 0.75
NEWEST_MARGIN = 1.3  # how many more ids than the matches' share ``_newest_floor`` takes in


def _lexical_query(stems: int, *, newest: bool = False) -> str:
    """BM25 (FTS5's ``bm25()``) of the docs holding any of ``stems`` stems (%(s0)s, %(s1)s...), each
    with its IDF (%(i0)s...): the matches' counts are read (and decompressed) once per doc, and the
    score is one expression per doc. With ``newest``, only the %(newest)s most recent matches with
    ids from %(floor)s are scored (see ``_newest_floor``)."""
    counts = ", ".join(f"COALESCE((x.t ->> %(s{n})s)::integer, 0) AS n{n}" for n in range(stems))
    terms = " + ".join(
        f"%(i{n})s * ((c.n{n} / 1000) * %(body)s + (c.n{n} %% 1000) * %(context)s) * {K1 + 1}"
        f" / ((c.n{n} / 1000) * %(body)s + (c.n{n} %% 1000) * %(context)s + k.k)" for n in range(stems))
    matching = ("SELECT message_id, session_id, tf, body_len, context_len FROM search_docs"
                " WHERE doc @@ ember_any_stem(%(stems)s)")
    # "+ 0": ordered by the id's value, not by its index, so that the planner reads the matches
    # through the GIN index (ANDed with the id range) instead of walking the ids back and testing
    # every doc it passes, which a LIMIT makes look cheap and a cold cache makes slow.
    # The newest are chosen by id alone (a narrow sort that stays in memory), then read.
    newest_ids = ("SELECT message_id FROM search_docs WHERE doc @@ ember_any_stem(%(stems)s)"
                  " AND message_id >= %(floor)s ORDER BY message_id + 0 DESC LIMIT %(newest)s")
    source = (f"(SELECT s.message_id, s.session_id, s.tf, s.body_len, s.context_len FROM ({newest_ids}) AS n"
              " JOIN search_docs s ON s.message_id = n.message_id)" if newest else f"({matching})")
    return f"""
SELECT d.message_id, {terms} AS score
FROM {source} d
CROSS JOIN LATERAL (SELECT d.tf || '{{}}'::jsonb AS t OFFSET 0) AS x
CROSS JOIN LATERAL (SELECT {counts}) AS c
CROSS JOIN LATERAL (SELECT {K1} * ({1 - B} + {B} * (d.body_len + d.context_len) / %(avgdl)s) AS k) AS k
WHERE {IN_SCOPE}
ORDER BY score DESC, d.message_id DESC LIMIT %(limit)s
"""


def _searchable(where: str) -> str:
    return ("SELECT id, session_id, content, speaker, created_at FROM messages "
            f"WHERE role = ANY(%(roles)s) AND content <> '' AND {where}")


def advance(db: Any, upto: int) -> None:
    """Move the indexed-up-to mark forward, never back (two processes may index at once)."""
    db.execute(
        """INSERT INTO meta (key, value) VALUES (%s, %s)
           ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value::bigint, excluded.value::bigint)::text""",
        (INDEXED_UPTO, str(int(upto))),
    )


def _scope(scope: Scope, **more: Any) -> dict[str, Any]:
    return {"session": scope[0], "person": scope[1], **more}


def _word(word: str) -> dict[str, Any]:
    return {"q_words": [word], "q_prefix": [False]}


class PostgresSearchIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _messages(self, sql: str, params: dict[str, Any]) -> list[IndexedMessage]:
        return [IndexedMessage(*r) for r in self._db._read(sql, params, plain=True)]

    # --- keeping it in step ------------------------------------------------------------------------

    def indexed_upto(self) -> int:
        value = self._db._value("SELECT value FROM meta WHERE key = %s", (INDEXED_UPTO,))
        return int(value) if value and str(value).isdigit() else 0

    def messages_after(self, message_id: int, roles: tuple[str, ...]) -> list[IndexedMessage]:
        return self._messages(_searchable("id > %(after)s ORDER BY id"), {"roles": list(roles), "after": message_id})

    def messages_before(self, session_id: str, before_id: int, limit: int,
                        roles: tuple[str, ...]) -> list[IndexedMessage]:
        found = self._messages(
            _searchable("session_id = %(session)s AND id < %(before)s ORDER BY id DESC LIMIT %(limit)s"),
            {"roles": list(roles), "session": session_id, "before": before_id, "limit": limit})
        return list(reversed(found))

    def indexed_messages(self, session_id: str, roles: tuple[str, ...]) -> list[IndexedMessage]:
        return self._messages(
            _searchable("session_id = %(session)s AND id IN (SELECT message_id FROM search_docs"
                        " WHERE session_id = %(session)s) ORDER BY id"),
            {"roles": list(roles), "session": session_id})

    def last_message_id(self) -> int:
        return int(self._db._value("SELECT COALESCE(max(id), 0) FROM messages"))

    def speakers(self, session_id: str | None = None) -> list[str]:
        rows = self._db._read("SELECT DISTINCT speaker FROM messages WHERE speaker IS NOT NULL"
                              " AND (%(session)s::text IS NULL OR session_id = %(session)s)", {"session": session_id},
                              plain=True)
        return [r[0] for r in rows if r[0]]

    def write(self, entries: list[IndexEntry], times: list[TimeMention], *, retimed: Iterable[int] = (),
              upto: int | None = None) -> None:
        ids = [e.message_id for e in entries]
        with self._db._write("search") as db:
            if ids:
                db.execute("DELETE FROM search_docs WHERE message_id = ANY(%s)", (ids,))
                db.execute(_DOCS, {"ids": ids, "bodies": [e.body for e in entries],
                                   "contexts": [e.context for e in entries]})
            again = list(retimed)
            if again:
                db.execute("DELETE FROM search_times WHERE message_id = ANY(%s)", (again,))
            if times:
                db.execute(
                    """INSERT INTO search_times (message_id, start, "end")
                       SELECT t.id, t.start, t.stop FROM unnest(%s::bigint[], %s::float8[], %s::float8[])
                           AS t(id, start, stop)
                       WHERE EXISTS (SELECT 1 FROM messages m WHERE m.id = t.id)""",
                    ([t.message_id for t in times], [t.start for t in times], [t.end for t in times]))
            if upto is not None:
                advance(db, upto)

    def advance(self, upto: int) -> None:
        with self._db._write() as db:
            advance(db, upto)

    def clear(self) -> None:
        with self._db._write("search", "vectors") as db:
            db.execute("DELETE FROM search_docs")
            db.execute("DELETE FROM search_times")
            db.execute("DELETE FROM search_vectors")
            db.execute("DELETE FROM search_terms")
            db.execute("DELETE FROM search_claims")
            db.execute("UPDATE search_stats SET docs = 0, tokens = 0")
            db.execute("DELETE FROM search_df")
            db.execute("DELETE FROM meta WHERE key = ANY(%s)", ([INDEXED_UPTO, EMBEDDED_UPTO, VECTOR_MODEL],))

    def indexed_count(self) -> int:
        return int(self._db._value("SELECT docs FROM search_stats") or 0)

    def contains_word(self, word: str) -> bool:
        return bool(self._db._read(f"SELECT 1 FROM search_docs WHERE doc @@ {words_query(CONFIG, '|')} LIMIT 1",
                                   _word(word)))

    # --- candidates of a query -----------------------------------------------------------------------

    def version(self) -> tuple[int, ...]:
        row = self._db._read("SELECT COALESCE(max(id), 0), count(*) FROM messages", plain=True)[0]
        return int(row[0]), int(row[1])

    def has_messages(self, scope: Scope) -> bool:
        return bool(self._db._read(f"SELECT 1 FROM messages WHERE {IN_SCOPE} LIMIT 1", _scope(scope)))

    def latest_time(self, scope: Scope, before: float) -> float | None:
        return self._db._value(f"SELECT max(created_at) FROM messages WHERE {IN_SCOPE} AND created_at <= %(before)s",
                               _scope(scope, before=before))

    def match_count(self, word: str, cap: int) -> int:
        # How many docs hold the word's rarest stem (search_df; no match is counted): exact for a
        # word of one stem, and close for one PostgreSQL parses into several (e-mail).
        found = self._db._value(
            f"""SELECT min(COALESCE(df.docs, 0)) FROM unnest(tsvector_to_array(to_tsvector('{CONFIG}', %s))) AS l(stem)
                LEFT JOIN search_df df ON df.lexeme = l.stem""", (word,))
        return min(int(found or 0), cap)

    def lexical(self, words: list[str], scope: Scope, *, limit: int, weights: tuple[float, float],
                newest: int = 0) -> dict[int, float]:
        if not any(words):
            return {}
        # The stems are looked up first and passed as values: with the query built inside the
        # statement, the planner cannot tell a common word from a rare one, and for the newest
        # matches of a word in most messages it would read every match (260 ms at 300,000
        # messages) where walking the ids back from the newest takes 3 ms.
        stems = self._db._read(_STEMS, {"words": list(words)}, plain=True)
        stems = [row for row in stems if row[1] > 0]  # a stem no doc holds adds nothing
        if not stems:
            return {}
        docs, tokens = stems[0][2], stems[0][3]
        params = _scope(scope, stems=[row[0] for row in stems], newest=newest, body=weights[0], context=weights[1],
                        limit=limit, avgdl=max(tokens / docs, 1e-9) if docs > 0 else 1.0)
        for n, (stem, hits, _, _) in enumerate(stems):
            params[f"s{n}"] = stem
            params[f"i{n}"] = max(math.log((0.5 + docs - hits) / (0.5 + hits)), 1e-6)  # FTS5's IDF
        if newest:
            params["floor"] = self._newest_floor(newest, sum(row[1] for row in stems))
        rows = self._db._read(_lexical_query(len(stems), newest=newest > 0), params, plain=True)
        return {int(r[0]): max(float(r[1]), 0.0) for r in rows}

    def _newest_floor(self, newest: int, matches: int) -> int:
        """The lowest id among about the ``newest`` most recent of ``matches`` matching docs, guessed
        with a margin as if the matches were spread evenly over the ids.

        The GIN index's matches ANDed with this id range are the only rows read. Walking the ids
        back from the newest and testing each doc reads every doc in between, matching or not:
        for a word in 8% of 300,000 messages, 60 ms where the range takes 13 ms.
        """
        share = NEWEST_MARGIN * newest / max(matches, 1)
        if share > 0.5:  # all the matches cost at most about twice the newest: no range needed
            return 0
        low, high = self._db._read("SELECT min(message_id), max(message_id) FROM search_docs", plain=True)[0]
        return 0 if low is None else int(high - (high - low) * share)

    def message_ids(self, scope: Scope) -> set[int]:
        return {int(r[0]) for r in self._db._read(f"SELECT id FROM messages WHERE {IN_SCOPE}", _scope(scope),
                                                  plain=True)}

    def said_between(self, start: float, end: float, scope: Scope, roles: tuple[str, ...], limit: int) -> list[int]:
        rows = self._db._read(
            f"""SELECT id FROM messages WHERE created_at >= %(start)s AND created_at < %(end)s AND {IN_SCOPE}
                AND role = ANY(%(roles)s) AND content <> '' LIMIT %(limit)s""",
            _scope(scope, start=start, end=end, roles=list(roles), limit=limit), plain=True)
        return [int(r[0]) for r in rows]

    def mentioning(self, start: float, end: float, scope: Scope, limit: int) -> list[int]:
        rows = self._db._read(
            f"""SELECT DISTINCT t.message_id FROM search_times t JOIN messages m ON m.id = t.message_id
                WHERE t.start < %(end)s AND t."end" > %(start)s AND {IN_SCOPE.replace('session_id', 'm.session_id')}
                LIMIT %(limit)s""",
            _scope(scope, start=start, end=end, limit=limit), plain=True)
        return [int(r[0]) for r in rows]

    def candidates(self, ids: list[int], roles: tuple[str, ...]) -> dict[int, Candidate]:
        if not ids:
            return {}
        rows = self._db._read(
            """SELECT m.id, m.session_id, m.role, m.speaker, m.created_at, m.external_id, m.content,
                   (SELECT position('?' IN p.content) > 0 FROM messages p WHERE p.session_id = m.session_id
                    AND p.id < m.id AND p.role = ANY(%(roles)s) AND p.content <> '' ORDER BY p.id DESC LIMIT 1)
                   AS after_question
               FROM messages m WHERE m.id = ANY(%(ids)s)""",
            {"ids": [int(i) for i in ids], "roles": list(roles)}, plain=True)
        return {int(r[0]): Candidate(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7])) for r in rows}

    def sessions_of(self, ids: Iterable[int]) -> set[str]:
        wanted = [int(m) for m in ids]
        if not wanted:
            return set()
        return {r[0] for r in self._db._read("SELECT DISTINCT session_id FROM messages WHERE id = ANY(%s)",
                                             (wanted,), plain=True)}

    def session_message_ids(self, session_id: str) -> list[int]:
        return [int(r[0]) for r in self._db._read("SELECT id FROM messages WHERE session_id = %s ORDER BY id",
                                                  (session_id,), plain=True)]
