"""The ``theater`` command line: a thin layer over the library.

Commands live in ``theater/commands/`` (one module per idea); this module holds the
group, the shared options and the error handling that maps exceptions to the exit
code contract in :class:`theater.errors.ExitCode` (stdout for data, stderr for
diagnostics, one line per error, no traceback).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from . import __version__
from .errors import ExitCode, TheaterError

F = TypeVar("F", bound=Callable[..., Any])

DB_HELP = (
    "SQLite database file. Default: $THEATER_DB if set, else theater.db in the user data "
    "dir ($XDG_DATA_HOME/theater, normally ~/.local/share/theater)."
)


def db_option(f: F) -> F:
    return click.option("--db", "db", type=click.Path(dir_okay=False), default=None, help=DB_HELP)(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON value on stdout.")(f)


def db_path(db: str | None) -> Path:
    from .store import default_db_path

    return Path(db) if db else default_db_path()


def open_store(db: str | None, *, create: bool = False) -> Any:
    from .store import Store

    return Store(db_path(db), create=create)


def emit_json(value: Any) -> None:
    """Write one JSON value and a newline on stdout."""
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def err(message: str) -> None:
    """One diagnostic line on stderr."""
    click.echo(message, err=True)


class Exit(Exception):
    """Leave a command with an exit code after its output was written."""

    def __init__(self, code: int) -> None:
        self.code = int(code)


@contextmanager
def interruptible() -> Iterator[Any]:
    """While an actor runs, the first Ctrl-C asks it to stop; the second stops at once.

    Yields a :class:`theater.runtime.Interrupt` to give the recorder. The signal
    handler only sets it: raising from a signal handler can land in wasmtime-py's
    ctypes glue, where the exception is lost and the call fails as a bogus trap. The
    recorder raises :class:`theater.runtime.Interrupted` at the next host call or
    export boundary instead (exit 130; the chain is kept, marked incomplete). SIGINT
    stays ignored where it was (a background job).
    """
    from .runtime import Interrupt

    stop = Interrupt()

    def handler(signum: int, frame: object) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True

    try:
        old = signal.getsignal(signal.SIGINT)
        if old is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        old = signal.SIG_IGN
    try:
        yield stop
    finally:
        if old is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, old)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="theater")
def cli() -> None:
    """Record, replay and verify WebAssembly component actors.

    Exit codes: 0 ok, 1 verification failed / replay diverged / actor failed,
    2 usage or input error, 130 interrupted.
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from .commands import register

    register(cli)
    code: int
    try:
        rv = cli.main(args=argv, prog_name="theater", standalone_mode=False)
        code = int(rv) if isinstance(rv, int) else 0
    except Exit as e:
        code = e.code
    except TheaterError as e:
        err(f"theater: error: {e}")
        code = int(e.exit_code)
    except sqlite3.Error as e:
        # a database that went bad under a command that reads it lazily (a damaged
        # page, a read-only file, a lock held too long): one line, never a traceback
        from .store import describe_sqlite_error

        err(f"theater: error: cannot read or write the database: {describe_sqlite_error(e)}")
        code = ExitCode.USAGE
    except click.exceptions.Abort:
        err("theater: interrupted")
        code = ExitCode.INTERRUPTED
    except click.UsageError as e:  # one line, like every other error (issue 11 item 9)
        where = e.ctx.command_path if e.ctx is not None else "theater"
        err(f"theater: error: {e.format_message()} (see `{where} --help`)")
        code = ExitCode.USAGE
    except click.ClickException as e:
        e.show()
        code = ExitCode.USAGE
    except KeyboardInterrupt:
        err("theater: interrupted")
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = ExitCode.OK
    sys.exit(code)
