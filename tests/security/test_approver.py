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
    approver = Approver("deny")
    verdict = approver.review(request("git push --force origin main"))
    assert not verdict.approved
    assert "--yes" in verdict.message
    assert '[tools] allow_commands = ["git push *"]' in verdict.message
    assert approver.denied and approver.denied[0].subjects == ["git push --force origin main"]


def test_interactive_without_a_callback_denies():
    assert not Approver("interactive").review(request("x")).approved


def test_permanent_patterns_from_config():
    approver = Approver("deny", allowed=["git push *"])
    assert approver.review(request("git push --force origin main")).approved
    # Every flagged part must be covered: an allowed push does not smuggle in a delete.
    assert not approver.review(request("git push --force", "rm -rf /")).approved


def test_session_answer_lasts_for_that_session_only():
    asked = []
    approver = Approver("interactive", ask=lambda req: asked.append(req) or Decision.SESSION)
    assert approver.review(request("git push --force origin main")).approved
    assert approver.review(request("git push -f origin dev")).approved  # covered by "git push *"
    assert len(asked) == 1
    assert approver.allowed_patterns("s1") == ["git push *"]
    assert approver.review(request("git push -f", session="s2")).approved
    assert len(asked) == 2


def test_always_answer_is_persisted():
    stored = []
    approver = Approver("interactive", ask=lambda req: "always", persist=stored.append)
    assert approver.review(request("sudo apt install jq")).approved
    assert stored == ["sudo apt *"]
    approver.ask = lambda req: pytest.fail("should not ask again")
    assert approver.review(request("sudo apt install curl", session="other")).approved


def test_once_allows_nothing_further_and_edited_patterns_are_used():
    approver = Approver("interactive", ask=lambda req: "once")
    assert approver.review(request("reboot")).approved
    assert approver.allowed_patterns("s1") == []
    approver.ask = lambda req: ("session", "make *")
    assert approver.review(request("make clean")).approved
    assert approver.allowed_patterns("s1") == ["make *"]


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
