"""Verify and browse a 1,000,000-event chain (generated once, cached in the temp dir)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import struct
import time

import pytest

from theater.chain import EVENT_TAG, genesis_hash
from verify.parallel import MAX_PARALLEL, WORKERS_ENV

from .conftest import alternate, bench_chain, fmt_rate, run_measured, theater_cmd
from .report import Row

BIG = 1_000_000
SMALL = 100_000
ROUNDS = 3

pytestmark = pytest.mark.bench


def bare_sha256_loop(path: str, chain_id: str) -> tuple[float, int]:
    """The baseline: a plain loop over the stored rows (the same query order as the
    verifier) recomputing each event's SHA-256 from its stored bytes on the hash before
    it (storage v2 keeps no parent), and nothing else: no checks, no report. Returns
    (seconds, events)."""
    q, i = struct.Struct(">Q").pack, struct.Struct(">I").pack
    sha256 = hashlib.sha256
    n = 0
    t = time.perf_counter()
    conn = sqlite3.connect(path)
    header = conn.execute("SELECT header FROM chains WHERE id = ?", (chain_id,)).fetchone()[0]
    parent = genesis_hash(header)
    cur = conn.execute("SELECT e.seq, t.name, e.data FROM events e JOIN event_types t ON t.id = e.type"
                       " WHERE e.chain = (SELECT key FROM chains WHERE id = ?) ORDER BY e.seq", (chain_id,))
    while rows := cur.fetchmany(4096):
        for seq, type_, data in rows:
            tb = type_.encode()
            parent = sha256(b"".join((EVENT_TAG, q(seq), parent, i(len(tb)), tb, q(len(data)), data))).digest()
        n += len(rows)
    conn.close()
    return time.perf_counter() - t, n


def bare_verify_loop(path: str, chain_id: str) -> tuple[float, int]:
    """The bare loop as a verifier must run it: the same, reading each row's stored
    hash too (a 32-byte value per row, about a fifth of the read) and comparing it with
    the one computed. Returns (seconds, events)."""
    q, i = struct.Struct(">Q").pack, struct.Struct(">I").pack
    sha256 = hashlib.sha256
    n = 0
    t = time.perf_counter()
    conn = sqlite3.connect(path)
    header = conn.execute("SELECT header FROM chains WHERE id = ?", (chain_id,)).fetchone()[0]
    parent = genesis_hash(header)
    cur = conn.execute("SELECT e.seq, e.hash, t.name, e.data FROM events e JOIN event_types t ON t.id = e.type"
                       " WHERE e.chain = (SELECT key FROM chains WHERE id = ?) ORDER BY e.seq", (chain_id,))
    while rows := cur.fetchmany(4096):
        for seq, h, type_, data in rows:
            tb = type_.encode()
            parent = sha256(b"".join((EVENT_TAG, q(seq), parent, i(len(tb)), tb, q(len(data)), data))).digest()
            if parent != h:
                raise AssertionError(f"event {seq} does not verify")
        n += len(rows)
    conn.close()
    return time.perf_counter() - t, n


def test_verify_throughput(benchmark, table):
    """`theater verify` (the CLI, in its own process) against the bare loop, in-process."""
    path, chain_id = bench_chain(BIG)
    small_path, small_id = bench_chain(SMALL)

    def baseline() -> float:
        seconds, n = bare_sha256_loop(str(path), chain_id)
        assert n == BIG
        return seconds

    def measured(_: object) -> tuple[int, str]:
        _, rss, out = run_measured(theater_cmd("verify", chain_id, "--db", str(path)))
        return rss, out

    serial: list[float] = []
    checking: list[float] = []

    def baseline_and_serial() -> float:
        # the same command in one process (THEATER_VERIFY_WORKERS=1), alternated as well
        seconds, _, out = run_measured(theater_cmd("verify", chain_id, "--db", str(path)),
                                       env={WORKERS_ENV: "1"})
        assert out.startswith(f"ok {chain_id}: {BIG} events")
        serial.append(seconds)
        seconds, n = bare_verify_loop(str(path), chain_id)
        assert n == BIG
        checking.append(seconds)
        return baseline()

    base, ver, (rss_big, out) = alternate(benchmark, baseline_and_serial, measured, rounds=ROUNDS)
    assert out.startswith(f"ok {chain_id}: {BIG} events")
    eps, base_eps, serial_eps = BIG / ver, BIG / base, BIG / min(serial)
    ratio = eps / base_eps
    procs = _verify_processes()
    table(Row(
        f"verify: events/s of `theater verify`, {BIG:,} events", fmt_rate(eps, "events/s"),
        f"bare SHA-256 loop: {fmt_rate(base_eps, 'events/s')}", f"{ratio:.2f}",
        ">= 1.2 (one process: >= 0.85)", ratio >= 1.2 and serial_eps / base_eps >= 0.85, order=3,
        notes=[f"end to end: process start, imports and opening the database included ({ver:.2f} s); "
               f"{procs} process(es), each walking a part of the chain",
               f"one process (THEATER_VERIFY_WORKERS=1): {fmt_rate(serial_eps, 'events/s')} "
               f"({serial_eps / base_eps:.2f} of the bare loop, which is one process too)",
               f"against the bare loop that also reads and compares each stored hash "
               f"({fmt_rate(BIG / min(checking), 'events/s')}): {eps * min(checking) / BIG:.2f}, one process "
               f"{serial_eps * min(checking) / BIG:.2f}"],
    ))
    _, rss_small, _ = run_measured(theater_cmd("verify", small_id, "--db", str(small_path)))
    growth = rss_big / rss_small
    table(Row(
        f"memory: peak RSS of `theater verify`, {BIG:,} events", f"{rss_big / 1024:.0f} MiB",
        f"{SMALL:,} events: {rss_small / 1024:.0f} MiB", f"{growth:.2f}x", "constant (< 1.2x)",
        growth < 1.2, order=8,
        notes=[f"the largest process; {BIG:,} events are walked by {_verify_processes()} process(es) "
               f"of about that size, {SMALL:,} (below the parallel threshold) by one"],
    ))


def _verify_processes() -> int:
    """How many processes `theater verify` uses for the 1,000,000-event chain here."""
    if os.environ.get(WORKERS_ENV):
        return max(1, int(os.environ[WORKERS_ENV]))
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_PARALLEL))


def test_tui_first_paint_and_jump_to_end(benchmark, table):
    """The chain browser on the 1,000,000-event chain, headless (App.run_test)."""
    pytest.importorskip("textual")
    app_module = pytest.importorskip("tui.app")
    from tui.event_list import EventList

    path, chain_id = bench_chain(BIG)

    def measured(_: object) -> tuple[float, float, float]:
        import asyncio

        times: dict[str, float] = {}
        start, cpu = time.perf_counter(), time.process_time()
        app = app_module.TheaterApp(path, chain_id, cursor_blink=False)

        async def main() -> None:
            async with app.run_test(size=(120, 36)) as pilot:
                await pilot.pause()
                events = pilot.app.screen.query_one(EventList)
                assert events.row_count == BIG
                times["paint"] = time.perf_counter() - start
                times["cpu"] = time.process_time() - cpu  # the wall time counts the other sessions too
                t = time.perf_counter()
                await pilot.press("G")
                await pilot.pause()
                assert events.cursor == BIG - 1
                times["end"] = time.perf_counter() - t

        asyncio.run(main())
        return times["paint"], times["end"], times["cpu"]

    runs = [benchmark.pedantic(measured, setup=lambda: ((None,), {}), rounds=1)]
    runs += [measured(None) for _ in range(ROUNDS - 1)]
    paint = min(r[0] for r in runs)
    end = min(r[1] for r in runs)
    cpu = min(r[2] for r in runs)
    table(Row(
        f"TUI: first paint, {BIG:,} events", f"{paint * 1000:.0f} ms", "-", "-", "< 1 s", paint < 1.0, order=6,
        notes=["from TheaterApp(...) to the event list drawn, headless (App.run_test, 120x36); "
               f"CPU time of the process meanwhile: {cpu * 1000:.0f} ms"],
    ))
    table(Row(f"TUI: jump to end (G), {BIG:,} events", f"{end * 1000:.0f} ms", order=6))
