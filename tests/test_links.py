"""The link rule of docs/chain-format.md ("Links between chains") and its test vectors
for a two-actor exchange (issue 19 item 4): a second implementation can check them
from that page alone; theater's own verifier accepts them, and refuses them changed."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from theater.chain import event_hash, genesis_hash
from theater.links import ACTOR_ID_TAG, derive_id, full_link, is_link, pending_link, root_actor_id
from theater.store import Store
from theater.store.runs import add_run_chain
from verify.links import verify_run

DOC = Path(__file__).resolve().parent.parent / "docs" / "chain-format.md"


def vectors() -> dict:
    section = DOC.read_text().split("### Test vectors: a two-actor exchange", 1)[1]
    return orjson.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))


def test_the_two_actor_vectors_hash_and_link_as_documented():
    """issue 19 item 4: hashes recomputed from the page; the links as the rule says."""
    v = vectors()
    for side in ("a", "b"):
        head = genesis_hash(v[side]["header"].encode())
        assert head.hex() == v[side]["genesis"]
        for e in v[side]["events"]:
            assert bytes.fromhex(e["parent"]) == head
            head = event_hash(e["seq"], head, e["type"], e["data"].encode())
            assert head.hex() == e["hash"]
    ga, gb = bytes.fromhex(v["a"]["genesis"]), bytes.fromhex(v["b"]["genesis"])
    a, b = v["a"]["events"], v["b"]["events"]
    hb = orjson.loads(v["b"]["header"])
    assert hb["run"] == ga.hex() and hb["parent"] == pending_link(ga, 1, bytes.fromhex(a[0]["hash"]))
    assert hb["actor_id"] == derive_id(ACTOR_ID_TAG, ga, 1) == orjson.loads(a[1]["data"])["result"]["ok"]
    assert orjson.loads(a[1]["data"])["to"]["chain"] == gb.hex()
    cause = orjson.loads(b[1]["data"])["cause"]
    assert cause == full_link(ga, 3, bytes.fromhex(a[3]["hash"])) and is_link(cause)
    assert orjson.loads(a[3]["data"])["args"]["msg"] == orjson.loads(b[1]["data"])["args"]["params"][0]
    assert len(root_actor_id(ga)) == 16


def _store(tmp_path, v, *, edit=None) -> tuple[Store, str]:
    store = Store(tmp_path / "vec.db")
    ids = []
    for n, side in enumerate(("a", "b")):
        w = store.create_chain(v[side]["header"].encode())
        for e in v[side]["events"]:
            data = e["data"].encode()
            if edit is not None:
                data = edit(side, e["seq"], data)
            w.append(e["type"], data)
        w.flush(complete=True)
        w.finished = True
        ids.append(w.chain_id)
        add_run_chain(store, run=ids[0], chain=w.chain_id, ord=n, actor_id=side, name=side,
                      parent=None if n == 0 else ids[0])
    return store, ids[0]


def test_the_vectors_verify_as_a_run_and_a_changed_message_does_not(tmp_path):
    """issue 19 items 4 and 5: stored as a run, the vectors pass `verify --run`'s rule;
    the same exchange with b's message changed (b's chain re-hashed, so it verifies
    alone) is a broken link naming both chains and seqs."""
    v = vectors()
    store, run = _store(tmp_path, v)
    assert verify_run(store, run).ok
    store.close()
    (tmp_path / "vec.db").unlink()
    forged, run = _store(tmp_path, v, edit=lambda side, seq, d: d.replace(b'"base64:aGk="', b'"base64:aG8="')
                         if (side, seq) == ("b", 1) else d)
    r = verify_run(forged, run)
    assert all(c.ok for c in r.chains) and not r.ok
    p = r.problems[0]
    assert (p.kind, p.seq, p.other_seq) == ("broken_link", 1, 3)
