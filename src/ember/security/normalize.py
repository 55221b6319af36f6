"""Untrusted text as a reader would see it, so the scan is not fooled by how it is spelled.

A planted instruction hides from a pattern in a few standard ways, and each has an undo here:

- **look-alike letters**: a Cyrillic ``о`` in ``Ignоre``, Greek ``ο``, fullwidth ``Ｉｇｎｏｒｅ``,
  mathematical ``𝐢𝐠𝐧𝐨𝐫𝐞``, small capitals, accents (``Ïgnörë``), digits for letters
  (``1gn0re``): NFKC, then a compact table of confusables folded to their Latin look-alikes;
- **split words**: ``I.g.n.o.r.e``, ``i g n o r e``, ``i-g-n-o-r-e``, soft hyphens and other
  invisible format characters inside a word: single letters joined again, and a "squashed" form
  (letters only) for the few phrases that are never innocent;
- **encodings**: base64, hex (``69676e...``, ``\\x69``), URL-encoding (``%69``), HTML entities,
  ``\\u0069`` escapes and rot13 of a payload, decoded when the result is readable text.

``variants(text)`` yields ``(how, text)`` pairs, the text as written first; the scanner runs its
patterns over each, and says how a problem was hidden when only a decoded form shows it. Tables
are small and built once at import: this module is on the prompt path (skills are scanned before
they are listed).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Iterator

__all__ = ["decoded", "despace", "fold", "join_spaced", "spaced_lines", "squash", "variants"]

# --- look-alike letters --------------------------------------------------------------------------

# Look-alike characters, each followed by the Latin letter it folds to (Cyrillic, Greek, Armenian,
# Latin extensions and small capitals; fullwidth and mathematical letters are NFKC's work).
_LOOKALIKES = (
    "аaАAвbВBеeЕEёeЁEкkКKмmМMнhНHоoОOрpРPсcСCтtТTуyУYхxХXіiІIїiЇIјjЈJѕsЅSԁdһhӏlԛqԝwгrпnьbЬb"
    "иuαaΑAβbΒBγyεeΕEζzΖZηnΗHιiΙIκkΚKμuΜMνvΝNοoΟOρpΡPσoςcτtΤTυuΥYχxΧXωw"
    "օoսuոnհhցgաwıiȷjɑaɡgɢgɩiɪiʟlɴnʀrʏyʙbʜhᴀaᴄcᴅdᴇeᴊjᴋkᴍmᴏoᴘpᴛtᴜuᴠvᴡwᴢzꜱs"
)
_FOLD = str.maketrans(dict(zip(_LOOKALIKES[::2], _LOOKALIKES[1::2], strict=True)))
# Digits and signs used as letters, only inside words that mix them with letters ("1gn0re").
_LEET = str.maketrans(dict(zip("0134578@$", "oieastbas", strict=True)))
# ("1gn0re", "Tr347"; not "utf8" or "ipv4", where one digit ends the word)
_LEET_WORD = re.compile(r"(?<![\w@$])(?=[\w@$]*[0134578@$][a-z]|(?:[a-z]*[0134578@$]){2})(?=[\w@$]*[a-z])"
                        r"[a-z0134578@$]{3,}(?![\w@$])", re.I)

_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]")


def fold(text: str) -> str:
    """``text`` with look-alike letters made Latin, accents dropped and invisible characters removed.

    Only for matching: the result is not meant to be shown or stored.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = _INVISIBLE.sub("", text).translate(_FOLD)
        text = _NON_ASCII.sub(_strip_accents, text)
    return _LEET_WORD.sub(lambda m: m.group().translate(_LEET), text)


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _strip_accents(match: re.Match[str]) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", match.group()) if not unicodedata.combining(ch))


# --- split words ---------------------------------------------------------------------------------

# Three or more single letters with separators between them: "I.g.n.o.r.e", "i g n o r e", "i-g-n".
_SPACED = re.compile(r"(?<![^\W_])[^\W_](?:[\s.\-_*·•|/\\+~,:;'\"`^]{1,3}[^\W_](?![^\W_])){2,}")
_SEPARATOR = re.compile(r"[^\w]+|_+")


def despace(text: str) -> str | None:
    """Lines written letter by letter, words set apart by wider gaps ("i g n o r e   a l l"), read
    back as words; None when no line of ``text`` is written that way."""
    lines = text.splitlines()
    changed = False
    for i, line in enumerate(lines):
        tokens = line.split()
        if len(tokens) >= 6 and sum(1 for t in tokens if len(t) == 1) >= len(tokens) * 0.6:
            lines[i] = " ".join(re.sub(r"\s", "", chunk) for chunk in re.split(r"\s{2,}", line.strip()))
            changed = True
    return "\n".join(lines) if changed else None


def join_spaced(text: str) -> str:
    """Letter-by-letter words joined again; a wider gap than the usual one inside a run stays a space."""

    def join(match: re.Match[str]) -> str:
        gaps = _SEPARATOR.findall(match.group())
        usual = max(set(gaps), key=gaps.count)
        return _SEPARATOR.sub(lambda gap: "" if gap.group() == usual else " ", match.group())

    return _SPACED.sub(join, text)


_NOT_LETTER = re.compile(r"[^a-z]+")


def spaced_lines(text: str) -> list[str]:
    """The lines of ``text`` written letter by letter ("D o n o t t e l l"), squashed ("donottell").

    Where the gaps between words are as wide as those between letters (a YAML description keeps
    one space), only a squashed form is left to read; the scan checks it for its key phrases.
    """
    found = []
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) >= 6 and sum(1 for t in tokens if len(t) == 1) >= len(tokens) * 0.6:
            found.append(squash(line))
    return found


def squash(text: str) -> str:
    """Lowercase letters only: "i g n o r e  p r e v i o u s" and "ign-ore previous" both read "ignoreprevious"."""
    return _NOT_LETTER.sub("", text.lower())


# --- encodings -----------------------------------------------------------------------------------

_BASE64 = re.compile(r"(?<![\w+/=-])[A-Za-z0-9+/_-]{16,}={0,2}(?![\w+/=-])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){8,}(?![0-9A-Fa-f])|(?:\\x[0-9A-Fa-f]{2}){4,}"
                  r"|(?:0x[0-9A-Fa-f]{2}[\s,]*){4,}")
_ESCAPES = re.compile(r"(?:\\u[0-9A-Fa-f]{4}){3,}")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_ENTITY = re.compile(r"&(?:#\d{2,7}|#x[0-9A-Fa-f]{2,6}|[a-zA-Z]{2,8});")


_ENCODED = re.compile(r"(?:[0-9A-Fa-f]{2}){8,}|[A-Za-z0-9+/_-]{16,}={0,2}")


def _readable(data: bytes) -> str | None:
    """The bytes as text when they are readable text (UTF-8, mostly printable, with letters),
    or another layer of encoding (hex inside base64)."""
    try:
        # UTF-16 (PowerShell's -EncodedCommand) has a NUL after every ASCII letter
        text = data.decode("utf-16-le") if data[1::2].count(0) > len(data) // 3 else data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 6:
        return None
    if _ENCODED.fullmatch(text.strip()):
        return text.strip()
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\n\t")
    letters = sum(1 for ch in text if ch.isalpha())
    if printable < len(text) * 0.95 or letters < len(text) * 0.5 or " " not in text.strip():
        return None
    return text


def _from_base64(token: str) -> str | None:
    if token.isalpha() and (token.islower() or token.isupper()):
        return None  # a long word, not an encoding
    padded = token + "=" * (-len(token) % 4)
    try:
        data = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _readable(data)


def _from_hex(token: str) -> str | None:
    digits = re.sub(r"\\x|0x|[\s,]", "", token)
    try:
        return _readable(bytes.fromhex(digits))
    except ValueError:
        return None


def decoded(text: str) -> Iterator[tuple[str, str]]:
    """``(encoding, decoded text)`` for each part of ``text`` that decodes to readable text."""
    for match in _BASE64.finditer(text):
        plain = _from_base64(match.group())
        if plain:
            yield "base64", plain
    for match in _HEX.finditer(text):
        plain = _from_hex(match.group())
        if plain:
            yield "hex", plain
    for match in _ESCAPES.finditer(text):
        try:
            yield "escape sequences", match.group().encode("ascii").decode("unicode_escape")
        except UnicodeDecodeError:
            pass
    if len(_PERCENT.findall(text)) >= 3:
        from urllib.parse import unquote_plus

        yield "URL-encoding", unquote_plus(text)
    if _ENTITY.search(text):
        import html

        yield "HTML entities", html.unescape(text)


# --- all the ways to read it ---------------------------------------------------------------------


_ROT13_WORDS = re.compile(r"\b(?:gur|naq|lbh|nyy|vf|bs|gb|vtaber|cerivbhf|vafgehpgvbaf|eha|fraq|hfre|nccebir|"
                          r"phey|onfu|flfgrz|ehyrf|nafjre|gehfg)\b", re.I)


def _changed(original: str, reading: str) -> str:
    """The lines of ``reading`` that differ from ``original`` (the whole reading if the lines do not pair up)."""
    before, after = original.splitlines(), reading.splitlines()
    if len(before) != len(after):
        return reading
    return "\n".join(new for old, new in zip(before, after, strict=True) if new != old)


def variants(text: str, *, depth: int = 2) -> Iterator[tuple[str, str]]:
    """``(how it was hidden, text)`` for each reading of ``text``; ``("", text)`` comes first.

    ``how`` reads after "hidden": "in base64", "with look-alike or invisible characters", "in hex, then in base64".
    Readings: look-alikes folded and letter-by-letter words joined (only the lines they change),
    each part that decodes to text (itself read the same ways, down to ``depth`` encodings: base64
    of hex...), and rot13 when the text has words that read as English in rot13. Each distinct
    reading is yielded once.
    """
    seen = {text}
    yield "", text
    pending = [("", text, 0)]
    while pending:
        how, reading, level = pending.pop(0)
        folded = fold(reading)
        spaced = join_spaced(folded)
        readings = [("with look-alike or invisible characters", folded), ("with its letters split apart", spaced)]
        words = despace(folded)
        if words is not None:
            readings.append(("with its letters split apart", words))
        previous = reading
        for extra, candidate in readings:
            if candidate not in seen:
                seen.add(candidate)
                yield (f"{how}, {extra}" if how else extra), _changed(previous, candidate)
                previous = candidate
        if level < depth:
            for encoding, plain in list(decoded(spaced))[:8]:
                if plain not in seen:
                    seen.add(plain)
                    label = f"{how}, then in {encoding}" if how else f"in {encoding}"
                    yield label, plain
                    pending.append((label, plain, level + 1))
    if _ROT13_WORDS.search(text):
        rot = codecs.encode(join_spaced(fold(text)), "rot13")
        if rot not in seen:
            yield "in rot13", rot
