"""Lessons in SQLite: relevance with a threshold, reinforcement instead of duplicates, retirement."""

from __future__ import annotations

import pytest

from ember.memory import episodes, lessons
from ember.memory.learning import learner as learn

TYPO = "When classifying the severity of an issue about a documentation typo, classify it as low, not high."
CSV = "When a script reads a CSV file, skip the header row, not parse it as data."


def test_relevant_lessons_are_found_and_unrelated_ones_are_not(store):
    typo, _ = lessons.add(store, TYPO, "classify severity issue typo documentation docs")
    csv, _ = lessons.add(store, CSV, "csv header script parse")
    assert lessons.relevant(store, "Classify the severity of issue #31: 'Typo in the install docs'") == [typo]
    assert lessons.relevant(store, "Write a script that sums the second column of data.csv") == [csv]
    assert lessons.relevant(store, "What is the capital of Australia?") == []
    assert lessons.relevant(store, "Please fix the typo") == []  # one shared word is not enough
    assert lessons.relevant(store, "") == []


def test_forms_of_a_word_match(store):
    lesson, _ = lessons.add(store, TYPO, "")
    assert lessons.relevant(store, "classification of issues with typos") == [lesson]


def test_restating_a_lesson_reinforces_it(store):
    first, created = lessons.add(store, TYPO, "typo docs")
    again, created_again = lessons.add(
        store, "When classifying the severity of a documentation typo issue, classify it as low, not high.", "readme")
    assert created and not created_again
    assert again.id == first.id and again.confirmations == 2
    assert "readme" in again.keywords and "docs" in again.keywords
    assert len(lessons.list_lessons(store)) == 1


def test_counts_and_retirement(store):
    lesson, _ = lessons.add(store, TYPO, "")
    assert lessons.record_outcome(store, [lesson.id], True) == []
    assert lessons.record_outcome(store, [lesson.id], False) == []
    assert lessons.record_outcome(store, [lesson.id], False) == [lesson.id]  # 1 of 3 helped < 0.4
    retired = lessons.get(store, lesson.id)
    assert (retired.uses, retired.successes, retired.active) == (3, 1, False)
    assert "1 of its last 3" in retired.retired_reason
    assert lessons.relevant(store, "classify the severity of this typo issue") == []
    assert lessons.counts(store) == {"active": 0, "retired": 1}
    # The user corrects the same thing again: the lesson comes back with a clean record.
    back, created = lessons.add(store, TYPO, "")
    assert not created and back.active and back.recent == ""


def test_a_correction_takes_back_the_success(store):
    lesson, _ = lessons.add(store, TYPO, "")
    lessons.record_outcome(store, [lesson.id], True)
    lessons.record_correction(store, [lesson.id])
    after = lessons.get(store, lesson.id)
    assert (after.uses, after.successes, after.recent) == (1, 0, "0")


def test_lesson_keeps_its_source_episode_and_survives_its_deletion(store):
    session = store.create_session().id
    episode_id = episodes.record(store, episodes.Episode(task="classify #12", session_id=session))
    lesson, _ = lessons.add(store, TYPO, "", episode_id=episode_id)
    assert lesson.episode_id == episode_id
    store.delete_session(session)  # cascades to the episode; the lesson stays
    assert episodes.get(store, episode_id) is None
    assert lessons.get(store, lesson.id).episode_id is None


def test_search_lists_retired_lessons_too(store):
    lesson, _ = lessons.add(store, TYPO, "")
    lessons.set_retired(store, lesson.id, True)
    found = lessons.search(store, "typo severity")
    assert [x.id for x, _ in found] == [lesson.id] and found[0][1] > 0


@pytest.mark.parametrize("message, expected", [
    ("no, it's the 5th", True),
    ("#12 is not critical, it's low", True),
    ("Issue 12 isn't critical; it is low priority", True),
    ("the meeting is not on Monday. It's on Tuesday", True),
    ("not in feet, but in metres", True),
    ("thanks, that's great", False),
    ("that's fine, it's done", False),
    ("no problem, carry on", False),
])
def test_a_correction_is_noticed_however_it_is_worded(message, expected):
    assert learn.looks_like_correction(message) is expected
