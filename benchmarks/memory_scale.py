"""Memory search at scale: time to a working search, embedding rate, index size and search latency.

    python benchmarks/memory_scale.py [--messages 100000] [--queries 300] [--embeddings] [--home DIR]

Generates a reproducible synthetic history (sessions of 10-40 turns between pairs of speakers,
words drawn from a Zipf-distributed vocabulary of common English words and made-up rare ones,
dates over three years) and, in a fresh EMBER_HOME, measures what a user waits for:

1. `ember memory import` (messages and their text index; no embedding), then one
   `ember memory search`: the time until the first search answers;
2. with --embeddings, `ember memory index`: how many messages are embedded per second;
3. `ember memory search --batch --json` over a mix of topic, speaker and date queries: p50/p95
   per-query latency (time between consecutive result lines; the first, which includes
   loading, is left out), and the database size.

Without --embeddings the run sets EMBER_EMBEDDINGS=off (lexical search only). With --home, the
history is imported into DIR and kept there; run again with the same DIR, and only the search
latency is measured again (no import, no embedding: 100,000 messages take about 20 minutes to
embed on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

EMBER = str(Path(sys.executable).parent / "ember")
NAMES = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Julia", "Kofi", "Lena"]
SYLLABLES = ["ka", "lo", "mi", "ne", "ra", "to", "vi", "su", "pe", "da", "go", "ri", "ba", "te", "mo", "shi"]
COMMON = """time day week year work home family friend kids dog cat trip game movie book music song painting
class school job team project idea plan party dinner lunch coffee beach park city house car garden
weekend birthday holiday camping hiking running yoga cooking recipe cake bread pizza photo picture art
concert show festival museum library store market shop money news phone email meeting doctor health
feel love happy great awesome tired busy excited proud nervous glad sorry thanks hope think know want
start finish try learn teach help share visit travel move buy read write watch play sing dance paint
run walk swim drive cook bake build fix clean plant grow win lose join meet talk call remember forget
morning evening night today tomorrow yesterday summer winter spring autumn rain snow sun weather
guitar piano violin drums pottery camera bike boat train plane hotel mountain lake river forest ocean
volunteer shelter charity community support group mentor career degree exam course test interview""".split()
FUNCTION = ["the", "a", "and", "to", "of", "I", "you", "it", "was", "we", "my", "so", "that", "in", "just"]


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    """Real words for the frequent head (as in chat), made-up ones for the long tail of rare words."""
    words: set[str] = set(COMMON)
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(COMMON) + sorted(words - set(COMMON))


def sentence(rng: random.Random, words: list[str], weights: list[float]) -> str:
    picked = rng.choices(words, weights, k=rng.randint(6, 18))
    mixed = [w if rng.random() > 0.4 else rng.choice(FUNCTION) for w in picked]
    return " ".join(mixed).capitalize() + rng.choice([".", "!", "?", "."])


def history(n: int, seed: int = 7) -> tuple[list[dict], list[str], list[float]]:
    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]  # Zipf: the common words come first
    lines, day, s = [], datetime(2022, 1, 1, 9, 0), 0
    while len(lines) < n:
        s += 1
        a, b = rng.sample(NAMES, 2)
        day += timedelta(hours=rng.randint(6, 30))
        for t in range(rng.randint(10, 40)):
            speaker = a if t % 2 == 0 else b
            text = " ".join(sentence(rng, words, weights) for _ in range(rng.randint(1, 3)))
            lines.append({"id": f"D{s}:{t + 1}", "session": f"S{s}", "role": "user" if speaker == a else "assistant",
                          "speaker": speaker, "content": text, "timestamp": (day + timedelta(minutes=t)).isoformat()})
            if len(lines) >= n:
                break
    return lines, words, weights


def queries(count: int, lines: list[dict], words: list[str], weights: list[float], seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        kind = i % 3
        topic = " ".join(rng.choices(words, weights, k=rng.randint(2, 5)))
        if kind == 0:
            text = f"what did we say about {topic}?"
        elif kind == 1:
            text = f"what did {rng.choice(NAMES)} tell about {topic}"
        else:
            when = datetime.fromisoformat(rng.choice(lines)["timestamp"])
            text = f"{topic} in {when.strftime('%B %Y')}"
        out.append({"qid": str(i), "query": text})
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0


def measure_search(env: dict[str, str], qfile: Path) -> str:
    """`ember memory search --batch` over the queries: loading time, p50/p95/max per query."""
    start = time.perf_counter()
    proc = subprocess.Popen([EMBER, "memory", "search", "--batch", str(qfile), "--json", "-k", "10"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    stamps, hits = [], 0
    for line in proc.stdout:
        stamps.append(time.perf_counter())
        hits += len(json.loads(line)["hits"])
    proc.wait()
    total_s = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"search failed: {proc.stderr.read() if proc.stderr else ''}")
    gaps = [(b - a) * 1000 for a, b in zip(stamps, stamps[1:], strict=False)]
    return (f"search:          {len(stamps)} queries, first result after {(stamps[0] - start) if stamps else 0:.2f} s "
            f"(loading), then p50 {percentile(gaps, 50):.1f} ms, p95 {percentile(gaps, 95):.1f} ms, "
            f"max {max(gaps, default=0):.1f} ms; {hits / max(len(stamps), 1):.1f} hits/query; total {total_s:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--embeddings", action="store_true", help="use the embedding backend (must be installed)")
    parser.add_argument("--home", type=Path, help="import into this EMBER_HOME and keep it; if it already holds "
                        "the history, measure search only")
    args = parser.parse_args()
    lines, words, weights = history(args.messages)
    batch = queries(args.queries, lines, words, weights)
    mode = "with embeddings" if args.embeddings else "lexical only"
    with tempfile.TemporaryDirectory(prefix="ember-scale-") as tmp:
        home = args.home.resolve() if args.home else Path(tmp) / "home"
        env = {**os.environ, "EMBER_HOME": str(home), "EMBER_EMBEDDINGS": "auto" if args.embeddings else "off"}
        data, qfile = Path(tmp) / "history.jsonl", Path(tmp) / "queries.jsonl"
        data.write_text("".join(json.dumps(line) + "\n" for line in lines))
        qfile.write_text("".join(json.dumps(q) + "\n" for q in batch))
        done_mark = home / f"memory_scale-{args.messages}{'-embedded' if args.embeddings else ''}"
        if done_mark.exists():
            searched = measure_search(env, qfile)
            size = sum(f.stat().st_size for f in home.glob("ember.db*"))
            print(f"{args.messages:,} messages, {mode} (imported earlier into {home})")
            print(f"database size:   {size / 1e6:.1f} MB")
            print(searched)
            return
        start = time.perf_counter()
        done = subprocess.run([EMBER, "memory", "import", str(data)], env=env, capture_output=True, text=True)
        import_s = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"import failed: {done.stderr}")
        first = subprocess.run([EMBER, "memory", "search", batch[0]["query"], "--json"], env=env,
                               capture_output=True, text=True)
        first_s = time.perf_counter() - start - import_s
        if first.returncode != 0:
            raise SystemExit(f"search failed: {first.stderr}")
        embedded, index_s = 0, 0.0
        if args.embeddings:
            begun = time.perf_counter()
            indexed = subprocess.run([EMBER, "memory", "index", "--json"], env=env, capture_output=True, text=True)
            index_s = time.perf_counter() - begun
            if indexed.returncode != 0:
                raise SystemExit(f"index failed: {indexed.stderr}")
            embedded = json.loads(indexed.stdout)["embedded"]
        if args.home:
            done_mark.touch()
        size = sum(f.stat().st_size for f in home.glob("ember.db*"))
        searched = measure_search(env, qfile)
    print(f"{args.messages:,} messages, {mode}")
    print(f"import:          {import_s:.1f} s ({args.messages / import_s:,.0f} messages/s; messages and text index)")
    print(f"first search:    {first_s:.1f} s more: search works {import_s + first_s:.1f} s after the import began")
    if args.embeddings:
        print(f"embedding index: {embedded:,} messages in {index_s:.0f} s ({embedded / max(index_s, 1e-9):,.0f} "
              f"messages/s, `ember memory index`)")
    print(f"database size:   {size / 1e6:.1f} MB")
    print(searched)


if __name__ == "__main__":
    main()
