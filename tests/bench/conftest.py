"""Shared machinery of the benchmarks (``make bench``, docs/performance.md).

Every benchmark uses pytest-benchmark's ``benchmark`` fixture, so the default test
run (``--benchmark-skip`` in pyproject) skips them without running their setup.
Each one measures its baseline in the same run, alternating baseline and measured
rounds so that a noisy neighbour slows both, and adds a :class:`Row` to the table
printed at the end. Times are reported, never asserted.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from theater.chain import END_TYPE, ChainBuilder, canonical_json, export_type, header_bytes, host_type, make_header
from theater.store import Store

from .report import Row, format_table, machine, save

ROOT = Path(__file__).resolve().parents[2]
RESULTS: list[Row] = []

#: bump when the generated chains change (they are cached in the temp dir)
CHAIN_VERSION = "bench-s2"  # s2: storage v2 (issue 18)
U64 = host_type("wasi:random/random@0.2.3", "get-random-u64")
INIT = export_type("theater:simple/actor", "init")


@pytest.fixture
def table() -> Callable[[Row], None]:
    """``table(Row(...))`` adds a row to the table printed at the end of the session."""
    return RESULTS.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    info = machine()
    save(RESULTS, info, ROOT / ".benchmarks" / "theater-bench.json")
    terminalreporter.write_sep("=", "theater benchmarks (docs/performance.md)")
    terminalreporter.write_line(format_table(RESULTS, info))


# -- timing ---------------------------------------------------------------------------


def alternate(benchmark: Any, baseline: Callable[[], float], measured: Callable[[], Any], *,
              rounds: int, prepare: Callable[[], Any] | None = None) -> tuple[float, float, Any]:
    """Run ``baseline`` and ``measured`` alternately, ``rounds`` times each.

    ``baseline()`` returns its own elapsed seconds; ``measured(prepared)`` is timed
    by pytest-benchmark (``prepare()``, untimed, makes its argument). Returns the best
    baseline time, the best measured time and the last measured result.
    """
    base: list[float] = []
    last: list[Any] = [None]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        base.append(baseline())
        return ((prepare() if prepare is not None else None,), {})

    def target(arg: Any) -> None:
        last[0] = measured(arg)

    benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1)
    return min(base), benchmark.stats.stats.min, last[0]


def best_of(fn: Callable[[], float], rounds: int) -> float:
    return min(fn() for _ in range(rounds))


# Runs one command and reports its wall time and peak RSS. A child's ru_maxrss counts
# the memory of the process it was forked from (Linux keeps the high-water mark across
# exec), so the command is started from this small process, not from pytest.
_MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
code = subprocess.call(sys.argv[1:])
elapsed = time.perf_counter() - t
print(f"\\n{elapsed} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
sys.exit(code)
"""


def run_measured(cmd: Sequence[str], *, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> tuple[float, int, str]:
    """Run ``cmd``; returns (wall seconds, peak RSS in KiB, stdout)."""
    e = dict(os.environ)
    e.pop("THEATER_DB", None)
    e.update(env or {})
    proc = subprocess.run([sys.executable, "-S", "-c", _MEASURE, *cmd], capture_output=True, text=True,
                          env=e, cwd=cwd)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    elapsed, rss = proc.stderr.rstrip("\n").rsplit("\n", 1)[-1].split()
    return float(elapsed), int(rss), proc.stdout


def theater_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "theater", *args]


def db_bytes(path: Path) -> int:
    """Bytes on disk of a database, with its WAL checkpointed into the main file."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


# -- generated chains -------------------------------------------------------------------


def chain_rows(chain_id: str, n: int) -> tuple[bytes, list[tuple[Any, ...]]]:
    """A random_loop recording of ``n`` events: n - 2 get-random-u64 crossings, init, end.

    The values are not a ChaCha20 stream (the chain is for verify and the TUI, which
    do not care); sizes are: u64 results of 1 to 20 digits."""
    header = header_bytes(make_header(actor="random_loop", component_sha256="be" * 32, seed=1))
    builder = ChainBuilder(header)
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    value = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    written = 1_750_000_000.0
    for _ in range(n - 2):
        value = (value * 6364136223846793005 + 1442695040888963407) & mask
        data = b'{"args":{},"result":%d}' % value
        seq, parent, h = builder.append(U64, data)
        append((chain_id, seq, h, parent, U64, data, written + seq * 1e-5))
    tail = [
        (INIT, canonical_json({"args": {"params": [str(n - 2)], "state": None},
                               "result": {"ok": [{"some": "base64:AAAAAAAAAAA="}]}})),
        (END_TYPE, canonical_json({"outcome": "completed"})),
    ]
    for type_, data in tail:
        seq, parent, h = builder.append(type_, data)
        append((chain_id, seq, h, parent, type_, data, written + seq * 1e-5))
    return header, rows


def bench_chain(n: int) -> tuple[Path, str]:
    """A database holding one complete chain of ``n`` events, built once per
    CHAIN_VERSION with a direct executemany and cached in the temp dir (built under a
    side name and renamed, so a parallel session never sees half of it)."""
    chain_id = f"bench{n:011d}"
    path = Path(tempfile.gettempdir()) / f"theater-{CHAIN_VERSION}-{n}.db"
    if path.exists():
        return path, chain_id
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    Store(tmp).close()  # the schema, in WAL mode
    header, rows = chain_rows(chain_id, n)
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    key = conn.execute(
        "INSERT INTO chains (id, actor, format, header, component_sha256, created, status, length, head)"
        " VALUES (?, 'random_loop', 'v1', ?, ?, ?, 'complete', ?, ?)",
        (chain_id, header, "be" * 32, 1_750_000_000.0, len(rows), rows[-1][2]),
    ).lastrowid
    types = {t: conn.execute("INSERT INTO event_types (name) VALUES (?)", (t,)).lastrowid
             for t in dict.fromkeys(r[4] for r in rows)}
    # storage v2: the chain's key, the type's id, no parent
    conn.executemany("INSERT INTO events (chain, seq, hash, type, data, written_at) VALUES (?, ?, ?, ?, ?, ?)",
                     ((key, s, h, types[t], d, w) for _, s, h, _, t, d, w in rows))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, path)
    return path, chain_id


def fmt_rate(x: float, unit: str) -> str:
    return f"{x:,.0f} {unit}"
