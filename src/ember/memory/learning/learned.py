"""What the model added to memory on its own, listed and undone by id (``ember memory learned|undo``).

USER.md items and skills written by the model (the ``user_profile`` and ``skill_manage`` tools
during a turn, the learning loop after it) are ``learning_events`` rows like every other thing
learned; what it takes to undo one (the item and what it replaced, the skill's previous text) is
kept beside it (``store.learning``: ``log(..., undo=)``, ``undo_record``). Undoing:

- a USER.md item: removed, and the item it replaced put back;
- a new skill: archived (``ember skills restore NAME`` brings it back);
- a changed skill: its previous SKILL.md written back, unless it changed again since.

Events the learning loop recorded before this existed carry no undo record: their USER.md items
are read from the event's text, and a refined skill's previous text from ``skills/.history``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.store.ports import Store

KINDS = ("profile", "skill", "skill-refined", "skill-edited")


class UndoError(ValueError):
    """The change cannot be undone; the message says why and what to do."""


@dataclass
class Learned:
    """One change the model made to memory, as ``ember memory learned`` lists it."""

    id: int
    kind: str  # profile, skill (new), skill-refined (by the learning loop), skill-edited (by the agent)
    by: str  # "agent" (a tool during a turn) or "learning" (the loop after it)
    what: str  # one line: "USER.md (Formats): Dates as YYYY-MM-DD", "new skill tidy-csv: ..."
    created_at: float
    undone: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def record(store: Store, kind: str, subject: str, detail: str, undo: dict[str, Any], *,
           episode_id: int | None = None) -> int:
    """Log a learning event with what it takes to undo it; returns its id (what ``ember memory undo`` takes)."""
    return store.learning.log(kind, subject[:300], detail[:1000], episode_id, undo=json.dumps(undo, ensure_ascii=False))


def _undo_record(store: Store, event: dict[str, Any]) -> dict[str, Any]:
    raw = store.learning.undo_record(event["id"])
    if raw:
        return json.loads(raw)
    if event["kind"] == "profile":  # recorded by the learning loop ("item; item") or ember mcp serve (one item)
        by = "mcp client" if "MCP client" in event["subject"] else "learning"
        items = [event["detail"]] if by == "mcp client" else event["detail"].split("; ")
        return {"by": by, "type": "profile", "items": [[None, i] for i in items if i]}
    return {"by": "learning", "type": "skill", "name": event["subject"], "created": event["kind"] == "skill"}


def _describe(event: dict[str, Any], undo: dict[str, Any]) -> str:
    if undo["type"] == "profile":
        items = undo.get("items", [])
        where = f"USER.md ({items[0][0]})" if len(items) == 1 and items[0][0] else "USER.md"
        return f"{where}: " + "; ".join(item for _, item in items)
    name = undo.get("name") or event["subject"]
    if undo.get("created"):
        return f"new skill {name}: {event['detail']}" if event["detail"] else f"new skill {name}"
    return f"skill {name} changed" + (f": {event['detail']}" if event["detail"] else "")


def _event(store: Store, event_id: int) -> dict[str, Any] | None:
    found = store.learning.get(event_id, KINDS)
    return found.as_dict() if found else None


def entries(store: Store, *, include_undone: bool = False, limit: int = 50) -> list[Learned]:
    """USER.md items and skills the model wrote, newest first."""
    found = []
    for row in store.learning.of_kinds(KINDS, limit * 4 if not include_undone else limit):
        event = row.as_dict()
        if event["kind"] == "profile" and not event["subject"].startswith("USER.md"):
            continue
        undone = store.learning.undone(event["id"])
        if undone and not include_undone:
            continue
        undo = _undo_record(store, event)
        found.append(Learned(event["id"], event["kind"], undo.get("by", "learning"), _describe(event, undo),
                             event["created_at"], undone))
        if len(found) >= limit:
            break
    return found


def undo(store: Store, home: Path, event_id: int) -> str:
    """Undo change ``event_id``; returns what was done. Raises ``UndoError`` when it cannot be undone."""
    event = _event(store, event_id)
    if event is None:
        raise UndoError(f"no learned change #{event_id}; see `ember memory learned`")
    if store.learning.undone(event_id):
        raise UndoError(f"change #{event_id} was undone already")
    record_ = _undo_record(store, event)
    if record_["type"] == "profile":  # the USER.md it changed: EMBER_HOME's, or a gateway person's own
        done = _undo_profile(Path(record_.get("home") or home), record_)
    else:
        done = _undo_skill(store, home, event, record_)
    store.learning.mark_undone(event_id)
    from ember.memory.learning.events import log_event

    log_event(store, "undone", f"change #{event_id}", done)
    return done


def _undo_profile(home: Path, record_: dict[str, Any]) -> str:
    from ember.memory import profile

    items = [item for _, item in record_.get("items", [])]
    replaced = [(section, item) for section, item in record_.get("replaced", [])]
    removed: list[str] = []

    def change(p: profile.Profile) -> bool:
        removed.clear()
        for item in items:
            if profile.remove_item(p, item, exact=True):
                removed.append(item)
        for section, item in replaced:
            profile.merge_item(p, section, item)
        return bool(removed or replaced)

    profile.update(home, change)
    if not removed:
        return "USER.md no longer holds " + "; ".join(repr(i) for i in items) + ": nothing to remove"
    back = f"; put back {'; '.join(repr(item) for _, item in replaced)}" if replaced else ""
    return f"removed {'; '.join(repr(i) for i in removed)} from USER.md{back}"


def _undo_skill(store: Store, home: Path, event: dict[str, Any], record_: dict[str, Any]) -> str:
    from ember.memory.skills import library as skills

    name = record_["name"]
    info = skills.find(home, name)
    if record_.get("created"):
        if info is None:
            return f"skill {name} is not in use any more: nothing to archive"
        where = skills.archive(home, name, store, "undone by the user")
        return f"archived skill {name} (moved to {where}; `ember skills restore {name}` brings it back)"
    if info is None:
        raise UndoError(f"skill {name} is not in use any more (archived or removed); nothing undone")
    skill_file = info.path / "SKILL.md"
    current = skill_file.read_text(encoding="utf-8")
    previous = record_.get("previous")
    if previous is None:
        previous = skills.previous_version(home, name, event["created_at"])
        if previous is None:
            raise UndoError(f"the version of skill {name} before change #{event['id']} was not kept; "
                            f"edit it with `ember skills show {name}` and your editor")
        changed_since = skill_file.stat().st_mtime > event["created_at"] + 5
    else:
        changed_since = record_.get("written") not in (None, current)
    if changed_since:
        raise UndoError(f"skill {name} changed again after change #{event['id']}; nothing undone "
                        f"(see `ember skills show {name}`)")
    tmp = skill_file.with_name(f".SKILL.md.{os.getpid()}.tmp")
    tmp.write_text(previous, encoding="utf-8")
    os.replace(tmp, skill_file)
    return f"skill {name} is back to its version before change #{event['id']}"
