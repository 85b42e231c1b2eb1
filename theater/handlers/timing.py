"""The timing handler: wasi:clocks/wall-clock and monotonic-clock (with their timers,
``subscribe-duration`` and ``subscribe-instant``), wasi:io/poll, and
theater:simple/timing ``now``. The boundary records every value the actor reads.

Settings: ``start_time`` (unix seconds) switches to a *virtual clock*: the wall clock
starts there and the monotonic clock at 0, every read advances both by ``tick_ns``
(default 1 ms), and waiting for a timer (``pollable.block``, ``poll``) moves both to
the timer's deadline at once. With it, two recordings with the same seed and inputs
are identical, hash for hash, timers and ``await`` included; without it the live
clocks are read and waits are real (and recorded: a replay never waits).
theater:simple/timing's ``sleep(ms)`` and ``deadline(unix-ms)`` wait the same way
(virtual: time jumps; live: a real wait, which Ctrl-C cuts). ``max_sleep_duration`` and
``min_sleep_duration`` (milliseconds, as upstream) bound them: a sleep (or the wait a
deadline asks for) outside the bounds is an ``err`` result, recorded, and no wait.
"""

from __future__ import annotations

import time
from typing import Any

from wasmtime.component import Record

from . import Handler, LiveFn
from .poll import POLLABLE_TYPE, Timers, sleep_until_monotonic


def _datetime(ns: int) -> Record:
    r = Record()
    setattr(r, "seconds", ns // 1_000_000_000)  # noqa: B010 (Record has no declared fields)
    setattr(r, "nanoseconds", ns % 1_000_000_000)  # noqa: B010
    return r


class _Rep:
    """A recorded pollable handle (``{"rep": N}``) as the timers read it."""

    def __init__(self, recorded: Any) -> None:
        self.rep = int(recorded.get("rep", 0)) if isinstance(recorded, dict) else int(recorded or 0)


class TimingHandler(Handler):
    type = "timing"
    interfaces = {
        "wasi:clocks/wall-clock": ("now", "resolution"),
        "wasi:clocks/monotonic-clock": ("now", "resolution", "subscribe-duration", "subscribe-instant"),
        "wasi:io/poll": ("[method]pollable.ready", "[method]pollable.block", "poll"),
        "theater:simple/timing": ("now", "sleep", "deadline"),
    }
    resource_types = {"wasi:io/poll": {"pollable": POLLABLE_TYPE}}
    settings_schema = {"max_sleep_duration": int, "min_sleep_duration": int, "start_time": int, "tick_ns": int}

    def __init__(self, config: Any, manifest: Any) -> None:
        super().__init__(config, manifest)
        start = config.settings.get("start_time")
        self.virtual = start is not None
        self.tick = int(config.settings.get("tick_ns", 1_000_000))
        self._wall0 = 0 if start is None else int(start) * 1_000_000_000
        self._mono = 0  # the virtual monotonic clock, in ns
        self.max_sleep_ms = config.settings.get("max_sleep_duration")
        self.min_sleep_ms = config.settings.get("min_sleep_duration")
        if self.virtual:
            self.timers = Timers(lambda: self._mono, self._jump)
        else:
            self.timers = Timers(time.monotonic_ns, sleep_until_monotonic)

    def _jump(self, deadline: int) -> None:
        """A virtual wait: time moves to the deadline at once."""
        self._mono = max(self._mono, deadline)

    def resume(self, interface: str, function: str, payload: dict[str, Any]) -> None:
        """Move to where the recording was (``theater fork``): a virtual clock advances
        once per recorded read (``now``) and jumps as each recorded wait did; timers are
        made again in order, so pollable reps continue where the recording's did. Live
        clocks are read live."""
        if "trap" in payload:
            return
        args = payload.get("args") or {}
        if function == "now":
            if self.virtual:
                self._advance()
        elif function == "subscribe-duration":
            self.timers.subscribe_at(self.timers.now() + int(args.get("when", 0)))
        elif function == "subscribe-instant":
            self.timers.subscribe_at(int(args.get("when", 0)))
        elif self.virtual and function in ("sleep", "deadline"):
            ok = isinstance(payload.get("result"), dict) and "ok" in payload["result"]
            arg = int(args.get("duration" if function == "sleep" else "timestamp", 0))
            if ok:  # the recorded wait happened: time moved as it did then
                self._jump(self._mono + (arg * 1_000_000 if function == "sleep" else self._wait_ns(arg)))
        elif self.virtual and function == "[method]pollable.block":
            self.timers.block(None, _Rep(args.get("self")))
        elif self.virtual and function == "poll":
            pollables = [_Rep(p) for p in args.get("in") or []]
            if pollables:
                self.timers.poll(None, pollables)

    def _wait_ns(self, timestamp_ms: int) -> int:
        """How long until ``timestamp_ms`` (unix milliseconds) on the wall clock, read
        without advancing a virtual clock; 0 when it has passed."""
        wall = self._wall0 + self._mono if self.virtual else time.time_ns()
        return max(0, timestamp_ms * 1_000_000 - wall)

    def _refused(self, ms: int, what: str) -> str | None:
        if self.max_sleep_ms is not None and ms > self.max_sleep_ms:
            return f"{what} of {ms} ms is longer than max_sleep_duration ({self.max_sleep_ms} ms)"
        if self.min_sleep_ms is not None and ms < self.min_sleep_ms:
            return f"{what} of {ms} ms is shorter than min_sleep_duration ({self.min_sleep_ms} ms)"
        return None

    def _sleep(self, store: Any, duration: int) -> str | None:
        """``sleep(duration: u64) -> result<_, string>``: None is ok, a str the err."""
        refused = self._refused(duration, "a sleep")
        if refused is not None:
            return refused
        self.timers.wait_until(self.timers.now() + duration * 1_000_000)
        return None

    def _deadline(self, store: Any, timestamp: int) -> str | None:
        """``deadline(timestamp: u64) -> result<_, string>``: wait until the wall clock
        reads ``timestamp`` (ms); a deadline already passed returns at once."""
        wait = self._wait_ns(timestamp)
        if wait == 0:
            return None
        refused = self._refused(-(-wait // 1_000_000), "the wait for a deadline")
        if refused is not None:
            return refused
        self.timers.wait_until(self.timers.now() + wait)
        return None

    def _advance(self) -> int:
        self._mono += self.tick
        return self._mono

    def _wall_ns(self) -> int:
        return self._wall0 + self._advance() if self.virtual else time.time_ns()

    def _mono_ns(self) -> int:
        return self._advance() if self.virtual else time.monotonic_ns()

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        timers = self.timers
        return {
            "wasi:clocks/wall-clock": {
                "now": lambda store: _datetime(self._wall_ns()),
                "resolution": lambda store: _datetime(1),
            },
            "wasi:clocks/monotonic-clock": {
                "now": lambda store: self._mono_ns(),
                "resolution": lambda store: 1,
                "subscribe-duration": lambda store, d: timers.subscribe_at(timers.now() + d),
                "subscribe-instant": lambda store, t: timers.subscribe_at(t),
            },
            "wasi:io/poll": {
                "[method]pollable.ready": timers.ready,
                "[method]pollable.block": timers.block,
                "poll": timers.poll,
            },
            "theater:simple/timing": {"now": lambda store: self._wall_ns() // 1_000_000,
                                      "sleep": self._sleep, "deadline": self._deadline},
        }
