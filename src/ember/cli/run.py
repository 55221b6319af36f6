"""``ember run "..."``: one answer for scripts.

stdout carries the final answer and nothing else (or one JSON object with ``--json``); progress,
tool lines and errors go to stderr. Plain writes, not rich: this path is timed on every call.
"""

from __future__ import annotations

import json
import sys

import click

from ember.cli.errors import EXIT_REFUSED, error


class StderrProgress:
    """Compact progress lines on stderr: tool calls, results, retries."""

    def __init__(self, show_reasoning: bool, quiet: bool) -> None:
        self.show_reasoning = show_reasoning
        self.quiet = quiet
        self.in_reasoning = False

    def write(self, text: str) -> None:
        if not self.quiet:
            sys.stderr.write(text)
            sys.stderr.flush()

    def handle(self, event: object) -> None:
        from ember.agent import events as ev

        if isinstance(event, ev.ReasoningChunk) and self.show_reasoning:
            self.write(event.text)
            self.in_reasoning = True
            return
        if self.in_reasoning:
            self.write("\n")
            self.in_reasoning = False
        if isinstance(event, ev.ToolStarted):
            self.write(f"→ {format_call(event.call.name, event.call.arguments)}\n")
        elif isinstance(event, ev.ToolFinished):
            mark = "✗" if event.is_error else "✓"
            first = event.content.strip().splitlines()[0][:100] if event.content.strip() else ""
            self.write(f"  {mark} {event.seconds:.1f}s {first}\n")
        elif isinstance(event, ev.Notice | ev.Compacted):
            text = event.text if isinstance(event, ev.Notice) else f"compacted {event.folded_messages} messages"
            self.write(f"· {text}\n")


def format_call(name: str, arguments: dict) -> str:
    parts = []
    for key, value in arguments.items():
        shown = repr(value)
        parts.append(f"{key}={shown[:60] + '…' if len(shown) > 60 else shown}")
    return f"{name}({', '.join(parts)})"


@click.command()
@click.argument("message", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print {answer, session_id, model, usage, tool_calls, notices}.")
@click.option("--yes", "-y", is_flag=True, help="Approve tools that would ask for approval.")
@click.option("--session", "-s", "session_ref", help="Continue a stored session (id or unique prefix).")
@click.option("--model", "-m", "model_name", help="A named model from config.toml, or a model id.")
@click.option("--show-reasoning", is_flag=True, help="Print the model's reasoning on stderr.")
@click.option("--stream/--no-stream", default=None,
              help="Stream replies, or wait for whole ones (default: [agent] stream of config.toml).")
@click.option("--max-steps", type=click.IntRange(1, 1000), help="Most model calls for this turn.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
def run(
    message: tuple[str, ...],
    as_json: bool,
    yes: bool,
    session_ref: str | None,
    model_name: str | None,
    show_reasoning: bool,
    stream: bool | None,
    max_steps: int | None,
    quiet: bool,
) -> int:
    """Answer MESSAGE once and exit. Use "-" to read the message from stdin."""
    from ember.agent import events as ev
    from ember.cli.first_run import ready_settings, workspace_created
    from ember.runtime import build_runtime

    text = " ".join(message).strip()
    if text == "-":
        text = sys.stdin.read().strip()
    if not text:
        raise click.UsageError('give a message, e.g. ember run "what is in this folder?"')
    settings = ready_settings(model_name)  # tools in the current directory; exit 2 without a model
    if max_steps:
        settings.agent.max_steps = max_steps
    runtime = build_runtime(settings, interactive=False, auto_approve=yes)
    workspace_created(runtime)
    try:
        session_id = _resolve_session(runtime, session_ref)
        progress = StderrProgress(show_reasoning, quiet or as_json)
        from ember.agent.door import Unattended

        # No one to ask: approvals are refused (exit code 5), or all granted with --yes.
        # Notices ("Noted for next time: ...", a fallback to another model) reach stderr, with --json
        # too, and the JSON's "notices" list: a script sees what a person would have been told.
        notices: list[str] = []

        def notice(text: str) -> None:
            notices.append(text)
            if not quiet:
                sys.stderr.write(f"· {text}\n")

        door = Unattended(auto_approve=yes, on_notice=notice)
        live = sys.stdout.isatty() and not as_json
        finished = None
        step_written = last_step_written = False  # text of the model call was written live
        # stream=None: [agent] stream of config.toml decides; --stream/--no-stream override it.
        for event in runtime.agent.run(session_id, text, stream=stream, door=door):
            if isinstance(event, ev.TextChunk):
                if live:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
                    step_written = True
            elif isinstance(event, ev.ModelCalled):
                if step_written:
                    sys.stdout.write("\n")
                last_step_written, step_written = step_written, False
            elif isinstance(event, ev.TurnFinished):
                finished = event
            else:
                progress.handle(event)
        assert finished is not None
        if live and not last_step_written and finished.answer:
            # nothing of the answer was streamed (streaming is off): print it whole
            sys.stdout.write(finished.answer.rstrip("\n") + "\n")
        if as_json:
            payload = {
                "answer": finished.answer,
                "session_id": finished.session_id,
                "model": finished.model,
                "usage": {**finished.usage.as_dict(), "cost": round(finished.cost, 6), "steps": finished.steps},
                "tool_calls": finished.tool_calls,
                "notices": notices,
            }
            sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        elif not live:
            sys.stdout.write(finished.answer.rstrip("\n") + "\n")
        sys.stdout.flush()
        refused = finished.approvals.refused
    finally:
        runtime.close()
    if refused:
        # The answer stands, but the task may be incomplete: tell scripts (exit code 5) and people.
        actions = "; ".join(r.action or r.tool for r in refused[:3])
        error(f"{len(refused)} action(s) needed approval and were refused: {actions}",
              "re-run with --yes, or allow the pattern in config.toml [tools] allow_commands")
        return EXIT_REFUSED
    return 0


def _resolve_session(runtime, session_ref: str | None) -> str:
    if not session_ref:
        return runtime.agent.new_session(source="run")
    from ember.cli.sessions import find_session

    return find_session(runtime.store, session_ref).id

