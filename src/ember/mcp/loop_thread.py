"""An asyncio event loop in a background thread, and a blocking call into it for sync code.

The MCP SDK is async; Ember's agent loop is not. A ``LoopThread`` runs one event loop in a
daemon thread; ``run(coroutine, limit, cancel)`` blocks the calling thread until the coroutine
finishes, while watching the turn's cancel event (checked every ``POLL`` seconds) and a deadline.
Ctrl-C (KeyboardInterrupt) and cancellation cancel the coroutine's task on the loop, so an MCP
request stops like any other tool.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from ember.mcp import McpServerError

T = TypeVar("T")
POLL = 0.1  # seconds between checks of the cancel event


class LoopThread:
    def __init__(self, name: str) -> None:
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], limit: float, cancel: threading.Event | None = None) -> T:
        """Run ``coroutine`` on the loop and wait for its result (or its exception).

        Raises ``Cancelled`` when ``cancel`` is set, and ``McpServerError`` after ``limit``
        seconds; the coroutine should enforce its own, shorter, timeout with a better message.
        """
        from ember.models.base import Cancelled

        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        deadline = time.monotonic() + limit
        try:
            while True:
                try:
                    return future.result(timeout=POLL)
                except TimeoutError:
                    if future.done():  # finished just now, or the coroutine itself raised TimeoutError
                        return future.result()
                    if cancel is not None and cancel.is_set():
                        future.cancel()
                        raise Cancelled(f"{self.name}: cancelled") from None
                    if time.monotonic() > deadline:
                        future.cancel()
                        raise McpServerError(f"{self.name} did not answer within {limit:g} s") from None
        except KeyboardInterrupt:
            future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop and its thread (run whatever must finish first with ``run``)."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()
