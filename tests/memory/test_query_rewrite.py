"""The query's vector is embedded as the named speaker would have said it: each rule of query_rewrite."""

from __future__ import annotations

import pytest

from ember.memory.search.query_rewrite import first_person

NAMES = ["Tim", "John", "Caroline", "Melanie"]


@pytest.mark.parametrize(("query", "said"), [
    # "X's" -> "my"
    ("What are Tim's hobbies?", "What are my hobbies?"),
    ("Where is Caroline’s fashion internship?", "Where is my fashion internship?"),
    # "did / does / has / is X" -> "did / do / have / am I"
    ("What books has Tim read?", "What books have I read?"),
    ("What does John do to relax?", "What do I do to relax?"),
    ("When did Melanie paint a sunrise?", "When did I paint a sunrise?"),
    ("Is Caroline going to the parade?", "Am I going to the parade?"),
    ("Was Tim at the concert?", "Was I at the concert?"),
    # after a preposition or a verb that takes an object -> "me"
    ("What happened to John in May?", "What happened to me in May?"),
    ("What inspired Caroline to paint?", "What inspired me to paint?"),
    # any other place -> "I"
    ("What was the poetry reading that Caroline attended about?", "What was the poetry reading that I attended about?"),
    ("When Tim visited Spain, what did he eat?", "When I visited Spain, what did I eat?"),
])
def test_the_named_speaker_speaks(query, said):
    assert first_person(query, NAMES) == said


@pytest.mark.parametrize(("query", "said"), [
    ("What did Caroline and Melanie do with their kids?", "What did we do with our kids?"),
    ("What is Caroline and Melanie's favourite song?", "What is our favourite song?"),
    ("Has Tim and John been to Paris?", "Have we been to Paris?"),
    ("What did Tim do with Caroline and Melanie?", "What did I do with?"),  # not a pair of the first speaker
    ("Where did John go with Caroline and Melanie?", "Where did I go with?"),
])
def test_two_speakers_joined_by_and_are_we(query, said):
    assert first_person(query, NAMES) == said


@pytest.mark.parametrize(("query", "said"), [
    ("What book did Caroline recommend to Melanie?", "What book did I recommend to?"),
    ("Who did Tim tell about John's trip?", "Who did I tell about trip?"),
    ("What did Anthony and John play?", "What did Anthony and I play?"),  # Anthony is no speaker: kept
])
def test_other_speakers_are_dropped(query, said):
    assert first_person(query, NAMES) == said


@pytest.mark.parametrize(("query", "said"), [
    ("What does Melanie do with her family on hikes?", "What do I do with my family on hikes?"),
    ("How long has John had his turtles?", "How long have I had my turtles?"),
    ("Where did Caroline meet her?", "Where did I meet me?"),  # "her" before nothing is an object
    ("What did Tim give her for her birthday?", "What did I give me for my birthday?"),
    ("Why is Caroline proud of herself? Is she happy?", "Why am I proud of myself? Am I happy?"),
    ("What does Tim think of them and their band?", "What do I think of us and our band?"),
])
def test_pronouns_follow_a_named_speaker(query, said):
    assert first_person(query, NAMES) == said


@pytest.mark.parametrize("query", [
    "What did she paint?",  # no speaker named: "she" may be anyone
    "Where did Oliver hide his bone?",  # Oliver is not a speaker
    "what books did we read",
    "",
])
def test_without_a_named_speaker_nothing_changes(query):
    assert first_person(query, NAMES) == query


def test_names_are_whole_words_in_any_case_and_quotes_stay_tidy():
    assert first_person('did tim read "Becoming", the book?', NAMES) == 'did I read "Becoming", the book?'
    assert first_person("What did Timothy say?", NAMES) == "What did Timothy say?"
    assert first_person("What did Tim say?", []) == "What did Tim say?"
