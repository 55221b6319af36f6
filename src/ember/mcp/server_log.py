"""A stdio MCP server's stderr, with secrets masked, in ``EMBER_HOME/logs/mcp-NAME.log``.

The server writes into a pipe, never into the log itself: a thread copies what arrives, a
complete line at a time, through the connection's redactor (the values its ``${VAR}`` references
resolved to, and anything shaped like a key), so a server that prints its token or its whole
environment leaves nothing secret on disk. The copier always keeps reading, even when the log
cannot be written, so a chatty server never blocks on a full pipe.
"""

from __future__ import annotations

import codecs
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TextIO

CHUNK = 65536  # a "line" longer than this is written in pieces


class ServerLog:
    """One start of a server: ``stream`` is its stderr; ``start`` is where its output begins in the log."""

    def __init__(self, path: Path, redact: Callable[[str], str], header: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._log: IO[str] = os.fdopen(fd, "a", encoding="utf-8")
        self._redact = redact
        self._write(header.rstrip("\n") + "\n")
        self.start = self._log.tell()
        read_end, write_end = os.pipe()
        self._read_end = read_end
        self.stream: TextIO = os.fdopen(write_end, "w", encoding="utf-8")
        self._copier = threading.Thread(target=self._copy, name=f"MCP log {path.name}", daemon=True)
        self._copier.start()

    def close(self, wait: float = 1.0) -> None:
        """Close Ember's end of the pipe (the server has stopped), then give the copier up to
        ``wait`` seconds to put the server's last lines in the log."""
        self.stream.close()
        self._copier.join(wait)

    def _copy(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        try:
            while chunk := os.read(self._read_end, CHUNK):
                pending += decoder.decode(chunk)
                cut = pending.rfind("\n") + 1 or (len(pending) if len(pending) >= CHUNK else 0)
                if cut:
                    self._write(pending[:cut])
                    pending = pending[cut:]
            self._write(pending + decoder.decode(b"", final=True))
        finally:
            os.close(self._read_end)
            self._log.close()

    def _write(self, text: str) -> None:
        if not text:
            return
        try:
            self._log.write(self._redact(text))
            self._log.flush()
        except (OSError, ValueError):  # a full disk, a closed file: the server must not block on us
            pass
