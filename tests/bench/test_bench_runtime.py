"""Record, replay and storage of the random_loop actor (fixtures/wat/random_loop.wat):
``init`` with param N calls ``wasi:random/random#get-random-u64`` N times."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import wasmtime.component as wc
from actors import wat_manifest

from replay.replayer import replay
from theater import fasthost
from theater.engine import engine, load_component, new_store, read_component_file
from theater.handlers import build_handlers
from theater.manifest import Manifest, load_manifest
from theater.recorder import record
from theater.runtime import handler_functions
from theater.store import Store

from .conftest import alternate, db_bytes, fmt_rate, run_measured, theater_cmd
from .report import Row

N = 100_000  # host calls per timed run
ROUNDS = 5
MEMORY_EVENTS = (100_000, 1_000_000)

pytestmark = pytest.mark.bench


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    return load_manifest(wat_manifest(tmp_path, "random_loop"))


def direct(manifest: Manifest, n: int, *, fast: bool = False) -> tuple[float, bytes]:
    """The baseline: the same actor, the same live get-random-u64 (same seed), bound
    straight into the linker, unrecorded. Returns (seconds, final state); the time
    covers what record() also does before and after the calls (load, instantiate).
    ``fast``: bound through theater's one host trampoline (theater/fasthost.py), as
    record binds every import."""
    t = time.perf_counter()
    live = handler_functions(build_handlers(manifest))["wasi:random/random"]["get-random-u64"]
    component = load_component(read_component_file(manifest.component))
    store = new_store()
    store.set_fuel(manifest.fuel)
    linker = wc.Linker(engine())
    with linker.root() as root, root.add_instance("wasi:random/random@0.2.3") as inst:
        if fast:
            fasthost.add_func(inst, "get-random-u64", live)
        else:
            inst.add_func("get-random-u64", live)
    instance = linker.instantiate(store, component)
    actor = instance.get_export_index(store, "theater:simple/actor")
    init = instance.get_func(store, instance.get_export_index(store, "init", actor))
    (state,) = init(store, None, (str(n),))
    return time.perf_counter() - t, state


def test_record_throughput(benchmark, manifest, tmp_path, table):
    dbs = iter(range(1000))
    states: list[bytes] = []
    fast_base: list[float] = []

    def baseline() -> float:
        seconds, state = direct(manifest, N)
        states.append(state)
        fast_seconds, fast_state = direct(manifest, N, fast=True)
        assert fast_state == state
        fast_base.append(fast_seconds)
        return seconds

    def prepare() -> Store:
        return Store(tmp_path / f"r{next(dbs)}.db")

    def measured(store: Store) -> object:
        result = record(manifest, store, init_param=str(N))
        store.close()
        return result

    base, rec, result = alternate(benchmark, baseline, measured, rounds=ROUNDS, prepare=prepare)
    assert result.outcome == "completed" and result.events == N + 2
    assert result.state == states[-1]  # the same host function, the same values
    ratio = base / rec
    table(Row(
        "record: host calls/s, random_loop to SQLite", fmt_rate(N / rec, "calls/s"),
        f"direct, unrecorded: {fmt_rate(N / base, 'calls/s')}", f"{ratio:.2f}", ">= 0.65", ratio >= 0.65,
        order=1,
        notes=[f"record binds its imports through theater's one host trampoline (theater/fasthost.py: "
               f"every signature's types built once); the same direct call bound through it: "
               f"{fmt_rate(N / min(fast_base), 'calls/s')}, record {min(fast_base) / rec:.2f} of that"],
    ))


def test_replay_throughput(benchmark, manifest, tmp_path, table):
    """Replay --save of a recording (the replayed chain written), against the recording
    itself (same run, alternating)."""
    dbs = iter(range(1000))
    chains: list[tuple[Store, str, int]] = []

    def baseline() -> float:
        store = Store(tmp_path / f"p{next(dbs)}.db")
        t = time.perf_counter()
        r = record(manifest, store, init_param=str(N))
        seconds = time.perf_counter() - t
        chains.append((store, r.chain, r.events))
        return seconds / r.events  # seconds per event

    def measured(_: object) -> object:
        store, chain, _events = chains[-1]
        return replay(store, chain, save=True)

    base, rep, result = alternate(benchmark, baseline, measured, rounds=ROUNDS)
    events = chains[-1][2]
    assert result.verified and result.events == events and result.saved
    rec_eps, rep_eps = 1 / base, events / rep
    ratio = rep_eps / rec_eps
    table(Row(
        "replay --save: events/s of that recording", fmt_rate(rep_eps, "events/s"),
        f"record: {fmt_rate(rec_eps, 'events/s')}", f"{ratio:.2f}x", ">= 1.2x", ratio >= 1.2, order=2,
    ))
    for store, _, _ in chains:
        store.close()


def test_replay_verify_throughput(benchmark, manifest, tmp_path, table):
    """issue 18 item 3: `replay --verify` as the CLI runs it (theater/commands/replay.py
    replay_one: events compared with the recorded bytes, nothing written but the
    outcome, the recording's integrity checked beside it) against recording the same
    workload (same run, alternating)."""
    from theater.commands.replay import replay_one

    dbs = iter(range(1000))
    chains: list[tuple[Store, str, int]] = []

    def baseline() -> float:
        store = Store(tmp_path / f"v{next(dbs)}.db")
        t = time.perf_counter()
        r = record(manifest, store, init_param=str(N))
        seconds = time.perf_counter() - t
        chains.append((store, r.chain, r.events))
        return seconds / r.events  # seconds per event

    def measured(_: object) -> object:
        store, chain, _events = chains[-1]
        return replay_one(store, chain)

    base, rep, result = alternate(benchmark, baseline, measured, rounds=ROUNDS)
    store, chain, events = chains[-1]
    assert result.verified and result.events == events and not result.saved and result.integrity is None
    assert store.replays(chain)[-1].chain is None  # only the outcome was written
    rec_eps, rep_eps = 1 / base, events / rep
    ratio = rep_eps / rec_eps
    table(Row(
        "replay --verify (writes only the outcome): events/s", fmt_rate(rep_eps, "events/s"),
        f"record: {fmt_rate(rec_eps, 'events/s')}", f"{ratio:.2f}x", ">= 1.5x", ratio >= 1.5, order=2,
        notes=["the recording's integrity walk runs beside the replay, in 2 worker processes"],
    ))
    for store, _, _ in chains:
        store.close()


def test_storage_per_event(benchmark, manifest, tmp_path, table):
    """Bytes on disk per recorded get-random-u64 event, WAL checkpointed: the growth
    of the file from an empty recording (0 calls) to N calls, over the N events."""

    def size(n: int) -> tuple[int, int, float]:
        path = tmp_path / f"s{n}.db"
        with Store(path) as store:
            r = record(manifest, store, init_param=str(n))
            lengths = store.conn.execute(
                "SELECT avg(length(e.data)), avg(length(t.name)) FROM events e JOIN event_types t ON t.id = e.type"
                " WHERE e.chain = ? AND t.name LIKE 'host:%'", (store.chain_key(r.chain),),
            ).fetchone()
        return db_bytes(path), r.events, (lengths[0] or 0.0)

    def measured(_: object) -> tuple[tuple[int, int, float], tuple[int, int, float]]:
        return size(0), size(N)

    (empty, e0, _), (full, e1, payload) = benchmark.pedantic(measured, setup=lambda: ((None,), {}), rounds=1)
    per_event = (full - empty) / (e1 - e0)
    limit = 2 * payload + 64
    table(Row(
        "storage: bytes on disk per host-call event", f"{per_event:.0f} B/event",
        f"canonical payload: {payload:.1f} B", f"{per_event / payload:.1f}x",
        f"<= 2x payload + 64 = {limit:.0f} B", per_event <= limit, order=5,
        notes=["storage v2: the row holds the chain key, seq, hash (32), the type's id, data and "
               "written_at (8), clustered by (chain, seq) WITHOUT ROWID: no parent, no second index"],
    ))


def test_memory_is_constant(benchmark, tmp_path, table):
    """Peak RSS of `theater record` for 100k and 1M host calls, each in its own process."""
    mpath = wat_manifest(tmp_path, "random_loop")

    def measured(_: object) -> dict[int, tuple[float, int]]:
        out = {}
        for n in MEMORY_EVENTS:
            seconds, rss, _ = run_measured(
                theater_cmd("record", str(mpath), "--db", str(tmp_path / f"m{n}.db"), "--init-param", str(n), "-q"))
            out[n] = (seconds, rss)
        return out

    res = benchmark.pedantic(measured, setup=lambda: ((None,), {}), rounds=1)
    (small, (_, rss_small)), (big, (t_big, rss_big)) = sorted(res.items())
    growth = rss_big / rss_small
    table(Row(
        f"memory: peak RSS of `theater record`, {big:,} calls", f"{rss_big / 1024:.0f} MiB",
        f"{small:,} calls: {rss_small / 1024:.0f} MiB", f"{growth:.2f}x", "constant (< 1.2x)", growth < 1.2,
        order=7, notes=[f"{big:,} calls recorded in {t_big:.1f} s end to end ({big / t_big:,.0f} calls/s)"],
    ))
