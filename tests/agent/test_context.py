from ember.agent.compaction import plan_compaction, render_transcript
from ember.agent.context import ContextBuilder, Slot, SlotRequest, fit_to_budget, repair_history
from ember.models.base import Message, ToolCall


def call(id_, name="shell"):
    return ToolCall(id=id_, name=name, arguments={"command": "ls"})


def test_repair_history_adds_results_for_interrupted_calls():
    history = [
        Message(role="user", content="do it"),
        Message(role="assistant", tool_calls=[call("a"), call("b")]),
        Message(role="tool", tool_call_id="a", name="shell", content="ok"),
        Message(role="user", content="next"),
    ]
    repaired = repair_history(history)
    roles = [(m.role, m.tool_call_id) for m in repaired]
    assert roles == [("user", None), ("assistant", None), ("tool", "a"), ("tool", "b"), ("user", None)]
    assert repaired[3].is_error and "interrupted" in repaired[3].content


def test_repair_history_drops_orphan_results():
    history = [Message(role="user", content="x"), Message(role="tool", tool_call_id="zz", content="orphan")]
    assert [m.role for m in repair_history(history)] == ["user"]


def test_slots_fill_the_system_prompt_in_order_and_skip_empty():
    builder = ContextBuilder(identity="ID")
    builder.add_slot(Slot("User profile", lambda r: "likes tea"))
    builder.add_slot(Slot("Lessons", lambda r: None))
    builder.add_slot(Slot("Skills", lambda r: "x" * 50, max_chars=10))
    messages = builder.build(SlotRequest("s", "hi"), [Message(role="user", content="hi")], ["web: search (web_search)"])
    system = messages[0].content
    assert system.startswith("ID")
    assert "## User profile\nlikes tea" in system
    assert "Lessons" not in system
    assert "xxxxxxxxxx\n[…truncated]" in system
    assert "tools_load" in system and "web: search" in system
    assert messages[-1].content == "hi"


def test_summary_goes_before_the_recent_turns():
    builder = ContextBuilder(identity="ID")
    messages = builder.build(SlotRequest("s", "q"), [Message(role="user", content="q")], [], summary="S!")
    assert "S!" in messages[1].content and messages[-1].content == "q"


def test_fit_to_budget_cuts_at_user_messages():
    system = Message(role="system", content="s")
    turns = []
    for i in range(10):
        turns += [Message(role="user", content=f"u{i} " + "x" * 400),
                  Message(role="assistant", tool_calls=[call(f"c{i}")]),
                  Message(role="tool", tool_call_id=f"c{i}", content="y" * 400),
                  Message(role="assistant", content="done")]
    fitted = fit_to_budget([system, *turns], budget_tokens=700)
    assert fitted[0] is system and fitted[1].role == "user"
    assert fitted[-1].content == "done"
    assert len(fitted) < 1 + len(turns)


def test_plan_compaction_keeps_recent_turns_and_tool_pairs():
    entries = []
    n = 0
    for i in range(5):
        for m in (Message(role="user", content=f"u{i}"), Message(role="assistant", tool_calls=[call(f"c{i}")]),
                  Message(role="tool", tool_call_id=f"c{i}", content="r"), Message(role="assistant", content="a")):
            n += 1
            entries.append((n, m))
    plan = plan_compaction(entries, keep_recent_turns=2)
    assert plan is not None
    assert plan.upto_id == 12  # three full turns folded
    assert plan_compaction(entries[:8], keep_recent_turns=2) is None
    text = render_transcript(plan.folded, "old summary")
    assert "old summary" in text and "USER: u0" in text and "ASSISTANT CALLS shell" in text
