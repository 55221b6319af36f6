"""The one agent loop every door uses: store, build context, call the model, run tools, repeat.

``Agent.run`` is a generator of typed events (see ``events.py``). Errors caused by the model go
back to the model as tool errors; provider failures, the step limit and cancellation are raised
after everything that happened has been stored (and reported to ``failure_listeners``).

One ``Agent`` serves many sessions at once, each turn in the caller's thread (see
docs/development.md): turns of different sessions run side by side, two turns of one session
never interleave (the second waits for the first), and the per-session caches are bounded.
Each turn gets its door (``door.py``): who answers its approvals and questions.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ember.agent import compaction
from ember.agent.context import ContextBuilder, SlotRequest, fit_to_budget, message_tokens
from ember.agent.errors import AgentError, StepLimitReached
from ember.agent.events import (
    AgentEvent,
    Compacted,
    ModelCalled,
    Notice,
    ReasoningChunk,
    TextChunk,
    ToolFinished,
    ToolStarted,
    TurnFailed,
    TurnFinished,
)
from ember.models.base import (
    Cancelled,
    Completion,
    Message,
    ProviderError,
    ReasoningDelta,
    StreamDone,
    TextDelta,
    Usage,
)
from ember.models.router import RouteNotice

if TYPE_CHECKING:
    from ember.agent.door import Door, TurnApprovals
    from ember.config import Settings
    from ember.models.router import Router
    from ember.security.approval import Approver
    from ember.store.ports import Store
    from ember.tools.registry import ToolContext, ToolRegistry

log = logging.getLogger(__name__)

MAX_CACHED_SESSIONS = 256  # per-session tool state kept in memory; an evicted one is rebuilt from the store


TurnListener = Callable[[str, str, TurnFinished], None]
FailureListener = Callable[[str, str, TurnFailed], None]


@dataclass
class Agent:
    settings: Settings
    store: Store
    router: Router
    registry: ToolRegistry
    approver: Approver
    context: ContextBuilder = field(default_factory=ContextBuilder)
    interactive: bool = False
    redact: Callable[[str], str] = field(default=lambda text: text)
    turn_listeners: list[TurnListener] = field(default_factory=list)
    # Called with (session_id, user_message, TurnFailed) when a turn raises instead of answering.
    failure_listeners: list[FailureListener] = field(default_factory=list)
    depth: int = 0  # 0 for a top agent, 1 for its sub-agents...
    _tool_contexts: OrderedDict[str, ToolContext] = field(default_factory=OrderedDict, init=False)
    _titled: OrderedDict[str, None] = field(default_factory=OrderedDict, init=False)  # titled in this process
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _session_locks: weakref.WeakValueDictionary[str, Any] = field(
        default_factory=weakref.WeakValueDictionary, init=False)

    # --- sessions -----------------------------------------------------------------------------

    def new_session(self, *, source: str = "cli", title: str | None = None, person: str = "") -> str:
        """A new session of ``person`` ("" the owner); memory search and lessons are scoped to them."""
        spec = self.settings.model_for("chat")
        return self.store.create_session(source=source, title=title, model=spec.model, person=person).id

    def tool_context(self, session_id: str, cancel: threading.Event | None = None) -> ToolContext:
        """Per-session tool state (loaded toolsets, working dir), rebuilt from history on resume.

        At most ``MAX_CACHED_SESSIONS`` are kept, least recently used first out (never one whose
        turn is running): a gateway that runs for months does not grow with every chat it saw.
        """
        from ember.agent.subagents import AgentSubAgents
        from ember.tools.registry import ToolContext

        with self._cache_lock:
            ctx = self._tool_contexts.get(session_id)
            if ctx is not None:
                self._tool_contexts.move_to_end(session_id)
        if ctx is None:
            workspace = self.settings.workspace_dir
            if workspace.parent.is_dir():  # the door prepared it (runtime.prepare_workspace); never a tree
                workspace.mkdir(exist_ok=True)
            ctx = ToolContext(
                workspace=workspace,
                settings=self.settings,
                session_id=session_id,
                approver=self.approver,
                cancel=cancel or threading.Event(),
                interactive=self.interactive,
                max_output_chars=self.settings.tools.max_output_chars,
                loaded_toolsets=self._toolsets_used(session_id),
                cwd=workspace,
                store=self.store,
                router=self.router,
                subagents=AgentSubAgents(self, self.depth),
            )
            with self._cache_lock:
                ctx = self._tool_contexts.setdefault(session_id, ctx)
                self._evict()
        if cancel is not None:
            ctx.cancel = cancel
        return ctx

    def _evict(self) -> None:
        """Drop the least recently used idle sessions' state beyond the cap (``_cache_lock`` held)."""
        for session_id in list(self._tool_contexts):
            if len(self._tool_contexts) <= MAX_CACHED_SESSIONS:
                break
            lock = self._session_locks.get(session_id)
            if lock is not None and lock.locked():
                continue  # its turn is running
            del self._tool_contexts[session_id]
            self.approver.forget_session(session_id)
        while len(self._titled) > MAX_CACHED_SESSIONS * 4:
            self._titled.popitem(last=False)

    def forget(self, session_id: str) -> None:
        """Drop what is cached for ``session_id`` (a finished sub-agent's session)."""
        with self._cache_lock:
            self._tool_contexts.pop(session_id, None)
            self._titled.pop(session_id, None)
        self.approver.forget_session(session_id)

    def _session_lock(self, session_id: str) -> threading.Lock:
        with self._cache_lock:
            lock = self._session_locks.get(session_id)
            if lock is None:
                lock = threading.Lock()
                self._session_locks[session_id] = lock
            return lock

    def _title(self, session_id: str, user_message: str) -> str | None:
        """The session's title from its first message, for the store to keep if it has none yet:
        the first line, cut short, with every secret masked (the known ones and any secret-shaped
        text, even where this agent was given no redactor). Worked out once per session."""
        if session_id in self._titled:
            return None
        from ember.security.redact import Redactor
        from ember.store.records import session_title

        shapes = Redactor()
        title = session_title(user_message, redact=lambda line: shapes.redact(self.redact(line)))
        if title:
            with self._cache_lock:
                self._titled[session_id] = None
        return title

    def _toolsets_used(self, session_id: str) -> set[str]:
        loaded: set[str] = set()
        for stored in self.store.get_messages(session_id):
            for call in stored.message.tool_calls:
                if call.name == "tools_load" and isinstance(call.arguments.get("toolset"), str):
                    loaded.add(call.arguments["toolset"])
                else:
                    tool = self.registry.get(call.name)
                    if tool is not None and tool.toolset != "core":
                        loaded.add(tool.toolset)
        return loaded

    # --- the loop -------------------------------------------------------------------------------

    def run(
        self,
        session_id: str,
        user_message: str,
        *,
        cancel: threading.Event | None = None,
        images: list[str] | None = None,
        stream: bool | None = None,
        door: Door | None = None,
        approvals: TurnApprovals | None = None,
    ) -> Iterator[AgentEvent]:
        """One turn. ``door`` answers its approvals and questions (default: the approver's own,
        from ``build_runtime``); a second turn of the same session waits for this one.
        ``approvals`` collects what the turn asked (a sub-agent's turn adds to its parent's)."""
        lock = self._session_lock(session_id)
        lock.acquire()
        try:
            yield from self._turn(session_id, user_message, cancel, images, stream, door, approvals)
        finally:
            lock.release()

    def _turn(
        self, session_id: str, user_message: str, cancel: threading.Event | None, images: list[str] | None,
        stream: bool | None, door: Door | None, approvals: TurnApprovals | None,
    ) -> Iterator[AgentEvent]:
        from ember.agent.door import TurnApprovals
        from ember.agent.subagents import AgentSubAgents

        cancel = cancel or threading.Event()
        stream = self.settings.agent.stream if stream is None else stream
        door = door or self.approver.door
        approvals = approvals if approvals is not None else TurnApprovals()
        ctx = self.tool_context(session_id, cancel)
        ctx.door, ctx.approvals = door, approvals
        ctx.subagents = AgentSubAgents(self, self.depth, door, approvals)
        # From here on the message is the one stored (secrets masked), for the model, the title,
        # the lessons it is matched with and the learning loop alike.
        user_message = self.store.redact(user_message)
        message_id = self.store.add_message(
            session_id, Message(role="user", content=user_message, images=list(images or [])),
            title=self._title(session_id, user_message),
        )
        request = SlotRequest(session_id=session_id, user_message=user_message)
        total = Usage()
        total_cost = 0.0
        calls_made: list[dict[str, Any]] = []
        kind = "chat"
        model_name = ""
        steps_done = 0
        finished: TurnFinished | None = None
        try:
            for step in range(1, self.settings.agent.max_steps + 1):
                messages = yield from self._prepare(session_id, request, ctx)
                tools = self.registry.schemas(ctx.loaded_toolsets)
                completion = yield from self._call_model(kind, messages, tools, stream, cancel, session_id)
                # Priced by the id the server returned, else by the configured id of the model that
                # answered: a fallback is charged at its own price, not at the routed model's.
                cost = self.router.cost_of(completion)
                total += completion.usage
                total_cost += cost
                steps_done = step
                model_name = completion.model or model_name
                self.store.add_message(
                    session_id, completion.to_message(), model=completion.model, usage=completion.usage
                )
                self.store.record_usage(
                    session_id, model=completion.model, usage=completion.usage, cost=cost, kind=kind
                )
                yield ModelCalled(step=step, model=completion.model, usage=completion.usage, cost=cost)
                if not completion.tool_calls:
                    finished = TurnFinished(
                        answer=self.store.redact(completion.text),  # the answer as stored
                        session_id=session_id,
                        model=model_name,
                        usage=total,
                        cost=total_cost,
                        tool_calls=calls_made,
                        steps=step,
                        approvals=approvals,
                    )
                    try:
                        yield finished
                    finally:  # also when the consumer stops at the final event and closes the generator
                        self._notify(session_id, user_message, finished)
                    return
                kind = "tools"
                yield from self._run_tools(session_id, completion, ctx, calls_made)
            raise StepLimitReached(
                f"stopped after {self.settings.agent.max_steps} model calls without a final answer; "
                "raise [agent] max_steps in config.toml (or EMBER_MAX_STEPS) if the task needs more"
            )
        except BaseException as exc:  # GeneratorExit too: the consumer stopped before the answer
            if finished is None and self.failure_listeners:
                self._notify_failure(session_id, user_message, TurnFailed(
                    session_id=session_id, error=_error_text(exc), reason=_failure_reason(exc),
                    model=model_name, usage=total, cost=total_cost, tool_calls=list(calls_made),
                    steps=steps_done, message_id=message_id, approvals=approvals,
                ))
            raise  # always the original error, unchanged

    def ask(self, session_id: str, user_message: str, **kwargs: Any) -> TurnFinished:
        """Run a turn to the end and return its result (for callers that do not render events)."""
        finished = None
        for event in self.run(session_id, user_message, **kwargs):
            if isinstance(event, TurnFinished):
                finished = event
        if finished is None:
            raise AgentError("the turn ended without an answer")
        return finished

    # --- steps ------------------------------------------------------------------------------

    def _history(self, session_id: str) -> tuple[list[tuple[int, Message]], str | None]:
        summary = self.store.latest_summary(session_id)
        after = summary[1] if summary else None
        entries = [(m.id, m.message) for m in self.store.get_messages(session_id, after_id=after)]
        return entries, summary[0] if summary else None

    def _prepare(
        self, session_id: str, request: SlotRequest, ctx: ToolContext
    ) -> Generator[AgentEvent, None, list[Message]]:
        entries, summary = self._history(session_id)
        index = self.registry.index_lines(ctx.loaded_toolsets)
        messages = self.context.build(request, [m for _, m in entries], index, summary)
        spec = self.settings.model_for("chat")
        limit = int(spec.context_window * self.settings.agent.compact_at)
        if sum(message_tokens(m) for m in messages) <= limit:
            return messages
        plan = compaction.plan_compaction(entries, self.settings.agent.keep_recent_turns)
        if plan is not None:
            try:
                result = yield from self._complete("learning", compaction.summary_request(plan.folded, summary))
            except ProviderError as exc:
                yield Notice(self.redact(f"could not compact the session ({exc}); dropping the oldest turns instead"))
            else:
                summary_text = self.store.redact(result.text.strip())  # as the store keeps it
                if summary_text:
                    self.store.add_summary(session_id, summary_text, plan.upto_id)
                    self.store.record_usage(
                        session_id, model=result.model, usage=result.usage,
                        cost=self.router.cost_of(result), kind="learning",
                    )
                    yield Compacted(summary=summary_text, folded_messages=len(plan.folded))
                    entries, summary = self._history(session_id)
                    messages = self.context.build(request, [m for _, m in entries], index, summary)
        budget = spec.context_window - spec.max_output_tokens
        return fit_to_budget(messages, max(budget, limit))

    def _call_model(
        self,
        kind: str,
        messages: list[Message],
        tools: list[dict],
        stream: bool,
        cancel: threading.Event,
        session_id: str,
    ) -> Generator[AgentEvent, None, Completion]:
        if not stream:
            try:
                return (yield from self._complete(kind, messages, tools, cancel=cancel))
            except (Cancelled, KeyboardInterrupt):
                self._store_interrupted(session_id, "")
                raise
        text: list[str] = []
        completion: Completion | None = None
        try:
            with closing(self.router.stream_events(kind, messages, tools, cancel=cancel)) as events:
                for event in events:
                    if isinstance(event, RouteNotice):  # before a retry's wait or a fallback, as it happens
                        yield Notice(self.redact(event.text))
                    elif isinstance(event, TextDelta):
                        text.append(event.text)
                        yield TextChunk(event.text)
                    elif isinstance(event, ReasoningDelta):
                        yield ReasoningChunk(event.text)
                    elif isinstance(event, StreamDone):
                        completion = event.completion
        except (Cancelled, KeyboardInterrupt):
            self._store_interrupted(session_id, "".join(text))
            raise
        if completion is None:
            raise AgentError("the model stream ended without a completion")
        return completion

    def _complete(self, kind: str, messages: list[Message], tools: list[dict] | None = None,
                  **opts: Any) -> Generator[AgentEvent, None, Completion]:
        """``router.complete``, yielding a ``Notice`` before each retry's wait and each fallback."""
        completion: Completion | None = None
        with closing(self.router.complete_events(kind, messages, tools, **opts)) as items:
            for item in items:
                if isinstance(item, RouteNotice):  # before the wait, so the user sees why nothing happens
                    yield Notice(self.redact(item.text))
                else:
                    completion = item
        if completion is None:
            raise AgentError("the model call ended without a completion")
        return completion

    def _store_interrupted(self, session_id: str, partial: str) -> None:
        note = (partial + "\n\n" if partial else "") + "[cancelled by the user]"
        self.store.add_message(session_id, Message(role="assistant", content=note))

    def _run_tools(
        self, session_id: str, completion: Completion, ctx: ToolContext, calls_made: list[dict[str, Any]]
    ) -> Iterator[AgentEvent]:
        pending = list(completion.tool_calls)
        while pending:
            call = pending.pop(0)
            yield ToolStarted(call)
            started = time.monotonic()
            try:
                result = self.registry.execute(call, ctx)
            except (Cancelled, KeyboardInterrupt):
                for unfinished in [call, *pending]:
                    self.store.add_message(
                        session_id,
                        Message(
                            role="tool", tool_call_id=unfinished.id, name=unfinished.name,
                            content="cancelled by the user", is_error=True,
                        ),
                    )
                raise
            content = self.redact(result.content)
            self.store.add_message(
                session_id,
                Message(
                    role="tool", tool_call_id=call.id, name=call.name, content=content,
                    is_error=result.is_error, images=list(result.images),
                ),
            )
            seconds = time.monotonic() - started
            calls_made.append({"name": call.name, "arguments": self.store.redact_value(call.arguments),
                               "is_error": result.is_error})
            yield ToolFinished(call=call, content=content, is_error=result.is_error, seconds=seconds)

    def _notify(self, session_id: str, user_message: str, finished: TurnFinished) -> None:
        for listener in self.turn_listeners:
            try:
                listener(session_id, user_message, finished)
            except Exception:  # a listener's bug must never cost the user their answer
                log.exception("turn listener failed")

    def _notify_failure(self, session_id: str, user_message: str, failed: TurnFailed) -> None:
        for listener in self.failure_listeners:
            try:
                listener(session_id, user_message, failed)
            except Exception:  # nor replace the turn's own error with another one
                log.exception("failure listener failed")


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, (Cancelled, KeyboardInterrupt, GeneratorExit)):
        return "cancelled"
    if isinstance(exc, StepLimitReached):
        return "step-limit"
    if isinstance(exc, ProviderError):
        return "provider"
    return "error"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, (Cancelled, KeyboardInterrupt, GeneratorExit)):
        return "cancelled before the answer"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
