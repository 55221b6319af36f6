"""Long text made short for a model: the head and tail kept, the middle cut with a note.

A command may print gigabytes; the model needs the start (what happened) and the end (how it
finished), plus an honest note of what was cut. ``HeadTail`` keeps a command's first and last
bytes while it runs (``shell``, ``run_code``, ``ssh_run`` and the sandbox), ``truncate_middle``
cuts any tool result that is too long, so the model sees one format everywhere. Nothing here
imports the rest of Ember: tools and security both use it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import IO


def truncate_middle(text: str, limit: int, hint: str = "") -> str:
    """Keep the head and tail of ``text`` within ``limit`` chars, saying what was cut and how to get it."""
    if limit <= 0 or len(text) <= limit:
        return text
    keep = max(limit - 300, limit // 2)
    head, tail = keep * 2 // 3, keep - keep * 2 // 3
    newline = text.rfind("\n", head // 2, head)  # end the head on a line boundary when one is near
    head = newline + 1 if newline > 0 else head
    cut = len(text) - head - tail
    note = f"[... {cut:,} characters cut from the middle ({len(text):,} in all). {hint}".rstrip() + " ...]"
    return f"{text[:head]}\n{note}\n{text[len(text) - tail:]}"


class HeadTail:
    """Keeps the first and last ``keep`` bytes of everything added; thread-safe."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        with self._lock:
            self.total += len(chunk)
            room = self.keep - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            self.tail += chunk
            del self.tail[: max(0, len(self.tail) - self.keep)]

    def read_in_thread(self, stream: IO[bytes]) -> threading.Thread:
        """Drain ``stream`` into this buffer from a daemon thread (closing it at the end)."""

        def drain() -> None:
            with contextlib.suppress(OSError, ValueError), stream:
                while chunk := os.read(stream.fileno(), 65536):
                    self.add(chunk)

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        return thread

    def render(self, limit: int, hint: str = "") -> str:
        """The output as text within about ``limit`` characters, the middle cut with a note."""
        with self._lock:
            head, tail, total = bytes(self.head), bytes(self.tail), self.total
        if total == len(head) + len(tail):  # nothing was dropped while reading
            return truncate_middle((head + tail).decode("utf-8", "replace"), limit, hint)
        keep = max(limit - 300, limit // 2)
        first = head[: keep * 2 // 3]
        last = tail[max(0, len(tail) - (keep - keep * 2 // 3)):]
        cut = total - len(first) - len(last)
        note = f"[... {cut:,} bytes cut from the middle ({total:,} in all). {hint}".rstrip() + " ...]"
        return f"{first.decode('utf-8', 'replace')}\n{note}\n{last.decode('utf-8', 'replace')}"
