"""Fleet replay (issue 16, docs/ci.md): 200 small recordings replayed with --jobs 2
against --jobs 1 (target >= 1.7x), and what a Dask cluster adds per chain against
local worker processes (reported). Each round is a whole `replay_all`: the pool's start,
the tasks, storing 200 outcomes."""

from __future__ import annotations

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


def _timed(db: Path, **kw: object) -> Callable[[], float]:
    def run() -> float:
        store = Store(db)
        t = time.perf_counter()
        res = replay_all(store=store, **kw)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - t
        store.close()
        assert res.ok and len(res.results) == N
        return elapsed

    return run


def test_jobs_2_against_jobs_1(benchmark, fleet_db: Path, table: Callable[[Row], None]) -> None:
    one = _timed(fleet_db, jobs=1)
    two = _timed(fleet_db, jobs=2)
    base, best, _ = alternate(benchmark, one, lambda _: two(), rounds=ROUNDS)
    ratio = base / best
    table(Row(f"replay --all: {N} small recordings (counter.wat, 9 events), --jobs 2",
              f"{best:.2f} s ({best / N * 1000:.1f} ms/chain)", f"--jobs 1: {base:.2f} s", f"{ratio:.2f}x faster",
              ">= 1.7x", ratio >= 1.7, order=20,
              notes=["each round: start the pool (workers forked from the fork server, which the first round "
                     "starts and the others reuse), send 200 tasks, store 200 outcomes"]))


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
              notes=["reported, no target: the scheduler round trip per task against a local pool's pipe"]))
