"""Messages that workers post back to the screens (``post_message`` is thread-safe)."""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message
from textual.worker import get_current_worker

from verify.diff import ChainDiff
from verify.integrity import VerifyResult


class VerifyProgress(Message):
    """``events`` events of ``chain`` have been checked so far."""

    def __init__(self, chain: str, events: int) -> None:
        super().__init__()
        self.chain = chain
        self.events = events


class VerifyDone(Message):
    """Verification of ``result.chain`` finished."""

    def __init__(self, result: VerifyResult) -> None:
        super().__init__()
        self.result = result


class DiffDone(Message):
    """The diff of two chains is ready."""

    def __init__(self, diff: ChainDiff) -> None:
        super().__init__()
        self.diff = diff


class SeqFound(Message):
    """A search (type, or next/previous difference) ended at ``seq`` (None: not found)."""

    def __init__(self, seq: int | None, what: str) -> None:
        super().__init__()
        self.seq = seq
        self.what = what


class Cancelled(Exception):
    """Raised in a thread worker's progress callback once the worker is cancelled."""


def cancellable(post: Callable[[int], None] | None = None) -> Callable[[int], None]:
    """A progress callback for library scans in the current thread worker: it raises
    :class:`Cancelled` when the worker was cancelled (the screen closed, the app quit,
    or a newer exclusive worker replaced it), else passes the count to ``post``."""
    worker = get_current_worker()

    def progress(n: int) -> None:
        if worker.is_cancelled:
            raise Cancelled
        if post is not None:
            post(n)

    return progress
