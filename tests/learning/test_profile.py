"""USER.md: stated preferences, merging without duplicates, hand edits kept, the size budget."""

from __future__ import annotations

import pytest

from ember.memory import profile


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Always answer in French.", [("Language", "Answer in French")]),
        ("From now on, reply in English please.", [("Language", "Answer in English")]),
        ("Dates as YYYY-MM-DD please", [("Formats", "Dates as YYYY-MM-DD")]),
        ("Please always answer in German, dates as DD.MM.YYYY.",
         [("Language", "Answer in German"), ("Formats", "Dates as DD.MM.YYYY")]),
        ("Never use tabs in code.", [("Constraints", "Never use tabs in code")]),
        ("I prefer short answers. Now, what is 2+2?", [("Preferences", "I prefer short answers")]),
        ("Call me Sam", [("Preferences", "Call me Sam")]),
        ('By "prod" I mean the EU cluster.', [("Terms", '"prod" means the EU cluster')]),
    ],
)
def test_stated_preferences(message, expected):
    assert profile.stated_preferences(message) == expected


@pytest.mark.parametrize("message", [
    "Can you always answer in French?",  # a question, not a statement
    "Summarise README.md",
    "No, classify it as low severity, not high",
    "What time is it in Tokyo?",
])
def test_no_preference_in_ordinary_messages(message):
    assert profile.stated_preferences(message) == []


def test_merge_replaces_restated_items_instead_of_appending():
    p = profile.parse("")
    assert profile.merge_item(p, "Language", "Answer in French")
    assert profile.merge_item(p, "Formats", "Dates as YYYY-MM-DD")
    assert profile.merge_item(p, "Preferences", "Always use tabs")
    assert not profile.merge_item(p, "Language", "answer in French.")  # the same item: nothing to do
    assert profile.merge_item(p, "Language", "Answer in English")  # changed: replaced where it stands
    assert profile.merge_item(p, "Formats", "Write dates as DD/MM/YYYY")
    assert profile.merge_item(p, "Constraints", "Never use tabs")  # the opposite moves the item
    assert p.items() == [("Language", "Answer in English"), ("Formats", "Write dates as DD/MM/YYYY"),
                         ("Constraints", "Never use tabs")]


def test_hand_edits_survive_and_unknown_content_is_kept(ember_home):
    path = profile.path_in(ember_home)
    path.write_text("# About me\n\nI am a data engineer in Lyon.\n\n## Preferences\n- Short answers\n\n"
                    "## Projects\nember, and a *lot* of SQL.\n")
    profile.update(ember_home, lambda p: profile.merge_item(p, "Formats", "Dates as YYYY-MM-DD"))
    text = path.read_text()
    assert "I am a data engineer in Lyon." in text
    assert "- Short answers" in text and "## Projects\nember, and a *lot* of SQL." in text
    assert "## Formats\n- Dates as YYYY-MM-DD" in text


def test_an_edit_made_while_ember_updates_is_not_overwritten(ember_home):
    path = profile.path_in(ember_home)
    path.write_text("# User profile\n\n## Preferences\n- Short answers\n")
    calls = []

    def change(p):
        calls.append(1)
        if len(calls) == 1:  # the user saves an edit between Ember's read and its write
            path.write_text("# User profile\n\n## Preferences\n- Short answers\n- Bullet lists\n")
        return profile.merge_item(p, "Language", "Answer in French")

    assert profile.update(ember_home, change)
    assert len(calls) == 2  # started over from the user's version
    items = profile.parse(path.read_text()).items()
    assert ("Preferences", "Bullet lists") in items and ("Language", "Answer in French") in items


def test_over_budget_the_model_condenses(ember_home):
    seen = []

    def condense(text, limit):
        seen.append(limit)
        return "# User profile\n\n## Preferences\n- Short answers; no emojis\n"

    profile.path_in(ember_home).write_text("# User profile\n\n## Preferences\n" + "".join(
        f"- Preference number {i} about something\n" for i in range(10)))
    profile.update(ember_home, lambda p: profile.merge_item(p, "Language", "Answer in French"),
                   max_chars=300, condense=condense)
    assert seen == [300]
    assert profile.read_text(ember_home) == "# User profile\n\n## Preferences\n- Short answers; no emojis\n"


def test_over_budget_without_a_model_the_oldest_items_go_first(ember_home):
    profile.path_in(ember_home).write_text("# User profile\n\n## Preferences\n" + "".join(
        f"- Preference number {i} about something\n" for i in range(20)))
    profile.update(ember_home, lambda p: profile.merge_item(p, "Language", "Answer in French"),
                   max_chars=400, condense=lambda text, limit: None)
    text = profile.read_text(ember_home)
    assert len(text) <= 400
    assert "Answer in French" in text and "Preference number 19" in text
    assert "Preference number 0 " not in text


def test_prompt_form_drops_title_comments_and_empty_sections():
    text = profile.render(profile.parse(""))  # a fresh file: title, comment, nothing else
    assert profile.for_prompt(text) == ""
    p = profile.parse(text)
    profile.merge_item(p, "Formats", "Dates as YYYY-MM-DD")
    assert profile.for_prompt(profile.render(p)) == "Formats:\n- Dates as YYYY-MM-DD"
