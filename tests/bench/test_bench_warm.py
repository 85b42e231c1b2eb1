"""Warm start of the componentize-py example actor (about 18 MB): loading it from the
compiled-component cache against compiling it, and `theater record` end to end."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from actors import py_manifest

from fixtures.build import build_actor
from theater.engine import load_component

from .conftest import run_measured, theater_cmd
from .report import Row

COLD_ROUNDS = 2
WARM_ROUNDS = 10

pytestmark = pytest.mark.bench


def test_warm_start(benchmark, tmp_path, monkeypatch, table):
    wasm = build_actor("example")  # built once per machine, cached outside git
    data = wasm.read_bytes()
    cache = tmp_path / "compiled"
    monkeypatch.setenv("THEATER_CACHE_DIR", str(cache))

    def cold() -> float:
        t = time.perf_counter()
        load_component(data, use_cache=False)
        return time.perf_counter() - t

    cold_best = min(cold() for _ in range(COLD_ROUNDS))
    load_component(data)  # compiles once more and fills the (empty) cache
    assert any(cache.iterdir())
    benchmark.pedantic(load_component, args=(data,), rounds=WARM_ROUNDS, iterations=1)
    warm_best = benchmark.stats.stats.min
    ratio = cold_best / warm_best

    manifest = py_manifest(tmp_path)
    env = {"THEATER_CACHE_DIR": str(cache)}
    record = [run_measured(theater_cmd("record", str(manifest), "--db", str(tmp_path / f"w{i}.db"), "-q"),
                           env=env, cwd=tmp_path)[0] for i in range(3)]
    # again into one database, which then holds the component (the usual case): wall and CPU
    again = [child_cpu(lambda: run_measured(theater_cmd("record", str(manifest), "--db", str(tmp_path / "w0.db"),
                                                        "-q"), env=env, cwd=tmp_path)[0]) for _ in range(5)]
    table(Row(
        f"warm start: load the cached example actor ({len(data) / 1e6:.0f} MB)", f"{warm_best * 1000:.1f} ms",
        f"cold compile: {cold_best:.2f} s", f"{ratio:.0f}x faster", ">= 50x", ratio >= 50, order=4,
        notes=[f"`theater record` of the example actor end to end, warm cache: {min(record):.2f} s "
               "(process start, imports, load, instantiate, init, commit)"],
    ))
    table(Row(
        "warm `theater record` of the example actor, into a database holding it",
        f"{min(w for w, _ in again):.2f} s", order=4,
        notes=[f"CPU time of the process (best of {len(again)}): {min(c for _, c in again):.2f} s; the component "
               "is hashed once (the cache key's digest) and its stored row is not written again"],
    ))


def child_cpu(run: Callable[[], float]) -> tuple[float, float]:
    """``run()``'s result (a child's wall time) and the CPU time its children used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
