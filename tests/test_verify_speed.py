"""The verifier's single pass (issue 18 item 6: verify a 1M-event chain at >= 0.85 of
the bare SHA-256 loop in one process; review leftover D22): one walk over named or
typed rows, which also hands over the rows that may refer to a blob, so the blob check
reads no row again. Real SQLite files written by theater's writer."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from test_storage_v2 import SEND, _one_blob, _state_chain

from theater.blobs import externalize, ref
from theater.chain import genesis_hash
from theater.store import Store
from verify import walk as walk_module
from verify.integrity import verify_chain
from verify.parallel import VerifyPool
from verify.results import FailureKind
from verify.walk import walk, walk_store


@pytest.fixture(scope="module")
def blobby(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A chain of 40 handle-send events whose 1,200-byte state is stored as blobs."""
    path = tmp_path_factory.mktemp("speed") / "blobs.db"
    with Store(path) as s:
        cid, _ = _state_chain(s, 40, 1200)
    return path, cid


def test_the_walk_hands_over_exactly_the_rows_blob_refs_reads(blobby):
    """issue 18 item 6: the rows the walk passes to the blob check are the rows
    ``Store.blob_refs`` reads (a second scan of the chain before), over type ids and
    over names alike."""
    path, cid = blobby
    with Store(path, create=False) as s:
        g = genesis_hash(bytes(s.chain(cid).header))
        reference = [tuple(r) for r in s.blob_refs(cid, 10**9)]
        typed: list[tuple[int, str, bytes]] = []
        r1 = walk_store(s, cid, g, 0, None, 7, (g, None, 0, False), None, None, typed)
        named: list[tuple[int, str, bytes]] = []
        r2 = walk(cid, g, s.hashed_rows(cid, page=7), g, None, 0, False, None, None, blob_rows=named)
    assert r1 == r2 and r1.ok and r1.events == 41
    assert len(reference) >= 30 and typed == named == reference


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_a_missing_blob_is_found_from_the_walk_serial_and_parallel(blobby, tmp_path, workers):
    """issue 18 item 6: with the blob check fed by the walk (serial, or by each part's
    worker), a deleted blob is still missing_blob at the first event that refers to
    it, and the blob rows are never read again (Store.blob_refs made to fail)."""
    db = tmp_path / "t.db"
    shutil.copyfile(blobby[0], db)
    cid = blobby[1]
    with Store(db) as s:
        sha = _one_blob(s)
        first = next(e.seq for e in s.events(cid) if ref(sha).encode() in externalize(SEND, e.data)[0])
        s.conn.execute("DELETE FROM blobs WHERE sha256 = ?", (sha,))
        s.conn.commit()

    def no_second_read(*a: object, **k: object) -> object:
        raise AssertionError("the blob rows were read again")

    with Store(db, create=False) as s, VerifyPool() as pool:
        s.blob_refs = no_second_read  # type: ignore[method-assign]
        r = verify_chain(s, cid, workers=workers, pool=pool, page=4)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.MISSING_BLOB, first)


def test_a_blob_after_the_first_broken_event_is_not_checked(blobby, tmp_path):
    """issue 18 item 6: only verified events' blobs are checked, as before: a chain
    broken at seq 3 whose blob first referred to later is missing reports the hash
    mismatch alone."""
    db = tmp_path / "t.db"
    shutil.copyfile(blobby[0], db)
    cid = blobby[1]
    with Store(db) as s:
        first: dict[bytes, int] = {}
        for (sha,) in s.conn.execute("SELECT sha256 FROM blobs").fetchall():
            first[sha] = next(e.seq for e in s.events(cid) if ref(sha).encode() in externalize(SEND, e.data)[0])
        late = max(first, key=first.__getitem__)
        assert first[late] > 3
        s.conn.execute("DELETE FROM blobs WHERE sha256 = ?", (late,))
        s.conn.execute("UPDATE events SET data = CAST(data || X'20' AS BLOB) WHERE seq = 3")
        s.conn.commit()
    with Store(db, create=False) as s:
        r = verify_chain(s, cid, workers=1)
    assert [(p.kind, p.seq) for p in r.problems] == [(FailureKind.HASH_MISMATCH, 3)]


def test_one_fast_path_and_the_rules_once():
    """Review leftover D22: ``walk_typed`` repeated ``walk``'s fast path keyed by type
    id; now one loop judges named and typed rows: one event hash computed inline (the
    fast path), one call of the rules' ``event_hash``, no second walk function."""
    tree = ast.parse(Path(walk_module.__file__).read_text())
    funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert "walk_typed" not in funcs
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert sorted(c.func.id for c in calls if c.func.id in ("sha256", "event_hash")) == ["event_hash", "sha256"]
    loops = [n for f in funcs.values() for n in ast.walk(f) if isinstance(n, ast.For)]
    assert len([lp for lp in loops if any(isinstance(x, ast.Return) for x in ast.walk(lp))]) == 1
