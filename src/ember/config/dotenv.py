"""EMBER_HOME/.env: the secrets file, read with the python-dotenv syntax.

``NAME=value``, ``export NAME=value``, '#' comment lines, a value in single or double quotes
(which may span lines and keeps a '#' inside the quotes) followed by an optional comment, and an
unquoted value whose comment starts at whitespace then '#'. A line that is none of these is a
``ConfigError`` naming the file and line; the text of a value is never shown (it may be a secret).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from ember.config.errors import ConfigError

_DOTENV_NAME = re.compile(r"[^\S\r\n]*(?:export[^\S\r\n]+)?([A-Za-z_][A-Za-z0-9_]*)[^\S\r\n]*=")
_DOTENV_QUOTED = {"'": re.compile(r"'((?:\\'|[^'])*)'"), '"': re.compile(r'"((?:\\"|[^"])*)"')}
_DOTENV_ESCAPES = {"'": re.compile(r"\\[\\']"), '"': re.compile(r"\\[\\'\"abfnrtv]")}
_DOTENV_AFTER_QUOTE = re.compile(r"[^\S\r\n]*(?:#[^\r\n]*)?")
_DOTENV_REST_OF_LINE = re.compile(r"[^\r\n]*")
_DOTENV_LINE_END = re.compile(r"\r\n|\r|\n")


def _span(pattern: re.Pattern[str], text: str, pos: int) -> str:
    """What ``pattern`` (which matches the empty string too) matches at ``pos``."""
    match = pattern.match(text, pos)
    return match.group() if match else ""


def parse_dotenv(text: str, source: str = ".env") -> dict[str, str]:
    values: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        lineno = text.count("\n", 0, pos) + 1
        line = _span(_DOTENV_REST_OF_LINE, text, pos)
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            match = _DOTENV_NAME.match(text, pos)
            if not match:
                raise ConfigError(f"{source}, line {lineno}: expected NAME=value, got {stripped[:40]!r}")
            name, pos = match.group(1), match.end()
            rest = _span(_DOTENV_REST_OF_LINE, text, pos)
            quote = rest.lstrip()[:1]
            if quote in _DOTENV_QUOTED:
                pos += len(rest) - len(rest.lstrip())
                quoted = _DOTENV_QUOTED[quote].match(text, pos)
                if not quoted:
                    raise ConfigError(f"{source}, line {lineno}: the value of {name} has no closing {quote}")
                value = _DOTENV_ESCAPES[quote].sub(lambda m: codecs.decode(m.group(), "unicode-escape"), quoted[1])
                pos = quoted.end() + len(_span(_DOTENV_AFTER_QUOTE, text, quoted.end()))
                if pos < len(text) and text[pos] not in "\r\n":
                    raise ConfigError(  # the text itself is not shown: it may be part of a secret
                        f"{source}, line {lineno}: unexpected text after the closing {quote} of {name}'s value; "
                        "a comment there needs a space and '#'"
                    )
            else:
                value = re.sub(r"\s+#.*", "", rest).strip()  # "a#b" keeps its '#', "a # b" is "a"
                pos += len(rest)
            values[name] = value
        else:
            pos += len(line)
        pos += len(_span(_DOTENV_LINE_END, text, pos))
    return values


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return parse_dotenv(text, str(path))
