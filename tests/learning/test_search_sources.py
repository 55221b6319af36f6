"""Episodes, lessons and skills are sources of `ember memory search`, `show` and `forget`."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ember.cli.main import cli
from ember.memory import episodes, lessons
from ember.memory.learning.learner import log_event
from ember.memory.search.federated import search, sources
from tests.learning.test_skills import write_skill

TYPO = "When classifying the severity of a documentation typo, classify it as low, not high."


def test_learning_sources_are_searchable_counted_and_forgettable(store, ember_home):
    session = store.create_session().id
    episode_id = episodes.record(store, episodes.Episode(task="Classify the typo issue #12", session_id=session,
                                                         answer="Severity: high"))
    lesson, _ = lessons.add(store, TYPO, "typo docs", episode_id=episode_id)
    write_skill(ember_home / "skills" / "pdf-tools")
    assert {"episodes", "lessons", "skills"} <= set(sources())

    [hit] = search(store, "typo severity", k=5, scope="lessons")
    assert (hit.id, hit.source, hit.text) == (f"lessons:{lesson.id}", "lessons", TYPO)
    [hit] = search(store, "typo issue", k=5, scope="episodes")
    assert hit.id == f"episodes:{episode_id}" and hit.session_id == session and "Severity: high" in hit.text
    [hit] = search(store, "fill PDF forms", k=5, scope="skills")
    assert hit.id == "skills:pdf-tools"
    assert {h.source for h in search(store, "typo severity", k=10, scope="all")} >= {"lessons", "episodes"}

    runner = CliRunner()
    shown = json.loads(runner.invoke(cli, ["memory", "show", "--json"]).output)
    assert (shown["episodes"], shown["lessons"], shown["skills"]) == (1, 1, 1)
    result = runner.invoke(cli, ["memory", "forget", "--yes", f"lessons:{lesson.id}", "skills:pdf-tools"])
    assert result.exit_code == 0, result.output
    assert lessons.list_lessons(store, include_retired=True) == []
    assert not (ember_home / "skills" / "pdf-tools").exists()


def test_memory_show_lists_what_was_learned_and_memory_lessons_is_attached(store):
    lesson, _ = lessons.add(store, TYPO, "typo")
    log_event(store, "lesson", f"lesson #{lesson.id}", TYPO)
    log_event(store, "refused", "a skill draft", "it contains an instruction to ignore earlier instructions")
    runner = CliRunner()
    shown = json.loads(runner.invoke(cli, ["memory", "show", "--json"]).output)
    assert shown["learned_recently"][0].split(" ", 2)[2].startswith("refused a skill draft: it contains")
    assert f"lesson lesson #{lesson.id}: When classifying" in shown["learned_recently"][1]
    listed = json.loads(runner.invoke(cli, ["memory", "lessons", "--json"]).output)
    assert [x["rule"] for x in listed] == [TYPO]
