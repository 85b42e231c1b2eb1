"""The chain writer's hot path (theater/store/writer.py): batches committed by the
writer's own thread, and the per-type appender the boundary binds (issue 18 item 5)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from theater.blobs import STATE_EXPORTS, blob_header
from theater.chain import ChainBuilder, canonical_json
from theater.errors import StoreError
from theater.store import Store
from verify.integrity import verify_chain

HOST = "host:wasi:random/random@0.2.3#get-random-u64"
STATE = sorted(STATE_EXPORTS)[0]
HEADER = {"actor": "a", "format": 1, **blob_header()}


def _events(n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        if i % 50 == 7:  # a state above the blob threshold, stored once as a blob
            out.append((STATE, canonical_json({"args": {"state": {"some": "base64:" + "QUJD" * 200}, "n": i}})))
        else:
            out.append((HOST, b'{"args":{},"result":%d}' % (i * 7919)))
    return out


def _stored(path: Path, chain: str) -> list[tuple[int, bytes, str, bytes]]:
    with Store(path, create=False) as s:
        return [(r[0], bytes(r[1]), r[3], bytes(r[4])) for r in s.event_rows(chain, as_stored=True)]


def _committed(path: Path, chain: str) -> int:
    other = sqlite3.connect(path)
    try:
        return int(other.execute("SELECT length FROM chains WHERE id = ?", (chain,)).fetchone()[0])
    finally:
        other.close()


def test_background_batches_commit_while_the_caller_runs_on(tmp_path):
    """issue 18 item 5: with ``background`` a batch that ``append`` fills is committed
    by the writer's thread while the caller goes on appending (no ``flush``), and the
    chain stored is the synchronous writer's, row for row and hash for hash."""
    events = _events(700)
    path = tmp_path / "bg.db"
    store = Store(path)
    w = store.create_chain(HEADER, batch=64, background=True)
    assert w.background
    for t, d in events[:640]:  # ten full batches: the tenth is handed to the thread
        w.append(t, d)
    deadline = time.monotonic() + 30
    while _committed(path, w.chain_id) < 640 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert _committed(path, w.chain_id) == 640  # committed without any flush by the caller
    names = {t.name for t in threading.enumerate()}
    assert any(n.startswith("theater-commit") for n in names), names
    for t, d in events[640:]:
        w.append(t, d)
    w.flush()  # an explicit flush has committed everything when it returns
    assert _committed(path, w.chain_id) == 700
    head = w.finish("completed")
    assert not w.background  # finish stopped the thread and closed its connection

    sync_path = tmp_path / "sync.db"
    sync = Store(sync_path)
    ws = sync.create_chain(HEADER, batch=64)
    assert not ws.background
    for t, d in events:
        ws.append(t, d)
    assert ws.finish("completed") == head
    bg_rows, sync_rows = _stored(path, w.chain_id), _stored(sync_path, ws.chain_id)
    assert len(bg_rows) == 701 and bg_rows == sync_rows
    assert verify_chain(store, w.chain_id).ok
    assert store.chain(w.chain_id).status == "complete"
    store.close()
    sync.close()


def test_background_store_error_reaches_the_caller_and_the_batch_is_retried(tmp_path, monkeypatch):
    """issue 18 item 5: a batch the thread cannot commit (another connection holds the
    write lock) raises StoreError in the caller at the next flush, nothing is half
    written, and once the lock is gone a flush stores every event once, in order."""
    monkeypatch.setenv("THEATER_BUSY_TIMEOUT", "0.05")
    events = _events(200)
    path = tmp_path / "locked.db"
    store = Store(path)
    w = store.create_chain(HEADER, batch=32, background=True)
    for t, d in events[:32]:
        w.append(t, d)  # committed by the thread
    w.flush()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        for t, d in events[32:64]:  # one batch handed off; the thread fails on the lock
            w.append(t, d)
        with pytest.raises(StoreError, match="locked"):
            w.flush()
        assert _committed(path, w.chain_id) == 32
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    for t, d in events[64:]:
        w.append(t, d)
    w.finish("completed")
    rows = _stored(path, w.chain_id)
    b = ChainBuilder(store.chain(w.chain_id).header)
    assert [r[0] for r in rows] == list(range(201))
    assert verify_chain(store, w.chain_id).ok
    assert rows[-1][2] == "end" and [r[1] for r in rows[:-1]] == [b.append(*_as_stored(store, t, d))[2]
                                                                   for t, d in events]
    store.close()


def _as_stored(store: Store, t: str, d: bytes) -> tuple[str, bytes]:
    from theater.blobs import externalize

    return t, externalize(t, d)[0]


def test_appender_is_append_for_every_type(tmp_path):
    """issue 18 item 5: ``appender(type)(data)`` (what the boundary's hot path calls)
    stores and hashes exactly what ``append(type, data)`` does, interleaved with it,
    a blob state included."""
    events = _events(300)
    a, b = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    wa, wb = a.create_chain(HEADER, batch=40, background=True), b.create_chain(HEADER, batch=40)
    bound = {t: wa.appender(t) for t in {t for t, _ in events}}
    for i, (t, d) in enumerate(events):
        ha = bound[t](d) if i % 3 else wa.append(t, d)
        assert ha == wb.append(t, d)
    assert wa.finish("completed") == wb.finish("completed")
    assert _stored(tmp_path / "a.db", wa.chain_id) == _stored(tmp_path / "b.db", wb.chain_id)
    assert a.conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == 1
    a.close()
    b.close()
