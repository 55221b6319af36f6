"""``ember gateway run``: channels in, turns in per-chat order, replies out through the outbox.

The gateway is one more door over the runtime's ``Agent``: no second loop, no second store.
A message is recorded in the inbox before anything else happens (``receive``); turn threads
claim inbox items from the store (``Ledger.claim_next``: a chat's first unfinished item, one
chat at a time) and run turns of different chats side by side (``[gateway] max_parallel``),
each with a ``ChatDoor`` so approvals and questions are asked in that chat. The answer is queued
in the outbox in the same transaction that closes the inbox item.

Several gateways (workers, on one machine or many) may share one store (docs/gateway.md,
"Several workers"): each claims what it works on under its own owner name and renews its claims
while it runs; a message received by one may run on another, and the answer to an approval, a
question or a ``/stop`` reaches the worker whose turn waits for it through the store.

A claim whose worker died (``kill -9``, a lost machine) is given back: at once when the worker
was on this host, else when its lease (``[gateway] claim_seconds``) lapses. Then what it had not
finished is picked up: a queued message runs; a message whose turn was running runs again once
(tools it had already run may run again), unless its answer was already stored, which is then
sent; a second interruption tells the person it failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ember.agent.door import Door, Unattended
from ember.gateway import relay
from ember.gateway.access import Access
from ember.gateway.channel import Channel, Inbound
from ember.gateway.config import GatewayConfig
from ember.gateway.door import CHOICES, ChatDoor, Waiting
from ember.gateway.files import IncomingFiles
from ember.gateway.ledger import ANSWER, DONE, FAILED, QUEUED, REFUSED, RUNNING, InboxItem, Ledger
from ember.gateway.outbox import Outbox
from ember.gateway.status import channel_states, gateway_status
from ember.gateway.workers import FORGET_AFTER
from ember.owners import HOST, new_owner, owner_gone
from ember.store.gateway_records import GatewayWorker

if TYPE_CHECKING:
    from ember.runtime import Runtime

log = logging.getLogger(__name__)

HELP = """I'm Ember. Send me a task and I'll work on it here.
{prefix}new  start a fresh conversation
{prefix}stop stop what I'm doing
{prefix}help this list"""
COMMAND_PREFIX = {"slack": "/ember "}  # Slack keeps messages that start with "/" for its own commands
TYPING_EVERY = 4.0  # seconds between typing indicators while a turn runs
HEARTBEAT_EVERY = 5.0  # seconds between a worker's heartbeats (and claim renewals), at most a third of its lease
POLL = 1.0  # seconds an idle turn thread waits before looking for messages another worker received
PRUNE_EVERY = 60.0  # seconds between prunings of files kept for turns that will not take them


class Gateway:
    def __init__(self, runtime: Runtime, config: GatewayConfig, channels: dict[str, Channel], *,
                 clock: Callable[[], float] = time.monotonic, outbox: Outbox | None = None) -> None:
        self.runtime = runtime
        self.config = config
        self.channels = channels
        self.clock = clock
        self.ledger = Ledger(runtime.store)
        self.owner = new_owner()  # this worker's name on its claims
        self.lease = config.claim_seconds
        self.beat_every = min(HEARTBEAT_EVERY, self.lease / 3)
        self.started_at = time.time()  # for `ember gateway status`: since when this worker runs
        self.outbox = outbox or Outbox(self.ledger, channels, redact=runtime.agent.redact, owner=self.owner,
                                       lease=self.lease)
        self.access = Access(self.ledger, config)
        self._arrived = threading.Condition()  # wakes idle turn threads when a message is recorded here
        self._arrivals = 0
        self.waiting: dict[str, Waiting] = {}  # request id or question key -> what a turn waits for
        self.running: dict[str, threading.Event] = {}  # chat key -> the cancel of its running turn
        self.stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        from ember.scheduler.runner import Scheduler

        self.scheduler = Scheduler(runtime, self.outbox)  # jobs run inside the gateway
        self.files = IncomingFiles(self.ledger, runtime.settings.workspace_dir, owner=self.owner,
                                   max_mb=config.max_file_mb, wait=config.file_wait_seconds,
                                   stopping=self.stopping)

    # --- keys -----------------------------------------------------------------------------------

    @staticmethod
    def chat_key(platform: str, chat: str, thread: str | None) -> str:
        return f"{platform}:{chat}" + (f":{thread}" if thread else "")

    @staticmethod
    def question_key(platform: str, chat: str, thread: str | None, user: str) -> str:
        return f"question:{platform}:{chat}:{thread or ''}:{user}"

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self.ledger.release_gone(owner_gone)  # what a worker of this host left when it died runs again
        self.outbox.start()
        for number in range(self.config.max_parallel):
            worker = threading.Thread(target=self._work, name=f"gateway-turn-{number}", daemon=True)
            worker.start()
            self._workers.append(worker)
        for channel in self.channels.values():
            channel.start(self.receive)
        beat = threading.Thread(target=self._heartbeat, name="gateway-heartbeat", daemon=True)
        beat.start()
        self._workers.append(beat)
        self.scheduler.start()
        from ember.memory.search.embedding_index import BackgroundIndexer

        settings = self.runtime.settings
        self.indexer = BackgroundIndexer(settings.store_location, home=settings.home).start()  # embeddings, off the hot path

    def _heartbeat(self) -> None:
        """Every ``beat_every`` seconds: this worker's claims renewed, a dead local worker's given
        back, and this worker's heartbeat (its channels' states) in the store, for `ember gateway
        status` from another process."""
        import os

        pruned = 0.0
        while not self.stopping.is_set():
            try:
                self.ledger.renew(self.owner, self.lease)  # this worker's claims: still working on them
                if self.ledger.release_gone(owner_gone):  # a worker of this host died: its items are free
                    self._arrive()
                self.ledger.beat(GatewayWorker(id=self.owner, host=HOST, pid=os.getpid(), started_at=self.started_at,
                                               beat_at=time.time(), beat_every=self.beat_every,
                                               channels=channel_states(self.channels)), FORGET_AFTER)
                if time.monotonic() - pruned >= PRUNE_EVERY:
                    pruned = time.monotonic()
                    self.files.prune()
            except Exception:
                log.debug("could not write the gateway heartbeat", exc_info=True)
            self.stopping.wait(self.beat_every)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for channel in self.channels.values():
            try:
                channel.stop()
            except Exception:
                log.exception("stopping the %s channel", channel.name)
        self.files.stop()
        for cancel in list(self.running.values()):
            cancel.set()
        self._arrive()
        self.scheduler.stop()
        indexer = getattr(self, "indexer", None)
        if indexer is not None:
            indexer.stop()
        for worker in self._workers:
            worker.join(timeout)
        self.outbox.stop()
        try:  # what this worker did not finish goes to the other workers at once (or to its restart)
            self.ledger.release(self.owner)
        except Exception:
            log.debug("could not give back the gateway's claims", exc_info=True)
        try:  # stopped: off `ember gateway status`'s list at once, rather than "not seen since"
            self.ledger.forget_worker(self.owner)
        except Exception:
            log.debug("could not remove the gateway's heartbeat", exc_info=True)

    def _idle(self, seen: int) -> None:
        """Wait until a message is recorded here (after ``seen`` arrivals), or ``POLL`` seconds for
        what other workers recorded."""
        with self._arrived:
            self._arrived.wait_for(lambda: self._arrivals != seen or self.stopping.is_set(), POLL)

    def _arrive(self) -> None:
        with self._arrived:
            self._arrivals += 1
            self._arrived.notify_all()

    def _resumed(self, item: InboxItem) -> bool:
        """An item whose turn was running when its worker stopped or died: True when it is settled
        here (its stored answer sent, or the person told it failed twice), False to run it again."""
        if self._answered(item):
            return True
        if item.attempts >= 2:
            self.ledger.finish(item.id, item.platform, item.chat, item.thread, self.outbox.parts(
                item.platform, "I was restarted twice while working on your message and could not finish it. "
                "Send it again to retry."), status=FAILED, error="interrupted twice")
            self.outbox.wake()
            return True
        return False

    def _answered(self, item: InboxItem) -> bool:
        """A turn whose answer was stored before the crash: send that answer instead of running again."""
        if not item.session_id:
            return False
        messages = self.runtime.store.get_messages(item.session_id)
        users = [m for m in messages if m.message.role == "user"]
        if not users or users[-1].message.content != item.text:
            return False
        last = messages[-1].message
        if last.role != "assistant" or last.tool_calls or messages[-1].id < users[-1].id:
            return False
        self.ledger.finish(item.id, item.platform, item.chat, item.thread,
                           self.outbox.parts(item.platform, last.content or "(no answer)"))
        self.outbox.wake()
        return True

    # --- receiving (channel threads) -------------------------------------------------------------

    def receive(self, message: Inbound) -> None:
        """Record ``message`` and queue its turn; returns once it is durable (the channel then acks)."""
        if message.press is not None:
            self._pressed(message)
            return
        verdict = self.access.check(message)
        if not verdict.allowed:
            inbox_id = self.ledger.record(message, status=REFUSED)
            channel = self.channels.get(message.platform)
            quiet = getattr(channel, "quiet_refusals", False) and not verdict.person  # "paired" is still said
            if inbox_id is not None and verdict.reply and not quiet:
                self.outbox.queue(message.platform, message.chat, verdict.reply, kind="refusal",
                                  thread=message.thread, inbox_id=inbox_id)
            return
        if self._answered_by_text(message):
            return
        key = self.question_key(message.platform, message.chat, message.thread, message.user)
        waiting = self.waiting.get(key)
        if waiting is not None and not message.text.startswith("/stop"):
            if self.ledger.record(message, status=ANSWER) is not None:
                waiting.answer = message.text
                waiting.event.set()
            return
        if relay.typed_answer(self.ledger, message, set(self.waiting), CHOICES):
            return
        chat = self.chat_key(message.platform, message.chat, message.thread)
        text = message.text.strip()
        if text.split(maxsplit=1)[:1] == ["/stop"]:
            inbox_id = self.ledger.record(message, status=DONE)
            if inbox_id is not None:
                cancel = self.running.get(chat)
                elsewhere = cancel is None and relay.running_elsewhere(self.ledger, message)
                if cancel is not None:
                    cancel.set()
                elif elsewhere:  # the worker running it sees this within a second
                    relay.ask_to_stop(self.runtime.store, chat)
                reply = "Stopping." if cancel is not None or elsewhere else "Nothing is running."
                self.outbox.queue(message.platform, message.chat, reply, kind="notice", thread=message.thread,
                                  inbox_id=inbox_id)
            return
        problem = self._refusal(message, verdict.person)
        if problem is not None:
            inbox_id = self.ledger.record(message, status=REFUSED)
            if inbox_id is not None and problem:
                self.outbox.queue(message.platform, message.chat, problem, kind="refusal", thread=message.thread,
                                  inbox_id=inbox_id)
            return
        payload: dict = {"person": verdict.person}
        if message.files:
            payload["files_expected"] = [f.name for f in message.files]
            payload["files_from"] = self.owner  # fetching them: a turn elsewhere waits for them while it lives
        if message.platform == "webhook":
            payload["target"] = message.reply_url or "http"
        inbox_id = self.ledger.record(message, payload=payload)
        if inbox_id is not None:  # None: a repeat of an event already recorded
            if message.files:  # fetched in the background: the platform's ack does not wait for a download
                self.files.fetch(inbox_id, message)
            self._arrive()

    def _refusal(self, message: Inbound, person: str) -> str | None:
        """Why this allowed sender's message does not run ("" to drop it quietly), or None."""
        slow = self.access.too_fast(f"{message.platform}:{message.user}")
        if slow is not None:
            return slow
        if len(message.text) > self.config.max_message_chars:
            return (f"That message is {len(message.text):,} characters; I take at most "
                    f"{self.config.max_message_chars:,}. Send a shorter one, or a file.")
        if not message.text.strip() and not message.files:
            return ""
        return None

    def _answered_by_text(self, message: Inbound) -> bool:
        """An approval answered with a word or a number, where the platform has no buttons."""
        from ember.gateway.channel import press_from_text

        for waiting in list(self.waiting.values()):
            if (waiting.kind == "approval" and waiting.platform == message.platform and waiting.chat == message.chat
                    and waiting.user == message.user):
                choice = press_from_text(message.text, CHOICES)
                if choice is None:
                    return False
                if self.ledger.record(message, status=ANSWER) is not None:
                    waiting.answer = choice
                    waiting.event.set()
                return True
        return False

    def _pressed(self, message: Inbound) -> None:
        press = message.press
        assert press is not None
        waiting = self.waiting.get(press.request_id)
        if waiting is None:  # another worker's turn may wait for it; else answered already, or timed out
            if not relay.pressed(self.runtime.store, message):
                log.debug("ignored a press for request %s: no turn waits for it from %s:%s", press.request_id,
                         message.platform, message.user)
            return
        if message.user != waiting.user or message.platform != waiting.platform:
            log.warning("ignored an approval from %s:%s; only %s can answer it", message.platform, message.user,
                        waiting.user)
            return
        waiting.answer = press.choice
        waiting.event.set()

    # --- turns (worker threads) -------------------------------------------------------------------

    def _work(self) -> None:
        while not self.stopping.is_set():
            with self._arrived:
                seen = self._arrivals
            try:
                item = self.ledger.claim_next(self.owner, self.lease)
            except Exception:  # the store is unreachable for a moment: wait, then look again
                log.exception("gateway: could not look for messages to answer")
                item = None
            if item is None:
                self._idle(seen)
                continue
            try:
                if item.status == RUNNING and self._resumed(item):
                    continue
                if item.status in (QUEUED, RUNNING):
                    self._run(self.chat_key(item.platform, item.chat, item.thread), item)
            except Exception:
                log.exception("gateway turn for inbox item %s", item.id)

    def _session(self, item: InboxItem, fresh: bool = False) -> str:
        session = None if fresh else self.ledger.session_for(item.platform, item.chat, item.thread)
        person = memory_person(str(item.payload.get("person", "")))
        if session is not None and not self._may_continue(session, person):
            session = None
        if session is None:
            session = self.runtime.agent.new_session(source=item.platform, person=person)
            self.ledger.set_session(item.platform, item.chat, item.thread, session, person)
        return session

    def _may_continue(self, session: str, person: str) -> bool:
        """A scheduled job's posted result is continued only by the job's own person (its session
        holds their memory); anyone else replying to it starts a conversation of their own."""
        info = self.runtime.store.get_session(session)
        return info is None or info.source != "cron" or info.person == person

    def destination(self, item: InboxItem) -> tuple[str, str, str | None]:
        """Where replies to ``item`` go: its own chat, or a webhook's configured target chat."""
        target = str(item.payload.get("target") or "")
        if item.platform == "webhook" and ":" in target:
            platform, _, name = target.partition(":")
            channel = self.channels.get(platform)
            if channel is not None:
                try:
                    return platform, channel.resolve_chat(name), None
                except Exception as exc:
                    log.warning("webhook target %s cannot be reached (%s); the answer is kept for the hook", target, exc)
        return item.platform, item.chat, item.thread

    def _reply(self, item: InboxItem, text: str, *, status: str = DONE, error: str | None = None) -> None:
        platform, chat, thread = self.destination(item)
        self.ledger.finish(item.id, platform, chat, thread, self.outbox.parts(platform, text), status=status,
                           error=error)
        self.outbox.wake()

    def _run(self, chat: str, item: InboxItem) -> None:
        command = item.text.strip().split(maxsplit=1)[:1]
        if command == ["/help"]:
            self._reply(item, HELP.format(prefix=COMMAND_PREFIX.get(item.platform, "/")))
            return
        if command == ["/new"]:
            self._session(item, fresh=True)
            self._reply(item, "Started a fresh conversation.")
            return
        if self.stopping.is_set():
            return  # picked up again after the restart
        session = self._session(item)
        self.ledger.start(item.id, session)
        cancel = threading.Event()
        self.running[chat] = cancel
        typing = threading.Thread(target=self._typing, args=(item, cancel), daemon=True)
        typing.start()
        try:
            self._turn(chat, item, session, cancel)
        finally:
            cancel.set()
            self.running.pop(chat, None)

    def _turn(self, chat: str, item: InboxItem, session: str, cancel: threading.Event) -> None:
        from ember.models.base import Cancelled

        text = item.text
        lines = self.files.for_turn(item)  # its files into incoming/, from whichever worker fetched them
        if self.stopping.is_set():
            return  # picked up again after the restart, files and all
        if lines:
            text = (text + "\n\n" if text else "") + "\n".join(lines)
        door: Door = ChatDoor(self, item, cancel) if item.platform != "webhook" else Unattended()
        try:
            finished = self.runtime.agent.ask(session, text, cancel=cancel, door=door)
        except (Cancelled, KeyboardInterrupt):
            if self.stopping.is_set():
                return  # the gateway is stopping: the turn runs again after the restart
            self._reply(item, "Stopped.")
        except Exception as exc:  # the model endpoint failed, the step limit...: say so in the chat
            message = self.runtime.agent.redact(str(exc).strip() or type(exc).__name__)
            log.warning("turn failed for inbox item %s: %s", item.id, message)
            self._reply(item, f"Sorry, that failed: {message}", status=FAILED, error=message)
        else:
            self._reply(item, finished.answer.strip() or "(I finished without an answer.)")
        self.files.drop(item.id)  # the turn is over (a turn cut off keeps them, to run again)

    def _typing(self, item: InboxItem, cancel: threading.Event) -> None:
        """While the turn runs: the typing indicator, and a /stop another worker received."""
        channel = self.channels.get(item.platform)
        chat = self.chat_key(item.platform, item.chat, item.thread)
        started, typed = time.time(), 0.0
        while not cancel.is_set():
            if channel is not None and time.monotonic() - typed >= TYPING_EVERY:
                typed = time.monotonic()
                try:
                    channel.typing(item.chat, item.thread)
                except Exception:
                    pass
            try:
                if relay.asked_to_stop(self.runtime.store, chat, started):
                    cancel.set()
            except Exception:
                log.debug("could not look for a /stop of %s", chat, exc_info=True)
            cancel.wait(1.0)

    # --- status ---------------------------------------------------------------------------------

    def status(self) -> dict:
        return gateway_status(self.ledger, list(self.channels), self.channels, self.config.configs)


OWNER = "owner"  # `ember gateway link ... --person owner`: the terminal's user, with its memory


def memory_person(person: str) -> str:
    """The person a session belongs to in memory: "" (the owner) for the owner's linked accounts."""
    return "" if person == OWNER else person
