"""Per-chat ordering with parallel chats: each chat's messages run one after another, in the
order they came; different chats run side by side on a fixed pool of workers, so a long task in
one chat never blocks another person."""

from __future__ import annotations

import threading
from collections import deque


class ChatQueues:
    def __init__(self) -> None:
        self._items: dict[str, deque[int]] = {}
        self._ready: deque[str] = deque()
        self._busy: set[str] = set()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, chat: str, item: int) -> None:
        with self._cond:
            self._items.setdefault(chat, deque()).append(item)
            if chat not in self._busy and chat not in self._ready:
                self._ready.append(chat)
            self._cond.notify()

    def take(self, timeout: float | None = None) -> tuple[str, int] | None:
        """The next (chat, item) whose chat is not busy; the chat stays busy until ``done``."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._ready or self._closed, timeout) or self._closed:
                return None
            chat = self._ready.popleft()
            self._busy.add(chat)
            return chat, self._items[chat].popleft()

    def done(self, chat: str) -> None:
        with self._cond:
            self._busy.discard(chat)
            if self._items.get(chat):
                self._ready.append(chat)
                self._cond.notify()
            else:
                self._items.pop(chat, None)

    def depths(self) -> dict[str, int]:
        with self._cond:
            return {chat: len(items) + (chat in self._busy) for chat, items in self._items.items()}

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
