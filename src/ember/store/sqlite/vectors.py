"""Embeddings in SQLite: the ``VectorIndex`` port.

``search_vectors`` holds each message's vectors (part 0: the message, 1..: its sentences) and
``search_terms`` the indexed words', as int8 BLOBs; their rowids are the sequence numbers a
reader follows. ``search_claims`` holds the messages an indexer is embedding right now, so that
two processes take different batches. The model of the stored vectors is ``search.vector_model``
in ``meta``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ember.store.sqlite.text_index import VECTOR_MODEL

if TYPE_CHECKING:
    from ember.store.search_records import StoredVector, StoredWord
    from ember.store.sqlite.database import Database

# search_fts_docsize is FTS5's own table of one row per indexed message (rowid = message id):
# scanning it does not read the indexed text.
_INDEXED = "search_fts_docsize"
_CHUNK = 500


class SQLiteVectorIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    def model(self) -> str | None:
        rows = self._db._read("SELECT value FROM meta WHERE key = ?", (VECTOR_MODEL,))
        return rows[0][0] if rows else None

    def use_model(self, model: str) -> None:
        with self._db._write() as db:
            found = db.execute("SELECT value FROM meta WHERE key = ?", (VECTOR_MODEL,)).fetchone()
            if found is None or found[0] != model:
                db.execute("DELETE FROM search_vectors")
                db.execute("DELETE FROM search_terms")
                db.execute("DELETE FROM search_claims")
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (VECTOR_MODEL, model))

    def embedded_count(self) -> int:
        return int(self._db._read("SELECT COUNT(*) FROM search_vectors WHERE part = 0")[0][0])

    def word_count(self) -> int:
        return int(self._db._read("SELECT COUNT(*) FROM search_terms")[0][0])

    # --- claims ------------------------------------------------------------------------------------

    def claim(self, owner: str, after: int, size: int, *, now: float,
              stale: Callable[[str, float], bool]) -> list[int]:
        with self._db._write() as db:
            for other, oldest in db.execute("SELECT owner, MIN(claimed_at) FROM search_claims GROUP BY owner").fetchall():
                if stale(other, oldest):
                    db.execute("DELETE FROM search_claims WHERE owner = ?", (other,))
            ids = [r[0] for r in db.execute(
                f"""SELECT f.id FROM {_INDEXED} f WHERE f.id > ?
                    AND NOT EXISTS (SELECT 1 FROM search_vectors v WHERE v.message_id = f.id AND v.part = 0)
                    AND NOT EXISTS (SELECT 1 FROM search_claims c WHERE c.message_id = f.id)
                    ORDER BY f.id LIMIT ?""",
                (after, size),
            )]
            db.executemany("INSERT INTO search_claims (message_id, owner, claimed_at) VALUES (?, ?, ?)",
                           [(i, owner, now) for i in ids])
        return ids

    def release(self, owner: str) -> None:
        with self._db._write() as db:
            db.execute("DELETE FROM search_claims WHERE owner = ?", (owner,))

    def claimed_by_others(self, owner: str) -> bool:
        return bool(self._db._read("SELECT 1 FROM search_claims WHERE owner != ? LIMIT 1", (owner,)))

    # --- one batch -----------------------------------------------------------------------------------

    def texts(self, ids: list[int]) -> list[tuple[int, str, str]]:
        marks = ", ".join("?" * len(ids))
        rows = self._db._read(f"SELECT id, session_id, content FROM messages WHERE id IN ({marks}) ORDER BY id",
                              tuple(ids))
        return [(r[0], r[1], r[2]) for r in rows]

    def known_words(self, words: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(words), _CHUNK):
            chunk = words[start:start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            known |= {r[0] for r in self._db._read(f"SELECT term FROM search_terms WHERE term IN ({marks})", tuple(chunk))}
        return known

    def save(self, model: str, owner: str, ids: list[int], vectors: list[tuple[int, int, bytes]],
             words: list[tuple[str, bytes]]) -> tuple[int, int] | None:
        marks = ", ".join("?" * len(ids))
        with self._db._write() as db:
            found = db.execute("SELECT value FROM meta WHERE key = ?", (VECTOR_MODEL,)).fetchone()
            if found is None or found[0] != model:
                return None  # another model took over the index meanwhile: these vectors are useless
            # Only for messages that still exist and have no vector: one may have been forgotten, or
            # embedded by a process that took over our claim.
            todo = {r[0] for r in db.execute(
                f"""SELECT m.id FROM messages m WHERE m.id IN ({marks})
                    AND NOT EXISTS (SELECT 1 FROM search_vectors v WHERE v.message_id = m.id AND v.part = 0)""",
                tuple(ids),
            )}
            db.executemany("DELETE FROM search_vectors WHERE message_id = ?", [(m,) for m in sorted(todo)])
            db.executemany("INSERT INTO search_vectors (message_id, part, model, vector) VALUES (?, ?, ?, ?)",
                           [(m, part, model, vector) for m, part, vector in vectors if m in todo])
            added = db.executemany("INSERT OR IGNORE INTO search_terms (term, model, vector) VALUES (?, ?, ?)",
                                   [(word, model, vector) for word, vector in words])
            db.execute(f"DELETE FROM search_claims WHERE owner = ? AND message_id IN ({marks})", (owner, *ids))
        return len(todo), max(added.rowcount, 0)

    # --- reading them back ---------------------------------------------------------------------------

    def vectors_since(self, model: str, seq: int) -> tuple[int, list[StoredVector]]:
        with self._db._lock:
            count = self._db._read("SELECT COUNT(*) FROM search_vectors WHERE model = ?", (model,))[0][0]
            rows = self._db._read("SELECT rowid, message_id, part, vector FROM search_vectors"
                                  " WHERE model = ? AND rowid > ? ORDER BY rowid", (model, seq), plain=True)
        return count, rows

    def words_since(self, model: str, seq: int) -> list[StoredWord]:
        return self._db._read("SELECT rowid, term, vector FROM search_terms WHERE model = ? AND rowid > ? ORDER BY rowid",
                              (model, seq), plain=True)

    def embedded_messages(self, model: str) -> list[tuple[int, str]]:
        rows = self._db._read("SELECT id, session_id FROM messages WHERE id IN (SELECT message_id FROM search_vectors "
                              "WHERE part = 0 AND model = ?) ORDER BY session_id, id", (model,))
        return [(r[0], r[1]) for r in rows]

    def forget_word(self, word: str) -> None:
        with self._db._write() as db:
            db.execute("DELETE FROM search_terms WHERE term = ?", (word,))
