"""Content alignment of two 100,000-event chains (issue 17 item 5 and its done-when)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from theater.align import AlignKind, align_chains, differences
from theater.chain import END_TYPE, canonical_json, make_header
from theater.store import Store
from verify.diff import differing_seqs

from .conftest import U64, alternate
from .report import Row

N = 100_000
ROUNDS = 3

pytestmark = pytest.mark.bench


def _chains(path: Path) -> tuple[str, str]:
    """A (100,000 get-random-u64 events and an end) and B: the same with one call
    inserted at 30,000 and one missing at 70,000 (so the lengths agree and a seq-by-seq
    comparison sees 40,001 differing events)."""
    header = canonical_json(make_header(actor="random_loop", component_sha256="be" * 32, seed=1))
    datas = [b'{"args":{},"result":%d}' % (i * 2654435761 % 2**64) for i in range(N)]
    other = datas[:30_000] + [b'{"args":{},"result":-1}'] + datas[30_000:70_000] + datas[70_001:]
    ids = []
    with Store(path) as store:
        for rows in (datas, other):
            w = store.create_chain(header, batch=8192)
            for d in rows:
                w.append(U64, d)
            w.append(END_TYPE, canonical_json({"outcome": "completed"}))
            w.flush()
            ids.append(w.chain_id)
    return ids[0], ids[1]


def test_align_two_100k_chains(benchmark, table, tmp_path):
    """`theater diff --all`'s alignment against a seq-by-seq scan of the same chains."""
    path = tmp_path / "align.db"
    a, b = _chains(path)

    def baseline() -> float:
        t = time.perf_counter()
        with Store(path, create=False) as store:
            n = sum(1 for _ in differing_seqs(store, a, b))
        assert n == 40_001
        return time.perf_counter() - t

    def measured(_: object) -> list[tuple[str, int | None, int | None]]:
        with Store(path, create=False) as store:
            al = align_chains(store, a, b)
            return [(str(d.kind), d.seq_a, d.seq_b) for d in differences(store, al)]

    base, best, found = alternate(benchmark, baseline, measured, rounds=ROUNDS)
    assert found == [(str(AlignKind.INSERTED), None, 30_000), (str(AlignKind.MISSING), 70_000, None)]
    table(Row(what="diff --all: align two 100k-event chains (1 inserted, 1 missing call)",
              measured=f"{best:.2f} s", baseline=f"seq-by-seq scan {base:.2f} s", ratio=f"{best / base:.2f}",
              notes=["finds the 2 differences; the seq scan reports 40,001"], order=20))
