"""Progress on long work: a rich progress bar on stderr, only for a person.

Off when stderr is not a terminal or the command prints ``--json``; rich is imported
only when a bar is shown, so scripted runs and `theater verify` start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Update = Callable[[int], None]


def _noop(n: int) -> None:
    pass


@contextmanager
def progress(label: str, total: int | None, *, enabled: bool = True, min_total: int = 50_000) -> Iterator[Update]:
    """Yield ``update(done)``; shows a bar when enabled, on a TTY, and the work is large
    (``total`` at least ``min_total``, or unknown)."""
    show = enabled and sys.stderr.isatty() and (total is None or total >= min_total)
    if not show:
        yield _noop
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)

        def update(done: int) -> None:
            bar.update(task, completed=done)

        yield update
