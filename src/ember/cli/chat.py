"""``ember`` / ``ember chat``: the interactive terminal.

prompt_toolkit gives line editing and history (kept in EMBER_HOME/history); rich renders the
streamed Markdown. Ctrl-C cancels the running turn and keeps the session; Ctrl-D leaves.
When stdin is not a terminal (piped input) lines are read plainly, so chat can be scripted; a
stdin with no message at all is a usage error, as for ``ember run -``. The tools work in the
current directory unless ``workspace`` / EMBER_WORKSPACE says otherwise.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from rich.console import Console

    from ember.agent.door import Door
    from ember.cli.render import UserWaits
    from ember.runtime import Runtime

LATEST = "__latest__"


@click.command()
@click.option("--resume", "-r", is_flag=False, flag_value=LATEST, default=None, metavar="[ID]",
              help="Continue a stored session: the latest one, or ID (a unique prefix is enough).")
@click.option("--show-reasoning", is_flag=True, help="Show the model's reasoning (hidden by default).")
@click.option("--yes", "-y", is_flag=True, help="Approve tools that would ask for approval.")
@click.option("--model", "-m", "model_name", help="A named model from config.toml, or a model id.")
def chat(resume: str | None = None, show_reasoning: bool = False, yes: bool = False,
         model_name: str | None = None) -> None:
    """Talk with Ember interactively."""
    from rich.console import Console

    from ember.cli.first_run import ready_settings, workspace_created
    from ember.cli.render import UserWaits
    from ember.runtime import build_runtime

    console = Console(highlight=False)
    interactive = sys.stdin.isatty()
    settings = ready_settings(model_name, offer_setup=interactive and sys.stdout.isatty())
    from ember.agent.door import Attended

    waits = UserWaits()
    # The person at this terminal: answers approvals and the model's questions, one at a time.
    door = Attended(approver=_approval_prompt(console, interactive, waits),
                    asker=_question_prompt(console, interactive, waits), auto_approve=yes,
                    on_notice=lambda text: console.print(f"[dim]· {text}[/]", highlight=False))
    runtime = build_runtime(settings, interactive=True, auto_approve=yes, ask=door.approver)
    workspace_created(runtime)
    from ember.memory.search.embedding_index import BackgroundIndexer

    # fills the embedding index while the chat runs
    indexer = BackgroundIndexer(settings.store_location, home=settings.home).start()
    try:
        ChatSession(runtime, console, show_reasoning, interactive, waits, door=door).loop(resume)
    finally:
        indexer.stop()
        runtime.close()


def _approval_prompt(console: Console, interactive: bool, waits: UserWaits):
    def ask(request) -> str:
        with waits.answering():  # the spinner stops; the tool's time shown leaves this wait out
            return _ask_approval(console, interactive, request)

    return ask


def _ask_approval(console: Console, interactive: bool, request) -> str:
    console.print(f"[yellow]Approval needed:[/] {request.reason}")
    from rich.markup import escape

    console.print(f"  [bold]{escape(request.action)}[/]", highlight=False)
    if request.patterns:
        console.print(f"  [dim]\\[s]/\\[a] allow the pattern: {escape(', '.join(request.patterns))}[/]")
    question = "  Allow? [y] once, [s] for this session, [a] always, [n] no: "
    try:
        answer = _read_line(question, interactive).strip().lower()
    except (EOFError, KeyboardInterrupt):
        answer = "n"
    return {"y": "once", "s": "session", "a": "always"}.get(answer[:1], "deny")


def _question_prompt(console: Console, interactive: bool, waits: UserWaits):
    """``ask_user(question, options) -> answer``: the model's question, asked in the terminal."""

    def ask_user(question: str, options: list[str]) -> str:
        with waits.answering():
            return _ask_question(console, interactive, question, options)

    return ask_user


def _ask_question(console: Console, interactive: bool, question: str, options: list[str]) -> str:
    from rich.markup import escape

    console.print(f"[magenta]Question:[/] {escape(question)}", highlight=False)
    for number, option in enumerate(options, 1):
        console.print(f"  {number}. {escape(option)}", highlight=False)
    try:
        return _read_line("  Your answer: ", interactive)
    except EOFError:
        return ""


def _read_line(prompt: str, interactive: bool) -> str:
    if interactive:
        from prompt_toolkit import prompt as pt_prompt

        return pt_prompt(prompt)
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


class ChatSession:
    def __init__(self, runtime: Runtime, console: Console, show_reasoning: bool, interactive: bool,
                 waits: UserWaits | None = None, door: Door | None = None) -> None:
        from ember.cli.render import UserWaits

        self.runtime = runtime
        self.door = door
        self.console = console
        self.show_reasoning = show_reasoning
        self.interactive = interactive
        self.waits = waits or UserWaits()
        self.session_id = ""
        self.prompt_session: PromptSession[str] | None = None
        self.lines_read = 0  # lines that held something (a message or a command)

    # --- input ---------------------------------------------------------------------------------

    def read(self) -> str:
        if not self.interactive:
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            return line.rstrip("\n")
        if self.prompt_session is None:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory

            history = private_file(self.runtime.settings.home / "history")
            self.prompt_session = PromptSession(history=FileHistory(str(history)))
        return self.prompt_session.prompt("› ")

    # --- main loop -------------------------------------------------------------------------------

    def loop(self, resume: str | None) -> None:
        self.start(resume)
        while True:
            try:
                line = self.read().strip()
            except KeyboardInterrupt:
                continue
            except EOFError:
                if not self.interactive and not self.lines_read:
                    from ember.cli.errors import CliError

                    # like `ember run -` with nothing on stdin: nothing was asked
                    raise CliError(
                        "stdin is not a terminal and holds no message",
                        'pipe the messages in, one per line (`echo "hello" | ember`), use `ember run "..."`, '
                        "or start `ember` in a terminal",
                    ) from None
                self.console.print("[dim]bye[/]")
                return
            if not line:
                continue
            self.lines_read += 1
            if line.startswith("/"):
                from ember.cli.slash import handle_slash

                try:
                    if handle_slash(self, line) == "exit":
                        return
                except KeyboardInterrupt:
                    self.console.print("[yellow]cancelled[/]")
                except Exception as exc:  # show the error, keep the chat going
                    self.report(exc)
                continue
            self.turn(line)

    def start(self, resume: str | None) -> None:
        if resume:
            if resume == LATEST:
                info = latest_with_messages(self.runtime.store)
                if info is None:
                    from ember.cli.errors import CliError

                    raise CliError("no stored session with messages to resume", "start one with `ember`")
            else:
                from ember.cli.sessions import find_session

                info = find_session(self.runtime.store, resume)
            self.session_id = info.id
            count = info.message_count
            self.console.print(f"[dim]resumed session {info.id} ({count} messages)[/]")
            self.show_tail()
        else:
            self.new_session()
        spec = self.runtime.settings.model_for("chat")
        from rich.markup import escape

        folder = escape(_short_path(self.runtime.settings.workspace_dir))
        self.console.print(
            f"[dim]Ember · {escape(spec.provider)}:{escape(spec.model)} · in {folder} · "
            "/help for commands, Ctrl-D to quit[/]",
            highlight=False, soft_wrap=True,
        )

    def new_session(self) -> None:
        """Start afresh; the session is stored only when its first message is sent."""
        self.session_id = ""

    def ensure_session(self) -> str:
        if not self.session_id:
            self.session_id = self.runtime.agent.new_session(source="cli")
        return self.session_id

    def show_tail(self, count: int = 4) -> None:
        from rich.markdown import Markdown

        if not self.session_id:
            return
        messages = [m.message for m in self.runtime.store.get_messages(self.session_id)]
        shown = [m for m in messages if m.role in ("user", "assistant") and m.content][-count:]
        for message in shown:
            if message.role == "user":
                self.console.print(f"[bold]› {message.content}[/]", markup=True, highlight=False)
            else:
                self.console.print(Markdown(message.content))

    def turn(self, text: str) -> None:
        from ember.cli.render import ChatRenderer

        renderer = ChatRenderer(self.console, self.show_reasoning, self.waits)
        try:
            renderer.start_waiting()  # until the model's first event: never a blank screen
            for event in self.runtime.agent.run(self.ensure_session(), text, door=self.door):
                renderer.handle(event)
        except KeyboardInterrupt:
            renderer.abort()
            self.console.print("[yellow]cancelled[/] [dim](the session goes on)[/]")
        except Exception as exc:  # show the error, keep the session alive
            renderer.abort()
            self.report(exc)
        finally:
            renderer.close()

    def report(self, exc: Exception) -> None:
        """Show an error in the chat (the chat goes on)."""
        import click

        from ember.cli.errors import exit_code_for

        if isinstance(exc, click.ClickException):
            code, message, hint = exc.exit_code, exc.format_message(), getattr(exc, "hint", None)
        else:
            try:
                code, message, hint = exit_code_for(exc)
            except Exception:  # a bug in Ember: show it, keep the session
                import traceback

                self.console.print(f"[red]internal error:[/] {type(exc).__name__}: {exc}", markup=True)
                self.console.print(traceback.format_exc(), markup=False, style="dim")
                return
        if code == 130:
            self.console.print("[yellow]cancelled[/]")
            return
        from rich.markup import escape

        self.console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        if hint:
            self.console.print(f"[dim]  → {escape(hint)}[/]")


def latest_with_messages(store):
    """The most recently active session that has messages (an empty one is not worth resuming)."""
    limit = 50
    while True:
        infos = store.list_sessions(limit=limit)
        for info in infos:
            if info.message_count:
                return info
        if len(infos) < limit:
            return None
        limit *= 20


def _short_path(path: Path) -> str:
    """``path`` with the home folder as ``~``, for the banner."""
    try:
        return "~/" + str(path.relative_to(Path.home())) if path != Path.home() else "~"
    except (ValueError, RuntimeError):
        return str(path)


def private_file(path: Path) -> Path:
    """Create ``path`` with mode 0600 (or make it so): the chat history holds what the user typed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)
    except OSError:
        pass  # a read-only home: prompt_toolkit reports what it cannot write
    return path
