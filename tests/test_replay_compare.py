"""A replay writes nothing unless asked (issue 18 item 3).

`theater replay --verify` compares each replayed event's type and data bytes with the
recorded ones and relies on the recorded chain's integrity check (run beside it) to
prove the head; it stores only the outcome row. `--save` keeps the replayed chain.
Real components, real SQLite files, the real CLI.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import orjson
import pytest
from actors import wat_manifest
from conftest import run_cli
from tamper import set_event

from fixtures.build import wat_path
from replay.compare import Comparison
from replay.replayer import replay
from theater.chain import ChainBuilder
from theater.errors import ReplayError
from theater.manifest import load_manifest
from theater.recorder import Input, record
from theater.store import Store


def recorded(tmp_path: Path, name: str = "counter", **kw: object) -> tuple[Store, str]:
    store = Store(tmp_path / "r.db")
    r = record(load_manifest(wat_manifest(tmp_path, name)), store,
               inputs=[Input("send", s) for s in (b"abc", b"xy", b"z")], **kw)  # type: ignore[arg-type]
    return store, r.chain


def counts(store: Store) -> tuple[int, int]:
    chains = store.conn.execute("SELECT count(*) FROM chains").fetchone()[0]
    events = store.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    return chains, events


def test_replay_verify_writes_only_the_outcome(tmp_path: Path) -> None:
    """issue 18 item 3: no second chain, no events; one replays row with chain NULL."""
    store, chain = recorded(tmp_path)
    before = counts(store)
    db = str(store.path)
    store.close()
    r = run_cli("replay", chain, "--db", db, "--verify", "--json")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert out["verified"] and out["chain"] is None and out["saved"] is False and out["integrity"] is None
    with Store(db, create=False) as s:
        assert counts(s) == before
        assert out["head"] == s.chain(chain).head.hex()
        (row,) = s.replays(chain)
        assert row.chain is None and row.outcome == "verified"
    text = run_cli("replay", chain, "--db", db, "--verify")
    assert text.returncode == 0 and "(not saved)" in text.stdout and "verified" in text.stdout


def test_replay_save_keeps_the_replayed_chain(tmp_path: Path) -> None:
    """issue 18 item 3: --save stores the replay as a chain of its own, as before."""
    store, chain = recorded(tmp_path)
    chains, events = counts(store)
    db = str(store.path)
    store.close()
    r = run_cli("replay", chain, "--db", db, "--verify", "--json", "--save")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert out["saved"] and out["chain"]
    with Store(db, create=False) as s:
        info = s.chain(out["chain"])
        assert info.replay_of == chain and info.head == s.chain(chain).head
        assert counts(s) == (chains + 1, events * 2)
        assert s.replays(chain)[-1].chain == out["chain"]


def test_a_diverging_build_is_reported_without_writing(tmp_path: Path) -> None:
    """issue 18 item 3: the comparison finds the same divergence as a saved replay."""
    store, chain = recorded(tmp_path)
    before = counts(store)
    unsaved = replay(store, chain, component=wat_path("counter_args"))
    saved = replay(store, chain, component=wat_path("counter_args"), save=True)
    assert unsaved.divergence is not None and saved.divergence is not None
    assert unsaved.divergence.to_json() == saved.divergence.to_json()
    assert not unsaved.verified and unsaved.chain is None
    # the unsaved replay reproduced events 0..4 and stopped there; its head is event 4's
    assert unsaved.events == 5 and unsaved.head == store.event(chain, 4).hash
    # saved or not, a diverged replay reports what it reproduced; the saved chain holds
    # those events and its own end event (outcome diverged), which is not a reproduced one
    assert (saved.events, saved.head) == (unsaved.events, unsaved.head)
    assert saved.chain is not None and store.chain(saved.chain).length == saved.events + 1
    assert counts(store) == (before[0] + 1, before[1] + saved.events + 1)


@pytest.mark.parametrize("how", ["cli", "library"])
def test_a_tampered_hash_is_not_verified(tmp_path: Path, how: str) -> None:
    """issue 18 item 3: the bytes all match, but a stored hash is not theirs: the
    integrity check (CLI) or the hashing comparison (library) refuses the head."""
    store, chain = recorded(tmp_path)
    set_event(store, chain, 3, hash=b"\x01" * 32)
    if how == "library":
        rr = replay(store, chain)
        assert not rr.verified and rr.head == store.chain(chain).head  # the bytes do hash to the head
        assert rr.outcome == "diverged" and "event 3 (hash_mismatch)" in str(rr.integrity)
        return
    db = str(store.path)
    store.close()
    r = run_cli("replay", chain, "--db", db, "--verify", "--json")
    assert r.returncode == 1
    out = orjson.loads(r.stdout)
    assert not out["verified"] and out["divergence"] is None
    assert "hash_mismatch" in out["integrity"] and "event 3" in out["integrity"]
    with Store(db, create=False) as s:
        row = s.replays(chain)[-1]
        assert (row.outcome, row.kind, row.chain) == ("diverged", "head", None)
    text = run_cli("replay", chain, "--db", db, "--verify")
    assert text.returncode == 1 and "integrity check at event 3" in text.stdout


def test_a_long_recording_is_checked_in_worker_processes(tmp_path: Path) -> None:
    """issue 18 item 3: 20,000 events or more: the integrity walk runs in worker
    processes beside the replay, with the same verdict."""
    store = Store(tmp_path / "r.db")
    r = record(load_manifest(wat_manifest(tmp_path, "random_loop")), store, init_param="25000")
    db = str(store.path)
    store.close()
    res = run_cli("replay", r.chain, "--db", db, "--verify", "--json")
    assert res.returncode == 0, res.stderr
    out = orjson.loads(res.stdout)
    assert out["verified"] and out["events"] == 25002 and out["head"] == r.head.hex()
    with Store(db) as s:
        set_event(s, r.chain, 20000, hash=b"\x02" * 32)
    res = run_cli("replay", r.chain, "--db", db, "--verify", "--json")
    assert res.returncode == 1 and "event 20000" in orjson.loads(res.stdout)["integrity"]


def test_the_comparison_compares_type_and_bytes() -> None:
    """issue 18 item 3: an event that is not the recorded one byte for byte is refused;
    with hashing the head is recomputed, without it the recorded hash is taken."""
    header = b'{"actor":"x"}'
    b = ChainBuilder(header)
    rows = []
    for t, d in (("host:a#f", b"1"), ("host:a#g", b"22")):
        seq, parent, h = b.append(t, d)
        rows.append((seq, h, parent, t, d, None))
    for hashing in (True, False):
        c = Comparison(header, deque(rows), hashing=hashing)
        c.append("host:a#f", b"1")
        c.append("host:a#g", b"22")
        assert c.length == 2 and c.head == rows[1][1] and c.bad_hash is None
    bad = deque([(0, b"\x00" * 32, b"", "host:a#f", b"1", None)])
    c = Comparison(header, bad.copy(), hashing=False)
    assert c.append("host:a#f", b"1") == b"\x00" * 32  # taken as given: the integrity check judges it
    c = Comparison(header, bad.copy(), hashing=True)
    assert c.append("host:a#f", b"1") == rows[0][1] and c.bad_hash == 0
    for t, d in (("host:a#f", b"2"), ("host:a#x", b"1")):
        with pytest.raises(ReplayError, match="byte for byte"):
            Comparison(header, deque(rows), hashing=True).append(t, d)
    with pytest.raises(ReplayError, match="no recorded event"):
        Comparison(header, deque(), hashing=True).append("host:a#f", b"1")
