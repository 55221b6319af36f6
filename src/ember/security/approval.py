"""Who says yes to a tool call that needs approval.

What needs approval is decided in ``dangerous.py`` (shell commands, writes outside the
workspace) and by each tool's ``needs_approval`` check. ``Approver`` answers an
``ApprovalRequest``: ``auto`` (``--yes``) approves, ``interactive`` asks the person through a
callback the door provides, ``deny`` (no one to ask) refuses with a message that says how to
allow it. Allowed patterns (``patterns.py``: word by word on each flagged command with its paths
resolved, or on the resolved path of a file write) last for a session or, through ``persist``,
for good. A pattern that would allow everything is refused wherever it comes from.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ember.agent.door import Door
    from ember.security.dangerous import ESCAPE, WARN, Danger, check_command, check_write, find_dangers

# ``dangerous`` (the command parser) and ``patterns`` are imported when first needed: every turn
# builds an Approver, but a turn that runs no command never needs either.
_LAZY = {"ESCAPE", "WARN", "Danger", "check_command", "check_write", "find_dangers"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from ember.security import dangerous

        return getattr(dangerous, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

log = logging.getLogger(__name__)

__all__ = [
    "ESCAPE", "WARN", "ApprovalRecord", "ApprovalRequest", "Approver", "Danger", "Decision", "TurnApprovals",
    "Verdict", "check_command", "check_write", "command_approval", "find_dangers",
]


class Decision(enum.StrEnum):
    """A person's answer. A plain string ("once", "session", "always", "deny") works as well."""

    ONCE = "once"
    SESSION = "session"
    ALWAYS = "always"
    DENY = "deny"


@dataclass
class ApprovalRequest:
    """What a person is asked. ``action`` is shown; ``subjects`` are what allowed patterns must match."""

    tool: str
    reason: str
    action: str = ""
    subjects: list[str] = field(default_factory=list)
    session_id: str | None = None

    def __post_init__(self) -> None:
        if not self.subjects and self.action:
            self.subjects = [self.action]

    @property
    def patterns(self) -> list[str]:
        """Suggested patterns, one per distinct subject, for 'allow for the session/always'."""
        from ember.security.patterns import suggest

        return list(dict.fromkeys(suggest(s) for s in self.subjects))

    def matches(self, pattern: str, subject: str) -> bool:
        """Whether an allowed ``pattern`` covers one of this request's subjects (``patterns.matches``)."""
        from ember.security.patterns import matches

        return matches(pattern, subject)


@dataclass(frozen=True)
class Verdict:
    approved: bool
    message: str = ""


@dataclass
class ApprovalRecord:
    """One approval question of a turn and how it ended."""

    tool: str
    action: str
    reason: str
    approved: bool
    how: str  # "pattern", "--yes", "once", "session", "always", "refused", "no one to ask"


@dataclass
class TurnApprovals:
    """Every approval of one turn, in order. Belongs to that turn alone."""

    records: list[ApprovalRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: ApprovalRecord) -> None:
        with self._lock:  # a turn's sub-agents may ask from several threads
            self.records.append(record)

    @property
    def refused(self) -> list[ApprovalRecord]:
        return [r for r in self.records if not r.approved]

    @property
    def granted(self) -> list[ApprovalRecord]:
        return [r for r in self.records if r.approved]


def command_approval(
    tool: str, command: str, *, workspace: Path | None, cwd: Path | None, note: str = ""
) -> ApprovalRequest | None:
    """The approval request for running ``command`` (None when nothing in it is dangerous).

    Shared by every tool that runs shell text, so they all ask the same question and an allowed
    pattern means the same thing everywhere.
    """
    from ember.security.dangerous import find_dangers

    dangers = find_dangers(command, workspace=workspace, cwd=cwd)
    if not dangers:
        return None
    return ApprovalRequest(
        tool=tool,
        reason="; ".join(dict.fromkeys(d.reason for d in dangers)) + note,
        action=command,
        subjects=list(dict.fromkeys(d.subject for d in dangers)),
    )


Ask = Callable[[ApprovalRequest], "Decision | str | tuple[Decision | str, str]"]
Mode = Literal["auto", "interactive", "deny"]


@dataclass
class _ModeDoor:
    """The door ``Approver.mode`` and ``ask`` make, for a caller that passes none (a ``Door``):
    a person answers through ``approver`` when there is one; else no one is there, and
    ``auto_approve`` (``--yes``) says whether everything is granted. Questions get no answer."""

    approver: Ask | None = None
    auto_approve: bool = False
    present: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, mode: Mode, ask: Ask | None) -> _ModeDoor:
        if ask is not None:
            return cls(approver=ask, present=True)
        return cls(auto_approve=mode == "auto")

    def approve(self, request: ApprovalRequest) -> Decision | str | tuple[Decision | str, str]:
        return self.approver(request) if self.approver is not None else "deny"

    def ask(self, question: str, options: list[str]) -> str | None:
        return None

    def notify(self, text: str) -> None:
        return None


class Approver:
    """The allow-patterns of one agent, and the rule for a request that none covers.

    Shared by every session and thread of an agent: it holds what was allowed for good
    (``[tools] allow_commands`` and stored "always" answers) and per session. Who is asked is the
    turn's door (``agent/door.py``), passed to ``review``; what was asked goes into the turn's
    ``TurnApprovals``. ``mode`` and ``ask`` make the door used when a caller passes none
    (``auto``: approve, ``interactive``: ask through ``ask``, ``deny``: refuse).
    ``persist(pattern)`` stores an "always" answer (the app wires it to the store).
    """

    def __init__(
        self,
        mode: Mode = "deny",
        ask: Ask | None = None,
        *,
        allowed: Iterable[str] = (),
        persist: Callable[[str], None] | None = None,
        workspace: Path | None = None,
    ) -> None:
        if mode not in ("auto", "interactive", "deny"):
            raise ValueError(f"unknown approval mode {mode!r}; use auto, interactive or deny")
        self.mode: Mode = mode
        self.persist = persist
        self.workspace = workspace
        self.door: Door = _ModeDoor.of(mode, ask if mode == "interactive" else None)
        self._permanent: list[str] = []
        for pattern in dict.fromkeys(p for p in allowed if p):
            from ember.security import patterns

            why = patterns.problem(pattern)
            if why:  # config.toml refuses these at load; one in the database is skipped, loudly
                log.warning("ignoring allow-pattern %r: %s (ember approvals remove)", pattern, why)
            else:
                self._permanent.append(patterns.normalize(pattern))
        self._session: dict[str | None, list[str]] = {}
        self._lock = threading.Lock()

    @property
    def ask(self) -> Ask | None:
        """The callback of the default door when it asks a person (``interactive``), else None."""
        return getattr(self.door, "approver", None)

    @ask.setter
    def ask(self, callback: Ask | None) -> None:
        self.door = _ModeDoor.of(self.mode, callback)

    def allow(self, pattern: str, *, session_id: str | None = None, permanent: bool = False) -> None:
        """Allow ``pattern`` for one session, or for good (``persist`` is called).

        Raises ``patterns.PatternError`` for a pattern that would allow everything.
        """
        from ember.security import patterns

        pattern = patterns.check(pattern)
        with self._lock:
            target = self._permanent if permanent else self._session.setdefault(session_id, [])
            if pattern in target:
                return
            target.append(pattern)
        if permanent and self.persist is not None:
            try:
                self.persist(pattern)
            except Exception:
                log.warning("could not store the allowed pattern %r", pattern, exc_info=True)

    def forget_session(self, session_id: str | None) -> None:
        """Drop a session's "for this session" patterns (its cache entry was evicted or it ended)."""
        with self._lock:
            self._session.pop(session_id, None)

    def allowed_patterns(self, session_id: str | None = None) -> list[str]:
        with self._lock:
            return [*self._permanent, *self._session.get(session_id, [])]

    def covers(self, request: ApprovalRequest) -> bool:
        """True when every subject of ``request`` matches an allowed pattern."""
        allowed = self.allowed_patterns(request.session_id)
        subjects = request.subjects or [request.action]
        return bool(allowed) and all(any(request.matches(p, s) for p in allowed) for s in subjects)

    def review(self, request: ApprovalRequest, door: Door | None = None,
               turn: TurnApprovals | None = None) -> Verdict:
        """Decide ``request``: a pattern covers it, or ``door`` (the turn's) approves or refuses it."""
        door = door or self.door
        verdict, how = self._decide(request, door)
        if turn is not None:
            turn.add(ApprovalRecord(request.tool, request.action, request.reason, verdict.approved, how))
        return verdict

    def _decide(self, request: ApprovalRequest, door: Door) -> tuple[Verdict, str]:
        if self.covers(request):
            return Verdict(True, "allowed by a pattern"), "pattern"
        if door.auto_approve:
            log.info("auto-approved %s: %s (%s)", request.tool, request.action, request.reason)
            return Verdict(True, "approved by --yes"), "--yes"
        if door.present:
            with door.lock:  # one question at a time on that door's screen or chat
                if self.covers(request):  # allowed while we waited for another question
                    return Verdict(True, "allowed by a pattern"), "pattern"
                answer = door.approve(request)
            return self._apply(request, answer)
        return Verdict(False, self._deny_message(request)), "no one to ask"

    def _apply(self, request: ApprovalRequest, answer: object) -> tuple[Verdict, str]:
        pattern = None
        if isinstance(answer, tuple):
            answer, pattern = answer
        try:
            decision = Decision(answer) if isinstance(answer, str) else Decision.DENY
        except ValueError:
            decision = Decision.DENY
        wanted = [pattern] if pattern else request.patterns
        if decision is Decision.DENY:
            return Verdict(
                False,
                f"The user refused: {request.tool} was not run ({request.reason}). "
                "Do not retry it; ask the user how to proceed or find another way.",
            ), "refused"
        from ember.security import patterns

        refused = []
        for pat in wanted if decision is not Decision.ONCE else []:
            try:
                self.allow(pat, session_id=request.session_id, permanent=decision is Decision.ALWAYS)
            except patterns.PatternError as exc:
                refused.append(str(exc))
        if refused:  # the call itself was approved; the too-broad pattern is not kept
            return Verdict(True, f"approved (once: {'; '.join(refused)})"), "once"
        return Verdict(True, f"approved ({decision.value})"), decision.value

    def _deny_message(self, request: ApprovalRequest) -> str:
        allow = ", ".join(f'"{p}"' for p in request.patterns)
        return (
            f"Not run: {request.tool} needs approval ({request.reason}) and no one can approve it "
            "in this non-interactive run. Tell the user; they can re-run with --yes, or allow it "
            f"in config.toml with [tools] allow_commands = [{allow}]."
        )
