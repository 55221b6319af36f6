"""The ranking's features: turn priors, non-linear terms, list questions, and the fitted weights."""

from __future__ import annotations

import json
import math

import pytest

from ember.memory.importer import ImportReport, import_messages, read_jsonl
from ember.memory.search import ranking
from ember.memory.search.messages import MessageSearcher
from ember.memory.search.textproc import asks_for_list


def test_turn_priors():
    plain = ranking.turn_features("I read two books this week.")
    assert plain == {"length": math.log1p(6), "question": 0.0, "image": 0.0}
    asked = ranking.turn_features("Did you read it? [image: a book on a table]")
    assert asked["question"] == 1.0 and asked["image"] == 1.0  # the question is the text before the caption
    captioned = ranking.turn_features("Look at this! [image: a cat asleep?]")
    assert captioned["question"] == 0.0 and captioned["image"] == 1.0
    assert ranking.turn_features("")["length"] == 0.0


def test_non_linear_terms_and_list_copies():
    f = {"lex": 0.5, "dense": 2.0, "sentence": -1.0, "session": 0.8, "speaker": 1.0}
    ranking.derive(f, asks_for_list=False)
    assert f["lex_dense"] == 1.0 and f["dense_sq"] == 4.0 and f["sentence_sq"] == 0.0
    assert not any(name.endswith("_list") for name in f)
    g = {"lex": 0.5, "dense": -2.0, "session": 0.8}
    ranking.derive(g, asks_for_list=True)
    assert g["dense_sq"] == 0.0 and g["lex_list"] == 0.5 and g["dense_list"] == -2.0 and g["session_list"] == 0.8
    assert "speaker_list" not in g  # no speaker named: nothing to copy
    lexical = {"lex": 1.0}
    ranking.derive(lexical, asks_for_list=True)
    assert lexical == {"lex": 1.0, "lex_list": 1.0}  # no vectors: no dense terms


@pytest.mark.parametrize(("query", "listy"), [
    ("What books has Tim read?", True),
    ("What kinds of pets does Melanie have?", True),
    ("Which outdoor activities does John enjoy?", True),
    ("What types of movies does Nate like?", True),
    ("What people has Maria met?", True),
    ("What book did Tim read?", False),
    ("What did Tim read?", False),
    ("What does Tim like?", False),
    ("What motivates Tim to run?", False),  # a verb, not a plural
    ("What inspires the team?", False),
    ("What exciting news did Tim share?", False),
    ("When did Tim go to Paris?", False),
])
def test_list_questions(query, listy):
    assert asks_for_list(query, ["Tim", "John"]) == listy


def test_every_weight_names_a_feature():
    assert set(ranking.WEIGHTS_DENSE) <= set(ranking.FEATURES)
    assert set(ranking.WEIGHTS_LEXICAL) <= set(ranking.LEXICAL_FEATURES) <= set(ranking.FEATURES)
    assert ranking.score({"lex": 1.0}, dense=False) == ranking.WEIGHTS_LEXICAL["lex"]


def test_candidates_carry_the_priors_and_list_copies(store):
    lines = [("D1:1", "Ana", "I finished two books this week: Dune and Emma."),
             ("D1:2", "Ben", "Which books? [image: a stack of books]"),
             ("D1:3", "Ana", "Dune, mostly.")]
    raw = [json.dumps({"id": i, "session": "S1", "speaker": who, "content": text,
                       "timestamp": "2023-05-08T12:00:00"}) for i, who, text in lines]
    report = ImportReport()
    import_messages(store, read_jsonl(raw, report), report)
    searcher = MessageSearcher(store, embedder=None)
    searcher.sync()
    rows, features, dense = searcher.candidates("What books has Ana read?")
    assert not dense
    by_id = {rows[m].external_id: features[m] for m in rows}
    asked = by_id["D1:2"]
    assert asked["question"] == 1.0 and asked["image"] == 1.0 and asked["length"] == math.log1p(7)
    answer = by_id["D1:1"]
    assert answer["speaker"] == answer["speaker_list"] == 1.0 and answer["lex_list"] == answer["lex"] > 0
    rows, features, _ = searcher.candidates("What book has Ana read?")
    assert not any(name.endswith("_list") for f in features.values() for name in f)
