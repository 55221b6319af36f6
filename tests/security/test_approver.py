"""The approver: modes, allowed patterns for a session or for good, and thread safety."""

from __future__ import annotations

import threading
import time

import pytest

from ember.security.approval import ApprovalRequest, Approver, Decision


def request(*subjects: str, session: str | None = "s1") -> ApprovalRequest:
    return ApprovalRequest(tool="shell", reason="risky", action=" && ".join(subjects), subjects=list(subjects),
                           session_id=session)


def test_auto_mode_approves_everything():
    assert Approver("auto").review(request("rm -rf x")).approved


def test_deny_mode_explains_how_to_allow():
    from ember.agent.door import TurnApprovals

    approver, turn = Approver("deny"), TurnApprovals()
    verdict = approver.review(request("git push --force origin main"), turn=turn)
    assert not verdict.approved
    assert "--yes" in verdict.message
    assert '[tools] allow_commands = ["git push --force origin *"]' in verdict.message
    assert [(r.action, r.approved, r.how) for r in turn.records] == [("git push --force origin main", False,
                                                                      "no one to ask")]


def test_interactive_without_a_callback_denies():
    assert not Approver("interactive").review(request("x")).approved


def test_permanent_patterns_from_config():
    approver = Approver("deny", allowed=["git push --force origin *"])
    assert approver.review(request("git push --force origin main")).approved
    # Every flagged part must be covered: an allowed push does not smuggle in a delete.
    assert not approver.review(request("git push --force", "rm -rf /")).approved


def test_session_answer_lasts_for_that_session_only():
    asked = []
    approver = Approver("interactive", ask=lambda req: asked.append(req) or Decision.SESSION)
    assert approver.review(request("git push --force origin main")).approved
    assert approver.review(request("git push --force origin dev")).approved  # "git push --force origin *"
    assert len(asked) == 1
    assert approver.allowed_patterns("s1") == ["git push --force origin *"]
    assert approver.review(request("git push --force origin main", session="s2")).approved
    assert len(asked) == 2


def test_always_answer_is_persisted():
    stored = []
    approver = Approver("interactive", ask=lambda req: "always", persist=stored.append)
    assert approver.review(request("sudo apt install jq")).approved
    assert stored == ["sudo apt install *"]
    approver.ask = lambda req: pytest.fail("should not ask again")
    assert approver.review(request("sudo apt install curl", session="other")).approved


def test_once_allows_nothing_further_and_edited_patterns_are_used():
    approver = Approver("interactive", ask=lambda req: "once")
    assert approver.review(request("reboot")).approved
    assert approver.allowed_patterns("s1") == []
    approver.ask = lambda req: ("session", "make clea?")
    assert approver.review(request("make clean")).approved
    assert approver.allowed_patterns("s1") == ["make clea?"]


@pytest.mark.parametrize("answer", ["deny", "no", None, Decision.DENY])
def test_anything_but_a_yes_is_a_refusal(answer):
    verdict = Approver("interactive", ask=lambda req: answer).review(request("reboot"))
    assert not verdict.approved and "The user refused" in verdict.message


def test_one_question_at_a_time_and_answers_are_shared():
    calls = []

    def ask(req):
        calls.append(req)
        time.sleep(0.2)
        return "session"

    approver = Approver("interactive", ask=ask)
    results = []
    threads = [threading.Thread(target=lambda: results.append(approver.review(request("make all")))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(r.approved for r in results)


def test_persist_failure_does_not_break_approval():
    def broken(pattern):
        raise OSError("disk full")

    approver = Approver("interactive", ask=lambda req: "always", persist=broken)
    assert approver.review(request("make all")).approved


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        Approver("maybe")  # type: ignore[arg-type]


# --- patterns that cannot be talked around -------------------------------------------------------

@pytest.mark.parametrize(("pattern", "subject"), [
    ("rm -rf build*", "rm -rf build /root"),  # the documented example once covered `rm -rf build ~`
    ("rm -rf build*", "rm -rf build/../../etc"),  # (subjects arrive resolved; a raw '..' never matches)
    ("/srv/allowed/*", "/srv/allowed/sub/x"),  # * never crosses a /
    ("/srv/allowed/*", "/srv/other"),
    ("git push *", "git push --force origin main"),  # one word per argument
    ("make *", "make $(rm -rf ~)"),  # what the shell still expands is matched only literally
    ("make *", "make `id`"),
])
def test_a_pattern_covers_only_what_it_says(pattern, subject):
    assert not Approver("deny", allowed=[pattern]).review(request(subject)).approved


@pytest.mark.parametrize(("pattern", "subject"), [
    ("rm -rf build*", "rm -rf build2"),
    ("/srv/allowed/*", "/srv/allowed/notes.txt"),
    ("git push --force origin *", "git push --force origin main"),
    ("reboot", "reboot"),
    ("~/notes/*", f"{__import__('os').path.expanduser('~')}/notes/a.md"),
])
def test_a_pattern_covers_what_it_says(pattern, subject):
    assert Approver("deny", allowed=[pattern]).review(request(subject)).approved


@pytest.mark.parametrize("pattern", ["*", "**", "rm *", "rm **", "sudo *", "/*", "/**", "* -rf x", "", "/srv/../etc/*"])
def test_patterns_that_allow_everything_are_refused(pattern):
    from ember.security.patterns import PatternError, check

    with pytest.raises(PatternError):
        check(pattern)
    approver = Approver("deny", allowed=[pattern])  # from the database: skipped, with a warning
    assert approver.allowed_patterns() == []
    assert not approver.review(request("rm -rf /")).approved


def test_an_always_answer_with_a_too_broad_edit_runs_once_and_keeps_nothing():
    stored = []
    approver = Approver("interactive", ask=lambda req: ("always", "*"), persist=stored.append)
    verdict = approver.review(request("sudo apt install jq"))
    assert verdict.approved and "once" in verdict.message and "refused" in verdict.message
    assert stored == [] and approver.allowed_patterns("s1") == []
