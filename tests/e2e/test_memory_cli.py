"""`ember memory ...` end to end: the import/search interface the benchmark relies on, and the people's commands."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

import pytest

from ember.memory.search.embeddings import embeddings_available

LINES = [
    {"id": "D1:1", "session": "S1", "role": "user", "speaker": "Caroline",
     "content": "I went to a LGBTQ support group yesterday.", "timestamp": "2023-05-08T13:56:00"},
    {"id": "D1:2", "session": "S1", "role": "assistant", "speaker": "Melanie",
     "content": "Wow Caroline! I painted a sunrise last week. [image: a photo of a sunrise]",
     "timestamp": "2023-05-08T13:57:00"},
    {"id": "D2:1", "session": "S2", "role": "user", "speaker": "Caroline",
     "content": "I am researching adoption agencies now.", "timestamp": "2023-05-25T13:14:00"},
]


@pytest.fixture
def imported(ember, tmp_path):
    ember.env["EMBER_EMBEDDINGS"] = "off"  # fast; dense search has its own tests
    data = tmp_path / "turns.jsonl"
    data.write_text("\n".join([json.dumps(LINES[0]), "{broken", json.dumps(LINES[1]), json.dumps(LINES[2])]) + "\n")
    result = ember("memory", "import", str(data))
    assert result.returncode == 0, result.stderr
    assert f"{data}:2:" in result.stderr and "skipped" in result.stderr
    assert "imported 3 message(s) into 2 new session(s)" in result.stderr
    return ember


def test_search_json_is_the_benchmark_shape(imported):
    out = imported.json("memory", "search", "When did Caroline go to the support group?", "--json", "-k", "2")
    assert out["qid"] is None
    assert out["hits"][0]["id"] == "D1:1"
    assert set(out["hits"][0]) == {"id", "score"} and len(out["hits"]) <= 2
    assert out["embedding_index"] is None  # lexical search: there is no embedding index


def test_batch_answers_every_query_in_order(imported, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in [
        {"qid": "7", "query": "What did Melanie paint?"},
        {"qid": "8", "query": "adoption agencies"},
        {"qid": "9", "query": "zzz nothing matches this"},
    ]) + "\nnot json\n")
    result = imported("memory", "search", "--batch", str(queries), "--json", "-k", "3")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["qid"] for r in rows] == ["7", "8", "9", None]
    assert rows[0]["hits"][0]["id"] == "D1:2" and rows[1]["hits"][0]["id"] == "D2:1"
    assert rows[2]["hits"] == [] and rows[3]["hits"] == []
    assert "q.jsonl:4: bad query line" in result.stderr


def test_human_output_show_forget_export(imported, tmp_path):
    people = imported("memory", "search", "sunrise")
    assert people.returncode == 0 and "D1:2" in people.stdout and "Melanie" in people.stdout
    shown = imported.json("memory", "show", "--json")
    assert shown["messages"] == 3 and shown["indexed_messages"] == 3 and shown["sessions"] == 2
    one = imported.json("memory", "show", "D2:1", "--json")
    assert one["speaker"] == "Caroline" and "adoption" in one["content"]
    refused = imported("memory", "forget", "D1:2")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert imported("memory", "forget", "D1:2", "--yes").returncode == 0
    assert imported("memory", "forget", "D1:2", "--yes").returncode != 0
    gone = imported.json("memory", "search", "sunrise painted", "--json")
    assert "D1:2" not in [h["id"] for h in gone["hits"]]
    exported = imported("memory", "export")
    assert [json.loads(line)["id"] for line in exported.stdout.splitlines()] == ["D1:1", "D2:1"]
    markdown = tmp_path / "memory.md"
    assert imported("memory", "export", "--format", "markdown", "-o", str(markdown)).returncode == 0
    assert markdown.read_text().startswith("# S1\n")
    assert imported("memory", "index", "--rebuild").returncode == 0


def test_usage_errors(ember, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(LINES[0]) + "\n{oops\n")
    strict = ember("memory", "import", str(bad), "--strict")
    assert strict.returncode == 2 and "bad.jsonl:2: not valid JSON" in strict.stderr
    assert "skipped" not in strict.stderr and "nothing imported (--strict)" in strict.stderr
    assert ember.json("memory", "show", "--json")["messages"] == 0
    assert ember("memory", "search").returncode == 2
    assert ember("memory", "search", "x", "--scope", "nowhere").returncode == 2
    assert ember("memory", "import", "/no/such/file.jsonl").returncode == 2
    assert "memory" in ember("--help").stdout


# --- the embedding index fills in after import ---------------------------------------------------

embedding = pytest.mark.skipif(not embeddings_available(), reason="the embedding extra is not installed")
TOPICS = ["my garden tomatoes", "the violin lesson", "our trip to the lake", "a new pottery class",
          "the dentist appointment", "fixing the bike", "the chess club", "baking sourdough bread"]


def import_chat(ember, tmp_path, count: int) -> None:
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps({
        "id": f"D1:{n}", "session": f"S{n // 20}", "speaker": "Ana" if n % 2 else "Ben",
        "content": f"Message {n} is about {TOPICS[n % len(TOPICS)]}. Number {n} indeed.",
        "timestamp": "2023-03-01T09:00:00"}) + "\n" for n in range(count)))
    result = ember("memory", "import", str(data))
    assert result.returncode == 0, result.stderr
    assert f"indexed {count} for search" in result.stderr
    assert f"embedding index: 0 of {count} messages (run `ember memory index` to finish)" in result.stderr


def vectors(ember) -> dict[int, int]:
    """message id -> rowid of its vector, read as any other process would."""
    db = sqlite3.connect(ember.home / "ember.db", timeout=5)
    try:
        return dict(db.execute("SELECT message_id, rowid FROM search_vectors WHERE part = 0").fetchall())
    finally:
        db.close()


@embedding
def test_search_answers_before_the_index_is_filled_and_says_so(ember, tmp_path):
    import_chat(ember, tmp_path, 200)
    early = ember("memory", "search", "violin lesson", "--json", "-k", "3")
    assert early.returncode == 0, early.stderr
    assert "embedding index: 0 of 200 messages (run `ember memory index` to finish)" in early.stderr
    out = json.loads(early.stdout)
    assert out["embedding_index"] == {"embedded": 0, "messages": 200, "complete": False}
    assert len(out["hits"]) == 3
    done = ember.json("memory", "index", "--json")
    assert (done["embedded"], done["interrupted"]) == (200, False)
    assert done["embedding_index"] == {"embedded": 200, "messages": 200, "complete": True}
    late = ember("memory", "search", "violin lesson", "--json")
    assert "embedding index" not in late.stderr and json.loads(late.stdout)["embedding_index"]["complete"]


@embedding
def test_an_index_killed_mid_way_resumes_without_redoing_finished_batches(ember, tmp_path):
    import_chat(ember, tmp_path, 400)
    proc = ember.popen("memory", "index", "--batch", "100")
    deadline = time.monotonic() + 120
    while len(vectors(ember)) < 100 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # the first batch is committed, the second under way
    proc.wait()
    kept = vectors(ember)
    assert 100 <= len(kept) < 400 and len(kept) % 100 == 0
    resumed = ember.json("memory", "index", "--json")
    assert resumed["embedded"] == 400 - len(kept)  # the killed run's batches are not embedded again
    after = vectors(ember)
    assert len(after) == 400 and all(after[m] == rowid for m, rowid in kept.items())
    shown = ember.json("memory", "show", "--json")
    assert shown["embedded_messages"] == shown["indexed_messages"] == 400


@embedding
def test_two_index_processes_at_once_share_the_work(ember, tmp_path):
    import_chat(ember, tmp_path, 300)
    procs = [ember.popen("memory", "index", "--json", "--batch", "50") for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=180)[0]) for p in procs]
    assert sum(o["embedded"] for o in outs) == 300
    assert len(vectors(ember)) == 300 and all(o["embedding_index"]["complete"] for o in outs)
    db = sqlite3.connect(ember.home / "ember.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM search_claims").fetchone()[0] == 0
    finally:
        db.close()
