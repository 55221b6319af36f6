"""Nothing secret is written to the database: every text the store keeps passes its redactor.

The configured keys are masked everywhere, and so is every secret-shaped string that is not
visibly a placeholder (``<your-token>``, ``${TOKEN}``, ``sk-...`` stay readable). The last test
is a tripwire: a new SQL write anywhere in Ember fails it until someone has said how that write
keeps secrets out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ember.memory import episodes
from ember.memory.episodes import Episode, Step
from ember.models.base import Message, ToolCall
from ember.security.redact import Redactor
from ember.store.ports import Store
from tests.store_backends import StoreBackend

KEY = "known-secret-value-42xyz"  # a configured key (EMBER_API_KEY, a value in .env)
HF = "hf_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL"
STRIPE = "sk_live_8dKLzdocJ2isAjIhKtJ0RlgL"
JWT = ("eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAiNDgyMSIsICJzY29wZSI6ICJkZXBsb3kifQ."
       "KOmxgJTeKdNnFRIBXuDL7DxtpYlSXpfKtHF4vUCsMeh")
URL_PASSWORD = "GAkWvj7FAc9QeWJKY40u"
URL = f"https://deploy:{URL_PASSWORD}@git.internal.example.net/repo.git"
SECRETS = (KEY, HF, STRIPE, JWT, URL_PASSWORD)
PLACEHOLDERS = ("<your-token>", "${OPENAI_API_KEY}", "sk-...")


def _store(backend: StoreBackend, tmp_path: Path) -> Store:
    return backend.open(tmp_path, redactor=Redactor([KEY], placeholders=False))


def _file_bytes(backend: StoreBackend, tmp_path: Path) -> bytes:
    return backend.stored_bytes(tmp_path)


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


def test_every_text_of_a_message_is_stored_masked(store_backend, tmp_path):
    store = _store(store_backend, tmp_path)
    session = store.create_session(title=f"deploy with {KEY}").id
    call = ToolCall("c1", "shell", {"command": f"curl -H 'Authorization: Bearer {JWT}' {URL}", "retries": 3,
                                    "env": {"TOKEN": HF, "list": [KEY, 1, None]}},
                    raw_arguments=f'{{"command": "echo {STRIPE}"', error=f"could not parse {STRIPE}")
    thinking = [{"type": "thinking", "thinking": f"the key is {KEY}", "signature": "c2lnbmF0dXJl"}]
    store.add_message(session, Message(role="user", content=f"my key is {KEY}; docs say <your-token>"))
    store.add_message(session, Message(
        role="assistant", content=f"Use {HF} or {STRIPE}, never sk-... or ${{OPENAI_API_KEY}}",
        reasoning=f"they pasted {KEY}", tool_calls=[call], reasoning_blocks=thinking,
        images=[f"{URL}/logo.png", "data:image/png;base64,iVBORw0KGgo="],
    ))
    tool_id = store.add_message(session, Message(role="tool", tool_call_id="c1", name="shell",
                                                 content=f"TOKEN={HF}\nJWT {JWT}"))
    store.add_summary(session, f"**Facts** the key is {KEY}", tool_id)
    store.add_allowed_command(f"deploy --token {STRIPE}")

    messages = store.get_messages(session)
    user, assistant, tool = (m.message for m in messages)
    assert user.content == "my key is [REDACTED]; docs say <your-token>"
    assert assistant.content == "Use [REDACTED] or [REDACTED], never sk-... or ${OPENAI_API_KEY}"
    assert assistant.reasoning == "they pasted [REDACTED]"
    stored_call = assistant.tool_calls[0]
    assert stored_call.arguments["retries"] == 3 and stored_call.arguments["env"]["list"] == ["[REDACTED]", 1, None]
    assert stored_call.arguments["command"] == (
        "curl -H 'Authorization: Bearer [REDACTED]' https://deploy:[REDACTED]@git.internal.example.net/repo.git")
    assert assistant.reasoning_blocks == []  # signed: a masked copy would be refused, so it is dropped
    assert assistant.images[1] == "data:image/png;base64,iVBORw0KGgo="
    assert tool.content == "TOKEN=[REDACTED]\nJWT [REDACTED]"
    everything = json.dumps([
        [m.message.content, m.message.reasoning, m.message.images,
         [(c.arguments, c.raw_arguments, c.error) for c in m.message.tool_calls]] for m in messages
    ]) + str(store.latest_summary(session)) + str(store.allowed_commands()) + str(store.get_session(session).title)
    _assert_clean(everything)
    assert "[REDACTED]" in str(store.latest_summary(session)) and "[REDACTED]" in store.allowed_commands()[0]
    store.set_session_title(session, f"renamed {HF}")
    assert store.get_session(session).title == "renamed [REDACTED]"
    store.close()
    _assert_clean(_file_bytes(store_backend, tmp_path).decode("latin-1"))


def test_reasoning_blocks_without_a_secret_are_kept_as_sent(store_backend, tmp_path):
    store = _store(store_backend, tmp_path)
    session = store.create_session().id
    blocks = [{"type": "thinking", "thinking": "plain thoughts", "signature": "c2lnbmF0dXJl"}]
    store.add_message(session, Message(role="assistant", content="ok", reasoning="plain thoughts",
                                       reasoning_blocks=blocks))
    assert store.get_messages(session)[0].message.reasoning_blocks == blocks
    store.close()


def test_a_store_opened_without_keys_still_masks_real_looking_ones(store_backend, tmp_path):
    store = store_backend.open(tmp_path)
    session = store.create_session().id
    store.add_message(session, Message(role="user", content=f"{HF} {STRIPE} {KEY} <your-token>"))
    assert store.get_messages(session)[0].message.content == f"[REDACTED] [REDACTED] {KEY} <your-token>"
    store.close()


def test_episodes_are_recorded_masked_and_found_again(store_backend, tmp_path):
    store = _store(store_backend, tmp_path)
    session = store.create_session().id
    task = f"deploy with {KEY}"
    episode = Episode(task=task, session_id=session, answer=f"done, used {STRIPE}", outcome="failure",
                      steps=[Step("shell", {"command": f"deploy --token {HF}"}, False, f"401 for {JWT}")],
                      error=f"provider said {KEY} is wrong")
    episodes.record(store, episode)
    stored = episodes.get(store, episode.id)
    assert stored.task == "deploy with [REDACTED]" and stored.answer == "done, used [REDACTED]"
    assert stored.steps[0].arguments == {"command": "deploy --token [REDACTED]"}
    assert stored.errors == ["shell: 401 for [REDACTED]", "provider said [REDACTED] is wrong"]
    _assert_clean(json.dumps([stored.task, stored.answer, [s.as_dict() for s in stored.steps], stored.errors]))
    assert episode.task == stored.task  # the recorded object holds what was stored, for later prompts
    later = episodes.record(store, Episode(task=task, session_id=session))
    assert episodes.previous_attempt(store, task, later).id == episode.id  # the raw task still finds it
    store.close()
    _assert_clean(_file_bytes(store_backend, tmp_path).decode("latin-1"))


# --- the tripwire ---------------------------------------------------------------------------------

SRC = Path(__file__).resolve().parents[2] / "src" / "ember"
_WRITE = re.compile(r"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE|REPLACE\s+INTO)\s+([a-z]\w*\b|\{)")

def test_imported_conversations_are_stored_masked(store_backend, tmp_path):
    from ember.memory.importer import ImportReport, import_messages, read_jsonl

    store = _store(store_backend, tmp_path)
    lines = [json.dumps({"id": f"m{i}", "session": "exported chat", "content": text})
             for i, text in enumerate([f"the deploy key is {STRIPE}", f"and mine {KEY}", "use <your-token> here"])]
    report = ImportReport()
    import_messages(store, read_jsonl(lines, report), report)
    assert report.messages == 3
    stored = [m.message.content for m in store.get_messages(store.archive.session_named("import", "exported chat"))]
    assert "use <your-token> here" in stored
    _assert_clean("\n".join(stored))
    _assert_clean(_file_bytes(store_backend, tmp_path).decode("utf-8", "replace"))


# Every table each module writes to, and how secrets are kept out of it. A new write fails the test
# below: make it pass its text through ``store.redact`` (or say why it holds none), then add it here.
# Every SQL string lives in a backend (store/sqlite/, store/postgres/); where the text is masked before it
# reaches the backend (so that every backend gets it masked), the entry names that caller.
WRITES: dict[tuple[str, str], str] = {
    ("store/sqlite/store.py", "sessions"): "titles pass store.redact",
    ("store/sqlite/store.py", "messages"): "add_message: records.redact_message",
    ("store/sqlite/store.py", "summaries"): "add_summary: store.redact",
    ("store/sqlite/store.py", "allowed_commands"): "add_allowed_command: store.redact",
    ("store/sqlite/store.py", "usage"): "numbers and model names",
    ("store/sqlite/store.py", "meta"): "internal state",
    ("store/sqlite/database.py", "messages_fts"): "an index of the stored (masked) messages",
    ("store/sqlite/episodes.py", "episodes"): "memory/episodes.py record: store.redact on every text",
    ("store/sqlite/lessons.py", "lessons"): "rules pass security.scan.check, which masks secrets",
    ("store/sqlite/learning.py", "learning_events"): "lessons and profile items checked by the scanner; errors",
    ("store/sqlite/learning.py", "meta"): "undo records of what the model wrote, checked by the scanner",
    ("store/sqlite/skill_stats.py", "skill_stats"): "skill names and counts",
    ("store/sqlite/archive.py", "sessions"): "times only",
    ("store/sqlite/text_index.py", "search_fts"): "an index of the stored (masked) messages",
    ("store/sqlite/text_index.py", "search_times"): "times",
    ("store/sqlite/text_index.py", "meta"): "internal state",
    ("store/sqlite/vectors.py", "search_vectors"): "vectors of the stored (masked) messages",
    ("store/sqlite/vectors.py", "search_terms"): "words of the stored (masked) messages",
    ("store/sqlite/vectors.py", "search_claims"): "message ids",
    ("store/sqlite/vectors.py", "meta"): "internal state",
    ("store/sqlite/opening.py", "schema_migrations"): "migration names",
    ("store/sqlite/migrations.py", "messages_fts"): "the index's rebuild from stored messages",
    ("store/sqlite/migrations.py", "episodes_fts"): "the index's rebuild from stored episodes",
    ("store/sqlite/migrations.py", "lessons_fts"): "the index's rebuild from stored lessons",
    ("store/sqlite/gateway.py", "gateway_outbox"): "gateway/ledger.py: store.redact(part.text)",
    ("store/sqlite/gateway.py", "gateway_inbox"): "gateway/ledger.py: store.redact(message.text), store.redact(payload)",
    ("store/sqlite/cron.py", "cron_jobs"): "scheduler/jobs.py: store.redact(task), store.redact(name)",
    ("store/sqlite/gateway.py", "gateway_chats"): "ids",
    ("store/sqlite/gateway.py", "gateway_senders"): "ids",
    ("store/sqlite/gateway.py", "gateway_pairing"): "one-time pairing codes",
    ("store/sqlite/gateway.py", "gateway_workers"): "gateway/ledger.py beat: store.redact(last_error)",
    ("store/sqlite/cron.py", "cron_runs"): "statuses, times, counts and errors",
    ("store/sqlite/inbox_files.py", "gateway_files"):
        "gateway/ledger.py keep_file: store.redact(name), store.redact(problem); a file's bytes as sent",
    ("store/sqlite/archive.py", "messages"): "memory/importer.py: store.redact(content)",
    ("store/sqlite/tables.py", "{"): "ember db copy: rows another store kept (masked when it kept them)",
    # The PostgreSQL backend writes the same tables, masked the same way.
    ("store/postgres/store.py", "sessions"): "titles pass store.redact",
    ("store/postgres/store.py", "messages"): "add_message: records.redact_message",
    ("store/postgres/store.py", "summaries"): "add_summary: store.redact",
    ("store/postgres/store.py", "allowed_commands"): "add_allowed_command: store.redact",
    ("store/postgres/store.py", "usage"): "numbers and model names",
    ("store/postgres/store.py", "meta"): "internal state",
    ("store/postgres/episodes.py", "episodes"): "memory/episodes.py record: store.redact on every text",
    ("store/postgres/lessons.py", "lessons"): "rules pass security.scan.check, which masks secrets",
    ("store/postgres/learning.py", "learning_events"): "lessons and profile items checked by the scanner; errors",
    ("store/postgres/learning.py", "meta"): "undo records of what the model wrote, checked by the scanner",
    ("store/postgres/skill_stats.py", "skill_stats"): "skill names and counts",
    ("store/postgres/archive.py", "sessions"): "times only",
    ("store/postgres/archive.py", "messages"): "memory/importer.py: store.redact(content)",
    ("store/postgres/text_index.py", "search_docs"): "an index of the stored (masked) messages",
    ("store/postgres/text_index.py", "search_times"): "times",
    ("store/postgres/text_index.py", "search_stats"): "counts",
    ("store/postgres/text_index.py", "meta"): "internal state",
    ("store/postgres/migrations.py", "search_stats"): "counts",
    ("store/postgres/migrations.py", "search_df"): "stems of the stored (masked) messages, and counts",
    ("store/postgres/vectors.py", "search_vectors"): "vectors of the stored (masked) messages",
    ("store/postgres/vectors.py", "search_terms"): "words of the stored (masked) messages",
    ("store/postgres/vectors.py", "search_claims"): "message ids",
    ("store/postgres/vectors.py", "meta"): "internal state",
    ("store/postgres/opening.py", "schema_migrations"): "migration names",
    ("store/postgres/gateway.py", "gateway_outbox"): "gateway/ledger.py: store.redact(part.text)",
    ("store/postgres/gateway.py", "gateway_inbox"): "gateway/ledger.py: store.redact(message.text), store.redact(payload)",
    ("store/postgres/gateway.py", "gateway_chats"): "ids",
    ("store/postgres/gateway.py", "gateway_senders"): "ids",
    ("store/postgres/gateway.py", "gateway_pairing"): "one-time pairing codes",
    ("store/postgres/gateway.py", "gateway_workers"): "gateway/ledger.py beat: store.redact(last_error)",
    ("store/postgres/cron.py", "cron_jobs"): "scheduler/jobs.py: store.redact(task), store.redact(name)",
    ("store/postgres/cron.py", "cron_runs"): "statuses, times, counts and errors",
    ("store/postgres/inbox_files.py", "gateway_files"):
        "gateway/ledger.py keep_file: store.redact(name), store.redact(problem); a file's bytes as sent",
    ("store/postgres/tables.py", "{"): "ember db copy: rows another store kept (masked when it kept them)",
}


def _writes() -> set[tuple[str, str]]:
    found = set()
    for path in SRC.rglob("*.py"):
        for match in _WRITE.finditer(path.read_text(encoding="utf-8")):  # "{": a table named at run time
            found.add((path.relative_to(SRC).as_posix(), match.group(1)))
    return found


def test_every_sql_write_is_known_to_keep_secrets_out():
    unknown = sorted(_writes() - set(WRITES))
    assert not unknown, (
        f"new SQL writes {unknown}: pass their text through the store's redactor (store.redact, "
        "store.redact_value, records.redact_message), then list them in WRITES with how")


def test_every_listed_write_is_still_there():
    gone = sorted(set(WRITES) - _writes())
    assert not gone, f"WRITES lists writes no module makes any more: {gone}; follow them to where they went"
