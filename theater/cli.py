"""The ``theater`` command line: a thin layer over the library.

Commands live in ``theater/commands/`` (one module per idea); this module holds the
group, the shared options and the error handling that maps exceptions to the exit
code contract in :class:`theater.errors.ExitCode` (stdout for data, stderr for
diagnostics, one line per error, no traceback).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from . import __version__
from .errors import ExitCode, TheaterError

if TYPE_CHECKING:  # the type only: the CLI leaves SQLite to the store
    from .store import SQLiteError

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
    """One diagnostic line on stderr (made inert: it may quote an actor's or a database's text)."""
    from .text import inert

    click.echo(inert(message), err=True)


class Exit(Exception):
    """Leave a command with an exit code after its output was written."""

    def __init__(self, code: int) -> None:
        self.code = int(code)


@contextmanager
def interruptible() -> Iterator[Any]:
    """While an actor runs, SIGINT (Ctrl-C) or SIGTERM stops it within a moment; a
    second Ctrl-C stops at once.

    Yields a :class:`theater.runtime.Interrupt` to give the recorder or replayer. While
    the main thread is inside wasm no Python signal handler can run, so the signals
    are also written to a ``signal.set_wakeup_fd`` pipe that a watcher thread reads:
    it calls :meth:`Interrupt.request`, which increments the engine's epoch, and the
    wasm code traps at its next epoch check (every store's deadline is one tick). The
    recorder turns that, or the next host call or export boundary, into
    :class:`theater.errors.Interrupted`: exit 130 (SIGINT) or 143 (SIGTERM), the chain
    kept, marked incomplete, nothing recorded for the interrupted call. The Python
    handler itself never raises on the first signal: raising from a signal handler can
    land in wasmtime-py's ctypes glue, where the exception is lost and the call fails
    as a bogus trap. A signal that was ignored stays ignored (a background job).
    """
    import threading

    from .runtime import Interrupt

    stop = Interrupt()
    seen = [0]  # SIGINTs the Python handler ran for (coalesced ones count once)

    def handler(signum: int, frame: object) -> None:
        if signum == signal.SIGINT:
            seen[0] += 1
            if seen[0] >= 2:
                raise KeyboardInterrupt
        stop.request(signum)

    old: dict[int, Any] = {}
    wake_r = wake_w = -1
    old_fd: int | None = None
    watcher: threading.Thread | None = None
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            prev = signal.getsignal(signum)
            if prev is not signal.SIG_IGN:
                signal.signal(signum, handler)
                old[signum] = prev
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        old_fd = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    except ValueError:  # not the main thread: no signal handling of ours
        pass
    if old_fd is not None:
        watched = set(old)

        def watch() -> None:
            while True:
                try:
                    got = os.read(wake_r, 64)
                except OSError:
                    return
                if not got:  # the write end was closed: the run is over
                    return
                for num in got:
                    if num in watched:
                        stop.request(num)

        watcher = threading.Thread(target=watch, name="theater-stop-watcher", daemon=True)
        watcher.start()
    try:
        yield stop
    finally:
        if old_fd is not None:
            signal.set_wakeup_fd(old_fd)
        if wake_w >= 0:
            os.close(wake_w)
        if watcher is not None:
            watcher.join(5)
        if wake_r >= 0:
            os.close(wake_r)
        for num, prev in old.items():
            signal.signal(num, prev)


def run_group(group: click.Group, args: Any = None, prog_name: str | None = None, **extra: Any) -> int:
    """Run ``group`` and map what it raises to the exit-code contract; return the code.

    One line on stderr per error, never a traceback. :class:`TheaterGroup` calls this
    from ``main``, so the console script and an in-process ``CliRunner`` give the same
    exit codes and messages.
    """
    code: int
    try:
        rv = click.Group.main(group, args=args, prog_name=prog_name, standalone_mode=False, **extra)
        code = int(rv) if isinstance(rv, int) else 0
    except Exit as e:
        code = e.code
    except TheaterError as e:
        err(f"theater: error: {e}")
        code = int(e.exit_code)
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
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):  # in process (CliRunner): no fd
            fd = -1
        if fd >= 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
        code = ExitCode.OK
    except _sqlite_error() as e:
        # a database that went bad under a command that reads it lazily (a damaged
        # page, a read-only file, a lock held too long): one line, never a traceback
        from .store import store_error

        err(f"theater: error: {store_error(e, 'cannot read or write the database')}")
        code = ExitCode.USAGE
    return code


def _sqlite_error() -> type[SQLiteError]:
    """The store's :data:`theater.store.SQLiteError`, imported only when an exception no
    other handler took reaches that handler (so ``theater --help`` never loads the store)."""
    from .store import SQLiteError

    return SQLiteError


class TheaterGroup(click.Group):
    """The ``theater`` group: registers the commands on first use, and its ``main``
    maps exceptions to exit codes (:func:`run_group`) before exiting with the code."""

    registered = False

    def register_commands(self) -> None:
        if not self.registered:
            from .commands import register

            register(self)
            self.registered = True

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        self.register_commands()
        if not standalone_mode:
            return super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                standalone_mode=False, **extra)
        sys.exit(run_group(self, args, prog_name or "theater", complete_var=complete_var, **extra))


@click.group("theater", cls=TheaterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="theater")
def cli() -> None:
    """Record, replay and verify WebAssembly component actors.

    Exit codes: 0 ok, 1 verification failed / replay diverged / actor failed,
    2 usage or input error, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="theater")
