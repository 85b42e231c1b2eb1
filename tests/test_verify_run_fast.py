"""The fast path of `verify --run`'s link check (issue 19, its bench target: link
checking at >= 0.8 of plain verify; verify/links.py): a message whose two ends have
the plain shape is matched from a few fields kept as the walk passes, without the
general rules. It must judge every run exactly as the general rules do, forged ones
included: the same problems, in the same order, and the same count of links."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from system_helpers import stage_manifest
from tamper import reforge

from theater.canonical import canonical_json
from theater.manifest import load_manifest
from theater.store import Store
from theater.store.runs import resolve_run
from theater.system import RunInput, record_run
from verify.links import _Checker, _collect, _verify_run, verify_run

# sends, requests, channels, a ping-pong past its limit: every kind of link
INPUTS = ("Pworker.toml", "Sworker one", "+Sworker two\nRworker three", "Cworker Bhello", "Bworker ping")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fastlinks")
    stage_manifest(folder, "worker")
    m = load_manifest(stage_manifest(folder, "root", limits="messages = 30"))
    with Store(folder / "run.db") as store:
        r = record_run(m, store, inputs=[RunInput("send", i.encode()) for i in INPUTS])
        events = {c.chain: [(e.type, e.data) for e in store.events(c.chain)] for c in r.chains}
    return folder / "run.db", r, events


def _both(store, run):
    fast = _verify_run(store, run, fast=True)
    general = _verify_run(store, run, fast=False)
    return fast, general


def test_an_honest_run_takes_the_fast_path_for_every_plain_message(recorded):
    """issue 19 (bench: verify --run >= 0.8 of plain verify): each delivered `send` and
    channel message of a run is matched by the fast path, and the result is the
    general rules' one."""
    db, r, _ = recorded
    with Store(db) as store:
        info = resolve_run(store, r.run)
        chains = [_collect(store, c.chain) for c in info.chains]
        checker = _Checker(info.id, chains)
        checker.run_checks()
        assert not checker.problems
        by_genesis = {c.genesis.hex(): c for c in chains}
        # every delivery sent by a host send (the acceptor's first channel message is
        # sent by its handle-channel-open export: the general rules match that one)
        plain = [e for c in chains for e in c.events.values() if e.recv is not None
                 and by_genesis[e.recv[0]].events[e.recv[1]].send is not None]
        assert {e.type.rpartition("#")[2] for e in plain} == {"handle-send", "handle-channel-message"}
        assert checker.fast == len(plain) >= 20  # the ping-pong's bounces and the sends
        fast, general = _both(store, r.run)
        assert fast.ok and fast.to_json() == general.to_json()
        assert verify_run(store, r.run).to_json() == fast.to_json()


# One forgery: an event of one chain (by its index among the events that link), a
# field of its data, and what it becomes. Each chain is re-hashed, as a forger with
# write access does, so every chain verifies alone and only the links can tell.
FIELDS = ("cause.seq", "cause.hash", "cause.chain", "cause+parent", "params.0", "msg", "to.chain", "to+hash",
          "drop:cause", "drop:to", "add:cause", "add:to", "seq:bool", "delete", "duplicate", "not-json",
          "args:list")


def _forge(data: bytes, field: str, k: int) -> bytes | None:
    try:
        p = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(p, dict):
        return None
    args = p.get("args") if isinstance(p.get("args"), dict) else {}
    cause, to = p.get("cause"), p.get("to")
    if field == "cause.seq" and isinstance(cause, dict) and isinstance(cause.get("seq"), int):
        cause["seq"] += (k % 5) - 2 or 1
    elif field == "cause.hash" and isinstance(cause, dict) and "hash" in cause:
        cause["hash"] = "0" * 64 if k % 2 else cause["hash"].upper()
    elif field == "cause.chain" and isinstance(cause, dict):
        cause["chain"] = "f" * 64 if k % 2 else 7
    elif field == "cause+parent" and isinstance(cause, dict):
        cause["parent"] = "0" * 64
    elif field == "params.0" and isinstance(args.get("params"), list) and args["params"]:
        args["params"][0] = ["x"] if k % 3 == 0 else "base64:eHg=" if k % 3 == 1 else None
    elif field == "msg" and "msg" in args:
        args["msg"] = "base64:eHg=" if k % 2 else [args["msg"]]
    elif field == "to.chain" and isinstance(to, dict):
        to["chain"] = "e" * 64 if k % 2 else None
    elif field == "to+hash" and isinstance(to, dict):
        to["hash"] = "0" * 64
    elif field == "drop:cause" and "cause" in p:
        del p["cause"]
    elif field == "drop:to" and "to" in p:
        del p["to"]
    elif field == "add:cause" and "cause" not in p:
        p["cause"] = {"chain": "a" * 64, "seq": 1, "hash": "b" * 64}
    elif field == "add:to" and "to" not in p:
        p["to"] = {"chain": "a" * 64, "actor": "x"}
    elif field == "seq:bool" and isinstance(cause, dict):
        cause["seq"] = True
    elif field == "not-json":
        return data[:-1]
    elif field == "args:list":
        p["args"] = [1]
    else:
        return None
    return canonical_json(p)


def _linking(events):
    return [i for i, (_, data) in enumerate(events) if b'"cause":' in data or b'"to":' in data]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(forgeries=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 10_000), st.sampled_from(FIELDS),
                                    st.integers(0, 100)), min_size=1, max_size=3))
def test_forged_runs_are_judged_as_the_general_rules_judge_them(recorded, tmp_path_factory, forgeries):
    """issue 19 (bench: verify --run >= 0.8 of plain verify): whatever is forged in
    either chain (links, payloads, shapes, events deleted or repeated, data that is
    not JSON), the fast path's report is the general rules' report, problem for
    problem, and the link count too."""
    import shutil

    db, r, events = recorded
    copy = tmp_path_factory.mktemp("forged") / "run.db"
    shutil.copyfile(db, copy)
    chains = [c.chain for c in r.chains]
    edited = {c: list(events[c]) for c in chains}
    for which, pick, field, k in forgeries:
        chain = chains[which]
        evs = edited[chain]
        linking = _linking(evs)
        if not linking:
            continue
        i = linking[pick % len(linking)]
        if field == "delete":
            del evs[i]
        elif field == "duplicate":
            evs.insert(i, evs[i])
        else:
            forged = _forge(evs[i][1], field, k)
            if forged is not None:
                evs[i] = (evs[i][0], forged)
    with Store(copy) as store:
        for c in chains:
            if edited[c] != events[c]:
                reforge(store, c, edited[c])
        store.conn.commit()
        fast, general = _both(store, r.run)
    assert fast.to_json() == general.to_json()
    assert fast.links == general.links


def test_the_walk_keeps_exactly_the_events_that_may_carry_a_link(recorded):
    """issue 19 (bench: verify --run >= 0.8 of plain verify): `verify --run` no longer
    calls back per event; the walk itself keeps ``(seq, hash, previous hash, type,
    data)`` of each verified event holding ``"cause":`` or ``"to":`` and of the end
    event: exactly what a per-event callback with that rule keeps."""
    from theater.chain import END_TYPE, genesis_hash
    from verify.integrity import verify_chain

    db, r, _ = recorded
    with Store(db) as store:
        for c in r.chains:
            prev = [genesis_hash(bytes(store.chain(c.chain).header))]
            expected: list[tuple] = []

            def on_event(seq, h, type_, data, prev=prev, expected=expected):
                if b'"cause":' in data or b'"to":' in data or type_ == END_TYPE:
                    expected.append((seq, h, prev[0], type_, data))
                prev[0] = h

            by_callback = verify_chain(store, c.chain, on_event=on_event)
            kept: list[tuple] = []
            by_walk = verify_chain(store, c.chain, link_rows=kept)
            assert by_walk == by_callback and by_walk.ok
            assert kept == expected and len(kept) >= 10 and kept[-1][3] == END_TYPE


def test_link_rows_of_a_chain_of_another_format_are_kept_the_same_way(tmp_path):
    """issue 19 (bench: verify --run >= 0.8 of plain verify): a chain that is not v1 (an
    upstream chain imported as is, or one whose format a forger changed) is walked by
    its own rule, which takes no ``link_rows``: they are kept from its events by the
    same rule all the same (linking data, the previous hash)."""
    from test_legacy import write_legacy

    from theater.chain import genesis_hash
    from verify.importer import import_file
    from verify.integrity import verify_chain

    events = [("wasm", b'{"args":{},"to":{"chain":"x"}}'), ("host", b'{"result":1}'),
              ("wasm", b'{"cause":{"seq":0}}')]
    f = write_legacy(tmp_path / "own.json", events)
    with Store(tmp_path / "s.db") as s:
        cid = import_file(s, f).chain
        info = s.chain(cid)
        seen: list[tuple] = []
        plain = verify_chain(s, cid, on_event=lambda *e: seen.append(e))
        kept: list[tuple] = []
        linked = verify_chain(s, cid, link_rows=kept)
    assert plain == linked and plain.ok and info.format == "legacy" and len(seen) == 3
    g = genesis_hash(bytes(info.header))
    assert kept == [(0, seen[0][1], g, "wasm", events[0][1]), (2, seen[2][1], seen[1][1], "wasm", events[2][1])]
