"""Query words, time references and the WordPiece tokenizer."""

from __future__ import annotations

from datetime import datetime

import pytest

from ember.memory.search import textproc
from ember.memory.search.timeref import mention_ranges, query_ranges
from ember.memory.search.wordpiece import WordPiece
from ember.store.sqlite.fts import fts_any


def days(ranges) -> list[tuple[str, str]]:
    return [(datetime.fromtimestamp(a).date().isoformat(), datetime.fromtimestamp(b).date().isoformat())
            for a, b in ranges]


NOW = datetime(2023, 12, 20, 10)


@pytest.mark.parametrize(("query", "expected", "rest"), [
    ("What did Nate make on 9 November, 2022?", [("2022-11-09", "2022-11-10")], "What did Nate make on ?"),
    ("shared on December 1,2023", [("2023-12-01", "2023-12-02")], "shared on"),
    ("read on 8th December, 2023", [("2023-12-08", "2023-12-09")], "read on"),
    ("What did Joanna share in August 2022?", [("2022-08-01", "2022-09-01")], "What did Joanna share in ?"),
    ("the week before 16 November 2023", [("2023-11-08", "2023-11-17")], "the week before"),
    ("between August 11 and August 15 2023", [("2023-08-11", "2023-08-16")], "between"),
    ("what happened in 2022", [("2022-01-01", "2023-01-01")], "what happened in"),
    ("what did we say last week", [("2023-12-10", "2023-12-20")], "what did we say"),
    ("two weeks ago", [("2023-12-02", "2023-12-10")], ""),
    ("and yesterday?", [("2023-12-19", "2023-12-20")], "and ?"),
    ("this may be nothing", [], "this may be nothing"),
])
def test_query_ranges(query, expected, rest):
    ranges, remainder = query_ranges(query, NOW)
    assert days(ranges) == expected
    assert remainder == rest


def test_a_month_alone_in_a_query_means_the_latest_ones_past():
    ranges, _ = query_ranges("camping in June", NOW)
    assert sorted(days(ranges)) == [("2022-06-01", "2022-07-01"), ("2023-06-01", "2023-07-01")]


def test_mentions_resolve_against_when_the_message_was_said():
    said = datetime(2023, 5, 8, 13, 56)  # a Monday
    text = "I went to a support group yesterday and last Saturday, and next month there is a show"
    assert days(mention_ranges(text, said)) == [("2023-05-07", "2023-05-08"), ("2023-05-06", "2023-05-07"),
                                                ("2023-06-01", "2023-07-01")]
    assert days(mention_ranges("I ran a race last month", said)) == [("2023-04-01", "2023-05-08")]
    assert mention_ranges("recently I have been painting", said) == []


def test_query_terms_drop_stopwords_and_pull_out_speaker_names():
    terms, named = textproc.query_terms("What did Caroline's mentor say about the LGBTQ parade?", ["Caroline", "Mel"])
    assert terms == ["mentor", "say", "lgbtq", "parade"]
    assert named == ["caroline"]
    assert textproc.query_terms("the of and", []) == ([], [])


def test_names_are_stripped_as_whole_words_with_possessives():
    pattern = textproc.name_pattern(["Mel", "Caroline"])
    assert textproc.strip_names("Wow, Caroline! Mel's cat and Melanie", pattern) == "Wow, ! cat and Melanie"
    assert textproc.strip_names("unchanged", None) == "unchanged"


def test_sentences_and_fts_quoting():
    assert textproc.sentences("Hi. I painted a sunrise today! Look at it [image: a photo of a sunrise]") == [
        "I painted a sunrise today!", "Look at it", "a photo of a sunrise"]
    assert fts_any(['say "hi"', "or"]) == '"say ""hi""" OR "or"'


def tiny_tokenizer() -> WordPiece:
    return WordPiece.from_vocab_lines(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "play", "##ing", "!", "cafe", "你"])


def test_wordpiece_matches_bert_uncased_rules():
    wp = tiny_tokenizer()
    assert wp.encode("Hello, WORLD! playing") == [2, 4, 1, 5, 8, 6, 7, 3]  # "," is not in the vocabulary
    assert wp.encode("Café 你") == [2, 9, 10, 3]  # accents stripped, CJK characters stand alone
    assert wp.encode("hello " * 50, max_length=6) == [2, 4, 4, 4, 4, 3]


def test_shipped_minilm_vocabulary_is_bert_uncased():
    """The vocabulary shipped as package data gives the ids the model was trained with."""
    from ember.memory.search.embeddings import VOCAB_PATH

    wp = WordPiece.from_vocab_lines(VOCAB_PATH.read_text(encoding="utf-8").splitlines())
    assert len(wp.vocab) == 30522
    assert wp.encode("Hello, world! Embeddings") == [101, 7592, 1010, 2088, 999, 7861, 8270, 4667, 2015, 102]
