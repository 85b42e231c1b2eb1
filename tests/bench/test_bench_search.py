"""Content search on a 1,000,000-event chain (issue 17 item 3): what the TUI's `/` and
`\\` and `theater events --grep` run (theater/store/search.py), against one bare SQL
scan of the same rows measured in the same run."""

from __future__ import annotations

import sqlite3
import time

import pytest

from theater.store import Store
from theater.store.search import matching_seqs

from .conftest import alternate, bench_chain
from .report import Row

BIG = 1_000_000
ROUNDS = 3
#: in the init's params ("999998") and in the digits of some random u64 results
NEEDLE = "999998"

pytestmark = pytest.mark.bench


def bare_scan(path: str) -> float:
    """The baseline: one `LIKE` scan of every row's data in SQLite, counted, nothing else."""
    conn = sqlite3.connect(path)
    t = time.perf_counter()
    conn.execute("SELECT count(*) FROM events WHERE CAST(data AS TEXT) LIKE ?", (f"%{NEEDLE}%",)).fetchone()
    elapsed = time.perf_counter() - t
    conn.close()
    return elapsed


def test_content_search(benchmark, table):
    path, chain_id = bench_chain(BIG)
    store = Store(path, create=False)
    try:
        def measured(_: object) -> int:
            return len(matching_seqs(store, chain_id, grep=NEEDLE))

        base, found_s, found = alternate(benchmark, lambda: bare_scan(str(path)), measured, rounds=ROUNDS)
        assert found >= 1
        t = time.perf_counter()
        rx = len(matching_seqs(store, chain_id, grep=f"re:{NEEDLE}"))
        rx_s = time.perf_counter() - t
        assert rx == found
    finally:
        store.close()
    table(Row(
        f"search: `/` by content, {BIG:,} events", f"{found_s * 1000:.0f} ms",
        f"bare LIKE scan: {base * 1000:.0f} ms", f"{found_s / base:.2f}x", "< 1 s", found_s < 1.0, order=6,
        notes=[f"{found:,} matches of {NEEDLE!r} in types, data and decoded bytes (theater/store/search.py)",
               f"re:{NEEDLE} (SQLite REGEXP, a Python function a row): {rx_s * 1000:.0f} ms "
               f"({rx_s / base:.1f}x the bare scan)"],
    ))
