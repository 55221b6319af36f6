"""Embeddings on PostgreSQL: the ``VectorIndex`` port.

``search_vectors`` holds each message's vectors (part 0: the message, 1..: its sentences) and
``search_terms`` the indexed words', as int8 bytes in ``bytea`` columns (portable: no extension
needed; docs/postgres.md says how pgvector would take over where the server has it). Their
``seq`` columns are the sequence numbers a reader follows; every write of them takes the
``vectors`` advisory lock, so a number never becomes visible after a larger one. ``search_claims``
holds the messages an indexer is embedding now, so that workers take different batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ember.store.postgres.text_index import VECTOR_MODEL

if TYPE_CHECKING:
    from ember.store.postgres.database import Database
    from ember.store.search_records import StoredVector, StoredWord


class PostgresVectorIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    def model(self) -> str | None:
        value = self._db._value("SELECT value FROM meta WHERE key = %s", (VECTOR_MODEL,))
        return str(value) if value is not None else None

    def use_model(self, model: str) -> None:
        with self._db._write("vectors") as db:
            found = db.execute("SELECT value FROM meta WHERE key = %s", (VECTOR_MODEL,)).fetchone()
            if found is None or found["value"] != model:
                db.execute("DELETE FROM search_vectors")
                db.execute("DELETE FROM search_terms")
                db.execute("DELETE FROM search_claims")
                db.execute("INSERT INTO meta (key, value) VALUES (%s, %s)"
                           " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (VECTOR_MODEL, model))

    def embedded_count(self) -> int:
        return int(self._db._value("SELECT count(*) FROM search_vectors WHERE part = 0"))

    def word_count(self) -> int:
        return int(self._db._value("SELECT count(*) FROM search_terms"))

    # --- claims ------------------------------------------------------------------------------------

    def claim(self, owner: str, after: int, size: int, *, now: float,
              stale: Callable[[str, float], bool]) -> list[int]:
        with self._db._write("vectors") as db:
            owners = db.execute("SELECT owner, min(claimed_at) AS oldest FROM search_claims GROUP BY owner").fetchall()
            gone = [r["owner"] for r in owners if stale(r["owner"], r["oldest"])]
            if gone:
                db.execute("DELETE FROM search_claims WHERE owner = ANY(%s)", (gone,))
            ids = [int(r["message_id"]) for r in db.execute(
                """SELECT d.message_id FROM search_docs d WHERE d.message_id > %s
                   AND NOT EXISTS (SELECT 1 FROM search_vectors v WHERE v.message_id = d.message_id AND v.part = 0)
                   AND NOT EXISTS (SELECT 1 FROM search_claims c WHERE c.message_id = d.message_id)
                   ORDER BY d.message_id LIMIT %s""",
                (after, size),
            ).fetchall()]
            if ids:
                db.execute("INSERT INTO search_claims (message_id, owner, claimed_at)"
                           " SELECT unnest(%s::bigint[]), %s, %s", (ids, owner, now))
        return ids

    def release(self, owner: str) -> None:
        with self._db._write() as db:
            db.execute("DELETE FROM search_claims WHERE owner = %s", (owner,))

    def claimed_by_others(self, owner: str) -> bool:
        return bool(self._db._read("SELECT 1 FROM search_claims WHERE owner <> %s LIMIT 1", (owner,)))

    # --- one batch -----------------------------------------------------------------------------------

    def texts(self, ids: list[int]) -> list[tuple[int, str, str]]:
        rows = self._db._read("SELECT id, session_id, content FROM messages WHERE id = ANY(%s) ORDER BY id",
                              ([int(i) for i in ids],), plain=True)
        return [(int(r[0]), r[1], r[2]) for r in rows]

    def known_words(self, words: list[str]) -> set[str]:
        if not words:
            return set()
        return {r[0] for r in self._db._read("SELECT term FROM search_terms WHERE term = ANY(%s)", (list(words),),
                                             plain=True)}

    def save(self, model: str, owner: str, ids: list[int], vectors: list[tuple[int, int, bytes]],
             words: list[tuple[str, bytes]]) -> tuple[int, int] | None:
        with self._db._write("vectors") as db:
            found = db.execute("SELECT value FROM meta WHERE key = %s", (VECTOR_MODEL,)).fetchone()
            if found is None or found["value"] != model:
                return None  # another model took over the index meanwhile: these vectors are useless
            # Only for messages that still exist and have no vector: one may have been forgotten, or
            # embedded by a process that took over our claim.
            todo = {int(r["id"]) for r in db.execute(
                """SELECT m.id FROM messages m WHERE m.id = ANY(%s)
                   AND NOT EXISTS (SELECT 1 FROM search_vectors v WHERE v.message_id = m.id AND v.part = 0)""",
                ([int(i) for i in ids],),
            ).fetchall()}
            kept = [(m, part, vector) for m, part, vector in vectors if m in todo]
            if todo:
                db.execute("DELETE FROM search_vectors WHERE message_id = ANY(%s)", (sorted(todo),))
            if kept:
                db.execute(
                    "INSERT INTO search_vectors (message_id, part, model, vector)"
                    " SELECT v.m, v.p, %s, v.vec FROM unnest(%s::bigint[], %s::int[], %s::bytea[]) AS v(m, p, vec)",
                    (model, [k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept]))
            added = 0
            if words:
                added = db.execute(
                    "INSERT INTO search_terms (term, model, vector)"
                    " SELECT w.t, %s, w.vec FROM unnest(%s::text[], %s::bytea[]) WITH ORDINALITY AS w(t, vec, n)"
                    " ORDER BY w.n ON CONFLICT (term) DO NOTHING",
                    (model, [w[0] for w in words], [w[1] for w in words])).rowcount
            db.execute("DELETE FROM search_claims WHERE owner = %s AND message_id = ANY(%s)",
                       (owner, [int(i) for i in ids]))
        return len(todo), max(added, 0)

    # --- reading them back ---------------------------------------------------------------------------

    def vectors_since(self, model: str, seq: int) -> tuple[int, list[StoredVector]]:
        with self._db._snapshot() as db:
            count = db.execute("SELECT count(*) AS n FROM search_vectors WHERE model = %s", (model,)).fetchone()["n"]
            rows = db.execute("SELECT seq, message_id, part, vector FROM search_vectors"
                              " WHERE model = %s AND seq > %s ORDER BY seq", (model, seq)).fetchall()
        return int(count), [(int(r["seq"]), int(r["message_id"]), int(r["part"]), bytes(r["vector"])) for r in rows]

    def words_since(self, model: str, seq: int) -> list[StoredWord]:
        rows = self._db._read("SELECT seq, term, vector FROM search_terms WHERE model = %s AND seq > %s ORDER BY seq",
                              (model, seq), plain=True)
        return [(int(r[0]), r[1], bytes(r[2])) for r in rows]

    def embedded_messages(self, model: str) -> list[tuple[int, str]]:
        rows = self._db._read("SELECT id, session_id FROM messages WHERE id IN (SELECT message_id FROM search_vectors"
                              " WHERE part = 0 AND model = %s) ORDER BY session_id, id", (model,), plain=True)
        return [(int(r[0]), r[1]) for r in rows]

    def forget_word(self, word: str) -> None:
        with self._db._write() as db:
            db.execute("DELETE FROM search_terms WHERE term = %s", (word,))
