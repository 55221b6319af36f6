"""BERT's uncased WordPiece tokenizer in pure Python, read from a ``vocab.txt``.

The MiniLM embedding model needs token ids exactly as Hugging Face's ``tokenizers`` would make
them. That library would add a Rust wheel and ``huggingface_hub`` to the embedding extra for
what is, for an uncased BERT vocabulary, forty lines: clean the text, lowercase, strip accents,
split on whitespace and punctuation (CJK characters stand alone), then greedy longest-match
WordPiece with ``##`` continuations. Words are cached, so re-tokenizing chat text is cheap.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

CLS, SEP, UNK = "[CLS]", "[SEP]", "[UNK]"


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )


def _clean(text: str) -> str:
    """BertNormalizer: drop control characters, whitespace to spaces, space out CJK, lowercase, no accents."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            continue
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or cat == "Zs":
            out.append(" ")
        elif cat.startswith("C"):
            continue
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    lowered = "".join(out).lower()
    return "".join(c for c in unicodedata.normalize("NFD", lowered) if unicodedata.category(c) != "Mn")


def _split_words(text: str) -> list[str]:
    """BertPreTokenizer: whitespace splits, and every punctuation character is its own word."""
    words: list[str] = []
    for chunk in text.split():
        start = 0
        for i, ch in enumerate(chunk):
            if _is_punctuation(ch):
                if i > start:
                    words.append(chunk[start:i])
                words.append(ch)
                start = i + 1
        if start < len(chunk):
            words.append(chunk[start:])
    return words


class WordPiece:
    """Text -> token ids for an uncased BERT vocabulary (``[CLS] ... [SEP]``, truncated)."""

    def __init__(self, vocab: dict[str, int], *, max_chars_per_word: int = 100):
        self.vocab = vocab
        self.max_chars_per_word = max_chars_per_word
        self.cls_id, self.sep_id, self.unk_id = vocab[CLS], vocab[SEP], vocab[UNK]
        self._word = lru_cache(maxsize=200_000)(self._word_ids)

    @classmethod
    def from_vocab_lines(cls, lines: list[str]) -> WordPiece:
        """A ``vocab.txt``: one token per line, the line number is the id."""
        return cls({token: i for i, token in enumerate(lines)})

    def _word_ids(self, word: str) -> tuple[int, ...]:
        if len(word) > self.max_chars_per_word:
            return (self.unk_id,)
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return (self.unk_id,)
            ids.append(found)
            start = end
        return tuple(ids)

    def encode(self, text: str, max_length: int = 128) -> list[int]:
        """Token ids with ``[CLS]`` and ``[SEP]``, at most ``max_length`` of them."""
        ids = [self.cls_id]
        limit = max_length - 1
        for word in _split_words(_clean(text)):
            ids.extend(self._word(word))
            if len(ids) >= limit:
                del ids[limit:]
                break
        ids.append(self.sep_id)
        return ids
