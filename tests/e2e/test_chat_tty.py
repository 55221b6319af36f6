"""The interactive chat in a real pseudo-terminal: prompt_toolkit input, Ctrl-C and Ctrl-D."""

from __future__ import annotations

import os
import pty
import select
import signal
import time

from tests.e2e.conftest import EMBER
from tests.fakes.openai_server import FakeOpenAI, Reply


class Terminal:
    def __init__(self, env: dict[str, str], cwd: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become `ember chat` on the pty
            os.chdir(cwd)
            os.execve(EMBER, [EMBER, "chat"], {**env, "TERM": "xterm", "COLUMNS": "100", "LINES": "40", "PROMPT_TOOLKIT_NO_CPR": "1"})
        self.output = ""

    def read_until(self, needle: str, timeout: float = 10.0, after: str | None = None) -> str:
        """Wait for ``needle`` (when ``after`` is given: for ``needle`` after the last ``after``)."""
        deadline = time.time() + timeout

        def seen() -> bool:
            start = self.output.rfind(after) if after else 0
            return start >= 0 and needle in self.output[start:]

        while not seen():
            remaining = deadline - time.time()
            if remaining <= 0:
                raise AssertionError(f"{needle!r} never appeared; screen so far:\n{self.output[-2000:]}")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536).decode("utf-8", "replace")
                except OSError:
                    break
        return self.output

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def close(self) -> int:
        deadline = time.time() + 10
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536).decode("utf-8", "replace")
                except OSError:
                    time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("ember chat did not exit")


def test_ctrl_c_cancels_the_turn_and_the_session_goes_on(ember):
    script = [Reply(text="a very long story " * 50, chunk_size=3, chunk_delay=0.05, hang=True), "second answer"]
    with FakeOpenAI(script) as fake:
        ember.point_at(fake)
        term = Terminal(ember.env, str(ember.workspace))
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
