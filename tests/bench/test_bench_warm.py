"""Warm start of the componentize-py example actor (about 18 MB): loading it from the
compiled-component cache against compiling it, and `theater record` end to end."""

from __future__ import annotations

import time
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
    table(Row(
        f"warm start: load the cached example actor ({len(data) / 1e6:.0f} MB)", f"{warm_best * 1000:.1f} ms",
        f"cold compile: {cold_best:.2f} s", f"{ratio:.0f}x faster", ">= 50x", ratio >= 50, order=4,
        notes=[f"`theater record` of the example actor end to end, warm cache: {min(record):.2f} s "
               "(process start, imports, load, instantiate, init, commit)"],
    ))


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
