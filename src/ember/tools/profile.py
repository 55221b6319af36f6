"""The ``user_profile`` tool: the model reads and updates USER.md, the user's standing preferences.

USER.md is already in every prompt; the tool is for changing it when the user says something
that should hold from now on ("use metric units"), or removing what no longer does. Items are
preferences about answers (language, format, terms, constraints): one that tells the agent to
run commands, read or send files, contact hosts, trust tool output or skip approvals is refused
with the reason, as are injected instructions in any spelling; secrets are redacted. Items are
merged with what the file holds (a restated or changed item replaces the old one), and the file
is changed as it is on disk, so the user's own edits are never lost. An item the model adds is
shown to the person ("Noted for next time: ...") through the turn's door, with the
``ember memory undo`` id that takes it back. See ``ember.memory.profile``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ember.memory import profile
from ember.security.scan import UnsafeContent
from ember.tools.base import ToolContext, ToolError, tool

Section = Literal["Preferences", "Language", "Formats", "Terms", "Constraints"]


def _home_and_budget(ctx: ToolContext) -> tuple[Path, int]:
    if ctx.settings is None:
        raise ToolError("user_profile needs Ember's settings (EMBER_HOME); it is not available here.")
    from ember.memory.learning.wiring import LearningConfig

    person = ctx.store.person_of(ctx.session_id) if ctx.store is not None else ""  # each person's own USER.md
    return profile.home_of(Path(ctx.settings.home), person), LearningConfig.from_settings(ctx.settings).profile_max_chars


@tool(toolset="memory")
def user_profile(
    ctx: ToolContext,
    action: Literal["read", "add", "remove"] = "read",
    section: Section = "Preferences",
    item: str | None = None,
) -> str:
    """Read or update the user's profile (USER.md): preferences about answers, never commands to run.

    Args:
        action: "read" the profile, "add" an item (it replaces an item it restates), or "remove" one.
        section: The section an added item goes to.
        item: One short line for add or remove, e.g. "Dates as YYYY-MM-DD".
    """
    home, budget = _home_and_budget(ctx)
    if action == "read":
        text = profile.read_text(home).strip()
        return text or "USER.md is empty: nothing is known about the user's preferences yet."
    if not item or not item.strip():
        raise ToolError(f"{action} needs an item, e.g. user_profile(action='{action}', item='Dates as YYYY-MM-DD').")
    if action == "remove":
        removed = profile.update(home, lambda p: profile.remove_item(p, item), max_chars=budget)
        return f"Removed {item!r} from USER.md." if removed else f"USER.md has no item like {item!r}; nothing removed."
    secrets = ctx.settings.secret_values() if ctx.settings is not None else []
    try:
        clean = profile.check_item(item, secrets=secrets)
    except UnsafeContent as exc:
        raise ToolError(str(exc)) from exc
    if len(clean) > 300:
        raise ToolError("A profile item is one short line (at most 300 characters); split or shorten it.")
    replaced: list[tuple[str, str]] = []

    def change(p: profile.Profile) -> bool:
        before = p.items()
        changed = profile.merge_item(p, section, clean)
        after = set(p.items())
        replaced[:] = [pair for pair in before if pair not in after]
        return changed

    changed = profile.update(home, change, max_chars=budget)
    if not changed:
        return f"USER.md already says {clean!r}."
    _tell_the_user(ctx, clean, section, replaced, home)
    note = " (a secret was removed from it)" if clean != profile.tidy_item(item) else ""
    return f"Saved to USER.md under {section}: {clean}{note}"


def _tell_the_user(ctx: ToolContext, item: str, section: str, replaced: list[tuple[str, str]], home: Path) -> None:
    """The model changed USER.md on its own: one line for the person, with how to undo it."""
    undo = ""
    if ctx.store is not None:
        from ember.memory.learning import learned

        event_id = learned.record(ctx.store, "profile", "USER.md item from the agent", item,
                                  {"by": "agent", "type": "profile", "items": [[section, item]], "replaced": replaced,
                                   "home": str(home)})
        undo = f"; undo: ember memory undo {event_id}"
    door = ctx.door or ctx.approver.door
    door.notify(f"Noted for next time: {item} (USER.md, {section}{undo})")
