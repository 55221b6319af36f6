"""The ``skills`` toolset: load a skill's instructions on demand, and create, edit or archive skills.

The prompt carries only a one-line index of skills (name and description); ``skill_view`` loads
the body when a task calls for it, so a library of many skills costs a few lines per request.
Loading counts as using the skill: the learner credits it with the task's outcome.

A skill body is untrusted text when it came from elsewhere: ``skill_view`` refuses one that
carries injected instructions, and ``skill_manage`` validates and scans what it saves (a skill
that claims every task, or pipes a download into a shell, is refused with the reason). A skill
the model creates or changes is shown to the person ("Noted for next time: ...") through the
turn's door, with the ``ember memory undo`` id that takes it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ember.memory.skills import library as skills
from ember.memory.skills.format import MAX_LEARNED_CHARS, MAX_SKILL_CHARS, validate_name
from ember.security.scan import scan
from ember.tools.base import ToolContext, ToolError, tool

MAX_FILE_CHARS = 30_000


def _home(ctx: ToolContext) -> Path:
    if ctx.settings is None:
        raise ToolError("skills need Ember's settings (EMBER_HOME); they are not available here.")
    return Path(ctx.settings.home)


def _refuse_if_unsafe(text: str, what: str) -> None:
    result = scan(text, code=what.startswith("scripts/"))
    if result.refused:
        raise ToolError(f"{what} was not loaded: it contains {'; '.join(result.problems)}. "
                        "Tell the user; they can inspect it with `ember skills show`.")


@tool(toolset="skills")
def skill_view(ctx: ToolContext, name: str, file: str | None = None) -> str:
    """Load a skill's instructions (or one of its files) before doing a task it covers.

    Args:
        name: The skill's name, from the Skills list in the system prompt.
        file: A file inside the skill to read instead, e.g. "references/api.md".
    """
    home = _home(ctx)
    try:
        doc = skills.load(home, name)
    except skills.SkillError as exc:
        raise ToolError(str(exc)) from exc
    info = skills.find(home, name)
    assert info is not None
    if file:
        target = (info.path / file).resolve()
        if not target.is_relative_to(info.path.resolve()) or not target.is_file():
            listed = ", ".join(skills.skill_files(info.path)) or "none"
            raise ToolError(f"skill {doc.name!r} has no file {file!r}; its files: {listed}")
        try:
            content = target.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ToolError(f"{file} is a binary file; run it or pass its path to a tool instead.") from exc
        _refuse_if_unsafe(content, file)
        return content[:MAX_FILE_CHARS]
    _refuse_if_unsafe(doc.body, f"skill {doc.name!r}")
    files = skills.skill_files(info.path)
    more = ""
    if files:
        more = (f"\n\n[Files of this skill (folder {info.path}): {', '.join(files[:30])}. "
                "Read one with skill_view(name, file).]")
    return f"# Skill: {doc.name}\n{doc.description}\n\n{doc.body}{more}"


@tool(toolset="skills")
def skill_manage(
    ctx: ToolContext,
    action: Literal["create", "edit", "archive"],
    name: str,
    description: str | None = None,
    body: str | None = None,
) -> str:
    """Create, edit or archive a reusable skill (a SKILL.md: when to use it, steps, pitfalls).

    Args:
        action: "create" a new skill, "edit" an existing one, or "archive" one that is wrong or obsolete.
        name: Lowercase-hyphenated name, e.g. "weekly-report".
        description: One sentence: what it does and when to use it (create, or edit to change it).
        body: Markdown instructions (create, or edit to replace them).
    """
    home = _home(ctx)
    store = ctx.store
    try:
        if action == "archive":
            where = skills.archive(home, name, store, "archived by the agent")
            return f"Archived skill {name!r} (moved to {where}); `ember skills restore {name}` brings it back."
        problem = validate_name(name)
        if problem:
            raise ToolError(f"skill name {name!r}: {problem}")
        existing = skills.find(home, name)
        if action == "create":
            if existing is not None:
                raise ToolError(f"a skill named {name!r} exists; use action='edit' to change it.")
            if not description or not body:
                raise ToolError("create needs a description and a body.")
        else:
            if existing is None:
                raise ToolError(f"no skill named {name!r}; use action='create'.")
            current = skills.load(home, name)
            description = description or current.description
            body = body or current.body
        secrets = ctx.settings.secret_values() if ctx.settings is not None else []
        previous = (existing.path / "SKILL.md").read_text(encoding="utf-8") if existing is not None else None
        written = skills.save(home, store, name, description, body, origin="agent", secrets=secrets,
                              max_chars=MAX_LEARNED_CHARS if action == "create" else MAX_SKILL_CHARS)
    except skills.SkillError as exc:
        raise ToolError(str(exc)) from exc
    saved = skills.find(home, name)  # its description as stored: secrets redacted
    _tell_the_user(ctx, name, saved.description if saved else "", previous, written.read_text(encoding="utf-8"))
    return f"{'Created' if action == 'create' else 'Updated'} skill {name!r}."


def _tell_the_user(ctx: ToolContext, name: str, description: str, previous: str | None, written: str) -> None:
    """The model wrote a skill on its own: one line for the person, with how to undo it."""
    undo = ""
    if ctx.store is not None:
        from ember.memory.learning import learned

        event_id = learned.record(ctx.store, "skill" if previous is None else "skill-edited", name, description,
                                  {"by": "agent", "type": "skill", "name": name, "created": previous is None,
                                   "previous": previous, "written": written})
        undo = f" (undo: ember memory undo {event_id})"
    what = f"a new skill, {name}: {_clip(description, 100)}" if previous is None else f"skill {name} was updated"
    (ctx.door or ctx.approver.door).notify(f"Noted for next time: {what}{undo}")


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
