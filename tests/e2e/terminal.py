"""`ember` on a pseudo-terminal, for the tests that need a real tty (prompt_toolkit, Rich, Ctrl-C)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import time

from tests.e2e.conftest import EMBER

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """`ember ARGS...` on a pseudo-terminal (stdin and stdout are a tty)."""

    def __init__(self, env: dict[str, str], cwd: str, *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become `ember ARGS` on the pty
            os.chdir(cwd)
            term = {"TERM": "xterm", "COLUMNS": "100", "LINES": "40", "PROMPT_TOOLKIT_NO_CPR": "1"}
            os.execve(EMBER, [EMBER, *args], {**env, **term})
        self.output = ""

    @property
    def screen(self) -> str:
        """What was written, without the terminal's escape sequences."""
        return ANSI.sub("", self.output)

    def _pump(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            self.output += data.decode("utf-8", "replace")
        return True

    def read_until(self, needle: str, timeout: float = 10.0, after: str | None = None) -> str:
        deadline = time.time() + timeout

        def seen() -> bool:
            screen = self.screen
            start = screen.rfind(after) if after else 0
            return start >= 0 and needle in screen[start:]

        while not seen():
            remaining = deadline - time.time()
            if remaining <= 0:
                raise AssertionError(f"{needle!r} never appeared; screen so far:\n{self.output[-2000:]}")
            if not self._pump(remaining):  # nothing readable this moment (EIO while the pty settles)
                time.sleep(0.02)
        return self.output

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def close(self) -> int:
        deadline = time.time() + 10
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._pump(0.05):  # what is left on the screen
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            if not self._pump(0.05):
                time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"ember did not exit; screen:\n{self.output[-2000:]}")
