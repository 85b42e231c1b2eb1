import sqlite3

import pytest
from conftest import write_chain
from tamper import rename_chain, set_chain

from theater.chain import ChainBuilder, canonical_json
from theater.errors import ChainNotFound, StoreError
from theater.store import Store


def test_round_trip(store, tmp_path):
    cid = write_chain(store, 10)
    store.close()
    s = Store(tmp_path / "t.db", create=False)
    info = s.resolve(cid)
    assert info.status == "complete" and info.display_status == "complete"
    events = list(s.events(cid))
    assert [e.seq for e in events] == list(range(11))
    assert events[-1].type == "end"
    b = ChainBuilder(info.header)
    for e in events:
        seq, parent, h = b.append(e.type, e.data)
        assert (e.seq, e.parent, e.hash) == (seq, parent, h)
    assert info.length == 11 and info.head == events[-1].hash
    assert s.event(cid, 3) == events[3]
    assert s.count(cid) == 11
    assert s.last_event(cid) == events[-1]
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_resolve_prefix_last_and_errors(store):
    a = write_chain(store, 2)
    b = write_chain(store, 2)
    assert store.resolve("last").id == b
    assert store.resolve(a[:10]).id == a
    with pytest.raises(ChainNotFound, match="no chain matches"):
        store.resolve("zzzz")
    # force an ambiguous prefix
    rename_chain(store, a, "aaaa1111")
    rename_chain(store, b, "aaaa2222")
    with pytest.raises(ChainNotFound, match="ambiguous"):
        store.resolve("aaaa")


def test_batches_commit_whole_events(tmp_path):
    s = Store(tmp_path / "b.db")
    w = s.create_chain({"actor": "a", "format": 1}, batch=3)
    for i in range(7):
        w.append("t", canonical_json(i))
    # 6 committed (two batches), 1 buffered: another connection sees only whole batches
    other = sqlite3.connect(tmp_path / "b.db")
    assert other.execute("SELECT count(*) FROM events").fetchone()[0] == 6
    w.flush()
    assert other.execute("SELECT count(*) FROM events").fetchone()[0] == 7
    info = s.chain(w.chain_id)
    assert info.status == "recording" and info.display_status == "recording"  # writer alive


def test_dead_writer_shows_incomplete(store):
    cid = write_chain(store, 3, finish=False)
    set_chain(store, cid, writer_pid=999999999)
    assert store.chain(cid).display_status == "incomplete"


def test_components_by_sha(store):
    sha = store.put_component(b"\0asm-component")
    assert store.put_component(b"\0asm-component") == sha
    assert store.get_component(sha) == b"\0asm-component"
    assert store.get_component("00" * 32) is None


def test_garbage_and_missing_files(tmp_path):
    with pytest.raises(StoreError, match="no database"):
        Store(tmp_path / "missing.db", create=False)
    bad = tmp_path / "garbage.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store(bad, create=False)
    with pytest.raises(StoreError):
        Store(bad, create=True)


def _read_steps(store, cid, page):
    """SQLite VM steps (counted by a progress handler: deterministic, not a timing) to
    read every row of a chain in pages of ``page`` rows."""
    steps = [0]

    def count():
        steps[0] += 1
        return 0

    store.reader.set_progress_handler(count, 100)
    try:
        n = sum(1 for _ in store.event_rows(cid, page=page))
    finally:
        store.reader.set_progress_handler(None, 0)
    return n, steps[0]


def test_paged_reads_grow_linearly_with_the_chain(tmp_path):
    """Keyset pages start the index search at the last seq read: reading a chain twice
    as long costs about twice as much, never four times (each page re-scanning from
    seq 0 made a 1M-event read quadratic)."""
    with Store(tmp_path / "p.db") as s:
        short, long_ = write_chain(s, 4000), write_chain(s, 8000)
        n1, steps1 = _read_steps(s, short, 16)
        n2, steps2 = _read_steps(s, long_, 16)
    assert (n1, n2) == (4001, 8001)
    assert steps2 < 2.5 * steps1, (steps1, steps2)
