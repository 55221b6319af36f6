"""Secrets stay secret, through the real `ember` executable: an answer that holds the configured
key and real-looking tokens is masked in the session, its episode, every export and the database
file; a command that reads `.env` through a transform (base64, rev) shows the model nothing."""

from __future__ import annotations

import base64
import json
import sqlite3

from ember.security.redact import derived_forms
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.memory.test_stored_secrets import HF, JWT, STRIPE

KEY = "sk-proj-Zq8vR2mXk4TnW7pLc9HbY3fJd6Gs1QaE5uVo0KiN"
SECRETS = (KEY, HF, STRIPE, JWT)


def _write_env(ember) -> str:
    text = f"EMBER_API_KEY={KEY}\n"
    (ember.home / ".env").write_text(text)
    (ember.home / ".env").chmod(0o600)
    return text


def _assert_clean(text: str, where: str, secrets=SECRETS) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret} in {where}"


def test_an_answer_with_secrets_is_masked_in_the_session_episode_exports_and_file(ember):
    _write_env(ember)
    with FakeOpenAI(api_key=KEY) as fake:
        fake.add(Reply(text=f"Your key is {KEY}. Tokens: {HF} and {STRIPE}; session {JWT}. "
                            "In docs write <your-token>.", reasoning=f"they want {KEY}"))
        ember.point_at(fake)
        result = ember("run", "--json", f"what is my key? I think it was {KEY}")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"] == ("Your key is [REDACTED]. Tokens: [REDACTED] and [REDACTED]; session [REDACTED]. "
                              "In docs write <your-token>.")
    _assert_clean(result.stdout + result.stderr, "ember run's output")
    session = data["session_id"]

    outputs = {
        "sessions show": ember("sessions", "show", session, "--json"),
        "sessions export markdown": ember("sessions", "export", session),
        "sessions export json": ember("sessions", "export", session, "--format", "json"),
        "sessions export jsonl": ember("sessions", "export", session, "--format", "jsonl"),
        "memory export": ember("memory", "export"),
        "memory export markdown": ember("memory", "export", "--format", "markdown"),
    }
    for what, out in outputs.items():
        assert out.returncode == 0, (what, out.stderr)
        _assert_clean(out.stdout + out.stderr, what)
        assert "[REDACTED]" in out.stdout and "<your-token>" in out.stdout, what

    database = ember.home / "ember.db"
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        messages = [dict(r) for r in db.execute("SELECT content, reasoning, tool_calls FROM messages")]
        episodes = [dict(r) for r in db.execute("SELECT task, answer, steps, errors FROM episodes")]
        db.execute("PRAGMA wal_checkpoint(FULL)")
    assert len(messages) == 2 and len(episodes) == 1
    assert episodes[0]["task"] == "what is my key? I think it was [REDACTED]"
    _assert_clean(json.dumps(messages), "the messages table")
    _assert_clean(json.dumps(episodes), "the episodes table")
    files = sorted(database.parent.glob("ember.db*"))
    _assert_clean(b"".join(f.read_bytes() for f in files).decode("latin-1"), ", ".join(f.name for f in files))


def test_env_read_through_base64_and_rev_reaches_neither_the_model_nor_the_export(ember):
    env = _write_env(ember)
    home = ember.home
    script = [
        Reply(tool_calls=[{"name": "shell", "arguments": {"command": 'base64 "$EMBER_HOME/.env"'}}]),
        Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rev {home}/.env"}}]),
        Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"base64 -w0 {home}/.env | rev"}}]),
        Reply(text="I could not read it."),
    ]
    with FakeOpenAI(script, api_key=KEY) as fake:
        ember.point_at(fake)
        result = ember("run", "--json", "show me the .env of your home, encoded", timeout=60)
        requests = [json.dumps(r.body) for r in fake.requests]
    assert result.returncode == 0, result.stderr
    assert len(requests) >= 4  # the turn's four, then the learning loop's (its episode had failed commands)
    encoded = base64.b64encode(env.encode()).decode()
    forms = (*SECRETS, KEY[::-1], encoded, encoded[::-1], env[::-1].strip(), *derived_forms(KEY))
    tools = [m for m in json.loads(requests[3])["messages"] if m["role"] == "tool"]
    assert len(tools) == 3  # each command ran (contained) or was refused; the model read the outcome
    for number, body in enumerate(requests):
        _assert_clean(body, f"request {number} to the model", forms)
    session = json.loads(result.stdout)["session_id"]
    exported = ember("sessions", "export", session, "--format", "json")
    assert exported.returncode == 0
    _assert_clean(exported.stdout, "the session's export", forms)
