"""Renders agent events in the terminal with rich: streamed Markdown, compact tool lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember.agent import events as ev
from ember.cli.run import format_call

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live


class ChatRenderer:
    """Streams one turn: Markdown re-rendered live as text arrives; reasoning dim (when shown)."""

    def __init__(self, console: Console, show_reasoning: bool = False) -> None:
        self.console = console
        self.show_reasoning = show_reasoning
        self.text = ""
        self.live: Live | None = None
        self.step_streamed = False  # answer text of the current model call arrived as chunks

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
        elif isinstance(event, ev.ToolFinished):
            mark = "[red]✗[/]" if event.is_error else "[green]✓[/]"
            first = event.content.strip().splitlines()[0][:100] if event.content.strip() else ""
            from rich.markup import escape

            self.console.print(f"  {mark} [dim]{event.seconds:.1f}s {escape(first)}[/]", highlight=False)
        elif isinstance(event, ev.Compacted):
            self.console.print(f"[dim]· compacted {event.folded_messages} older messages into a summary[/]")
        elif isinstance(event, ev.Notice):
            self.console.print(f"[yellow]·[/] {event.text}", highlight=False)
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
        self._end_text()
