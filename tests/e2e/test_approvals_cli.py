"""`ember approvals list|remove`: what was ever allowed is visible, and an "always" can be taken back."""

from __future__ import annotations

from ember.store.sqlite.store import SQLiteStore
from tests.fakes.openai_server import FakeOpenAI, Reply


def test_always_answers_are_listed_and_removable(ember):
    target = ember.workspace.parent / "old-build"
    target.mkdir()
    call = Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rm -rf {target}"}}])
    with FakeOpenAI([call, "removed"]) as fake:
        ember.point_at(fake)
        assert ember("chat", input="clean up\na\n/exit\n").returncode == 0
    ember.config('[tools]\nallow_commands = ["git push --force origin *"]\n')
    rows = ember.json("approvals", "list", "--json")
    assert {"pattern": f"rm -rf {target}", "source": "ember.db", "refused": None} in rows
    assert {"pattern": "git push --force origin *", "source": "config.toml", "refused": None} in rows
    table = ember("approvals")
    assert f"rm -rf {target}" in table.stdout and "in force" in table.stdout

    config_one = ember("approvals", "remove", "git push --force origin *")
    assert config_one.returncode == 2 and "config.toml" in config_one.stderr
    missing = ember("approvals", "remove", "nothing like this")
    assert missing.returncode == 2 and "ember approvals list" in missing.stderr
    removed = ember("approvals", "remove", f"rm -rf {target}")
    assert removed.returncode == 0 and "asks again" in removed.stdout
    assert all(r["source"] != "ember.db" for r in ember.json("approvals", "list", "--json"))


def test_a_stored_pattern_that_allows_everything_is_shown_refused_and_ignored(ember):
    store = SQLiteStore(ember.home / "ember.db")
    store.add_allowed_command("*")  # as a model once did with sqlite3 on the database
    store.close()
    rows = ember.json("approvals", "list", "--json")
    assert rows == [{"pattern": "*", "source": "ember.db",
                     "refused": "its first word has a wildcard, so it allows any program; start with the program's name"}]
    victim = ember.workspace.parent / "victim"
    victim.mkdir()
    call = Reply(tool_calls=[{"name": "shell", "arguments": {"command": f"rm -rf {victim}"}}])
    with FakeOpenAI([call, "tried"]) as fake:
        ember.point_at(fake)
        result = ember("run", "clean up")
    assert result.returncode == 5 and victim.exists()
