"""`theater verify --run`: every chain of a run and every link between them, both
ways, without running code (issue 19 item 5; verify/links.py)."""

from __future__ import annotations

import orjson
import pytest
from conftest import run_cli
from system_helpers import stage_manifest
from tamper import reforge

from theater.manifest import load_manifest
from theater.store import Store
from theater.system import RunInput, record_run
from verify import verify_chain
from verify.links import follow_links, verify_run

SCENARIOS = {
    "messages": ("Pworker.toml", "Sworker one", "+Sworker two\nRworker three", "Sworker four"),
    "trap": ("Pworker.toml", "Sworker !", "Sworker after"),
    "restart-stop": ("Pworker.toml", "Sworker keep", "Tworker", "Sworker new", "Kworker"),
    "channel": ("Pworker.toml", "Cworker hello", "Cworker Nno"),
    "ping-pong-limit": ("Pworker.toml", "Bworker x"),
    "cycle-unknown": ("Pworker.toml", "Rworker Rroot x", "Snobody y", "Pnothere.toml"),
}


def record(tmp_path, inputs, *, limits="messages = 15", db="v.db"):
    stage_manifest(tmp_path, "worker")
    m = load_manifest(stage_manifest(tmp_path, "root", limits=limits))
    store = Store(tmp_path / db)
    return store, record_run(m, store, inputs=[RunInput("send", i.encode()) for i in inputs])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_honest_run_verifies_with_its_links(tmp_path, name):
    """issue 19 item 5: what the scheduler records, the verifier accepts (sends,
    requests, channels, traps, stops, restarts, limits, refusals)."""
    store, r = record(tmp_path, SCENARIOS[name])
    v = verify_run(store, r.run)
    assert v.ok, [p.summary() for p in v.problems]
    assert len(v.chains) == len(r.chains) and v.links >= 2


def test_cli_verify_run_passes_and_all_checks_every_run(tmp_path):
    """issue 19 item 5: `verify --run last` and `--all` (which adds the runs' links)."""
    store, r = record(tmp_path, SCENARIOS["messages"])
    db = str(tmp_path / "v.db")
    out = run_cli("verify", "--db", db, "--run", "last")
    assert out.returncode == 0, out.stderr
    assert f"ok run {r.run}: 2 chains" in out.stdout and "links hold" in out.stdout
    j = orjson.loads(run_cli("verify", "--db", db, "--run", r.run[:5], "--json").stdout)
    assert j["ok"] and j["run"] == r.run and [c["chain"] for c in j["chains"]] == [c.chain for c in r.chains]
    j = orjson.loads(run_cli("verify", "--db", db, "--all", "--json").stdout)
    assert j["ok"] and [x["run"] for x in j["runs"]] == [r.run]
    bad = run_cli("verify", "--db", db, "--run", "nope")
    assert bad.returncode == 2 and "no run matches 'nope'" in bad.stderr
    bad = run_cli("verify", "--db", db, "--run", "last", "--all")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def _events(store, chain):
    return list(store.events(chain))


def test_a_forged_payload_in_the_receivers_chain_is_a_broken_link(tmp_path):
    """issue 19 item 5 (done when): change one message payload in the receiver's chain
    and re-hash that whole chain: the chain verifies alone, the run does not, and the
    report names both chains and both seqs."""
    store, r = record(tmp_path, SCENARIOS["messages"])
    root, worker = r.chains
    evs = _events(store, worker.chain)
    target = next(e for e in evs if e.type.endswith("#handle-send") and b"b25l" in e.data)  # "one"
    edited = [(e.type, e.data.replace(b"b25l", b"dHdv") if e.seq == target.seq else e.data) for e in evs]
    reforge(store, worker.chain, edited)
    store.conn.commit()
    assert verify_chain(store, worker.chain).ok  # alone, the forgery holds
    v = verify_run(store, r.run)
    assert not v.ok
    p = v.problems[0]
    send = next(e for e in _events(store, root.chain) if e.type.endswith("#send"))
    assert (p.kind, p.chain, p.seq, p.other_chain, p.other_seq) == ("broken_link", worker.chain, target.seq,
                                                                    root.chain, send.seq)
    out = run_cli("verify", "--db", str(tmp_path / "v.db"), "--run", r.run)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"broken_link {worker.chain} seq {target.seq} <-> {root.chain} seq {send.seq}" in out.stderr
    j = orjson.loads(run_cli("verify", "--db", str(tmp_path / "v.db"), "--run", r.run, "--json").stdout)
    assert j["problem"]["class"] == "broken_link" and j["problem"]["other_seq"] == send.seq


def test_deleting_a_delivered_message_is_a_broken_link(tmp_path):
    """issue 19 item 5 (done when): delete the first delivered message from the
    receiver's chain and re-hash it: the later deliveries show the gap."""
    store, r = record(tmp_path, SCENARIOS["messages"])
    root, worker = r.chains
    evs = _events(store, worker.chain)
    gone = next(e for e in evs if e.type.endswith("#handle-send"))
    reforge(store, worker.chain, [(e.type, e.data) for e in evs if e.seq != gone.seq])
    store.conn.commit()
    v = verify_run(store, r.run)
    kinds = {(p.kind, p.chain, p.other_chain) for p in v.problems}
    assert ("broken_link", root.chain, worker.chain) in kinds
    send = orjson.loads(gone.data)["cause"]["seq"]
    assert any(p.seq == send and "removed" in p.message for p in v.problems)


def test_deleting_the_last_delivered_message_is_undelivered(tmp_path):
    """issue 19 item 5: a message of a completed run that reached no event and whose
    loss is not recorded is `undelivered`, naming the sender's chain and seq."""
    store, r = record(tmp_path, ("Pworker.toml", "Sworker only"))
    root, worker = r.chains
    evs = _events(store, worker.chain)
    gone = next(e for e in evs if e.type.endswith("#handle-send"))
    reforge(store, worker.chain, [(e.type, e.data) for e in evs if e.seq != gone.seq])
    store.conn.commit()
    v = verify_run(store, r.run)
    assert [(p.kind, p.chain, p.seq, p.other_chain) for p in v.problems] == [
        ("undelivered", root.chain, orjson.loads(gone.data)["cause"]["seq"], worker.chain)]


def test_a_forged_answer_is_a_broken_link(tmp_path):
    """issue 19 item 5: the asker's request result must be what the receiver answered."""
    store, r = record(tmp_path, ("Pworker.toml", "Rworker ping"))
    root, _ = r.chains
    evs = _events(store, root.chain)
    ask = next(e for e in evs if e.type.endswith("#request"))
    forged = ask.data.replace(b'"ok":"base64:cGluZw=="', b'"ok":"base64:cG9uZw=="')
    assert forged != ask.data
    reforge(store, root.chain, [(e.type, forged if e.seq == ask.seq else e.data) for e in evs])
    store.conn.commit()
    v = verify_run(store, r.run)
    assert any(p.kind == "broken_link" and "response" in p.message for p in v.problems)


def test_a_child_header_must_name_its_spawn(tmp_path):
    """issue 19 item 5: a spawn names the child's genesis and the child's header names
    the spawn; a re-hashed spawn that names another chain breaks both directions."""
    from theater.chain import genesis_hash

    store, r = record(tmp_path, ("Pworker.toml",))
    root, child = r.chains
    g_child = genesis_hash(bytes(store.chain(child.chain).header)).hex().encode()
    evs = _events(store, root.chain)
    sp = next(e for e in evs if e.type.endswith("#spawn"))
    assert g_child in sp.data
    reforge(store, root.chain, [(e.type, e.data.replace(g_child, b"0" * 64) if e.seq == sp.seq else e.data)
                                for e in evs])
    store.conn.commit()
    v = verify_run(store, r.run)
    found = {(p.chain, p.seq, p.other_chain) for p in v.problems if p.kind == "broken_link"}
    assert (root.chain, sp.seq, None) in found  # the spawn names a chain not in the run
    assert (child.chain, None, root.chain) in found  # the child's header names a spawn of another chain


def test_follow_links_finds_the_other_end_of_an_event(tmp_path):
    """issue 19 item 8's library side (the TUI is another issue): from a received
    message to the sender's event, and from a send to the receiver's chain."""
    store, r = record(tmp_path, ("Pworker.toml", "Sworker hi"))
    root, worker = r.chains
    got = next(e for e in _events(store, worker.chain) if e.type.endswith("#handle-send"))
    sent = next(e for e in _events(store, root.chain) if e.type.endswith("#send"))
    assert follow_links(store, worker.chain, got.seq) == [(root.chain, sent.seq)]
    assert follow_links(store, root.chain, sent.seq) == [(worker.chain, None)]
