"""replay --verify's hot path (issue 18 item 3): the rows a replay reads
(Store.replay_rows), the comparison that takes them from a second branch of the same
rows without a hash per row, and the rows' type check run beside the replay."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from actors import wat_manifest
from tamper import set_event

from replay.compare import Comparison
from replay.replayer import TypeCheck, replay
from theater.blobs import STATE_EXPORTS, blob_header
from theater.chain import canonical_json
from theater.errors import MalformedEvent, ReplayError
from theater.manifest import load_manifest
from theater.recorder import record
from theater.store import Store

HOST = "host:wasi:random/random@0.2.3#get-random-u64"
STATE = sorted(STATE_EXPORTS)[0]


def _chain(store: Store, n: int) -> str:
    w = store.create_chain({"actor": "a", "format": 1, **blob_header()}, batch=50)
    for i in range(n):
        if i % 40 == 3:  # a state stored as a blob: replay_rows puts the bytes back
            w.append(STATE, canonical_json({"args": {"state": {"some": "base64:" + "QUJD" * (100 + i)}}}))
        else:
            w.append(HOST, b'{"args":{},"result":%d}' % i)
    w.finish("completed")
    return w.chain_id


def test_replay_rows_are_the_event_rows_a_boundary_reads(tmp_path: Path) -> None:
    """issue 18 item 3: replay_rows gives each row's seq, hash, type and data as
    event_rows does (blob states put back, across pages), the parent and time left
    None; with hashes=False the hash too."""
    store = Store(tmp_path / "r.db")
    chain = _chain(store, 300)
    full = [(r[0], r[1], r[3], r[4]) for r in store.event_rows(chain)]
    for start, stop in ((0, None), (7, 250), (299, None)):
        want = [r for r in full if r[0] >= start and (stop is None or r[0] < stop)]
        got = list(store.replay_rows(chain, start, stop, page=32))
        assert [(r[0], r[1], r[3], r[4]) for r in got] == want
        assert all(r[2] is None and r[5] is None for r in got)
        bare = list(store.replay_rows(chain, start, stop, page=32, hashes=False))
        assert [(r[0], r[3], r[4]) for r in bare] == [(s, t, d) for s, _, t, d in want]
        assert all(r[1] is None for r in bare)
    assert any(b"base64:" in r[3] for r in full if r[2] == STATE)
    store.close()


def test_comparison_without_hashes_ends_at_the_recorded_head(tmp_path: Path) -> None:
    """issue 18 item 3: a comparison fed rows that carry no hash (one tee branch of the
    boundary's rows) checks type and bytes per event and reads only the hash it ends
    at; its bound appender does the same as append."""
    store = Store(tmp_path / "c.db")
    chain = _chain(store, 120)
    rows = [r for r in store.event_rows(chain)]
    asked: list[int] = []

    def hash_of(seq: int) -> bytes:
        asked.append(seq)
        return bytes(rows[seq][1])

    src, recorded = itertools.tee(store.replay_rows(chain, hashes=False))
    c = Comparison(store.chain(chain).header, recorded, hashing=False, hash_of=hash_of)
    host = c.appender(HOST)
    for row in src:
        (host(row[4]) if row[3] == HOST else c.append(row[3], row[4]))
    assert c.length == 121 and c.head == rows[-1][1] and asked == [120]
    with pytest.raises(ReplayError, match="no recorded event"):
        host(b"{}")
    src, recorded = itertools.tee(store.replay_rows(chain, hashes=False))
    c = Comparison(store.chain(chain).header, recorded, hashing=False, hash_of=hash_of)
    next(src)
    with pytest.raises(ReplayError, match="byte for byte"):
        c.appender(HOST)(b'{"args":{},"result":1}')  # the recorded event 0 holds 0
    store.close()


def test_the_type_check_beside_a_replay_refuses_a_malformed_row(tmp_path: Path) -> None:
    """issue 18 item 3: TypeCheck (Store.check_event_types on its own connection, in a
    thread) finds a tampered row's type; a replay that writes only its outcome raises
    that MalformedEvent and stores no outcome, as the preflight did."""
    m = load_manifest(wat_manifest(tmp_path, "random_loop"))
    db = tmp_path / "t.db"
    store = Store(db)
    r = record(m, store, init_param="50")
    clean = TypeCheck(store.db_file(), r.chain)
    clean.raise_found()  # nothing to find
    set_event(store, r.chain, 20, data="not bytes")
    found = TypeCheck(store.db_file(), r.chain)
    with pytest.raises(MalformedEvent, match="event 20|seq 20"):
        found.raise_found()
    with pytest.raises(MalformedEvent):
        replay(store, r.chain, integrity=lambda: None)
    assert store.replays(r.chain) == []
    store.close()
