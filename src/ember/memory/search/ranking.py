"""How memory search orders candidate messages: a few signals, one weighted sum.

Each candidate gets these features (``message_search.py`` computes the first ones, ``derive``
the rest from them):

``lex``      BM25 of the query's words over the message and its neighbours, / the best one
``lexexp``   BM25 of the query's expansion words (near neighbours in embedding space), / best
``dense``    cosine of the (first-person) query and the message mixed with its neighbours, as a
             z-score over all messages
``sentence`` the best cosine of the query and one of the message's sentences, as a z-score
``session``  the best ``lex`` in the candidate's session: a session about the topic lifts its turns
``speaker``  the query names a speaker and this message is theirs
``other``    the query names a speaker and this message is someone else's
``in_time``  the query names a period and the message was said in it
``mentions`` the query names a period and the message talks about it ("yesterday" said the day after)
``off_time`` the query names a period and the message neither was said in it nor talks about it
``answer``   the message follows a question: it is likely the answer someone asked for
``length``   log(1 + the message's word count): a long turn says more
``question`` the message (before any image caption) ends with "?": it asks, it rarely answers
``image``    the message carries an image caption ("[image: ...]")
``lex_dense``    ``lex`` × ``dense``: words and meaning agreeing count for more than either
``dense_sq``     max(``dense``, 0)²: a very close vector counts for more than a linear term says
``sentence_sq``  max(``sentence``, 0)²
``lex_list``, ``dense_list``, ``session_list``, ``speaker_list``: copies of those features when
             the query asks for a list ("What books has Tim read?"), zero otherwise; the
             evidence of a list is spread over sessions, so such queries weigh them differently

The weights are fitted by ``benchmarks/fit_ranking.py`` (a listwise softmax loss on the LoCoMo
conversations, checked on conversations held out of the fit; docs/memory-search.md) and
rounded to two decimals, all that data can tell apart. There is one set with embeddings and one
without; the script writes both below, between the markers.
"""

from __future__ import annotations

import math

FEATURES = ("lex", "lexexp", "dense", "sentence", "session", "speaker", "other", "in_time", "mentions",
            "off_time", "answer", "length", "question", "image", "lex_dense", "dense_sq", "sentence_sq",
            "lex_list", "dense_list", "session_list", "speaker_list")
LEXICAL_FEATURES = tuple(f for f in FEATURES if f not in ("lexexp", "dense", "sentence", "lex_dense", "dense_sq",
                                                          "sentence_sq", "dense_list"))
"""The features a search without vectors has (the rest are 0 there)."""

IMAGE_MARK = "[image:"

# fitted weights: begin (benchmarks/fit_ranking.py --write)
WEIGHTS_DENSE = {
    "lex": 3.22, "lexexp": 0.63, "dense": 0.93, "sentence": 0.48, "session": 2.21, "speaker": 1.2,
    "other": -1.2, "in_time": 2.35, "mentions": 0.94, "off_time": -2.37, "answer": 0.55, "length": 0.43,
    "question": -0.6, "image": -0.2, "lex_dense": -0.27, "dense_sq": -0.04, "sentence_sq": -0.03,
    "lex_list": -0.82, "dense_list": -0.07, "session_list": -1.1, "speaker_list": 0.39,
}
WEIGHTS_LEXICAL = {
    "lex": 4.92, "session": 2.67, "speaker": 1.21, "other": -1.21, "in_time": 2.42, "mentions": 1.22,
    "off_time": -2.34, "answer": 0.74, "length": 0.66, "question": -0.42, "image": -0.21, "lex_list": -1.01,
    "session_list": -0.81, "speaker_list": 0.44,
}
# fitted weights: end


def turn_features(content: str) -> dict[str, float]:
    """``length``, ``question`` and ``image`` of a message's text."""
    text, _, caption = content.partition(IMAGE_MARK)
    return {
        "length": math.log1p(len(content.split())),
        "question": 1.0 if text.rstrip().endswith("?") else 0.0,
        "image": 1.0 if caption else 0.0,
    }


def derive(features: dict[str, float], asks_for_list: bool) -> None:
    """Add the features computed from others (``lex_dense`` ... ``speaker_list``) to ``features``."""
    lex = features.get("lex", 0.0)
    if "dense" in features:
        dense = features["dense"]
        features["lex_dense"] = lex * dense
        features["dense_sq"] = max(dense, 0.0) ** 2
        features["sentence_sq"] = max(features.get("sentence", 0.0), 0.0) ** 2
    if asks_for_list:
        for name in ("lex", "dense", "session", "speaker"):
            if name in features:
                features[f"{name}_list"] = features[name]


def score(features: dict[str, float], dense: bool) -> float:
    """The weighted sum of a candidate's ``features`` (missing ones count as 0)."""
    table = WEIGHTS_DENSE if dense else WEIGHTS_LEXICAL
    return sum(weight * features.get(name, 0.0) for name, weight in table.items())
