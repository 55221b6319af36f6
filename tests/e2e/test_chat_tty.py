"""The interactive chat in a real pseudo-terminal: prompt_toolkit input, Ctrl-C and Ctrl-D."""

from __future__ import annotations

from tests.e2e.terminal import Terminal
from tests.fakes.openai_server import FakeOpenAI, Reply


def test_ctrl_c_cancels_the_turn_and_the_session_goes_on(ember):
    script = [Reply(text="a very long story " * 50, chunk_size=3, chunk_delay=0.05, hang=True), "second answer"]
    with FakeOpenAI(script) as fake:
        ember.point_at(fake)
        term = Terminal(ember.env, str(ember.workspace), "chat")
        term.read_until("Ctrl-D to quit")
        term.type("tell me a story\r")
        term.read_until("a very long story")
        term.type("\x03")  # Ctrl-C
        term.read_until("cancelled")
        term.read_until("›", after="cancelled")
        term.type("and now?\r")
        term.read_until("second answer")
        term.read_until("›", after="second answer")  # the next prompt is ready
        term.type("\x04")  # Ctrl-D
        assert term.close() == 0
    history = fake.requests[1]["messages"]
    assert any("cancelled by the user" in m["content"] for m in history if m["role"] == "assistant")
