"""Small fixes from an audit, end to end through the real `ember` executable and real files:
`memory search --batch` errors, a comment after a quoted front-matter value, `skills restore` not
counting as a use, `mcp add` refusing an existing name first, `doctor --offline` and API keys,
`ember memory ID` without `show`."""

from __future__ import annotations

import json
import sys
import time

import pytest

from ember.memory.skills import library as skills
from ember.memory.skills import stats as skill_stats
from ember.memory.skills.format import SkillFormatError, parse_skill
from ember.store.sqlite.store import open_store

LINES = [
    {"id": "D1:1", "session": "S1", "role": "user", "speaker": "Caroline",
     "content": "I went to a LGBTQ support group yesterday.", "timestamp": "2023-05-08T13:56:00"},
    {"id": "D1:2", "session": "S1", "role": "assistant", "speaker": "Melanie",
     "content": "I painted a sunrise last week.", "timestamp": "2023-05-08T13:57:00"},
]

SKILL = """---
name: weekly-report
description: "Builds the #1 weekly report. Use when asked for it." # written by hand
license: 'MIT' # a comment after a single-quoted value
allowed-tools: ["Bash(python:*)", "Read # not a comment"]   # a list with a comment
---

# Weekly report

Run `python report.py`.
"""


@pytest.fixture
def imported(ember, tmp_path):
    ember.env["EMBER_EMBEDDINGS"] = "off"
    data = tmp_path / "turns.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    result = ember("memory", "import", str(data))
    assert result.returncode == 0, result.stderr
    return ember


# 1. --batch: a bad line keeps its qid, says why, and keeps the output aligned


def test_batch_bad_lines_keep_their_qid_and_say_why(imported, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join([
        json.dumps({"qid": "a", "query": "What did Melanie paint?"}),
        json.dumps({"qid": "b", "text": "no query key here"}),
        '{"qid": "c", "query": "tab\there"}',  # a raw control character inside a JSON string
        "",
        json.dumps({"qid": "d", "query": 42}),
        "[1, 2]",
        json.dumps({"qid": "e", "query": "support group"}),
    ]) + "\n")
    result = imported("memory", "search", "--batch", str(queries), "--json", "-k", "3")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["qid"] for r in rows] == ["a", "b", None, "d", None, "e"]  # one per non-blank line, in order
    assert rows[0]["hits"][0]["id"] == "D1:2" and rows[-1]["hits"][0]["id"] == "D1:1"
    assert "error" not in rows[0] and "error" not in rows[-1]
    assert rows[1] == {"qid": "b", "hits": [], "error": 'line 2: no "query"'}
    assert rows[2]["hits"] == [] and rows[2]["error"] == "line 3: not valid JSON: Invalid control character at column 27"
    assert rows[3]["error"] == 'line 5: "query" is not text' and rows[4]["error"].startswith("line 6: not a JSON object")
    err = result.stderr
    assert f'{queries}:2: bad query line: no "query"' in err
    assert f"{queries}:3: bad query line: not valid JSON: Invalid control character at column 27" in err
    assert "('query')" not in err


def test_batch_from_stdin_names_the_line(imported):
    result = imported("memory", "search", "--batch", "-", "--json", input='{"qid": 1}\n{"qid": 2, "query": "sunrise"}\n')
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0] == {"qid": 1, "hits": [], "error": 'line 1: no "query"'} and rows[1]["hits"][0]["id"] == "D1:2"
    assert '-:1: bad query line: no "query"' in result.stderr


# 2. front matter: a comment after a closing quote, a '#' inside quotes


def test_comment_after_a_quoted_value_is_allowed(ember):
    folder = ember.home / "skills" / "weekly-report"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(SKILL)
    listed = ember.json("skills", "list", "--json")
    assert listed[0]["problem"] is None, listed
    assert listed[0]["description"] == "Builds the #1 weekly report. Use when asked for it."
    doc = parse_skill(SKILL)
    assert doc.front["license"] == "MIT"
    assert doc.front["allowed-tools"] == ["Bash(python:*)", "Read # not a comment"]


@pytest.mark.parametrize(("line", "message"), [
    ('description: "x" trailing', "'trailing' after the closing quote"),
    ('description: "never closed # not a comment', "unterminated double-quoted string"),
])
def test_text_after_a_closing_quote_is_still_an_error(line, message):
    with pytest.raises(SkillFormatError, match=message):
        parse_skill(f"---\nname: x\n{line}\n---\nbody\n")


# 3. restoring a skill is not a use


def test_restore_does_not_count_as_a_use(ember):
    folder = ember.home / "skills" / "weekly-report"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(SKILL)
    assert ember("skills", "archive", "weekly-report").returncode == 0
    restored = ember("skills", "restore", "weekly-report")
    assert restored.returncode == 0, restored.stderr
    [row] = ember.json("skills", "list", "--json")
    assert row["uses"] == 0 and row["last_used"] is None
    assert " never " in ember("skills", "list").stdout

    store = open_store(ember.home / "ember.db")
    try:  # ...but its unused-clock restarts: a long-unused skill is not archived again at once
        with store._write() as db:
            db.execute("UPDATE skill_stats SET created_at = ? WHERE name = 'weekly-report'", (time.time() - 200 * 86400,))
        record = skill_stats.stats(store)["weekly-report"]
        assert record.last_used is None and time.time() - skill_stats.idle_since(record) < 60
        assert skills.archive_stale(ember.home, store, unused_days=90) == []
        later = time.time() + 100 * 86400
        assert [name for name, _ in skills.archive_stale(ember.home, store, unused_days=90, now=later)] == [
            "weekly-report"]
    finally:
        store.close()


# 4. mcp add with a name that exists: refused first, nothing started


def test_mcp_add_refuses_an_existing_name_before_starting_it(ember, tmp_path):
    first = ember("mcp", "add", "notes", "--no-check", "--", "some-server")
    assert first.returncode == 0, first.stderr
    marker = tmp_path / "started"
    again = ember("mcp", "add", "notes", "--cwd", str(tmp_path), "--",
                  sys.executable, "-c", f"open({str(marker)!r}, 'w').close()")
    assert again.returncode == 2
    assert "a server named notes exists; use --replace to overwrite it" in again.stderr
    assert "ember doctor" not in again.stderr and "mcp remove" not in again.stderr
    assert not marker.exists()  # the new command was never run
    config = (ember.home / "config.toml").read_text()
    assert "some-server" in config and "started" not in config
    replaced = ember("mcp", "add", "notes", "--replace", "--no-check", "--", "other-server")
    assert replaced.returncode == 0, replaced.stderr
    assert "other-server" in (ember.home / "config.toml").read_text()


# 5. doctor --offline still checks API keys


def test_doctor_offline_reports_a_missing_api_key(ember):
    for var in ("EMBER_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        ember.env.pop(var, None)
    ember.config('[model]\nprovider = "anthropic"\n')
    result = ember("doctor", "--offline")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no API key for model 'default'" in result.stdout and "fix: set the key" in result.stdout
    assert "all good" not in result.stderr
    data = json.loads(ember("doctor", "--offline", "--json").stdout)
    [model] = [c for c in data["checks"] if c["name"].startswith("model default")]
    assert not data["ok"] and not model["ok"] and "EMBER_HOME/.env" in model["fix"]


def test_doctor_offline_is_fine_with_a_key_or_a_local_model(ember, fake):
    ember.point_at(fake)  # a local endpoint needs no key
    result = ember("doctor", "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped: --offline sends no request" in result.stdout and not fake.requests


# 6. `ember memory ID` is not `ember memory show ID`, and says so


def test_memory_with_an_id_but_no_command_says_what_to_run(imported):
    result = imported("memory", "D1:2")
    assert result.returncode == 2
    assert 'no command "D1:2"; to see a message: ember memory show D1:2' in result.stderr
    typo = imported("memory", "serch", "x")
    assert typo.returncode == 2 and 'did you mean "search"?' in typo.stderr
    assert imported.json("memory", "show", "D1:2", "--json")["content"] == "I painted a sunrise last week."
    assert imported.json("memory", "--json")["messages"] == 2  # the default command still works
