"""The one list of secret shapes, and what tells a real credential from a documentation placeholder.

The redactor (logs, tool output, errors) and the scanner (memory, installed skills) both find
secrets with ``find_secrets``. Every match gets a verdict:

- ``PLACEHOLDER``: visibly not a value: ``<your-token>``, ``${TOKEN}``, ``$TOKEN``, ``sk-...``,
  ``xxxx``/``****``/``0000`` runs, ``YOUR_API_KEY``, anything marked ``example``, a reference in
  code (``os.environ["KEY"]``, ``config.token``, ``OPENAI_API_KEY``), a URL or a file path, and the
  keys that vendors publish in their own docs (AWS's ``AKIAIOSFODNN7EXAMPLE``, Stripe's test key).
- ``REAL``: a known key format at its real length with the randomness of a generated key
  (Shannon entropy, a mix of character kinds, no ``abcdef``/``123456`` runs, not made of words),
  or a password/token assignment whose value looks randomly generated
  (the judging of values lives in ``ember.security.secret_values``).
- ``WEAK``: secret-shaped but short or made up (``password = "changeme"``, ``sk-abcdefghijklmnop``).

What each user does with them: the redactor masks every match (a masked placeholder in a log costs
nothing); memory masks weak and real ones (a person's own ``hunter2`` is still a password);
``ember skills install`` stops only for real ones, so the placeholders every README has pass.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ember.security.secret_values import placeholder_reason, randomness_problem

__all__ = ["MASK", "PLACEHOLDER", "REAL", "WEAK", "SecretFinding", "find_secrets", "mask"]

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


def _keyed(name: str, prefix_length: int, min_length: int,
           min_kinds: int = 2) -> Callable[[re.Match[str], str], tuple[str, str, str, str]]:
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
        name_tail = _NAME_END.match(text, keyword.end())  # always matches, perhaps nothing
        name_end = name_tail.end() if name_tail else keyword.end()
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
