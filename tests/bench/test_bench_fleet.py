"""Fleet replay (issue 16, docs/ci.md): 200 small recordings replayed with --jobs 2
against --jobs 1 (target >= 1.7x), and what a Dask cluster adds per chain against
local worker processes (reported). Each round is a whole `replay_all`: the pool's start,
the tasks, storing 200 outcomes."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from actors import wat_manifest

from replay.fleet import replay_all
from theater.manifest import load_manifest
from theater.recorder import Input, record
from theater.store import Store

from .conftest import Row, alternate

pytestmark = pytest.mark.bench

N = 200
ROUNDS = 3


@pytest.fixture(scope="module")
def fleet_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("bench-fleet")
    store = Store(tmp / "fleet.db")
    m = load_manifest(wat_manifest(tmp, "counter"))
    for i in range(N):
        record(m, store, inputs=[Input("send", bytes([97 + i % 26]) * (1 + i % 7)), Input("send", b"xy")])
    store.close()
    yield tmp / "fleet.db"


def _forkserver_children_cpu() -> float | None:
    """CPU seconds of the local workers that have ended: the fork server forks them and
    reaps them, so they are its children's time (/proc: cutime + cstime). Waits for
    the ended workers to be reaped. None where there is no fork server to read."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if not pid:
        return None
    try:
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}/task/{pid}/children").read_text().split() and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _timed(db: Path, cpu: list[tuple[float, float | None]] | None = None, **kw: object) -> Callable[[], float]:
    """One round; ``cpu`` gets (coordinator CPU, workers' CPU) seconds of each."""
    def run() -> float:
        store = Store(db)
        workers = _forkserver_children_cpu()
        c = time.process_time()
        t = time.perf_counter()
        res = replay_all(store=store, **kw)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - t
        coordinator = time.process_time() - c
        after = _forkserver_children_cpu()
        store.close()
        assert res.ok and len(res.results) == N
        if cpu is not None:
            cpu.append((coordinator, None if after is None or workers is None else after - workers))
        return elapsed

    return run


def _cpu_note(one: list[tuple[float, float | None]], two: list[tuple[float, float | None]]) -> list[str]:
    """The CPU per chain of both (the load of other processes does not count in it),
    and what it makes of --jobs 2 on two otherwise idle cores: its workers and the
    coordinator share them, where --jobs 1's one worker and the coordinator each
    have one."""
    one = [(c, w) for c, w in one if w is not None]  # the first round starts the fork server: not known
    two = [(c, w) for c, w in two if w is not None]
    if not one or not two:
        return []
    w1, c1 = min(w for _, w in one if w is not None) / N * 1000, min(c for c, _ in one) / N * 1000
    w2, c2 = min(w for _, w in two if w is not None) / N * 1000, min(c for c, _ in two) / N * 1000
    model = max(w1, c1) / ((w2 + c2) / 2)
    return [f"CPU per chain (best round; time.process_time, the workers' from the fork server's reaped "
            f"children): --jobs 1 workers {w1:.2f} ms + coordinator {c1:.2f} ms, --jobs 2 workers {w2:.2f} ms + "
            f"coordinator {c2:.2f} ms: on 2 idle cores --jobs 2 would be {model:.2f}x --jobs 1 "
            f"(the wall ratio is the measured one; the load of other processes counts in it)"]


def test_jobs_2_against_jobs_1(benchmark, fleet_db: Path, table: Callable[[Row], None]) -> None:
    cpu1: list[tuple[float, float | None]] = []
    cpu2: list[tuple[float, float | None]] = []
    one = _timed(fleet_db, cpu1, jobs=1)
    two = _timed(fleet_db, cpu2, jobs=2)
    base, best, _ = alternate(benchmark, one, lambda _: two(), rounds=ROUNDS)
    ratio = base / best
    table(Row(f"replay --all: {N} small recordings (counter.wat, 9 events), --jobs 2",
              f"{best:.2f} s ({best / N * 1000:.1f} ms/chain)", f"--jobs 1: {base:.2f} s", f"{ratio:.2f}x faster",
              ">= 1.7x", ratio >= 1.7, order=20,
              notes=["each round: start the pool (workers forked from the fork server, which the first round "
                     "starts and the others reuse), send 200 chains in batches, store 200 outcomes (one "
                     "transaction per batch)", *_cpu_note(cpu1, cpu2)]))


def test_cluster_overhead_per_chain(benchmark, fleet_db: Path, table: Callable[[Row], None]) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as lc:
        from theater.fleet import connect_cluster

        client = connect_cluster(lc.scheduler_address)
        try:
            local = _timed(fleet_db, jobs=2)
            dask = _timed(fleet_db, cluster=client)
            dask()  # the workers import theater and compile the component once
            base, best, _ = alternate(benchmark, local, lambda _: dask(), rounds=ROUNDS)
        finally:
            client.close()
    per_chain = (best - base) / N
    table(Row(f"replay --all --cluster: {N} recordings on a local Dask cluster (2 workers)",
              f"{best:.2f} s", f"--jobs 2: {base:.2f} s", f"{per_chain * 1000:+.1f} ms/chain", order=21,
              notes=["reported, no target: the scheduler round trip per batch of chains against a local pool's pipe"]))
