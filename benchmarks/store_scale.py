"""The store at scale, SQLite and PostgreSQL side by side: writes, memory search, outbox workers.

    python benchmarks/store_scale.py [--messages 100000] [--queries 200] [--database-url postgresql://...]
                                     [--sends 2000] [--workers 1 2 4]

For each backend, in a fresh store:

1. messages added one by one, each its own committed transaction, as chat and the gateway add
   them (``add_message``): messages per second;
2. the synthetic history of ``benchmarks/memory_scale.py`` (``--messages``, 100,000 by default;
   1,000,000 works, given the time) imported in batches with its search index
   (``import_messages`` and ``index.refresh``, as ``ember memory import``): messages per second;
3. memory search over it (lexical, as without the embedding extra): p50/p95 per query, in the
   process, after one warm-up query;
4. the outbox drained by 1, 2 and 4 worker processes (``--workers``) sharing the store: ``--sends``
   replies to 100 chats, each worker an ``Outbox`` with its claims sending to a platform that
   acknowledges after 2 ms; sends per second, and a check that no reply went out twice.

PostgreSQL is the server at ``--database-url`` (each run creates its databases there, then drops
them: the user needs CREATEDB), else a throwaway server started here from the PostgreSQL
programs on this machine (``tests/postgres_server.py``); without either, SQLite only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("EMBER_EMBEDDINGS", "off")

from memory_scale import history, percentile, queries  # noqa: E402

CHATS = 100
SEND_LATENCY = 0.002  # seconds the fake platform takes to acknowledge a message


# --- where the stores are ------------------------------------------------------------------------

class Postgres:
    """Databases on a server: the one given, or a throwaway one started here."""

    def __init__(self, url: str | None) -> None:
        self.server = None
        if url is None:
            from tests.postgres_server import PostgresServer, unavailable

            if unavailable():
                raise RuntimeError(unavailable())
            self.server = PostgresServer().start()
            url = self.server.url()
        self.url = url
        self.count = 0

    @contextmanager
    def database(self) -> Iterator[str]:
        import psycopg

        self.count += 1
        name = f"ember_scale_{os.getpid()}_{self.count}"
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.execute(f"CREATE DATABASE {name}")
        try:
            yield urlunsplit(urlsplit(self.url)._replace(path="/" + name))
        finally:
            with psycopg.connect(self.url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


@contextmanager
def sqlite_file() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="ember-store-scale-") as tmp:
        yield str(Path(tmp) / "ember.db")


# --- what is measured ----------------------------------------------------------------------------

def add_one_by_one(location: str, count: int = 2000) -> float:
    from ember.models.base import Message
    from ember.store.backends import open_backend

    with open_backend(location) as store:
        session = store.create_session(title="chat").id
        started = time.perf_counter()
        for n in range(count):
            store.add_message(session, Message("user" if n % 2 else "assistant", f"message number {n} about the garden"))
        return count / (time.perf_counter() - started)


def import_and_search(location: str, lines: list[dict], asked: list[dict]) -> tuple[float, float, float]:
    """(messages/s imported with their index, search p50 ms, search p95 ms)."""
    import json

    from ember.memory.importer import ImportReport, import_messages, read_jsonl
    from ember.memory.search import index
    from ember.memory.search.federated import MemorySearch
    from ember.store.backends import open_backend

    with open_backend(location) as store:
        started = time.perf_counter()
        report = ImportReport()
        import_messages(store, read_jsonl([json.dumps(line) for line in lines], report), report)
        index.refresh(store)
        rate = len(lines) / (time.perf_counter() - started)
        search = MemorySearch(store, embedder=None)
        search.search(asked[0]["query"], 10, scope="messages")  # loads what search keeps in memory
        took = []
        for q in asked[1:]:
            begun = time.perf_counter()
            search.search(q["query"], 10, scope="messages", refresh=False)
            took.append((time.perf_counter() - begun) * 1000)
    return rate, percentile(took, 50), percentile(took, 95)


class Acknowledging:
    """A platform that takes every message after ``SEND_LATENCY`` and notes what it took."""

    name = "bench"
    max_text = 4000
    quiet_refusals = False

    def __init__(self, sent: list[str]) -> None:
        self.sent = sent

    def send(self, item) -> str:  # noqa: ANN001
        time.sleep(SEND_LATENCY)
        self.sent.append(item.text)
        return f"ack-{item.text}"


def _drain(location: str, results: multiprocessing.Queue, go: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    from ember.gateway.ledger import Ledger
    from ember.gateway.outbox import Outbox
    from ember.store.backends import open_backend

    sent: list[str] = []
    with open_backend(location) as store:
        ledger = Ledger(store)
        outbox = Outbox(ledger, {"bench": Acknowledging(sent)})  # type: ignore[dict-item]
        go.wait()
        idle_since = None
        while True:
            if outbox.deliver_due("bench"):
                idle_since = None
                continue
            counts = ledger.outbox_counts().get("bench", {})
            if not counts.get("pending"):
                break
            idle_since = idle_since or time.monotonic()
            time.sleep(0.005)
    results.put(sent)


def drain_outbox(location: str, sends: int, workers: int) -> tuple[float, int]:
    """(sends/s with ``workers`` processes, replies that went out twice)."""
    from ember.gateway.ledger import Ledger, OutboxPart
    from ember.store.backends import open_backend

    with open_backend(location) as store:
        ledger = Ledger(store)
        for n in range(sends):
            ledger.enqueue("bench", f"C{n % CHATS}", [OutboxPart(f"reply-{workers}-{n}")], kind="reply")
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    go = context.Event()
    procs = [context.Process(target=_drain, args=(location, results, go)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    time.sleep(0.5)  # every worker connected
    started = time.perf_counter()
    go.set()
    sent = [text for _ in procs for text in results.get(timeout=600)]
    took = time.perf_counter() - started
    for proc in procs:
        proc.join()
    if len(set(sent)) != sends:
        raise SystemExit(f"{workers} workers sent {len(set(sent))} of {sends} replies")
    return sends / took, len(sent) - len(set(sent))


# --- the table -----------------------------------------------------------------------------------

def run(backend: str, make: object, lines: list[dict], asked: list[dict], sends: int,
        workers: list[int]) -> dict[str, str]:
    column: dict[str, str] = {}
    with make() as location:  # type: ignore[operator]
        column["add_message, one per transaction"] = f"{add_one_by_one(location):,.0f} msg/s"
    with make() as location:  # type: ignore[operator]
        rate, p50, p95 = import_and_search(location, lines, asked)
        column[f"import + index {len(lines):,}"] = f"{rate:,.0f} msg/s"
        column[f"search p50 at {len(lines):,}"] = f"{p50:.1f} ms"
        column[f"search p95 at {len(lines):,}"] = f"{p95:.1f} ms"
    for count in workers:
        with make() as location:  # type: ignore[operator]
            rate, twice = drain_outbox(location, sends, count)
            column[f"outbox, {count} worker{'s' if count > 1 else ''}"] = \
                f"{rate:,.0f} sends/s" + (f" ({twice} twice!)" if twice else "")
    print(f"  {backend} done", file=sys.stderr)
    return column


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--database-url", help="a PostgreSQL server (default: one started here, if installed)")
    args = parser.parse_args()
    lines, words, weights = history(args.messages)
    asked = queries(args.queries + 1, lines, words, weights)
    columns = {"SQLite": run("SQLite", sqlite_file, lines, asked, args.sends, args.workers)}
    try:
        postgres = Postgres(args.database_url)
    except RuntimeError as exc:
        print(f"PostgreSQL left out: {exc}", file=sys.stderr)
    else:
        try:
            columns["PostgreSQL"] = run("PostgreSQL", postgres.database, lines, asked, args.sends, args.workers)
        finally:
            postgres.close()
    rows = list(next(iter(columns.values())))
    width = max(map(len, rows)) + 2
    print(f"{'':<{width}}" + "".join(f"{name:>18}" for name in columns))
    for row in rows:
        print(f"{row:<{width}}" + "".join(f"{column[row]:>18}" for column in columns.values()))
    print(f"({os.cpu_count()} CPUs; memory search lexical; outbox: {args.sends:,} replies to {CHATS} chats, "
          f"a platform acknowledging in {SEND_LATENCY * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
