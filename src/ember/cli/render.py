"""Renders agent events in the terminal with rich: streamed Markdown, compact tool lines, and a
spinner with the seconds waited while nothing else is on the screen (the model thinking, a tool
running), so a slow model is never a blank screen."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ember.agent import events as ev
from ember.cli.run import format_call

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.spinner import Spinner


class UserWaits:
    """The time a person spends answering during a turn (an approval, the model's question).

    A tool's time shown is its own, without the time the user took to answer; and the spinner
    stops while a question is asked (a prompt cannot share its line with it).
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.renderer: ChatRenderer | None = None  # the turn on the screen now, if any

    @contextmanager
    def answering(self) -> Iterator[None]:
        renderer = self.renderer
        label = renderer.stop_waiting() if renderer is not None else None
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds += time.monotonic() - started
            if renderer is not None and label:
                renderer.start_waiting(label)


class _Waiting:
    """A spinner, what is awaited, and the whole seconds since it started: ``⠋ thinking… 3s``."""

    def __init__(self, label: str) -> None:
        from rich.spinner import Spinner

        self.label = label
        self.started = time.monotonic()
        self.spinner: Spinner = Spinner("dots", style="cyan")

    def __rich__(self) -> Spinner:
        from rich.text import Text

        self.spinner.update(text=Text(f"{self.label}… {time.monotonic() - self.started:.0f}s", style="dim"))
        return self.spinner


class ChatRenderer:
    """Streams one turn: Markdown re-rendered live as text arrives; reasoning dim (when shown)."""

    def __init__(self, console: Console, show_reasoning: bool = False, waits: UserWaits | None = None) -> None:
        self.console = console
        self.show_reasoning = show_reasoning
        self.text = ""
        self.live: Live | None = None
        self.step_streamed = False  # answer text of the current model call arrived as chunks
        self.waits = waits or UserWaits()
        self.waits.renderer = self
        self.waiting: Live | None = None
        self.waiting_label = ""
        self.tool_waits_from = 0.0  # self.waits.seconds when the running tool started

    # --- the spinner ---------------------------------------------------------------------------

    def start_waiting(self, label: str = "thinking") -> None:
        """Show a spinner with the seconds waited (terminal only; never over streaming text)."""
        if not self.console.is_terminal or self.waiting is not None or self.live is not None:
            return
        from rich.live import Live

        self.waiting_label = label
        self.waiting = Live(_Waiting(label), console=self.console, refresh_per_second=8, transient=True)
        self.waiting.start()

    def stop_waiting(self) -> str | None:
        """Take the spinner away; returns what it was waiting for (None when none was shown)."""
        if self.waiting is None:
            return None
        self.waiting.stop()
        self.waiting = None
        return self.waiting_label

    # --- streamed text -------------------------------------------------------------------------

    def _live_update(self) -> None:
        from rich.live import Live
        from rich.markdown import Markdown

        if self.live is None:
            self.live = Live(console=self.console, refresh_per_second=12, vertical_overflow="visible")
            self.live.start()
        self.live.update(Markdown(self.text))

    def _end_text(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        self.text = ""

    def handle(self, event: object) -> None:
        hidden_reasoning = isinstance(event, ev.ReasoningChunk) and not self.show_reasoning
        if not hidden_reasoning:  # the model thinking unseen is still a wait: the spinner stays
            self.stop_waiting()
        if isinstance(event, ev.TextChunk):
            self.text += event.text
            self.step_streamed = True
            if self.console.is_terminal:
                self._live_update()
        elif isinstance(event, ev.ReasoningChunk):
            if self.show_reasoning:
                self.console.print(event.text, style="dim italic", end="", markup=False, highlight=False)
        elif isinstance(event, ev.ModelCalled):
            if not self.console.is_terminal and self.text:
                # Piped output stays plain Markdown text (rich would pad every line to the width).
                self.console.print(self.text.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
            self._end_text()
        elif isinstance(event, ev.ToolStarted):
            self._end_text()
            self.step_streamed = False  # the next model call starts afresh
            self.console.print(
                f"[cyan]→[/] {format_call(event.call.name, event.call.arguments)}", markup=True, highlight=False
            )
            self.tool_waits_from = self.waits.seconds
            self.start_waiting(f"running {event.call.name}")
        elif isinstance(event, ev.ToolFinished):
            mark = "[red]✗[/]" if event.is_error else "[green]✓[/]"
            first = event.content.strip().splitlines()[0][:100] if event.content.strip() else ""
            # the tool's own time: not the time the user took to answer its approval question
            seconds = max(0.0, event.seconds - (self.waits.seconds - self.tool_waits_from))
            from rich.markup import escape

            self.console.print(f"  {mark} [dim]{seconds:.1f}s {escape(first)}[/]", highlight=False)
            self.start_waiting()
        elif isinstance(event, ev.Compacted):
            self.console.print(f"[dim]· compacted {event.folded_messages} older messages into a summary[/]")
            self.start_waiting()
        elif isinstance(event, ev.Notice):
            self.console.print(f"[yellow]·[/] {event.text}", highlight=False)
            self.start_waiting()
        elif isinstance(event, ev.TurnFinished):
            self._end_text()
            if not self.step_streamed and event.answer.strip():
                # Streaming is off ([agent] stream = false): the answer arrives whole, only here.
                self._show_whole(event.answer)

    def _show_whole(self, answer: str) -> None:
        if self.console.is_terminal:
            from rich.markdown import Markdown

            self.console.print(Markdown(answer))
        else:  # piped: plain Markdown text, as for a streamed answer
            self.console.print(answer.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)

    def abort(self) -> None:
        self.stop_waiting()
        self._end_text()

    def close(self) -> None:
        """The turn is over: nothing of it stays on the screen live."""
        self.abort()
        if self.waits.renderer is self:
            self.waits.renderer = None
