"""The ``planning`` toolset: the agent's task list for the session, and questions to the user.

``todo`` keeps a numbered list in ``ctx.state`` and, after every change, in the store's meta
table under ``todo:<session id>``, so a resumed session (a new process, a fresh ToolContext)
finds its list again. ``clarify`` asks the person through the turn's door (``ctx.door``: the
terminal chat, a chat platform); where no one can answer (``ember run``, the scheduler,
sub-agents) it fails with a result telling the model how to go on alone.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from ember.tools.base import ToolContext, ToolError, tool

Status = Literal["pending", "in_progress", "done", "cancelled"]
MARKS = {"pending": "[ ]", "in_progress": "[>]", "done": "[x]", "cancelled": "[-]"}
MAX_ITEMS = 100


def _meta_key(ctx: ToolContext) -> str:
    return f"todo:{ctx.session_id}"


def _load(ctx: ToolContext) -> dict[str, Any]:
    """The session's list: from ``ctx.state``, else as last stored (a resumed session)."""
    if "todo" not in ctx.state:
        stored, store = None, ctx.store
        if store is not None and ctx.session_id is not None:
            stored = store.get_meta(_meta_key(ctx))
        try:
            loaded = json.loads(stored) if stored else {}
        except ValueError:
            loaded = {}
        items = loaded.get("items") if isinstance(loaded, dict) else None
        ctx.state["todo"] = {"items": items if isinstance(items, list) else []}
    return ctx.state["todo"]


def _save(ctx: ToolContext, todo: dict[str, Any]) -> None:
    store = ctx.store
    if store is not None and ctx.session_id is not None:
        store.set_meta(_meta_key(ctx), json.dumps(todo, ensure_ascii=False))


def render(todo: dict[str, Any]) -> str:
    items = todo["items"]
    if not items:
        return "The task list is empty."
    done = sum(item["status"] == "done" for item in items)
    open_ = sum(item["status"] in ("pending", "in_progress") for item in items)
    lines = [f"Tasks ({done} done, {open_} open):"]
    lines += [f"{MARKS.get(item['status'], '[?]')} {item['id']}. {item['text']}" for item in items]
    return "\n".join(lines)


@tool(toolset="planning")
def todo(
    ctx: ToolContext,
    action: Literal["add", "update", "list", "clear"],
    items: list[str] | None = None,
    ids: list[int] | None = None,
    status: Status | None = None,
) -> str:
    """Your task list for this session: plan multi-step work, mark progress, see what is left.

    Args:
        action: add (new items), update (set status of ids), list, or clear (drop done and cancelled items).
        items: For add: the tasks, one short line each.
        ids: For update: the numbers of the tasks to change.
        status: For update: pending, in_progress, done or cancelled.
    """
    state = _load(ctx)
    entries: list[dict[str, Any]] = state["items"]
    if action == "add":
        texts = [t.strip() for t in items or [] if t and t.strip()]
        if not texts:
            raise ToolError("add needs items: a list of short task descriptions.")
        if len(entries) + len(texts) > MAX_ITEMS:
            raise ToolError(f"The list would pass {MAX_ITEMS} tasks; clear finished ones or merge tasks.")
        next_id = max((e["id"] for e in entries), default=0) + 1
        entries += [{"id": next_id + n, "text": text, "status": "pending"} for n, text in enumerate(texts)]
    elif action == "update":
        if not ids or status is None:
            raise ToolError("update needs ids (task numbers) and a status.")
        by_id = {e["id"]: e for e in entries}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            known = ", ".join(str(i) for i in by_id) or "none"
            raise ToolError(f"No task numbered {', '.join(map(str, unknown))}; the tasks are {known}.")
        for i in ids:
            by_id[i]["status"] = status
    elif action == "clear":
        state["items"] = [e for e in entries if e["status"] in ("pending", "in_progress")]
    if action != "list":
        _save(ctx, state)
    return render(state)


@tool(toolset="planning")
def clarify(ctx: ToolContext, question: str, options: list[str] | None = None) -> str:
    """Ask the user a question when the request is ambiguous and guessing wrong would be costly.

    Args:
        question: One clear question.
        options: Suggested answers the user can pick by number; they may still answer freely.
    """
    door = ctx.door
    if door is None or not door.present:
        raise ToolError(
            "No one can answer questions here: this run is not interactive. Do not call clarify again. "
            "Either proceed on the most reasonable assumption and state it in your answer, or stop and "
            "put the question in your final answer."
        )
    choices = [o.strip() for o in options or [] if o and o.strip()]
    with door.lock:  # never over an approval question on the same screen
        answer = str(door.ask(question.strip(), choices) or "").strip()
    if not answer:
        return "The user gave no answer. Proceed on the most reasonable assumption and say which one you made."
    if answer.isdigit() and 1 <= int(answer) <= len(choices):
        answer = choices[int(answer) - 1]
    return f"The user answered: {answer}"
