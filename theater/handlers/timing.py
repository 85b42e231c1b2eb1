"""The timing handler: wasi:clocks/wall-clock and monotonic-clock, and
theater:simple/timing ``now``. The boundary records every value the actor reads.

Settings: ``start_time`` (unix seconds) switches to a *virtual clock*: the wall clock
starts there and the monotonic clock at 0, and every read advances both by
``tick_ns`` (default 1 ms). With it, two recordings with the same seed and inputs are
identical, hash for hash; without it the live clocks are read (and recorded).
``max_sleep_duration`` / ``min_sleep_duration`` are accepted for upstream manifests.
"""

from __future__ import annotations

import time
from typing import Any

from wasmtime.component import Record

from . import Handler, LiveFn


def _datetime(ns: int) -> Record:
    r = Record()
    setattr(r, "seconds", ns // 1_000_000_000)  # noqa: B010 (Record has no declared fields)
    setattr(r, "nanoseconds", ns % 1_000_000_000)  # noqa: B010
    return r


class TimingHandler(Handler):
    type = "timing"
    interfaces = {
        "wasi:clocks/wall-clock": ("now", "resolution"),
        "wasi:clocks/monotonic-clock": ("now", "resolution"),
        "theater:simple/timing": ("now",),
    }
    settings_schema = {"max_sleep_duration": int, "min_sleep_duration": int, "start_time": int, "tick_ns": int}

    def __init__(self, config: Any, manifest: Any) -> None:
        super().__init__(config, manifest)
        start = config.settings.get("start_time")
        self.virtual = start is not None
        self.tick = int(config.settings.get("tick_ns", 1_000_000))
        self._wall0 = 0 if start is None else int(start) * 1_000_000_000
        self._reads = 0

    def resume(self, interface: str, function: str, payload: dict[str, Any]) -> None:
        """A virtual clock advances once per recorded read (``now``); live clocks are
        read live."""
        if function == "now" and "trap" not in payload:
            self._reads += 1

    def _advance(self) -> int:
        self._reads += 1
        return self._reads * self.tick

    def _wall_ns(self) -> int:
        return self._wall0 + self._advance() if self.virtual else time.time_ns()

    def _mono_ns(self) -> int:
        return self._advance() if self.virtual else time.monotonic_ns()

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        return {
            "wasi:clocks/wall-clock": {
                "now": lambda store: _datetime(self._wall_ns()),
                "resolution": lambda store: _datetime(1),
            },
            "wasi:clocks/monotonic-clock": {
                "now": lambda store: self._mono_ns(),
                "resolution": lambda store: 1,
            },
            "theater:simple/timing": {"now": lambda store: self._wall_ns() // 1_000_000},
        }
