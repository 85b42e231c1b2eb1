"""The timing handler: wasi:clocks/wall-clock and monotonic-clock, and
theater:simple/timing ``now``. Live values; the boundary records what the actor read."""

from __future__ import annotations

import time
from typing import Any

from wasmtime.component import Record

from . import Handler, LiveFn


def _datetime(ns: int) -> Record:
    r = Record()
    r.seconds = ns // 1_000_000_000
    r.nanoseconds = ns % 1_000_000_000
    return r


class TimingHandler(Handler):
    type = "timing"
    interfaces = {
        "wasi:clocks/wall-clock": ("now", "resolution"),
        "wasi:clocks/monotonic-clock": ("now", "resolution"),
        "theater:simple/timing": ("now",),
    }
    settings_schema = {"max_sleep_duration": int, "min_sleep_duration": int}

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        return {
            "wasi:clocks/wall-clock": {
                "now": lambda store: _datetime(time.time_ns()),
                "resolution": lambda store: _datetime(1),
            },
            "wasi:clocks/monotonic-clock": {
                "now": lambda store: time.monotonic_ns(),
                "resolution": lambda store: 1,
            },
            "theater:simple/timing": {"now": lambda store: time.time_ns() // 1_000_000},
        }

    def header_settings(self) -> dict[str, Any]:
        return self.config.to_json()
