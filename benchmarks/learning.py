"""Does learning pay? Model calls and tokens of a task before and after Ember learned from it. Prints; asserts nothing.

    python benchmarks/learning.py

1. **Skill.** A scripted multi-step task ("prepare the weekly sales report") runs twice, each time
   in a new runtime and session, against a fake model on 127.0.0.1 that follows its prompt: it
   explores (six tool calls, one failing) unless the Skills index offers a skill for the task, in
   which case it loads the skill and runs the one command it names. Between the runs the learner
   writes that skill (and a lesson from the failure) on the ``learning`` route. Target: run 2 uses at
   least 40% fewer model calls and tokens than run 1.
2. **Lesson.** Day 1 the agent classifies a documentation typo as high severity and the user
   corrects it; day 2, in a new session, the lesson is retrieved and the answer is right.

The learner's own model calls are reported separately: they run after the answer, off the hot path.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.learning.scenarios import (  # noqa: E402
    REPORT_TASK,
    ClassifierModel,
    ReportModel,
    prepare_report_workspace,
)

DAY1 = "Classify the severity of issue #12: 'Typo in the README footer'."
CORRECTION = "No, classify it as low severity, not high: documentation typos are minor."
DAY2 = "Classify the severity of issue #31: 'Typo in the install docs'."


def fresh_home(fake: FakeOpenAI) -> Path:
    home = Path(tempfile.mkdtemp(prefix="ember-learning-bench-"))
    workspace = home / "workspace"
    os.environ.update({
        "EMBER_HOME": str(home), "EMBER_WORKSPACE": str(workspace), "EMBER_PROVIDER": "openai",
        "EMBER_BASE_URL": fake.base_url, "EMBER_MODEL": "fake-model",
    })
    prepare_report_workspace(workspace)
    return home


def runtime():
    from ember.config import load_settings
    from ember.runtime import build_runtime

    return build_runtime(load_settings(), interactive=False, auto_approve=True)


def learning_usage(home: Path) -> tuple[int, int]:
    from ember.store.backends import open_backend

    with open_backend(home / "ember.db") as store:
        totals = store.usage_totals(kind="learning")
    return totals.calls, totals.input_tokens + totals.output_tokens


def skill_scenario() -> None:
    with FakeOpenAI(responder=ReportModel()) as fake:
        home = fresh_home(fake)
        results = []
        for _ in (1, 2):
            rt = runtime()
            started = time.perf_counter()
            finished = rt.agent.ask(rt.agent.new_session(source="bench"), REPORT_TASK)
            answered = time.perf_counter() - started
            rt.close()  # waits for this turn's learning, as `ember run` does after printing
            results.append((finished, answered, [c["name"] for c in finished.tool_calls]))
        learn_calls, learn_tokens = learning_usage(home)
    print("Scenario 1: the same multi-step task, twice (fake model on 127.0.0.1)")
    print(f"{'':<8}{'model calls':>12}{'tokens':>10}{'tool calls':>12}{'answer s':>10}   tools")
    for run, (finished, answered, tools) in enumerate(results, 1):
        print(f"run {run:<4}{finished.steps:>12}{finished.usage.total_tokens:>10}{len(tools):>12}{answered:>10.2f}   "
              f"{', '.join(tools)}")
    (first, _, _), (second, _, _) = results
    calls_saved = 1 - second.steps / first.steps
    tokens_saved = 1 - second.usage.total_tokens / first.usage.total_tokens
    verdict = "met" if min(calls_saved, tokens_saved) >= 0.4 else "NOT met"
    print(f"run 2 vs run 1: {calls_saved:.0%} fewer model calls, {tokens_saved:.0%} fewer tokens "
          f"(target >= 40%: {verdict})")
    print(f"learner, after run 1 and run 2 (off the hot path): {learn_calls} calls, {learn_tokens} tokens")


def lesson_scenario() -> None:
    with FakeOpenAI(responder=ClassifierModel()) as fake:
        home = fresh_home(fake)
        rt = runtime()
        session = rt.agent.new_session(source="bench")
        day1 = rt.agent.ask(session, DAY1).answer
        rt.agent.ask(session, CORRECTION)
        rt.close()
        rt = runtime()
        day2 = rt.agent.ask(rt.agent.new_session(source="bench"), DAY2).answer
        rt.close()
        from ember.memory import lessons
        from ember.store.sqlite.store import open_store

        with open_store(home / "ember.db") as store:
            learned = lessons.list_lessons(store)
    print("\nScenario 2: a correction becomes a lesson")
    print(f"day 1: {DAY1!r} -> {day1!r}")
    print(f"       user: {CORRECTION!r}")
    for lesson in learned:
        print(f"       lesson #{lesson.id}: {lesson.rule} (used {lesson.uses}, helped {lesson.successes})")
    print(f"day 2: {DAY2!r} -> {day2!r} ({'right' if day2.endswith('low') else 'WRONG'})")


def main() -> None:
    skill_scenario()
    lesson_scenario()


if __name__ == "__main__":
    main()
