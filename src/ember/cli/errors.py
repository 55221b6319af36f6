"""One place that turns failures into a clear message and an exit code (never a traceback).

Exit codes (documented in docs/cli.md; scripts rely on them):
0 success, 1 model or endpoint failure, 2 usage or configuration error, 3 database error,
4 step limit reached, 5 a tool needed approval that was refused, 130 cancelled with Ctrl-C.
"""

from __future__ import annotations

import os
import sys

import click

EXIT_OK = 0
EXIT_MODEL = 1
EXIT_CONFIG = 2
EXIT_STORE = 3
EXIT_STEP_LIMIT = 4
EXIT_REFUSED = 5
EXIT_CANCELLED = 130


def error(message: str, hint: str | None = None) -> None:
    """Print an error for a person on stderr: what went wrong, then what to do next."""
    sys.stderr.write(f"ember: error: {message}\n")
    if hint:
        sys.stderr.write(f"  → {hint}\n")
    sys.stderr.flush()


class CliError(click.ClickException):
    """A mistake in what was asked (no such session, an ambiguous id prefix, a missing folder).

    Shown as ``ember: error: MESSAGE`` and a hint; exit code 2 (usage error) unless given.
    """

    def __init__(self, message: str, hint: str | None = None, exit_code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.hint = hint
        # click annotates exit_code as a ClassVar, yet reads it from the instance: each error has its own.
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: object = None) -> None:
        error(self.format_message(), self.hint)


def exit_code_for(exc: BaseException) -> tuple[int, str, str | None]:
    """Map an exception to (exit code, message, hint)."""
    from ember.config import ConfigError, HomeError

    if isinstance(exc, HomeError):  # the message says what to do; doctor would only repeat it
        return EXIT_CONFIG, str(exc), None
    if isinstance(exc, ConfigError):
        return EXIT_CONFIG, str(exc), "run `ember doctor` to check the configuration"
    name = type(exc).__name__
    module = type(exc).__module__
    if name == "AmbiguousSessionError":  # a usage mistake, not a broken database
        return EXIT_CONFIG, str(exc), "give more of the id (`ember sessions list` shows them)"
    if module.startswith(("ember.store", "ember.memory")):
        return EXIT_STORE, str(exc), None
    if module.startswith("ember.models"):
        if name == "Cancelled":
            return EXIT_CANCELLED, "cancelled", None
        if name == "EmptyAnswerError":  # the endpoint works; the message already says what to try
            return EXIT_MODEL, str(exc), None
        return EXIT_MODEL, str(exc), "run `ember doctor` to test the endpoint"
    if name == "StepLimitReached":
        return EXIT_STEP_LIMIT, str(exc), None
    if module.startswith("ember.agent"):
        return EXIT_MODEL, str(exc), None
    if isinstance(exc, OSError) and exc.filename:
        # a file Ember could not read or write (a read-only home, a path that is a file): one line
        return _os_error(exc)
    raise exc


def _os_error(exc: OSError) -> tuple[int, str, str | None]:
    import errno

    message = f"{exc.filename}: {exc.strerror or exc}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return EXIT_CONFIG, message, "check the permissions of that path (and of EMBER_HOME: `ember doctor`)"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return EXIT_CONFIG, message, "a file stands where a folder should be, or the other way round"
    return EXIT_MODEL, message, None


def run_cli(cli: click.Group) -> int:
    try:
        result = cli.main(standalone_mode=False, prog_name="ember")
    except click.exceptions.Abort:
        # Ctrl-C (click turns KeyboardInterrupt into Abort, after ending the line) or "no" to a
        # confirmation that aborts.
        sys.stderr.write("ember: cancelled\n")
        sys.stderr.flush()
        return EXIT_CANCELLED
    except click.UsageError as exc:
        exc.show()  # click's own form: the usage line, then the error
        return exc.exit_code
    except click.ClickException as exc:
        error(exc.format_message(), getattr(exc, "hint", None))
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("\nember: cancelled\n")
        return EXIT_CANCELLED
    except BrokenPipeError:
        # stdout closed early (`ember run ... | head -1`): not an error for the user.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if os.environ.get("EMBER_DEBUG"):
            raise
        code, message, hint = exit_code_for(exc)
        if code == EXIT_CANCELLED:
            sys.stderr.write("\nember: cancelled\n")
        else:
            error(message, hint)
        return code
    return result if isinstance(result, int) else EXIT_OK
