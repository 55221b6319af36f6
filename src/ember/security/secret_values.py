"""Whether a secret-shaped value is visibly a placeholder, made up, or randomly generated.

``ember.security.secret_patterns`` finds the strings shaped like secrets; this module judges the
value: ``placeholder_reason`` (``<your-token>``, ``${TOKEN}``, ``sk-...``, ``xxxx``, ``YOUR_KEY``,
``example``, a reference in code, a vendor's published example key) and ``randomness_problem``
(too short, one kind of character, ``abcdef``/``123456`` runs, a repeated chunk, too little
entropy, made of words such as ``supersecretpassword``).
"""

from __future__ import annotations

import math
import re
from collections import Counter

__all__ = ["looks_random", "placeholder_reason", "randomness_problem"]


# --- what a placeholder looks like ----------------------------------------------------------------

# Keys that vendors print in their own documentation: copied into every tutorial, valid nowhere.
_PUBLISHED_EXAMPLES = frozenset({
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc", "sk_test_BQokikJOvBiI2HlWgH4olfQ2",  # Stripe's docs
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",  # GitHub's docs
    "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",  # Slack's docs
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",  # the signature of jwt.io's sample token
})
_MARKED = re.compile(r"example|\.\.\.|…|<[A-Za-z_][^<>]*>|\{\{|\$\{|redacted|placeholder", re.I)
_TEMPLATE_START = re.compile(  # $VAR, $env:VAR, ${VAR}, $(cmd), {{ var }}, {var}, <%= … %>, <set-me>, %VAR%, @VAR@, [[var]]
    r"^(?:\$(?:env:)?[A-Za-z_]\w*$|\$[{(]|\{\{?\s*[A-Za-z_][\w.]*\s*\}|<%|<[^<>]*>$|%[A-Z_][A-Z0-9_]*%$|@[A-Za-z_]+@$|\[\[)")
_MASKED_OUT = re.compile(r"([xX*#•])\1{5,}|^[xX*#•]{4,}|[xX*#•]{4,}$|0{8,}")  # xxxxxx, ****, 00000000
_YOUR = re.compile(r"^(?:[Yy]our|YOUR|[Mm]y|MY|[Ii]nsert|INSERT|[Rr]eplace|REPLACE|[Ee]nter|ENTER|[Pp]aste|PASTE|"
                   r"[Pp]ut|PUT|[Aa]dd|ADD|[Ff]ill|FILL|[Cc]hange|CHANGE)[-_ .]"
                   r"|^(?:[Yy]our|[Ii]nsert|[Rr]eplace|[Ee]nter|[Pp]aste|[Cc]hange)(?=[A-Z][a-z])"  # yourStrong(!)Password
                   r"|(?i:(?:^|[-_])(?:your|here|dummy|fake|sample|test[-_]?key|changeme)(?:[-_]|$))")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_CODE_START = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*\s*[(\[]")
_DOTTED = re.compile(r"^(?:[a-z_]+|[A-Z_]+|[a-z]+(?:[A-Z][a-z]+)+)(?:\.(?:[a-z_]+|[A-Z_]+|[a-z]+(?:[A-Z][a-z]+)+))+$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://")
_PATH_START = re.compile(r"^(?:(?:~|\.{1,2})?/|[A-Za-z]:\\)")
_PATH_PART = re.compile(r"[a-z0-9_-]+|[A-Z][a-z0-9_-]*")
_KEYWORDS = frozenset({
    "none", "null", "nil", "true", "false", "undefined", "string", "str", "bool", "boolean", "number", "int",
    "optional", "required", "secretstr", "bytes", "object", "unknown", "empty", "unset", "omitted", "hidden",
})
# Words that make up made-up secrets ("supersecretpassword", "my-api-key", "P@ssw0rd123").
_WORDS = frozenset("""
password passwd pass pwd secret secrets changeme change me my your our the key keys token tokens api access
auth example sample test testing tests dummy fake mock foo bar baz qux quux admin administrator root user users
username default demo dev development local localhost prod production staging stage app application service
client db database postgres postgresql mysql mariadb redis mongo mongodb sql server super strong secure
insecure letmein qwerty welcome hello world insert here replace value placeholder redacted some random string
abc xyz guest master private public project org company acme bot slack github stripe openai anthropic aws
google live sk pk id pw jwt bearer basic oauth login admin123 minio rabbit guest web site http https www com
net io dot not real fake this that blah lorem ipsum ipsum dolor sample config setting settings env file
account login signin session cookie hash salt pepper kafka elastic grafana keycloak airflow jenkins docker
correct horse battery staple keyboard cat very long iloveyou sunshine monkey dragon football shadow princess
""".split())
_LEET = str.maketrans("013457@$!", "oieastasi")
_SPECIAL = re.compile(r"[^A-Za-z0-9]")


def placeholder_reason(value: str, body: str | None = None, *, code_refs: bool = False) -> str | None:
    """Why ``value`` is visibly a placeholder rather than a secret, or None.

    ``body`` is the part after a fixed format prefix (``sk-proj-``); ``code_refs`` also counts
    references in code and config (``os.environ[...]``, ``config.token``, ``OPENAI_API_KEY``, a URL,
    a path) as placeholders: right for values assigned to a name, not for a key's own format.
    """
    body = value if body is None else body
    if value in _PUBLISHED_EXAMPLES or body in _PUBLISHED_EXAMPLES:
        return "a key published in vendor documentation"
    marked = _MARKED.search(value)
    if marked:
        return f"marked as a placeholder ({marked.group(0)!r})"
    if _TEMPLATE_START.search(body):
        return "a template variable"
    if _MASKED_OUT.search(body) or len(set(body)) <= 2:
        return "masked out"
    if len(body) <= 80 and _YOUR.search(body) and _word_share(body) >= 0.3:  # not a key that starts "My-x8…"
        return "a fill-in-your-own value"
    if body.lower() in _KEYWORDS:
        return "a keyword or type name"
    if code_refs and (_ENV_NAME.match(body) or _CODE_START.match(body) or _DOTTED.match(body)
                      or _URL.match(body) or _is_path(body)):
        return "a reference (a variable, a call, a URL or a path), not a value"
    return None


def _is_path(text: str) -> bool:
    """``/etc/ssl/private/key.pem``, ``~/.ssh/id_rsa``, ``C:\\keys\\app.pem``: readable parts, not base64."""
    if not _PATH_START.match(text):
        return False
    return all(_PATH_PART.fullmatch(part) for part in re.split(r"[/\\.:~]", text) if part)


# --- what a generated key looks like --------------------------------------------------------------


def _entropy(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _made_up_sequence(text: str) -> bool:
    """``abcdef123456``, ``zyxw``, and sequences woven together (``1a2b3c4d5e``, ``AbC123dEf456``)."""
    steps = sum(1 for a, b in zip(text, text[1:], strict=False) if a.isalnum() and abs(ord(a) - ord(b)) == 1)
    if steps >= 0.6 * (len(text) - 1):
        return True
    for strand in ("".join(c for c in text.lower() if "a" <= c <= "z"), "".join(c for c in text if c.isdigit())):
        if len(strand) < 6:
            continue
        ups = [ord(b) - ord(a) == 1 for a, b in zip(strand, strand[1:], strict=False)]
        run = longest = 0
        for up in ups:
            run = run + 1 if up else 0
            longest = max(longest, run)
        if all(ups) or (len(strand) >= 8 and sum(ups) >= 0.85 * len(ups)) or longest >= 7:
            return True
    return False


def _word_share(text: str) -> float:
    """The share of ``text`` covered by words that made-up secrets are built from."""
    letters = text.lower().translate(_LEET)
    covered = 0
    for run in re.findall(r"[a-z]+", letters):
        best = [0] * (len(run) + 1)  # best[i]: most letters of run[:i] covered by words
        for i in range(1, len(run) + 1):
            best[i] = best[i - 1]
            for j in range(max(0, i - 13), i - 1):
                if run[j:i] in _WORDS:
                    best[i] = max(best[i], best[j] + i - j)
        covered += best[-1]
    return covered / len(text)


def randomness_problem(text: str, *, min_length: int = 12, min_kinds: int = 2) -> str | None:
    """Why ``text`` does not look randomly generated, or None when it does."""
    if len(text) < min_length:
        return f"too short for a generated secret ({len(text)} characters)"
    kinds = sum(1 for test in (str.islower, str.isupper, str.isdigit) if any(test(c) for c in text))
    kinds += bool(_SPECIAL.search(text))
    if kinds < min_kinds:
        return "one kind of character only"
    if _made_up_sequence(text):
        return "a made-up sequence"
    if len(text) >= 24 and text[:12] in text[12:]:
        return "a repeated pattern"
    if _entropy(text) < 0.45 * math.log2(len(text)):
        return "too little entropy"
    if _word_share(text[:256]) >= 0.5:  # a long key is judged by its start: enough, and fast
        return "made of words"
    return None


def looks_random(text: str, *, min_length: int = 12, min_kinds: int = 2) -> bool:
    """Whether ``text`` looks like a generated secret (length, entropy, character mix, no words)."""
    return randomness_problem(text, min_length=min_length, min_kinds=min_kinds) is None
