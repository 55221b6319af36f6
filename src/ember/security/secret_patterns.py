"""The one list of secret shapes, and what tells a real credential from a documentation placeholder.

The redactor (logs, tool output, errors) and the scanner (memory, installed skills) both find
secrets with ``find_secrets``. Every match gets a verdict:

- ``PLACEHOLDER``: visibly not a value: ``<your-token>``, ``${TOKEN}``, ``$TOKEN``, ``sk-...``,
  ``xxxx``/``****``/``0000`` runs, ``YOUR_API_KEY``, anything marked ``example``, a reference in
  code (``os.environ["KEY"]``, ``config.token``, ``OPENAI_API_KEY``), a URL or a file path, and the
  keys that vendors publish in their own docs (AWS's ``AKIAIOSFODNN7EXAMPLE``, Stripe's test key).
- ``REAL``: a known key format at its real length with the randomness of a generated key
  (Shannon entropy, a mix of character kinds, no ``abcdef``/``123456`` runs, not made of words),
  or a password/token assignment whose value looks randomly generated.
- ``WEAK``: secret-shaped but short or made up (``password = "changeme"``, ``sk-abcdefghijklmnop``).

What each user does with them: the redactor masks every match (a masked placeholder in a log costs
nothing); memory masks weak and real ones (a person's own ``hunter2`` is still a password);
``ember skills install`` stops only for real ones, so the placeholders every README has pass.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["MASK", "PLACEHOLDER", "REAL", "WEAK", "SecretFinding", "find_secrets", "looks_random"]

MASK = "[REDACTED]"
PEM_MASK = "[REDACTED PRIVATE KEY]"
PLACEHOLDER, WEAK, REAL = "placeholder", "weak", "real"


@dataclass(frozen=True)
class SecretFinding:
    """One secret-shaped string: where it is (``start``/``end`` is the part to mask) and what it is.

    ``kind`` is the family ("an API key"), ``name`` the precise kind ("an OpenAI API key"),
    ``shown`` a masked form that never contains the secret ("sk-proj-…, 164 chars"), and
    ``why`` the reason for a placeholder or weak verdict.
    """

    kind: str
    name: str
    start: int
    end: int
    verdict: str
    shown: str
    why: str = ""
    replacement: str = MASK

    @property
    def real(self) -> bool:
        return self.verdict == REAL

    def describe(self) -> str:
        return f"{self.name} ({self.shown})"


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


# --- the shapes -----------------------------------------------------------------------------------

# A judge turns a match into (verdict, name, shown, why); ``None`` means "not a secret after all".
Judge = Callable[[re.Match[str], str], tuple[str, str, str, str] | None]


@dataclass(frozen=True)
class _Shape:
    kind: str
    hints: tuple[str, ...]  # lowercase text one of which is in every match: the pattern runs only then
    pattern: re.Pattern[str]
    judge: Judge
    group: int = 0  # the group that is masked (0: the whole match)


def _verdict(value: str, body: str, *, min_length: int, min_kinds: int = 2,
             code_refs: bool = False) -> tuple[str, str]:
    why = placeholder_reason(value, body, code_refs=code_refs)
    if why:
        return PLACEHOLDER, why
    if len(body) < min_length:
        return WEAK, f"shorter than a real one ({len(body)} characters, at least {min_length})"
    why = randomness_problem(body, min_length=min_length, min_kinds=min_kinds)
    return (WEAK, why) if why else (REAL, "")


def _keyed(name: str, prefix_length: int, min_length: int, min_kinds: int = 2) -> Judge:
    """A key made of a fixed prefix and a random body of at least ``min_length`` characters."""

    def judge(match: re.Match[str], text: str) -> tuple[str, str, str, str]:
        value = match.group(0)
        prefix = value[:prefix_length]
        verdict, why = _verdict(value, value[len(prefix):], min_length=min_length, min_kinds=min_kinds)
        if verdict != PLACEHOLDER and text.startswith(("...", "…"), match.end()):
            verdict, why = PLACEHOLDER, "cut short with '...'"
        return verdict, name, f"{prefix}…, {len(value)} chars", why

    return judge


_SK_KINDS = [  # (prefix, name, shortest real body)
    (re.compile(r"sk-ant-[a-z]+\d*-"), "an Anthropic API key", 80),
    (re.compile(r"sk-or-v\d+-"), "an OpenRouter API key", 64),
    (re.compile(r"sk-(?:proj|svcacct|admin|None)-"), "an OpenAI API key", 40),
]


def _judge_sk(match: re.Match[str], text: str) -> tuple[str, str, str, str]:
    value = match.group(0)
    for prefix_pattern, name, min_length in _SK_KINDS:
        prefix = prefix_pattern.match(value)
        if prefix:
            return _keyed(name, prefix.end(), min_length)(match, text)
    name = "an OpenAI API key" if len(value) == 51 and "T3BlbkFJ" in value else "an API key"
    return _keyed(name, 3, 32)(match, text)


def _judge_slack(match: re.Match[str], text: str) -> tuple[str, str, str, str]:
    value = match.group(0)
    prefix = value[:5]
    parts = value[5:].split("-")
    why = placeholder_reason(value, value[5:])
    if why:
        verdict = PLACEHOLDER
    elif sum(1 for p in parts[:-1] if p.isdigit() and len(p) >= 8) < 2 or len(parts[-1]) < 24:
        verdict, why = WEAK, "not the numbered parts and random tail of a Slack token"
    else:
        why = randomness_problem(parts[-1], min_length=24)
        verdict = WEAK if why else REAL
    return verdict, "a Slack token", f"{prefix}…, {len(value)} chars", why or ""


def _b64json(part: str) -> object:
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, binascii.Error):
        return None


def _judge_jwt(match: re.Match[str], text: str) -> tuple[str, str, str, str]:
    value = match.group(0)
    header_part, payload_part, signature = value.split(".")[:3]
    header, payload = _b64json(header_part), _b64json(payload_part)
    shown = f"eyJ…, {len(value)} chars"
    why = placeholder_reason(value, signature)
    if not why and "john doe" in json.dumps(payload).lower():
        why = "the sample token of the JWT documentation"
    if why:
        return PLACEHOLDER, "a JSON web token", shown, why
    if not isinstance(header, dict) or not isinstance(payload, dict) or str(header.get("alg", "")).lower() == "none":
        return WEAK, "a JSON web token", shown, "not a signed token (header, claims, signature)"
    why = randomness_problem(signature, min_length=32)
    return (WEAK if why else REAL), "a JSON web token", shown, why or ""


def _judge_url(match: re.Match[str], text: str) -> tuple[str, str, str, str]:
    password = match.group(2)
    host = re.match(r"[^\s/?#]*", text[match.end():])
    shown = f"{match.group(1)}:…@{host.group(0) if host else ''}, password {len(password)} chars"
    verdict, why = _verdict(password, password, min_length=12, code_refs=True)
    return verdict, "a URL with a password", shown, why


def _judge_auth_header(match: re.Match[str], text: str) -> tuple[str, str, str, str] | None:
    scheme, value = match.group(1), match.group(2)
    shown = f"{scheme} …, {len(value)} chars"
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            decoded = ""
        if ":" in decoded:
            verdict, why = _verdict(value, decoded.split(":", 1)[1], min_length=12, code_refs=True)
            return verdict, "a basic-auth password", shown, why
    verdict, why = _verdict(value, value, min_length=20, code_refs=True)
    return verdict, "a bearer token", shown, why


_PROSE_WORDS = frozenset({"stored", "required", "set", "saved", "sent", "used", "hashed", "encrypted", "correct",
                          "wrong", "incorrect", "invalid", "missing", "given", "shown", "needed", "changed", "reset",
                          "optional", "the", "not", "also", "only", "never", "always", "then", "now", "still"})


def _judge_prose(match: re.Match[str], text: str) -> tuple[str, str, str, str] | None:
    value = match.group(1)
    if value.lower() in _PROSE_WORDS:
        return None
    verdict, why = _verdict(value, value, min_length=12)
    return verdict, "a password", f"{len(value)} chars", why


_AWS_SECRET_NAME = re.compile(r"aws.*secret|secret.?access.?key", re.I)


def _judge_assignment(key: str, value: str) -> tuple[str, str, str, str]:
    lowered = key.lower()
    if _AWS_SECRET_NAME.search(key):
        name = "an AWS secret access key"
    elif "pass" in lowered:
        name = "a password"
    elif "token" in lowered:
        name = "a token"
    else:
        name = "a secret"
    verdict, why = _verdict(value, value, min_length=12, code_refs=True)
    return verdict, name, f"{key}=…, {len(value)} chars", why


# Each pattern starts with its literal prefix, so the regex engine skips to it; a look-behind after
# the prefix stands for the word boundary before it.
_SHAPES: list[_Shape] = [
    _Shape("an API key", ("sk-",), re.compile(r"sk-(?<!\wsk-)[A-Za-z0-9_-]{16,}"), _judge_sk),
    _Shape("an AWS access key", ("akia", "asia"), re.compile(r"A(?:KIA|SIA)(?<!\w....)[0-9A-Z]{16}\b"),
           _keyed("an AWS access key ID", 4, 16, min_kinds=1)),
    _Shape("a GitHub token", ("gh",), re.compile(r"gh[pousr]_(?<!\w..._)[A-Za-z0-9]{30,}\b"),
           _keyed("a GitHub token", 4, 36)),
    _Shape("a GitHub token", ("github_pat_",), re.compile(r"github_pat_(?<!\wgithub_pat_)[A-Za-z0-9_]{20,}"),
           _keyed("a GitHub fine-grained token", 11, 82)),
    _Shape("a GitLab token", ("glpat-",), re.compile(r"glpat-(?<!\wglpat-)[A-Za-z0-9_-]{20,}"),
           _keyed("a GitLab token", 6, 20)),
    _Shape("a Slack token", ("xox",), re.compile(r"xox[abposer]-(?<!\wxox.-)[A-Za-z0-9-]{10,}"), _judge_slack),
    _Shape("a Stripe key", ("k_live_", "k_test_"), re.compile(r"[sr]k_(?:live|test)_(?<!\w.{8})[A-Za-z0-9]{16,}"),
           _keyed("a Stripe secret key", 8, 24)),
    _Shape("an API key", ("aiza",), re.compile(r"AIza(?<!\wAIza)[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
           _keyed("a Google API key", 4, 35)),
    _Shape("a Hugging Face token", ("hf_",), re.compile(r"hf_(?<!\whf_)[A-Za-z0-9]{30,}"),
           _keyed("a Hugging Face token", 3, 34)),
    _Shape("an API key", ("npm_",), re.compile(r"npm_(?<!\wnpm_)[A-Za-z0-9]{36}\b"), _keyed("an npm token", 4, 36)),
    _Shape("an API key", ("pypi-age",), re.compile(r"pypi-AgE(?<!\wpypi-AgE)[A-Za-z0-9_-]{50,}"),
           _keyed("a PyPI token", 5, 80)),
    _Shape("a JSON web token", ("eyj",), re.compile(r"eyJ(?<!\weyJ)[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
           _judge_jwt),
    _Shape("a URL with a password", ("://",), re.compile(r"://([^\s:/@]*):([^\s@/]{3,})@"), _judge_url, group=2),
    _Shape("a bearer token", ("bearer", "basic"), re.compile(r"\b(Bearer|Basic)\s+([A-Za-z0-9._~+/=-]{8,})", re.I),
           _judge_auth_header, group=2),
    _Shape("a password", ("pass", "pin"),
           re.compile(r"\b(?:password|passphrase|passcode|PIN)\s+(?:is|was)\s+[\"'`]?([^\s\"'`,;]{4,})", re.I),
           _judge_prose, group=1),
]

# key = value, key: value, "key": "value" where the key names a secret. The keyword is found first
# (fast), then the name around it and what follows; a quoted value may hold & ; , (group 4), an
# unquoted one ends there (group 5).
_ASSIGNMENT_KIND = "a password or token assignment"
_KEYWORD = re.compile(r"api[_-]?key|secret|token|passw(?:or)?d|access[_-]?key|private[_-]?key")
_KEYWORD_ANY_CASE = re.compile(_KEYWORD.pattern, re.I)
_NAME_CHAR = re.compile(r"[\w.-]")
_NAME_END = re.compile(r"[\w.-]*")
_ASSIGNED = re.compile(r"(['\"]?[ \t]*[:=][ \t]*)(?:(['\"])|(?=[^'\"]))(?![\d.]+(?![^\s'\",;&]))(?!\[REDACTED)"
                       r"(?:(?<=['\"])([^\s'\"]{6,})|([^\s'\",;&]{6,}))")


def _assignments(text: str, lower: str) -> Iterator[tuple[int, int, str, str]]:
    """(start, end, name, value) of each value assigned to a name that names a secret."""
    keywords = _KEYWORD.finditer(lower) if len(lower) == len(text) else _KEYWORD_ANY_CASE.finditer(text)
    done = -1
    for keyword in keywords:
        if keyword.start() < done:
            continue  # another keyword in a name already looked at (secret_access_key)
        start = keyword.start()
        while start > 0 and _NAME_CHAR.match(text, start - 1):
            start -= 1
        name_end = _NAME_END.match(text, keyword.end()).end()
        done = name_end
        assigned = _ASSIGNED.match(text, name_end)
        if assigned:
            group = 3 if assigned.group(3) is not None else 4
            yield assigned.start(group), assigned.end(group), text[start:name_end], assigned.group(group)


_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----")
_PEM_LINE = re.compile(r"[ \t]*(?:[A-Za-z0-9+/=]+|[\w-]+: [^\n]*)?[ \t]*(?:\r?\n|\Z)")


def _private_keys(text: str) -> Iterator[SecretFinding]:
    """``-----BEGIN … PRIVATE KEY-----`` blocks, to their END line (or as far as the key's lines go)."""
    for begin in _PEM_BEGIN.finditer(text):
        label = f"{begin.group(1)}PRIVATE KEY"
        end_marker = f"-----END {label}-----"
        end = text.find(end_marker, begin.end())
        if end >= 0:
            stop = end + len(end_marker)
            body = text[begin.end():end]
        else:  # cut off (or only the first line quoted in prose): the base64 lines that follow
            stop = begin.end()
            if text.startswith("\n", stop) or text.startswith("\r\n", stop):
                stop = text.index("\n", stop) + 1
                while (line := _PEM_LINE.match(text, stop)) and line.end() > stop:
                    stop = line.end()
            body = text[begin.end():stop]
        key = "".join(line.strip() for line in body.splitlines() if ":" not in line)
        shown = f"-----BEGIN {label}-----, {len(body.splitlines())} lines"
        if not key and end < 0:
            continue  # the header line alone, as docs quote it
        why = placeholder_reason(body.strip(), key) if key else "no key in it"
        if why:
            verdict = PLACEHOLDER
        else:
            why = randomness_problem(key, min_length=60)
            verdict = WEAK if why else REAL
        yield SecretFinding("a private key", "a private key", begin.start(), stop, verdict, shown, why or "",
                            PEM_MASK)


def find_secrets(text: str) -> list[SecretFinding]:
    """Every secret-shaped string in ``text``, in order, each with its verdict; they never overlap.

    Where shapes overlap (``OPENAI_API_KEY=sk-…`` is an assignment and an OpenAI key) the more
    specific one wins: private keys, then vendor formats, then JWTs, URLs, auth headers, prose, assignments.
    """
    if not text:
        return []
    lower = text.lower()
    found: list[SecretFinding] = list(_private_keys(text)) if "private key-----" in lower else []
    taken = [(f.start, f.end) for f in found]

    def free(start: int, end: int) -> bool:
        return not any(start < t_end and t_start < end for t_start, t_end in taken)

    for shape in _SHAPES:
        if not any(hint in lower for hint in shape.hints):
            continue
        for match in shape.pattern.finditer(text):
            start, end = match.span(shape.group)
            if not free(start, end):
                continue
            judged = shape.judge(match, text)
            if judged is not None:
                verdict, name, shown, why = judged
                found.append(SecretFinding(shape.kind, name, start, end, verdict, shown, why))
                taken.append((start, end))
    for start, end, key, value in _assignments(text, lower):
        if free(start, end):
            verdict, name, shown, why = _judge_assignment(key, value)
            found.append(SecretFinding(_ASSIGNMENT_KIND, name, start, end, verdict, shown, why))
            taken.append((start, end))
    return sorted(found, key=lambda f: f.start)


def mask(text: str, findings: list[SecretFinding]) -> str:
    """``text`` with each of ``findings`` replaced by its mask."""
    parts, last = [], 0
    for finding in sorted(findings, key=lambda f: f.start):
        parts += [text[last:finding.start], finding.replacement]
        last = finding.end
    parts.append(text[last:])
    return "".join(parts)
