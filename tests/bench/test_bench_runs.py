"""Runs of actors (issue 19, `make bench`): recorded messages/s between two WAT actors
(stage.wat bouncing a message back and forth, ended by [limits] messages) against the
bare host-call rate (random_loop.wat's get-random-u64, unrecorded, the floor of any
crossing); and `verify --run` events/s with link checking against plain verify of the
same chains."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from actors import wat_manifest
from system_helpers import stage_manifest

from theater import fastcall
from theater.manifest import load_manifest
from theater.store import Store
from theater.system import RunInput, record_run
from theater.wtpatch import FastPathState, FastPathStatus
from verify import verify_chain
from verify.links import verify_run

from .conftest import alternate, fmt_rate
from .report import Row
from .test_bench_runtime import direct

MESSAGES = 20_000
N = 100_000
ROUNDS = 3

pytestmark = pytest.mark.bench


def ping_pong(folder: Path, db: Path, messages: int) -> tuple[Store, object]:
    stage_manifest(folder, "pong")
    m = load_manifest(stage_manifest(folder, "ping", limits=f"messages = {messages}"))
    store = Store(db)
    return store, record_run(m, store, inputs=[RunInput("send", b"Ppong.toml"), RunInput("send", b"Bpong x")])


def test_messages_per_second_between_two_wat_actors(benchmark, tmp_path, table, monkeypatch):
    """issue 19 (bench): the ratio on wall time, as every row; the notes add the same
    run's CPU-time ratio and, alternated in the same rounds, the messages with export
    calls through wasmtime-py's own Func.__call__ (theater/fastcall.py off)."""
    bare = load_manifest(wat_manifest(tmp_path, "random_loop"))
    dbs = iter(range(1000))
    cpu: dict[str, list[float]] = {"bare": [], "messages": [], "wasmtime-py": []}

    def run(n: int) -> object:
        store, result = ping_pong(tmp_path, tmp_path / f"m{next(dbs)}.db", n)
        store.close()
        return result

    def baseline() -> float:
        c = time.process_time()
        seconds, _ = direct(bare, N)
        cpu["bare"].append((time.process_time() - c) / N)
        with monkeypatch.context() as m:
            m.setattr(fastcall, "status", lambda: FastPathStatus(state=FastPathState.DISABLED, wasmtime=""))
            c = time.process_time()
            run(MESSAGES // 4)
            cpu["wasmtime-py"].append((time.process_time() - c) / (MESSAGES // 4))
        return seconds / N  # seconds per bare host call

    def measured(_: object) -> object:
        c = time.process_time()
        result = run(MESSAGES)
        cpu["messages"].append((time.process_time() - c) / MESSAGES)
        return result

    per_call, rec, result = alternate(benchmark, baseline, measured, rounds=ROUNDS)
    assert result.stopped_by is not None and "messages delivered" in result.stopped_by
    assert fastcall.status().active
    rate, bare_rate = MESSAGES / rec, 1 / per_call
    ratio = rate / bare_rate
    bare_cpu, msg_cpu, off_cpu = min(cpu["bare"]), min(cpu["messages"]), min(cpu["wasmtime-py"])
    table(Row(
        "runs: recorded messages/s between two WAT actors", fmt_rate(rate, "messages/s"),
        f"bare host calls: {fmt_rate(bare_rate, 'calls/s')}", f"{ratio:.2f}", ">= 0.4", ratio >= 0.4, order=20,
        notes=["a message: the sender's send (host event, its link) and the receiver's handle-send "
               "(export event, its cause), two chains, one SQLite file",
               f"CPU time: {msg_cpu * 1e6:.0f} us a message against {bare_cpu * 1e6:.1f} us a bare host call, "
               f"ratio {bare_cpu / msg_cpu:.2f}; with export calls through wasmtime-py's Func.__call__ "
               f"(theater/fastcall.py off) {off_cpu * 1e6:.0f} us a message, ratio {bare_cpu / off_cpu:.2f}"],
    ))


def test_verify_run_with_links_against_plain_verify(benchmark, tmp_path, table):
    store, result = ping_pong(tmp_path, tmp_path / "v.db", MESSAGES)
    chains = [c.chain for c in result.chains]  # type: ignore[attr-defined]
    events = sum(c.events for c in result.chains)  # type: ignore[attr-defined]

    cpu: dict[str, list[float]] = {"plain": [], "links": []}

    def baseline() -> float:
        t, c = time.perf_counter(), time.process_time()
        assert all(verify_chain(store, c).ok for c in chains)
        cpu["plain"].append(time.process_time() - c)
        return time.perf_counter() - t

    def measured(_: object) -> object:
        c = time.process_time()
        v = verify_run(store, result.run)  # type: ignore[attr-defined]
        cpu["links"].append(time.process_time() - c)
        return v

    base, linked, v = alternate(benchmark, baseline, measured, rounds=ROUNDS)
    assert v.ok and v.links >= MESSAGES
    ratio = base / linked
    cpu_ratio = min(cpu["plain"]) / min(cpu["links"])
    table(Row(
        "runs: verify --run events/s, links checked", fmt_rate(events / linked, "events/s"),
        f"plain verify of the chains: {fmt_rate(events / base, 'events/s')}", f"{ratio:.2f}", ">= 0.8",
        ratio >= 0.8, order=21, notes=[f"{events:,} events, {v.links:,} links; CPU time ratio {cpu_ratio:.2f} "
                                       f"({min(cpu['links']):.3f} s against {min(cpu['plain']):.3f} s)"],
    ))
    store.close()
