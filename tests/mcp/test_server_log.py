"""A stdio server's log (EMBER_HOME/logs/mcp-NAME.log) never holds a secret: not the values its
``${VAR}`` references resolved to, not a key it prints, whatever it writes to stderr and when."""

from __future__ import annotations

import subprocess
import sys
import time

from ember.mcp.server_log import CHUNK, ServerLog
from ember.models.base import ToolCall
from ember.security.redact import Redactor
from ember.tools.base import ToolContext
from ember.tools.builtin import builtin_registry
from tests.mcp.conftest import ROOT

TOKEN = "tok-Vq83LmZx2KwP9rTb"  # in .env, handed to the server as ${NOTES_TOKEN}
HF = "hf_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL"  # a key the server prints that Ember was never told about


def call(registry, ctx, tool, **arguments):
    return registry.execute(ToolCall(id="c1", name=tool, arguments=arguments), ctx)


def test_what_a_server_prints_is_in_its_log_with_secrets_masked(configure, ember_home, tmp_path):
    (ember_home / ".env").write_text(f"NOTES_TOKEN={TOKEN}\n")
    script = (f'echo "starting with token=$API_TOKEN and {HF}" >&2; '
              f"exec {sys.executable} -m tests.fakes.mcp_http_server --stdio")
    settings = configure(notes={"command": "sh", "args": ["-c", script], "cwd": str(ROOT),
                                "env": {"API_TOKEN": "${NOTES_TOKEN}"}})
    registry = builtin_registry(settings)
    ctx = ToolContext(workspace=tmp_path / "ws")
    assert call(registry, ctx, "notes__env", name="API_TOKEN").content == "[REDACTED]"  # it has the token
    from ember.mcp.client import close_all

    close_all()
    log = (ember_home / "logs" / "mcp-notes.log").read_text()
    assert "starting with token=[REDACTED] and [REDACTED]" in log
    header = log.splitlines()[0]  # the command line, masked too
    assert header.startswith("--- ") and " starting sh -c 'echo " in header and "[REDACTED]" in header
    assert TOKEN not in log and HF not in log


def test_a_server_that_prints_its_token_and_exits_is_reported_masked(configure, ember_home, tmp_path):
    (ember_home / ".env").write_text(f"NOTES_TOKEN={TOKEN}\n")
    settings = configure(broken={"command": "sh", "args": ["-c", 'echo "refused token $T" >&2; exit 1'],
                                 "env": {"T": "${NOTES_TOKEN}"}})
    result = call(builtin_registry(settings), ToolContext(workspace=tmp_path / "ws"), "tools_load", toolset="broken")
    assert result.is_error and "refused token [REDACTED]" in result.content and TOKEN not in result.content
    log = (ember_home / "logs" / "mcp-broken.log").read_text()
    assert "refused token [REDACTED]" in log and TOKEN not in log


def test_the_log_keeps_up_with_a_chatty_server_and_masks_across_writes(tmp_path):
    path = tmp_path / "logs" / "mcp-chatty.log"
    log = ServerLog(path, Redactor([TOKEN]).redact, "--- starting chatty")
    # More than a pipe holds, a line longer than a chunk, and a token written in two pieces.
    program = ("import sys, time\n"
               f"w = sys.stderr.write\nw('x' * {CHUNK * 3} + '\\n')\nw('a' * 10 + '{TOKEN[:7]}'); sys.stderr.flush()\n"
               f"time.sleep(0.2)\nw('{TOKEN[7:]} end\\n')\nw('ünïcödé ' * 5000 + '\\n')\n")
    process = subprocess.run([sys.executable, "-c", program], stderr=log.stream, timeout=30)
    assert process.returncode == 0
    started = time.monotonic()
    log.close()
    assert time.monotonic() - started < 1
    text = path.read_text()
    assert text.startswith("--- starting chatty\n") and len(text) > CHUNK * 3
    assert "aaaaaaaaaa[REDACTED] end\n" in text and TOKEN not in text
    assert text.endswith("ünïcödé " * 5000 + "\n")
    assert path.stat().st_mode & 0o777 == 0o600
