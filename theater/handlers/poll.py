"""Pollables: ``wasi:io/poll`` and the timers of ``wasi:clocks/monotonic-clock``.

A pollable is a host resource whose rep names an entry of :class:`Timers`: a deadline
on the monotonic clock, or :data:`ALWAYS_READY` (what a stream's ``subscribe``
returns: theater's streams never block). Reps are handed out in order, so they are
the same in every run and a recorded ``{"rep": N}`` means the same pollable on replay.

Waiting depends on the clock (theater/handlers/timing.py): with the virtual clock, a
wait moves virtual time forward to the deadline at once, so a timer or an ``await``
on one runs deterministically and a recording is reproducible; with the live clock
the host really sleeps. Either way the results the actor sees (``ready``, the indices
``poll`` returns) are recorded, and a replay returns them without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from wasmtime.component import ResourceHost

from ..engine import STOPPING
from ..errors import HostRefusal, Interrupted

#: The host type id of the ``pollable`` resource (shared by the runtime handler's
#: stream ``subscribe`` and the timing handler's clocks and ``wasi:io/poll``).
POLLABLE_TYPE = 0x7E3
#: The rep of a pollable that is always ready.
ALWAYS_READY = 1


def always_ready() -> ResourceHost:
    return ResourceHost.own(ALWAYS_READY, POLLABLE_TYPE)


class Timers:
    """The deadlines of the pollables one actor made, on one monotonic clock.

    ``now()`` reads the clock without advancing it; ``wait_until(ns)`` blocks until
    ``now() >= ns`` (virtual: by moving the clock there)."""

    def __init__(self, now: Callable[[], int], wait_until: Callable[[int], None]) -> None:
        self.now = now
        self.wait_until = wait_until
        self._deadlines: dict[int, int] = {}
        self._next = ALWAYS_READY + 1

    def subscribe_at(self, deadline: int) -> ResourceHost:
        rep = self._next
        self._next += 1
        self._deadlines[rep] = deadline
        return ResourceHost.own(rep, POLLABLE_TYPE)

    def _deadline(self, pollable: Any) -> int | None:
        rep = int(pollable.rep)
        return None if rep == ALWAYS_READY else self._deadlines.get(rep)

    def ready(self, store: Any, pollable: Any) -> bool:
        d = self._deadline(pollable)
        return d is None or self.now() >= d

    def block(self, store: Any, pollable: Any) -> None:
        d = self._deadline(pollable)
        if d is not None and self.now() < d:
            self.wait_until(d)

    def poll(self, store: Any, pollables: list[Any]) -> list[int]:
        """The indices of the ready pollables, waiting for the earliest if none is."""
        if not pollables:
            raise HostRefusal("wasi:io/poll#poll of an empty list")  # WASI: traps
        deadlines = [self._deadline(p) for p in pollables]
        now = self.now()
        ready = [i for i, d in enumerate(deadlines) if d is None or now >= d]
        if ready:
            return ready
        earliest = min(d for d in deadlines if d is not None)
        self.wait_until(earliest)
        now = self.now()
        return [i for i, d in enumerate(deadlines) if d is None or now >= d]


def sleep_until_monotonic(deadline_ns: int) -> None:
    """A live wait on :func:`time.monotonic_ns`; a stop request (Ctrl-C, SIGTERM:
    :func:`theater.engine.request_stop`) ends it at once with :class:`Interrupted`,
    raised inside the host call so nothing is recorded for it."""
    while True:
        left = deadline_ns - time.monotonic_ns()
        if left <= 0:
            return
        if STOPPING.wait(left / 1e9):
            raise Interrupted("interrupted during a live wait")
