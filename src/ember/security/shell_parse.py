"""Split a shell command line the way bash would, well enough to judge what it runs.

Not a bash interpreter: it knows quotes, escapes, comments, newlines, here-documents, the
operators ``;`` ``&&`` ``||`` ``&`` ``|`` and subshell parentheses, redirects, and the nested
commands of ``$( )``, backticks and ``<( )``. That is what the approval policy needs: the simple
commands a line runs, what each writes to, and the text a person's allow-pattern is matched on.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field

_OPERATORS = sorted(
    ["&&", "||", ";;&", ";;", ";&", "|&", "&>>", "&>", ">>", ">|", ">&", "<<<", "<<", "<>", "<&",
     ";", "&", "|", "(", ")", "<", ">"],
    key=len, reverse=True,
)
_SEPARATORS = {";", "&&", "||", "&", "(", ")", ";;", ";&", ";;&"}
_PIPES = {"|", "|&"}
_WRITE_REDIRECTS = {">", ">>", ">|", "&>", "&>>", "<>"}
_REDIRECTS = _WRITE_REDIRECTS | {"<", "<<", "<<<", "<&", ">&"}
_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "case", "esac"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\+?=")
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")

# Programs that run another program given as their arguments, with their options that take a value.
_WRAPPERS: dict[str, set[str]] = {
    "sudo": {"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T"},
    "doas": {"-u", "-C"},
    "env": {"-u", "-C", "-S"},
    "nice": {"-n"},
    "nohup": set(),
    "time": {"-f", "-o"},
    "timeout": {"-s", "-k"},
    "xargs": {"-I", "-n", "-P", "-d", "-a", "-E", "-L", "-s"},
    "command": set(),
    "builtin": set(),
    "exec": {"-a"},
    "stdbuf": {"-i", "-o", "-e"},
    "ionice": {"-c", "-n", "-p"},
    "chronic": set(),
    "unbuffer": set(),
}


@dataclass
class Command:
    """One simple command of a command line."""

    words: list[str]  # every word, redirects included (as shown to a person)
    argv: list[str]  # the command and its arguments: no redirects, assignments or keywords
    unwrapped: list[str]  # argv without wrappers such as sudo, env, nohup, xargs
    wrappers: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)  # files written through redirects
    substitutions: list[str] = field(default_factory=list)  # inner commands of $( ), ``, <( )
    text: str = ""  # the command as one line: what allow-patterns are matched against


def _closing(text: str, start: int) -> int:
    """Index of the parenthesis closing the one at ``start`` (or the end of ``text``)."""
    depth, i, quote = 0, start, ""
    while i < len(text):
        c = text[i]
        if c == "\\" and quote != "'":
            i += 2
            continue
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(text)


def _flatten(command: str) -> tuple[str, list[tuple[str, str]]]:
    """Drop comments and here-document bodies, turn newlines into ``;`` and nested commands into
    placeholders (returned separately as (inner command, original text)) for shlex to split the rest."""
    out: list[str] = []
    subs: list[tuple[str, str]] = []
    heredocs: list[str] = []
    i, n, quote = 0, len(command), ""
    while i < n:
        c = command[i]
        if quote == "'":
            quote = "" if c == "'" else quote
            out.append(c)
            i += 1
        elif c == "\\":
            out.append(command[i : i + 2])
            i += 2
        elif command.startswith("$(", i) or (not quote and command.startswith(("<(", ">("), i)):
            end = _closing(command, i + 1)
            subs.append((command[i + 2 : end], command[i : end + 1]))
            out.append(f"\x00{len(subs) - 1}\x00")
            i = end + 1
        elif c == "`":
            end = command.find("`", i + 1)
            end = n if end < 0 else end
            subs.append((command[i + 1 : end], command[i : end + 1]))
            out.append(f"\x00{len(subs) - 1}\x00")
            i = end + 1
        elif c == '"':
            quote = "" if quote else '"'
            out.append(c)
            i += 1
        elif quote:
            out.append(c)
            i += 1
        elif c == "'":
            quote = "'"
            out.append(c)
            i += 1
        elif c == "#" and (i == 0 or command[i - 1] in " \t\n;&|()"):
            end = command.find("\n", i)
            i = n if end < 0 else end
        elif c == "<" and (match := re.match(r"<<-?\s*(['\"]?)([\w.-]+)\1", command[i:])) is not None:
            heredocs.append(match.group(2))
            out.append(f" << {match.group(2)} ")
            i += match.end()
        elif c == "\n":
            out.append(" ; ")
            i += 1
            for delimiter in heredocs:  # skip each body up to its closing line
                while i < n:
                    end = command.find("\n", i)
                    end = n if end < 0 else end
                    line, i = command[i:end], end + 1
                    if line.strip() == delimiter:
                        break
            heredocs.clear()
        else:
            out.append(c)
            i += 1
    return "".join(out), subs


def _split_operators(token: str) -> list[str]:
    parts: list[str] = []
    while token:
        op = next((o for o in _OPERATORS if token.startswith(o)), token[0])
        parts.append(op)
        token = token[len(op) :]
    return parts


def _tokens(flat: str) -> list[str]:
    lexer = shlex.shlex(flat, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        raw = list(lexer)
    except ValueError:  # unbalanced quotes: split plainly, quotes and all (errs towards asking)
        raw = re.findall(r"[;&|()<>]+|[^\s;&|()<>]+", flat)
    tokens: list[str] = []
    for token in raw:
        tokens += _split_operators(token) if token and set(token) <= set("();<>|&") else [token]
    return tokens


def _shown(word: str) -> str:
    return word if word and not re.search(r"[\s'\"\\]", word) else shlex.quote(word)


def _unwrap(argv: list[str]) -> tuple[list[str], list[str]]:
    wrappers: list[str] = []
    while argv and os.path.basename(argv[0]) in _WRAPPERS:
        prog = os.path.basename(argv[0])
        wrappers.append(prog)
        rest = argv[1:]
        while rest and (rest[0].startswith("-") or (prog == "env" and _ASSIGNMENT.match(rest[0]))):
            flag = rest.pop(0)
            if flag == "--":
                break
            if flag in _WRAPPERS[prog] and rest:
                rest.pop(0)
        if prog == "timeout" and rest:
            rest.pop(0)  # the duration
        argv = rest
    return argv, wrappers


def _command(words: list[str], subs: list[tuple[str, str]]) -> Command:
    def restore(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: subs[int(m.group(1))][1], text)

    used = [int(k) for word in words for k in _PLACEHOLDER.findall(word)]
    text = restore(" ".join(_shown(w) for w in words))
    words = [restore(w) for w in words]
    argv: list[str] = []
    writes: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in _REDIRECTS:
            target = words[i + 1] if i + 1 < len(words) else ""
            if word in _WRITE_REDIRECTS or (word == ">&" and not re.fullmatch(r"\d+-?|-", target)):
                writes.append(target)
            i += 2
            continue
        if not (word.isdigit() and i + 1 < len(words) and words[i + 1] in _REDIRECTS):  # "2" of 2>&1
            argv.append(word)
        i += 1
    while argv and (argv[0] in _KEYWORDS or _ASSIGNMENT.match(argv[0])):
        argv.pop(0)
    unwrapped, wrappers = _unwrap(argv)
    return Command(
        words=words,
        argv=argv,
        unwrapped=unwrapped,
        wrappers=wrappers,
        writes=writes,
        substitutions=[subs[k][0] for k in used],
        text=text,
    )


def parse_command(command: str) -> list[list[Command]]:
    """The pipelines of ``command``, each a list of simple commands."""
    flat, subs = _flatten(command)
    pipelines: list[list[Command]] = []
    pipeline: list[Command] = []
    words: list[str] = []
    for token in [*_tokens(flat), ";"]:
        if token in _SEPARATORS or token in _PIPES:
            if words:
                pipeline.append(_command(words, subs))
                words = []
            if token in _SEPARATORS and pipeline:
                pipelines.append(pipeline)
                pipeline = []
        else:
            words.append(token)
    return pipelines
