"""The componentize-py example actor's throughput as its state grows (issue 18 item 7).

Each ``handle-send`` appends a message to the actor's JSON state, which crosses the
boundary as a ``list<u8>`` twice per message (in and out). Measured: ``record()`` of
the example actor with N ``--send`` messages into a new SQLite file, from the warm
compiled-component cache (instantiate, init, N messages, end, commit), as the issue's
"0.63 s for 10 messages" was. The same recordings without the list<u8> fast path
(theater/fastvalues.py uninstalled: wasmtime-py's own conversion) run in the same
session at 10 and 100 messages; at 1,000 only with ``THEATER_BENCH_BEFORE=1`` (it
takes minutes: wasmtime-py's conversion costs about 1.4 us per byte and the state
reaches 80 KB). Both produce the same chain (tests/test_fastvalues.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from actors import py_manifest

from theater import fastvalues
from theater.manifest import Manifest, load_manifest
from theater.recorder import Input, record
from theater.store import Store

from .conftest import db_bytes
from .report import Row

SIZES = (10, 100, 1000)
ROUNDS = {0: 3, 10: 3, 100: 3, 1000: 1}  # rounds of the fast path (best of); without it: one each

pytestmark = pytest.mark.bench


def run(manifest: Manifest, path: Path, n: int) -> tuple[float, int, int]:
    """Seconds to record n messages; the number of events and the file's bytes."""
    inputs = [Input(kind="send", payload=b"message %d" % i) for i in range(n)]
    with Store(path) as store:
        t = time.perf_counter()
        r = record(manifest, store, init_param="bench", inputs=inputs)
        seconds = time.perf_counter() - t
    assert r.outcome == "completed"
    return seconds, r.events, db_bytes(path)


def test_example_actor_throughput(benchmark, tmp_path, table):
    manifest = load_manifest(py_manifest(tmp_path))
    files = iter(range(1000))

    def best(n: int, rounds: int) -> tuple[float, int, int]:
        return min(run(manifest, tmp_path / f"a{next(files)}.db", n) for _ in range(rounds))

    assert fastvalues.install().active
    run(manifest, tmp_path / "warm.db", 1)  # fills the compiled-component cache
    fast = {n: best(n, ROUNDS[n]) for n in (0, 10, 100)}
    fast[1000] = benchmark.pedantic(lambda: run(manifest, tmp_path / f"a{next(files)}.db", 1000),
                                    rounds=ROUNDS[1000], iterations=1)
    fastvalues.uninstall()
    try:
        slow = {n: best(n, 1) for n in (0, *SIZES) if n < 1000 or os.environ.get("THEATER_BENCH_BEFORE") == "1"}
    finally:
        assert fastvalues.install().active
    assert all(fast[n][1] == slow[n][1] for n in slow)  # the same recordings, event for event

    def rate(m: dict[int, tuple[float, int, int]], n: int) -> str:
        return f"{n / m[n][0]:,.1f}" if n in m else "(THEATER_BENCH_BEFORE=1)"

    def steady(m: dict[int, tuple[float, int, int]], n: int) -> str:
        """Messages/s without the fixed part (instantiate, init, commit: N = 0); a run no
        longer than the empty one says so instead of dividing by about nothing."""
        if n not in m:
            return "-"
        extra = m[n][0] - m[0][0]
        return f"{n / extra:,.1f}" if extra > 0.001 else "(within the empty run's noise)"

    ratio = (1000 / fast[1000][0]) / (10 / fast[10][0])
    per_msg = {n: (fast[n][2] - fast[0][2]) / n for n in SIZES}
    table(Row(
        "example actor: messages/s recording 1,000 messages", f"{rate(fast, 1000)} msg/s",
        f"10 messages: {rate(fast, 10)} msg/s", f"{ratio:.2f}", ">= 0.5 (within 2x)", ratio >= 0.5,
        order=8,
        notes=[
            "messages/s (record end to end, warm cache) with the list<u8> fast path / without it: "
            + "; ".join(f"{n:,}: {rate(fast, n)} / {rate(slow, n)}" for n in SIZES),
            "without the fixed cost of an empty recording "
            f"({fast[0][0]:.2f} s / {slow[0][0]:.2f} s): "
            + "; ".join(f"{n:,}: {steady(fast, n)} / {steady(slow, n)}" for n in SIZES),
            "bytes on disk per message: " + "; ".join(f"{n:,}: {per_msg[n]:,.0f} B" for n in SIZES),
        ],
    ))
