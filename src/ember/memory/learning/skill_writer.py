"""Writing a skill from a long task that worked: draft it on the cheap model, validate, scan, save.

Imported only when a turn qualifies (``[memory] skill_min_tool_calls`` tool calls and success), so
ordinary turns do not load the skill library or the scanner. A similar existing skill (loaded
during the task, or matching it by name and description) is refined with its text in view
instead of being duplicated; a draft that is not a valid SKILL.md, or that the scan refuses, is
dropped and recorded as a ``refused`` learning event.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ember.memory.learning import prompts
from ember.memory.learning.events import log_event
from ember.memory.skills import library as skills
from ember.memory.skills.format import SkillDoc, SkillFormatError, parse_skill, slugify, validate_name

if TYPE_CHECKING:
    from pathlib import Path

    from ember.memory.episodes import Episode
    from ember.memory.learning.learner import Learner

log = logging.getLogger(__name__)


def similar_skill(home: Path, task: str) -> str | None:
    """The existing skill closest to ``task``, if one is close enough to refine instead of duplicating."""
    for info, shared, similarity in skills.ranked(home, None, task)[:1]:
        if shared >= 2 and similarity >= 0.3:
            return info.name
    return None


def write_skill(learner: Learner, episode: Episode) -> str | None:
    """Write or refine the skill ``episode`` teaches; returns its name, or None when nothing was saved."""
    name = episode.skills_used[0] if episode.skills_used else similar_skill(learner.home, episode.task)
    doc = _draft(learner, episode, name)
    if doc is None:
        return None
    if name is None and skills.find(learner.home, doc.name) is not None:
        name = doc.name  # the model chose an existing name: refine that skill with its text in view
        doc = _draft(learner, episode, name)
        if doc is None:
            return None
    final_name = name or doc.name
    try:
        skills.save(learner.home, learner.store, final_name, doc.description, doc.body, origin="learned",
                    secrets=learner.secrets)
    except skills.SkillError as exc:
        log.info("learning: skill not saved: %s", exc)
        log_event(learner.store, "refused", f"skill {final_name}", str(exc), episode.id)
        return None
    log_event(learner.store, "skill-refined" if name else "skill", final_name, doc.description, episode.id)
    return final_name


def _draft(learner: Learner, episode: Episode, existing_name: str | None) -> SkillDoc | None:
    existing = None
    if existing_name:
        info = skills.find(learner.home, existing_name)
        existing = (info.path / "SKILL.md").read_text(encoding="utf-8") if info else None
    reply = learner.ask(prompts.skill_request(episode, existing, existing_name or ""), episode.session_id,
                        max_tokens=1500)
    if not reply:
        return None
    try:
        doc = parse_skill(prompts.strip_fences(reply))
    except SkillFormatError as exc:
        log_event(learner.store, "refused", "a skill draft", f"not a valid SKILL.md: {exc}", episode.id)
        return None
    if validate_name(doc.name):
        doc.name = slugify(doc.name)
    return doc
