"""Embedding vectors in memory, as int8, read from the store's ``VectorIndex`` port.

A 384-dim unit vector is stored as 384 signed bytes scaled by its largest component (cosine
error ~1e-4, a quarter of float32's size): 100,000 messages take ~40 MB on disk and as much in
memory. Only what search scans in full (the messages' vectors mixed with their neighbours',
see ``message_search``) is a float32 matrix; sentence vectors and the plain message vectors
are read back to float only for the few hundred candidates of a query.

``MessageVectors.refresh()`` reads only the rows added since its last call (say which messages
they belong to), and reloads everything when rows were deleted or replaced, so a long-lived
searcher stays in step cheaply while the embedding index fills in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from ember.store.ports import VectorIndex


_BLAS_SET_THREADS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads")
_blas_limited = False


def single_threaded_blas() -> None:
    """Run numpy's BLAS (the OpenBLAS its wheels bundle) on one thread in this process; elsewhere a no-op.

    Search multiplies one query vector by matrices of a few hundred to 100,000 rows. One thread
    reads memory about as fast as two, and a second thread that must wait for a busy core costs
    milliseconds per product: on two loaded cores, a query's candidate vectors took 3.5 ms with
    OpenBLAS's threads and 0.02 ms on one, and the whole search about half the time.
    """
    global _blas_limited
    if _blas_limited:
        return
    _blas_limited = True
    import ctypes
    import glob
    import os

    import numpy as np

    root = os.path.dirname(np.__file__)
    for path in glob.glob(os.path.join(root + ".libs", "*openblas*")) + glob.glob(os.path.join(root, ".dylibs", "*openblas*")):
        try:
            lib = ctypes.CDLL(path)  # already loaded by numpy: the same library, not a second copy
        except OSError:
            continue
        for name in _BLAS_SET_THREADS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(1)
                return


def encode(vector: np.ndarray) -> bytes:
    """A vector as int8 bytes (the scale is dropped: only directions matter for cosine)."""
    import numpy as np

    peak = float(np.abs(vector).max()) or 1.0
    return np.round(vector / peak * 127).astype(np.int8).tobytes()


def decode_many(blobs: list[bytes], dim: int) -> np.ndarray:
    """int8 BLOBs -> float32 unit rows."""
    import numpy as np

    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return to_unit(np.frombuffer(b"".join(blobs), dtype=np.int8).reshape(len(blobs), dim))


def to_unit(rows: np.ndarray) -> np.ndarray:
    """int8 (or any) rows -> float32 rows of length 1."""
    import numpy as np

    matrix = rows.astype(np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)


class MessageVectors:
    """All vectors of one model: ``whole`` (one row per message, id in ``whole_ids``) and
    ``parts`` (one per sentence, message id in ``part_ids``), both int8."""

    def __init__(self, model: str, dim: int):
        import numpy as np

        self.model, self.dim = model, dim
        self.whole_ids = np.zeros(0, dtype=np.int64)
        self.whole = np.zeros((0, dim), dtype=np.int8)
        self.part_ids = np.zeros(0, dtype=np.int64)
        self.parts = np.zeros((0, dim), dtype=np.int8)
        self._row_of: dict[int, int] = {}
        self._seen_rowid = 0
        self._count = 0

    def refresh(self, store: VectorIndex) -> np.ndarray | None:
        """Read what was added since the last call.

        Returns the ids of the messages whose vectors were appended (empty when nothing changed),
        or None when everything was read again (rows were deleted or replaced, or on first use).
        """
        import numpy as np

        count, rows = store.vectors_since(self.model, self._seen_rowid)
        reloaded = self._seen_rowid == 0 or count != self._count + len(rows)
        if reloaded and self._seen_rowid:  # rows were deleted or replaced: reload everything (rare)
            self.__init__(self.model, self.dim)  # type: ignore[misc]
            count, rows = store.vectors_since(self.model, 0)
        self._count = count
        if not rows:
            return None if reloaded else np.zeros(0, dtype=np.int64)

        def stack(pairs: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
            ids = np.array([m for m, _ in pairs], dtype=np.int64)
            data = np.frombuffer(b"".join(b for _, b in pairs), dtype=np.int8).reshape(len(pairs), self.dim)
            return ids, data

        whole = [(r[1], r[3]) for r in rows if r[2] == 0]
        parts = [(r[1], r[3]) for r in rows if r[2] > 0]
        added = np.zeros(0, dtype=np.int64)
        if whole:
            added, data = stack(whole)
            self._row_of.update({int(m): len(self.whole_ids) + i for i, m in enumerate(added)})
            self.whole_ids = np.concatenate([self.whole_ids, added])
            self.whole = np.vstack([self.whole, data])
        if parts:
            ids, data = stack(parts)
            self.part_ids = np.concatenate([self.part_ids, ids])
            self.parts = np.vstack([self.parts, data])
        self._seen_rowid = rows[-1][0]
        return None if reloaded else added

    def row_of(self, message_id: int) -> int | None:
        return self._row_of.get(message_id)


class WordVectors:
    """The vectors of the indexed words, for query expansion: ``words[i]`` has
    row ``i`` of ``matrix`` (float32, unit rows); ``row`` maps a word to its row."""

    def __init__(self, model: str, dim: int):
        self.model, self.dim = model, dim
        self.words: list[str] = []
        self.row: dict[str, int] = {}
        self.matrix = decode_many([], dim)
        self._seen_rowid = 0

    def refresh(self, store: VectorIndex) -> None:
        """Append the words added since the last call; read them all again after some were removed."""
        import numpy as np

        count = store.word_count()
        if count == len(self.words):
            return  # nothing new (a cheap count: another model's words are dropped before embedding)
        new = store.words_since(self.model, self._seen_rowid)
        if len(self.words) + len(new) != count:  # words were forgotten (or another model's are there)
            self.__init__(self.model, self.dim)  # type: ignore[misc]
            new = store.words_since(self.model, 0)
        if not new:
            return
        self.row.update({t[1]: len(self.words) + i for i, t in enumerate(new)})
        self.words += [t[1] for t in new]
        self.matrix = np.vstack([self.matrix, decode_many([t[2] for t in new], self.dim)])
        self._seen_rowid = new[-1][0]
