"""Memory retrieval on LoCoMo, through the real `ember` CLI: R@5, R@10 and search latency.

    python benchmarks/locomo.py [--data ../shared/bench/locomo] [--files 26 30] [--held-out]
                                [--database-url postgresql://user@host/postgres]

For each conversation: a fresh EMBER_HOME, the turns written as `ember memory import` JSONL
(image captions appended as "[image: ...]"; the derived annotations - observations, summaries,
events - are never indexed), the questions of categories 1-4 that have evidence as a
`--batch` file, then `ember memory search --batch --json -k 10`. Recall@k is the share of a
question's evidence turns in its top k, averaged over questions; malformed evidence ids are
normalized ("D30:05" -> "D30:5", "D:11:26" -> "D11:26") and ids naming no turn stay in the
denominator. Latency per query is the time between consecutive result lines of the batch
(the first line, which includes loading, is left out). No LLM is involved.

By default search ranks with the weights Ember ships, which were fitted on these same
conversations. With --held-out, each conversation is searched with weights fitted on the
others only (`benchmarks/fit_ranking.py`'s fit, passed to the same CLI), so the figures are
those of conversations the ranking has not seen.

With --database-url, the store is that PostgreSQL server instead of SQLite: each conversation
gets a database of its own (created, then dropped: the URL's user needs CREATEDB).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
EMBER = str(Path(sys.executable).parent / "ember")
WITH_WEIGHTS = (  # the ember CLI, ranking with the weights in $LOCOMO_WEIGHTS
    "import json, os, sys; from ember.memory import ranking; w = json.loads(os.environ['LOCOMO_WEIGHTS']); "
    "ranking.WEIGHTS_DENSE, ranking.WEIGHTS_LEXICAL = w['dense'], w['lexical']; "
    "from ember.cli.main import main; sys.argv[0] = 'ember'; sys.exit(main())"
)


def session_numbers(conv: dict) -> list[int]:
    return sorted(int(m.group(1)) for key in conv for m in [re.fullmatch(r"session_(\d+)", key)] if m)


def to_jsonl(conv: dict) -> list[dict]:
    """The conversation's turns as import lines; each turn carries its session's date and time."""
    lines = []
    for n in session_numbers(conv):
        when = datetime.strptime(conv[f"session_{n}_date_time"].strip(), "%I:%M %p on %d %B, %Y")
        for turn in conv[f"session_{n}"]:
            text = turn.get("text", "")
            if turn.get("blip_caption"):
                text += f" [image: {turn['blip_caption']}]"
            role = "user" if turn["speaker"] == conv["speaker_a"] else "assistant"
            lines.append({"id": turn["dia_id"], "session": f"S{n}", "role": role, "speaker": turn["speaker"],
                          "content": text, "timestamp": when.isoformat()})
    return lines


def evidence_ids(evidence: list[str]) -> list[str]:
    out = []
    for entry in evidence:
        for part in re.split(r"[;,\s]+", entry):
            m = re.fullmatch(r"D:?(\d+):0*(\d+)", part.strip())
            if m:
                out.append(f"D{int(m.group(1))}:{int(m.group(2))}")
            elif part.strip():
                out.append(part.strip())
    return out


def questions(conv: dict) -> list[dict]:
    return [
        {"qid": str(i), "query": q["question"], "evidence": evidence_ids(q["evidence"]), "category": q["category"]}
        for i, q in enumerate(conv["qa"])
        if q.get("category") in (1, 2, 3, 4) and q.get("evidence")
    ]


@contextmanager
def fresh_store(server: str | None, name: str) -> Iterator[dict[str, str]]:
    """The environment of a new, empty store: SQLite in the home (no server), else a database of
    its own on the PostgreSQL server at ``server``, dropped afterwards."""
    if not server:
        yield {}
        return
    import psycopg

    parts = urlsplit(server)
    database = f"ember_locomo_{os.getpid()}_{re.sub(r'[^a-z0-9_]', '_', name.lower())}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.execute(f"CREATE DATABASE {database}")
    try:
        yield {"EMBER_DATABASE_URL": urlunsplit(parts._replace(path="/" + database))}
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def run_conversation(path: Path, k: int, env_extra: dict[str, str], weights: dict | None = None,
                     server: str | None = None) -> dict:
    conv = json.loads(path.read_text())
    qs = questions(conv)
    with tempfile.TemporaryDirectory(prefix="ember-locomo-") as tmp, fresh_store(server, path.stem) as store:
        home = Path(tmp) / "home"
        env = {**os.environ, "EMBER_HOME": str(home), **env_extra, **store}
        turns, batch = Path(tmp) / "turns.jsonl", Path(tmp) / "queries.jsonl"
        turns.write_text("".join(json.dumps(line) + "\n" for line in to_jsonl(conv)))
        batch.write_text("".join(json.dumps({"qid": q["qid"], "query": q["query"]}) + "\n" for q in qs))
        start = time.perf_counter()
        done = subprocess.run([EMBER, "memory", "import", str(turns)], env=env, capture_output=True, text=True)
        if done.returncode == 0:  # import stores text only; the embedding index is filled afterwards
            done = subprocess.run([EMBER, "memory", "index", "--json"], env=env, capture_output=True, text=True)
        import_s = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"import failed for {path.name}: {done.stderr}")
        search = [EMBER]
        if weights is not None:
            search = [sys.executable, "-c", WITH_WEIGHTS]
            env["LOCOMO_WEIGHTS"] = json.dumps(weights)
        start = time.perf_counter()
        proc = subprocess.Popen([*search, "memory", "search", "--batch", str(batch), "--json", "-k", str(k)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        results, stamps = [], []
        for line in proc.stdout:
            stamps.append(time.perf_counter())
            results.append(json.loads(line))
        proc.wait()
        search_s = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"search failed for {path.name}: {proc.stderr.read() if proc.stderr else ''}")
    if [r["qid"] for r in results] != [q["qid"] for q in qs]:
        raise SystemExit(f"{path.name}: results are not one per query, in order")
    recall = {5: [], 10: []}
    for q, r in zip(qs, results, strict=True):
        ids = [h["id"] for h in r["hits"]]
        for cut in recall:
            top = set(ids[:cut])
            recall[cut].append(sum(e in top for e in q["evidence"]) / len(q["evidence"]))
    gaps = [(b - a) * 1000 for a, b in zip(stamps, stamps[1:], strict=False)]
    return {"name": path.stem, "turns": len(to_jsonl(conv)), "questions": len(qs), "recall": recall,
            "import_s": import_s, "search_s": search_s, "latencies_ms": gaps,
            "categories": [q["category"] for q in qs]}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def held_out_weights(paths: list[Path]) -> dict[str, dict]:
    """Per conversation: the ranking weights fitted on all the other conversations."""
    import numpy as np
    from fit_ranking import featurize, fit

    from ember.memory.search.embeddings import load_embedder
    from ember.memory.search.ranking import FEATURES, LEXICAL_FEATURES

    embedder = load_embedder()
    dense_qs = [q for p in paths for q in featurize(p, embedder, dense=True)] if embedder is not None else []
    lex_qs = [q for p in paths for q in featurize(p, embedder, dense=False)]
    out = {}
    for p in paths:
        weights = {}
        for key, qs, names in (("dense", dense_qs, FEATURES), ("lexical", lex_qs, LEXICAL_FEATURES)):
            keep = np.ones(len(names), dtype=bool)
            rest = [q for q in qs if q.conversation != p.stem]
            weights[key] = dict(zip(names, map(float, fit(rest, keep)), strict=True)) if rest else {}
        out[p.stem] = weights
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench" / "locomo")
    parser.add_argument("--files", nargs="*", help="conversation names (e.g. 26 30); default: all")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--no-embeddings", action="store_true", help="lexical search only (EMBER_EMBEDDINGS=off)")
    parser.add_argument("--held-out", action="store_true",
                        help="search each conversation with weights fitted on the others only")
    parser.add_argument("--database-url", help="a PostgreSQL server to keep the stores in (default: SQLite)")
    args = parser.parse_args()
    paths = sorted(args.data.glob("*.json"))
    if args.files:
        paths = [p for p in paths if p.stem in args.files]
    if not paths:
        raise SystemExit(f"no LoCoMo conversations in {args.data}")
    env_extra = {"EMBER_EMBEDDINGS": "off"} if args.no_embeddings else {}
    held_out = held_out_weights(paths) if args.held_out else {}
    rows = [run_conversation(p, args.k, env_extra, held_out.get(p.stem), args.database_url) for p in paths]
    if args.held_out:
        print("held out: each conversation ranked with weights fitted on the others")
    print(f"{'conv':>6} {'turns':>6} {'qs':>5} {'R@5':>6} {'R@10':>6} {'import s':>9} {'p50 ms':>7} {'p95 ms':>7}")
    all5, all10, lat = [], [], []
    by_cat: dict[int, list[float]] = {}
    for r in rows:
        r5, r10 = statistics.mean(r["recall"][5]), statistics.mean(r["recall"][10])
        all5 += r["recall"][5]
        all10 += r["recall"][10]
        lat += r["latencies_ms"]
        for cat, value in zip(r["categories"], r["recall"][10], strict=True):
            by_cat.setdefault(cat, []).append(value)
        print(f"{r['name']:>6} {r['turns']:>6} {r['questions']:>5} {r5:>6.3f} {r10:>6.3f} {r['import_s']:>9.1f} "
              f"{percentile(r['latencies_ms'], 50):>7.1f} {percentile(r['latencies_ms'], 95):>7.1f}")
    print(f"{'all':>6} {sum(r['turns'] for r in rows):>6} {len(all5):>5} {statistics.mean(all5):>6.3f} "
          f"{statistics.mean(all10):>6.3f} {sum(r['import_s'] for r in rows):>9.1f} "
          f"{percentile(lat, 50):>7.1f} {percentile(lat, 95):>7.1f}")
    print("R@10 by category: " + ", ".join(f"{c}: {statistics.mean(v):.3f} ({len(v)})" for c, v in sorted(by_cat.items())))


if __name__ == "__main__":
    main()
