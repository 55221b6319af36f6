"""The learner: what Ember takes away from a turn, after the answer has been sent.

For every turn it records an episode; a turn that failed (step limit, provider failure, Ctrl-C)
only that: a ``failure`` or ``cancelled`` episode with the steps run, the redacted error and the
cost, and for the step limit a failed use of the lessons and skills it had (a provider failure or
a cancel says nothing about them). No model call, so it never delays the exit. For a turn that
answered, where there is something to learn:

1. **Correction.** The user's message corrects the previous answer ("no, classify it as low
   severity, not high"): that episode becomes ``corrected``, the lessons and skills it used lose
   the success they were credited with, and the cheap model phrases a lesson ("when X, do Y, not
   Z"). A correction the user has to repeat also goes into USER.md.
2. **Failure then fix.** A tool call failed and a later call of the same tool worked, in the same
   turn or in the retry of a request whose last attempt failed: the model phrases what to do next
   time (or says there is nothing general to learn).
3. **Stated preferences** ("always answer in French", "dates as YYYY-MM-DD") are merged into USER.md.
4. **Skill.** A task that succeeded after many tool calls (``[memory] skill_min_tool_calls``,
   default 5) is written up as a SKILL.md, or refines the similar skill that exists.
5. Lessons and skills used in the turn are counted; failing ones are retired or archived.

Cheap deterministic checks decide *whether* there is something to learn; the model (route
``learning``) is only asked to phrase it. Every text is scanned before it is stored. Nothing here
raises to the user: failures are logged and recorded as ``error`` events.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.memory import episodes, lessons, profile
from ember.memory.episodes import Episode, Step
from ember.memory.learning import prompts
from ember.memory.learning.events import log_event, recent_events  # noqa: F401 (recent_events: importable from here too)
from ember.memory.learning.inputs import LearningConfig, Turn
from ember.memory.skills import stats as skill_stats

if TYPE_CHECKING:
    from ember.config import Settings
    from ember.models.base import Message
    from ember.models.router import Router
    from ember.store.ports import Store

log = logging.getLogger(__name__)

# Tools that manage memory or disclosure rather than doing the task: they do not make a task "long".
META_TOOLS = frozenset({"tools_load", "skill_view", "skill_manage", "user_profile", "memory_search"})

_CORRECTION = re.compile(
    r"^\W*(?:no\b(?!\s*(?:problem|worries|thanks|thank you|need|rush|hurry)\b)|nope\b|wrong\b|incorrect\b|"
    r"not quite\b|not right\b|that'?s (?:wrong|not right|incorrect|not it|not what)|that is (?:wrong|incorrect|not)|"
    r"actually\b|you (?:got|have) it wrong|i said\b|it should (?:be|have been)\b)",
    re.I,
)
_NOT_BUT = re.compile(r"\bnot\s+[\w\s-]{1,30}?,?\s+but\b|\b(?:instead of|rather than)\b", re.I)
# "#12 is not critical, it's low": a correction of a value, stated without "no" or "but".
_IS_NOT_ITS = re.compile(
    r"\b(?:is not|isn'?t|'s not|are not|aren'?t|was not|wasn'?t|were not|weren'?t)\b[^.!?\n]{1,60}?"
    r"[,;.:\u2014-]\s*(?:it|they|that|this|he|she)(?:'s|'re| is| are| was| were)\b",
    re.I,
)
_STRONG = re.compile(r"^\W*(?:no\b|nope\b|wrong\b|incorrect\b)", re.I)


def looks_like_correction(message: str) -> bool:
    """Cheap first check that a message corrects the previous answer; the model confirms it."""
    head = message.strip()[:300]
    return bool(_CORRECTION.search(head) or _NOT_BUT.search(head) or _IS_NOT_ITS.search(head))


class LearningAbandoned(Exception):
    """Ember is exiting before this turn's learning finished; it stops without writing more."""


# --- the learner -----------------------------------------------------------------------------------


class Learner:
    def __init__(self, store: Store, router: Router, settings: Settings, config: LearningConfig | None = None,
                 cancel: threading.Event | None = None):
        self.store = store
        self.router = router
        self.settings = settings
        self.home = Path(settings.home)
        self.config = config or LearningConfig.from_settings(settings)
        self.secrets = settings.secret_values()
        self.cancel = cancel or threading.Event()  # set when Ember exits before learning is done

    # the model --------------------------------------------------------------------------------

    def ask(self, messages: list[Message], session_id: str | None, max_tokens: int = 800) -> str | None:
        """One call on the ``learning`` route; None (logged) when it fails.

        Raises ``LearningAbandoned`` once Ember is exiting (``cancel`` set): nothing more is learned.
        """
        from ember.models.base import Cancelled, ProviderError

        if self.cancel.is_set():
            raise LearningAbandoned("Ember is exiting")
        try:
            completion = self.router.complete("learning", messages, None, max_tokens=max_tokens, cancel=self.cancel)
        except Cancelled as exc:
            raise LearningAbandoned("Ember is exiting") from exc
        except ProviderError as exc:
            log.info("learning: the model failed: %s", exc)
            log_event(self.store, "error", "the learning model failed", str(exc))
            return None
        cost = self.router.cost_of(completion)  # the model that answered, fallbacks included
        try:
            self.store.record_usage(session_id, model=completion.model, usage=completion.usage, cost=cost,
                                    kind="learning")
        except Exception:  # the session was deleted meanwhile: count the call without it
            self.store.record_usage(None, model=completion.model, usage=completion.usage, cost=cost, kind="learning")
        return completion.text

    def _checked(self, text: str, what: str, episode_id: int | None) -> str | None:
        from ember.security.scan import UnsafeContent, check  # compiled when there is something to store

        try:
            return check(text, what, secrets=self.secrets)
        except UnsafeContent as exc:
            log.warning("learning: %s", exc)
            log_event(self.store, "refused", what, str(exc), episode_id)
            return None

    # the turn -----------------------------------------------------------------------------------

    def learn(self, turn: Turn) -> Episode:
        """Everything the loop learns from one turn; returns the episode recorded."""
        if turn.failed is not None:
            return self._record_failed_turn(turn)
        steps = self._steps_of(turn)
        previous = episodes.latest(self.store, turn.session_id, answered=True)
        if previous is not None and looks_like_correction(turn.user_message):
            self._learn_from_correction(previous, turn)
        outcome = "failure" if _unresolved(steps) else "success"
        used_skills = [str(s.arguments.get("name")) for s in steps if s.tool == "skill_view" and s.ok]
        episode = Episode(
            task=turn.user_message, session_id=turn.session_id, answer=turn.answer, steps=steps, outcome=outcome,
            model_calls=turn.model_calls, input_tokens=turn.usage.input_tokens,
            output_tokens=turn.usage.output_tokens, lessons_used=list(turn.lessons_used),
            skills_used=list(dict.fromkeys(used_skills)),
        )
        episodes.record(self.store, episode)
        helped = outcome == "success"
        for lesson_id in lessons.record_outcome(self.store, episode.lessons_used, helped,
                                                window=self.config.retire_window, below=self.config.retire_below):
            log_event(self.store, "lesson-retired", f"lesson #{lesson_id}", "it stopped helping", episode.id)
        skill_stats.record_outcome(self.store, episode.skills_used, helped, window=self.config.retire_window)
        self._learn_from_fix(episode)
        self._learn_preferences(turn.user_message, episode.id)
        work = [s for s in steps if s.tool not in META_TOOLS]
        if helped and len(work) >= self.config.skill_min_tool_calls:
            from ember.memory.learning.skill_writer import write_skill

            write_skill(self, episode)
        self._archive_stale_skills(episode.id)
        return episode

    def _record_failed_turn(self, turn: Turn) -> Episode:
        """A turn that raised: its episode, and nothing learned from it until a retry works."""
        from ember.security.redact import Redactor

        steps = self._steps_of(turn)
        used_skills = [str(s.arguments.get("name")) for s in steps if s.tool == "skill_view" and s.ok]
        episode = Episode(
            task=turn.user_message, session_id=turn.session_id, steps=steps,
            outcome="cancelled" if turn.failed == "cancelled" else "failure",
            error=Redactor(self.secrets).redact(turn.error) or turn.failed or "failed",
            model_calls=turn.model_calls, input_tokens=turn.usage.input_tokens,
            output_tokens=turn.usage.output_tokens, lessons_used=list(turn.lessons_used),
            skills_used=list(dict.fromkeys(used_skills)),
        )
        episodes.record(self.store, episode)
        if turn.failed == "step-limit":  # the agent's own failure: the lessons and skills did not help
            for lesson_id in lessons.record_outcome(self.store, episode.lessons_used, False,
                                                    window=self.config.retire_window, below=self.config.retire_below):
                log_event(self.store, "lesson-retired", f"lesson #{lesson_id}", "it stopped helping", episode.id)
            skill_stats.record_outcome(self.store, episode.skills_used, False, window=self.config.retire_window)
        return episode

    def _archive_stale_skills(self, episode_id: int) -> None:
        root = self.home / "skills"
        if not root.is_dir():
            return
        from ember.memory.skills import library as skills

        for name, why in skills.archive_stale(self.home, self.store, unused_days=self.config.skill_unused_days,
                                              window=self.config.retire_window, below=self.config.retire_below):
            log_event(self.store, "skill-archived", name, why, episode_id)

    def _steps_of(self, turn: Turn) -> list[Step]:
        """The turn's tool calls and results, found in the store by its user message and final answer
        (a failed turn: every message after its user message, up to the next one)."""
        if turn.message_id is not None:
            after = self.store.get_messages(turn.session_id, after_id=turn.message_id)
            end = next((i for i, m in enumerate(after) if m.message.role == "user"), len(after))
            return episodes.steps_of_turn(after[:end])
        messages = self.store.get_messages(turn.session_id)
        answer_at = next((i for i in range(len(messages) - 1, -1, -1)
                          if messages[i].message.role == "assistant" and not messages[i].message.tool_calls
                          and messages[i].message.content == turn.answer), None)
        if answer_at is None:
            return []
        start = next((i for i in range(answer_at, -1, -1) if messages[i].message.role == "user"), 0)
        return episodes.steps_of_turn(messages[start + 1: answer_at + 1])

    # 1. corrections -------------------------------------------------------------------------------

    def _learn_from_correction(self, previous: Episode, turn: Turn) -> None:
        reply = self.ask(prompts.correction_request(previous, turn.user_message), turn.session_id)
        if reply is not None:
            parsed = prompts.parse_lesson(reply)
            if parsed is None:
                return  # the model read it as a follow-up, not a correction
        elif _STRONG.search(turn.user_message):
            parsed = (f"When asked: \"{_clip(previous.task, 120)}\", follow the user's correction: "
                      f"\"{_clip(turn.user_message, 200)}\"", previous.task)
        else:
            return
        episodes.set_outcome(self.store, previous.id, "corrected")
        for lesson_id in lessons.record_correction(self.store, previous.lessons_used,
                                                   window=self.config.retire_window, below=self.config.retire_below):
            log_event(self.store, "lesson-retired", f"lesson #{lesson_id}", "its task was corrected", previous.id)
        skill_stats.record_correction(self.store, previous.skills_used)
        written = [e["subject"] for e in self._events_of(previous.id, ("skill", "skill-refined"))]
        skill_stats.record_outcome(self.store, written, False, window=self.config.retire_window)
        self._store_lesson(parsed, "correction", previous.id)

    def _events_of(self, episode_id: int, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
        return [event.as_dict() for event in self.store.learning.of_episode(episode_id, kinds)]

    def _person_of_episode(self, episode_id: int | None) -> str:
        """Whose episode it is ("" the owner): lessons and USER.md are learned for that person."""
        if episode_id is None:
            return ""
        return self.store.episodes.person_of(episode_id)

    def _store_lesson(self, parsed: tuple[str, str], kind: str, episode_id: int) -> None:
        rule = self._checked(parsed[0], "a lesson", episode_id)
        words = self._checked(parsed[1], "a lesson's keywords", episode_id) if parsed[1] else ""
        if rule is None or words is None:
            return
        lesson, created = lessons.add(self.store, rule, words, kind=kind, episode_id=episode_id,
                                      person=self._person_of_episode(episode_id))
        log_event(self.store, "lesson" if created else "lesson-confirmed", f"lesson #{lesson.id}", lesson.rule, episode_id)
        if kind == "correction" and lesson.confirmations >= 2:
            # Corrected twice for the same thing: it is a standing preference, not a one-off.
            self._update_profile([("Preferences", lesson.rule)], episode_id)

    # 2. failures followed by a fix ---------------------------------------------------------------

    def _learn_from_fix(self, episode: Episode) -> None:
        pair = None
        earlier = episodes.previous_attempt(self.store, episode.task, episode.id,
                                            person=self.store.person_of(episode.session_id))
        if earlier is not None and earlier.outcome == "failure":  # a retry: did it fix what failed before?
            pair = _fixed_later(_unresolved(earlier.steps), episode.steps)
        pair = pair or _failure_and_fix(episode.steps)
        if pair is None:
            return
        reply = self.ask(prompts.failure_request(episode.task, *pair), episode.session_id)
        parsed = prompts.parse_lesson(reply) if reply else None
        if parsed is not None:
            self._store_lesson(parsed, "failure", episode.id)

    # 3. preferences -------------------------------------------------------------------------------

    def _learn_preferences(self, message: str, episode_id: int) -> None:
        stated = profile.stated_preferences(message)
        if stated:
            self._update_profile(stated, episode_id)

    def _update_profile(self, items: list[tuple[str, str]], episode_id: int | None) -> None:
        from ember.security.scan import UnsafeContent

        clean = []
        for section, item in items:
            try:  # a preference about answers, not an order to run, read, send or trust anything
                clean.append((section, profile.check_item(item, secrets=self.secrets)))
            except UnsafeContent as exc:
                log.warning("learning: %s", exc)
                log_event(self.store, "refused", "a USER.md item", str(exc), episode_id)
        if not clean:
            return
        replaced: list[tuple[str, str]] = []

        def change(p: profile.Profile) -> bool:
            before = p.items()
            changed = any([profile.merge_item(p, section, item) for section, item in clean])
            after = set(p.items())
            replaced[:] = [pair for pair in before if pair not in after]
            return changed

        home = profile.home_of(self.home, self._person_of_episode(episode_id))  # the person's own USER.md
        if profile.update(home, change, max_chars=self.config.profile_max_chars, condense=self._condense):
            from ember.memory.learning import learned

            learned.record(self.store, "profile", "USER.md updated", "; ".join(item for _, item in clean),
                           {"by": "learning", "type": "profile", "items": clean, "replaced": replaced,
                            "home": str(home)},
                           episode_id=episode_id)

    def _condense(self, text: str, max_chars: int) -> str | None:
        reply = self.ask(prompts.profile_request(text, max_chars), None, max_tokens=max_chars // 2)
        if not reply:
            return None
        shorter = prompts.strip_fences(reply)
        from ember.security.scan import UnsafeContent, check

        if any(profile.refusal(item) for _, item in profile.parse(shorter).items()):
            return None  # the condensed file may only restate preferences, never add an order
        try:
            return check(shorter, "the condensed USER.md", secrets=self.secrets)
        except UnsafeContent:
            return None


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unresolved(steps: list[Step]) -> list[Step]:
    """The failed calls that no later call of the same tool made good."""
    return [step for i, step in enumerate(steps)
            if not step.ok and not any(later.tool == step.tool and later.ok for later in steps[i + 1:])]


def _failure_and_fix(steps: list[Step]) -> tuple[Step, Step] | None:
    for i, step in enumerate(steps):
        pair = _fixed_later([step], steps[i + 1:])
        if pair is not None:
            return pair
    return None


def _fixed_later(failed: list[Step], later_steps: list[Step]) -> tuple[Step, Step] | None:
    """A failed call and the first later call of the same tool that worked, with other arguments."""
    for step in failed:
        if step.ok or step.tool in META_TOOLS:
            continue
        fix = next((later for later in later_steps if later.tool == step.tool and later.ok), None)
        if fix is not None and fix.arguments != step.arguments:
            return step, fix
    return None
