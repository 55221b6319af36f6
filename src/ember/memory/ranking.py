"""How memory search orders candidate messages: a few signals, one weighted sum.

Each candidate gets these features (all computed by ``search.py``):

``lex``      BM25 of the query's words over the message and its neighbours, / the best one
``lexexp``   BM25 of the query's expansion words (near neighbours in embedding space), / best
``dense``    cosine of query and message (mixed with its neighbours), as a z-score over all messages
``sentence`` the best cosine of query and one of the message's sentences, as a z-score
``session``  the best ``lex`` in the candidate's session: a session about the topic lifts its turns
``speaker``  the query names a speaker and this message is theirs
``other``    the query names a speaker and this message is someone else's
``in_time``  the query names a period and the message was said in it
``mentions`` the query names a period and the message talks about it ("yesterday" said the day after)
``off_time`` the query names a period and the message neither was said in it nor talks about it
``answer``   the message follows a question: it is likely the answer someone asked for

The weights were fitted with a listwise (softmax) loss on LoCoMo conversations and checked on
conversations held out of the fit (docs/memory-search.md); they are rounded, since two
decimals are all that data can tell apart. There is one set with embeddings and one without.
"""

from __future__ import annotations

FEATURES = ("lex", "lexexp", "dense", "sentence", "session", "speaker", "other", "in_time", "mentions",
            "off_time", "answer")

WEIGHTS_DENSE = {
    "lex": 2.6, "lexexp": 0.6, "dense": 0.5, "sentence": 0.35, "session": 1.9, "speaker": 1.2, "other": -1.2,
    "in_time": 1.6, "mentions": 0.8, "off_time": -1.5, "answer": 0.65,
}
WEIGHTS_LEXICAL = {
    "lex": 4.4, "lexexp": 0.0, "dense": 0.0, "sentence": 0.0, "session": 2.5, "speaker": 1.2, "other": -1.2,
    "in_time": 1.5, "mentions": 1.0, "off_time": -1.5, "answer": 0.8,
}


def score(features: dict[str, float], dense: bool) -> float:
    """The weighted sum of a candidate's ``features`` (missing ones count as 0)."""
    table = WEIGHTS_DENSE if dense else WEIGHTS_LEXICAL
    return sum(table[name] * features.get(name, 0.0) for name in FEATURES)
