"""Runs of actors (theater/system.py): one chain per actor, derived ids, one total order,
nested requests, links in the hashed data, limits and failures recorded (issue 19
items 2, 3, 4 and 7). Real wasmtime, the stage.wat actor, real SQLite files."""

from __future__ import annotations

import orjson
import pytest
from conftest import run_cli
from system_helpers import stage_manifest

from theater.chain import genesis_hash
from theater.links import ACTOR_ID_TAG, CHANNEL_ID_TAG, REQUEST_ID_TAG, derive_id, full_link, pending_link
from theater.manifest import load_manifest
from theater.outcomes import EndOutcome
from theater.store import Store
from theater.store.runs import resolve_run, run_chains
from theater.system import RunInput, record_run

MSH = "host:theater:simple/message-server-host#"
MSC = "export:theater:simple/message-server-client#"


def run(tmp_path, *inputs, root="root", children=("worker",), limits="", db="r.db", seed=None):
    for c in children:
        stage_manifest(tmp_path, c)
    m = load_manifest(stage_manifest(tmp_path, root, limits=limits))
    store = Store(tmp_path / db)
    items = [RunInput("send", i.encode()) if isinstance(i, str) else i for i in inputs]
    return store, record_run(m, store, inputs=items, seed=seed)


def events(store, chain):
    return list(store.events(chain))


def by_type(evs, suffix):
    return [e for e in evs if e.type.endswith(suffix)]


def test_a_run_gives_each_actor_a_chain_linked_to_its_parent_and_its_messages(tmp_path):
    """issue 19 items 2 and 4: the child's header names the run, its parent chain and the
    spawn event; a delivered message's event names the sender's chain, seq and hash; a
    request's answer links back."""
    store, r = run(tmp_path, "Pworker.toml", "Sworker hello", "Rworker ping")
    assert r.ok and [c.actor for c in r.chains] == ["root", "worker"]
    root, worker = (store.chain(c.chain) for c in r.chains)
    g_root, g_worker = genesis_hash(root.header), genesis_hash(worker.header)
    rev, wev = events(store, root.id), events(store, worker.id)

    spawn = by_type(rev, "supervisor#spawn")[0]
    child_id = spawn.payload()["result"]["ok"]
    assert child_id == derive_id(ACTOR_ID_TAG, g_root, spawn.seq) == r.chains[1].actor_id
    assert spawn.payload()["to"] == {"chain": g_worker.hex(), "actor": child_id}
    header = orjson.loads(worker.header)
    assert header["run"] == g_root.hex() and header["actor_id"] == child_id
    assert header["parent"] == pending_link(g_root, spawn.seq, spawn.parent)

    send = by_type(rev, MSH + "send")[0]
    got = by_type(wev, MSC + "handle-send")[0]
    assert got.payload()["cause"] == full_link(g_root, send.seq, send.hash)
    assert send.payload()["to"]["chain"] == g_worker.hex()

    ask = by_type(rev, MSH + "request")[0]
    answer = by_type(wev, MSC + "handle-request")[0]
    rid, msg = answer.payload()["args"]["params"]
    assert rid == derive_id(REQUEST_ID_TAG, g_root, ask.seq) and msg == ask.payload()["args"]["msg"]
    # the request event is written after its answer: the answer names its seq and parent
    assert answer.payload()["cause"] == pending_link(g_root, ask.seq, ask.parent)
    assert ask.payload()["to"] == full_link(g_worker, answer.seq, answer.hash)
    assert ask.payload()["result"] == {"ok": "base64:cGluZw=="}  # echoed
    # the index of the run
    assert [c.chain for c in run_chains(store, r.run)] == [root.id, worker.id]
    assert resolve_run(store, "last").id == r.run == root.id


def test_two_recordings_with_the_same_seed_are_identical_hash_for_hash(tmp_path):
    """issue 19 item 3: same seed and inputs, every chain of the run identical."""
    inputs = ("Pworker.toml", "+Sworker a\nRworker b", "Sworker c")
    _, a = run(tmp_path, *inputs, db="a.db", seed=7)
    _, b = run(tmp_path, *inputs, db="b.db", seed=7)
    assert [c.head for c in a.chains] == [c.head for c in b.chains]
    assert [c.actor_id for c in a.chains] == [c.actor_id for c in b.chains]
    assert a.run != b.run  # two runs, two rows: ids are the database's, links are by genesis


def test_a_request_is_handled_after_the_earlier_messages_from_the_same_sender(tmp_path):
    """issue 19 item 3: FIFO between two actors whatever the kind: the receiver's mailbox
    is drained of the asker's earlier messages before the nested request."""
    store, r = run(tmp_path, "Pworker.toml", "+Sworker first\nRworker second")
    wev = events(store, r.chains[1].chain)
    calls = [(e.type.rsplit("#", 1)[1], e.payload()["args"]["params"][-1]) for e in wev if e.type.startswith(MSC)]
    assert calls == [("handle-send", "base64:Zmlyc3Q="), ("handle-request", "base64:c2Vjb25k")]


def test_a_request_cycle_is_an_err_result_not_a_deadlock(tmp_path):
    """issue 19 items 3 and 7: A asks B asks A: B's request returns err in B's chain."""
    store, r = run(tmp_path, "Pworker.toml", "Rworker Rroot hi")
    assert r.ok
    inner = by_type(events(store, r.chains[1].chain), MSH + "request")[0]
    assert "request cycle" in inner.payload()["result"]["err"]
    assert "to" not in inner.payload()  # nothing was delivered


def test_unknown_actor_and_missing_manifest_are_err_results_in_the_callers_chain(tmp_path):
    """issue 19 item 7."""
    (tmp_path / "invalid.toml").write_text("name = \n")
    (tmp_path / "nocomp.toml").write_text('name = "x"\ncomponent = "gone.wasm"\n')
    store, r = run(tmp_path, "Snobody x", "Rnobody x", "Pmissing.toml", "Pbad", "Pinvalid.toml", "Pnocomp.toml",
                   children=())
    assert r.ok and len(r.chains) == 1  # refused before any chain exists
    rev = events(store, r.chain)
    assert by_type(rev, "#send")[0].payload()["result"] == {"err": "no actor 'nobody' in this run"}
    assert by_type(rev, "#request")[0].payload()["result"] == {"err": "no actor 'nobody' in this run"}
    spawns = [e.payload()["result"]["err"] for e in by_type(rev, "#spawn")]
    assert "no manifest at" in spawns[0] and "missing.toml" in spawns[0]
    assert "no manifest at" in spawns[1]
    assert "not valid TOML" in spawns[2] and "component file not found" in spawns[3]


def test_a_trapping_child_calls_its_parents_handle_child_error_linked_both_ways(tmp_path):
    """issue 19 item 7: the child's chain ends trapped, naming the parent; the parent's
    handle-child-error names the child's end event."""
    store, r = run(tmp_path, "Pworker.toml", "Sworker !", "Sworker again")
    root, worker = r.chains
    assert r.ok and worker.outcome == EndOutcome.TRAPPED
    wev, rev = events(store, worker.chain), events(store, root.chain)
    end = wev[-1].payload()
    assert end["outcome"] == "trapped" and "unreachable" in end["error"]
    g_root, g_worker = (genesis_hash(store.chain(c.chain).header) for c in (root, worker))
    assert end["to"] == {"chain": g_root.hex(), "actor": root.actor_id}
    cb = by_type(rev, "#handle-child-error")[0].payload()
    assert cb["cause"] == full_link(g_worker, wev[-1].seq, wev[-1].hash)
    assert cb["args"]["params"][0] == worker.actor_id and cb["args"]["params"][1]["error-type"] == "internal"
    # a later send to the ended child is refused in the sender's chain
    assert "has ended (trapped)" in by_type(rev, "#send")[-1].payload()["result"]["err"]


def test_stop_child_and_restart_child(tmp_path):
    """issue 19 item 7: stop-child ends the child's chain `stopped`; restart-child keeps
    the id and starts a fresh chain linked to the previous one."""
    store, r = run(tmp_path, "Pworker.toml", "Sworker keep", "Tworker", "Kworker")
    assert r.ok and [c.actor for c in r.chains] == ["root", "worker", "worker"]
    first, second = r.chains[1], r.chains[2]
    assert first.actor_id == second.actor_id and first.outcome == second.outcome == EndOutcome.STOPPED
    rev = events(store, r.chain)
    restart, stop = by_type(rev, "#restart-child")[0], by_type(rev, "#stop-child")[0]
    g = {c.chain: genesis_hash(store.chain(c.chain).header) for c in r.chains}
    old_end = events(store, first.chain)[-1]
    assert old_end.payload()["cause"] == pending_link(g[r.chain], restart.seq, restart.parent)
    assert restart.payload()["stopped"] == full_link(g[first.chain], old_end.seq, old_end.hash)
    assert restart.payload()["to"]["chain"] == g[second.chain].hex()
    header = orjson.loads(store.chain(second.chain).header)
    assert header["restart_of"] == full_link(g[first.chain], old_end.seq, old_end.hash)
    assert header["parent"] == pending_link(g[r.chain], restart.seq, restart.parent)
    new_end = events(store, second.chain)[-1]
    assert stop.payload()["to"] == full_link(g[second.chain], new_end.seq, new_end.hash)
    # a fresh state: the restarted worker's init got the original (none), not "keep"
    assert events(store, second.chain)[0].payload()["args"]["state"] is None


def test_a_deferred_request_is_answered_by_respond_to_request(tmp_path):
    """issue 19 item 3: handle-request answers none; the asker waits while other
    messages are delivered; respond-to-request settles it, linked both ways."""
    stage_manifest(tmp_path, "helper")
    spawns = ("Pworker.toml", "Phelper.toml")
    probe, r0 = run(tmp_path, *spawns, db="probe.db")
    g_root = genesis_hash(probe.chain(r0.chain).header)
    rid = derive_id(REQUEST_ID_TAG, g_root, 6)  # init, 2 x (spawn, handle-send), then send at 5, request at 6
    store, r = run(tmp_path, *spawns, f"+Shelper Sworker A{rid} late\nRworker D", children=("worker",))
    root, worker, helper = r.chains
    rev, wev = events(store, root.chain), events(store, worker.chain)
    ask = by_type(rev, MSH + "request")[0]
    assert ask.seq == 6 and ask.payload()["result"] == {"ok": "base64:bGF0ZQ=="}  # "late"
    respond = by_type(wev, "#respond-to-request")[0]
    assert respond.payload()["args"]["request-id"] == rid
    assert respond.payload()["to"] == pending_link(g_root, ask.seq, ask.parent)
    g_worker = genesis_hash(store.chain(worker.chain).header)
    assert ask.payload()["to"] == full_link(g_worker, respond.seq, respond.hash)


def test_a_deferred_request_never_answered_is_an_err(tmp_path):
    """issue 19 item 3: nothing left that could answer it: err, no deadlock."""
    store, r = run(tmp_path, "Pworker.toml", "Rworker D")
    ask = by_type(events(store, r.chain), MSH + "request")[0]
    assert "was never answered" in ask.payload()["result"]["err"]


def test_a_channel_ping_pong_ends_at_the_message_limit_recorded(tmp_path):
    """issue 19 items 3 and 7: open-channel runs handle-channel-open nested; the
    acceptor's first message and every echo go over the channel until [limits]
    messages stops the run: every chain ends with the reason."""
    store, r = run(tmp_path, "Pworker.toml", "Cworker Bping", limits="messages = 12")
    assert not r.ok and "12 messages delivered" in r.stopped_by
    rev, wev = events(store, r.chains[0].chain), events(store, r.chains[1].chain)
    opened = by_type(rev, "#open-channel")[0]
    g_root = genesis_hash(store.chain(r.chain).header)
    cid = opened.payload()["result"]["ok"]
    assert cid == derive_id(CHANNEL_ID_TAG, g_root, opened.seq)
    assert len(by_type(wev, "#handle-channel-open")) == 1
    n = len(by_type(rev, "#handle-channel-message")) + len(by_type(wev, "#handle-channel-message"))
    assert n == 12 - 1  # a delivery is an export call another actor caused: the open and 11 messages
    for evs in (rev, wev):
        end = evs[-1].payload()
        assert end["outcome"] == "error" and "[limits] messages" in end["error"]
    assert any(end.get("undelivered") for end in (rev[-1].payload(), wev[-1].payload()))


def test_cli_ping_pong_past_its_limit_exits_1_with_the_reason(tmp_path):
    """issue 19 item 7: recorded, reported in one line, exit 1, no traceback; --json adds
    the run and its chains."""
    stage_manifest(tmp_path, "pong")
    m = stage_manifest(tmp_path, "ping", limits="messages = 20")
    db = str(tmp_path / "p.db")
    r = run_cli("record", str(m), "--db", db, "--send", "Ppong.toml", "--send", "Bpong x", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    out = orjson.loads(r.stdout)
    assert out["run"] == out["chain"] and [c["actor"] for c in out["chains"]] == ["ping", "pong"]
    assert "20 messages delivered" in out["stopped_by"]
    assert {c["outcome"] for c in out["chains"]} == {"error"}
    r = run_cli("record", str(m), "--db", db, "--send", "Ppong.toml", "--send", "Bpong x")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("theater: run stopped: 20 messages delivered")


def test_cli_to_sends_the_inputs_to_a_named_actor(tmp_path):
    """issue 19 item 2: `--to NAME` gives the inputs to that actor, and an --inputs line
    may name its own ("to"); an unknown name is a usage error, in one line."""
    stage_manifest(tmp_path, "worker")
    m = stage_manifest(tmp_path, "root")
    db = str(tmp_path / "t.db")
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"kind": "send", "text": "Pworker.toml"}\n{"kind": "send", "text": "hi", "to": "worker"}\n')
    r = run_cli("record", str(m), "--db", db, "--inputs", str(lines), "--json")
    assert r.returncode == 0, r.stderr
    worker = orjson.loads(r.stdout)["chains"][1]["chain"]
    with Store(tmp_path / "t.db") as s:
        sends = by_type(events(s, worker), "#handle-send")
    assert [e.payload()["args"]["params"][0] for e in sends] == ["base64:aGk="]
    r = run_cli("record", str(m), "--db", db, "--to", "nobody", "--send", "x")
    assert r.returncode == 2 and "--to nobody" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli("record", str(m), "--db", db, "--to", "root", "--send", "hello", "--json")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("ref", ["worker", "by-id"])
def test_to_takes_a_name_or_an_id(tmp_path, ref):
    """issue 19 item 2: inputs to a child spawned by the root's init_state-driven run."""
    store, r0 = run(tmp_path, "Pworker.toml")
    target = r0.chains[1].actor_id if ref == "by-id" else "worker"
    store2, r = run(tmp_path, "Pworker.toml", RunInput("send", b"to-child", target), db="b.db")
    wev = events(store2, r.chains[1].chain)
    assert [e.payload()["args"]["params"][0] for e in by_type(wev, "#handle-send")] == ["base64:dG8tY2hpbGQ="]
    assert "cause" not in by_type(wev, "#handle-send")[0].payload()  # a CLI input has no cause


def test_runs_and_chains_json_name_each_run_and_parent(tmp_path):
    """issue 19 item 2: `theater runs [--json]` lists runs (root, actors, events,
    status); `chains --json` gives each chain's run and parent; a single recording is a
    run of one chain; `last` names the newest run."""
    from actors import wat_manifest

    stage_manifest(tmp_path, "worker")
    m = stage_manifest(tmp_path, "root")
    db = str(tmp_path / "r.db")
    r = run_cli("record", str(m), "--db", db, "--send", "Pworker.toml", "--send", "Sworker hi", "--json")
    assert r.returncode == 0, r.stderr
    rec = orjson.loads(r.stdout)
    r = run_cli("record", str(wat_manifest(tmp_path, "counter")), "--db", db, "--send", "a", "--json")
    single = orjson.loads(r.stdout)
    assert single["run"] == single["chain"] and len(single["chains"]) == 1
    out = orjson.loads(run_cli("runs", "--db", db, "--json").stdout)
    assert [(x["run"], x["root"], x["actors"], x["status"], x["outcome"]) for x in out] == [
        (rec["run"], "root", 2, "complete", "completed"), (single["run"], "counter", 1, "complete", "completed")]
    assert out[0]["events"] == sum(c["events"] for c in rec["chains"])
    chains = {c["id"]: c for c in orjson.loads(run_cli("chains", "--db", db, "--json").stdout)}
    root_id, worker_id = (c["chain"] for c in rec["chains"])
    assert (chains[worker_id]["run"], chains[worker_id]["parent"]) == (rec["run"], root_id)
    assert (chains[root_id]["run"], chains[root_id]["parent"]) == (rec["run"], None)
    text = run_cli("runs", "--db", db)
    assert text.returncode == 0 and rec["run"] in text.stdout and "2 actors" in text.stdout
    with Store(tmp_path / "r.db") as s:
        assert resolve_run(s, "last").id == single["run"]
        assert resolve_run(s, rec["run"][:6]).id == rec["run"]


@pytest.mark.slow
def test_ctrl_c_stops_the_whole_run_every_chain_kept_incomplete(tmp_path):
    """issue 19 item 7: SIGINT during an endless ping-pong: exit 130, one line naming the
    run, every chain kept incomplete, each verifying as a prefix, and the run's links
    holding (an interrupted run owes no deliveries). Signalled on evidence: committed
    events of both chains, not after a fixed time."""
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from verify import verify_chain
    from verify.links import verify_run

    stage_manifest(tmp_path, "pong")
    m = stage_manifest(tmp_path, "ping", limits="messages = 1000000000")
    db = tmp_path / "int.db"
    proc = subprocess.Popen([sys.executable, "-m", "theater", "record", str(m), "--db", str(db), "-q",
                             "--send", "Ppong.toml", "--send", "Bpong x"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with sqlite3.connect(db, timeout=30) as watch:
                    rows = watch.execute("SELECT count(DISTINCT chain), count(*) FROM events").fetchone()
            except sqlite3.OperationalError:
                rows = (0, 0)
            if rows[0] == 2 and rows[1] >= 4096:
                break
            time.sleep(0.005)  # a poll interval, not a wait for something
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = err.decode()
    assert proc.returncode == 130, text
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text
    assert "interrupted: run " in lines[0] and "its 2 chains kept as incomplete" in lines[0]
    with Store(db) as s:
        infos = s.chains()
        assert [i.status for i in infos] == ["incomplete", "incomplete"]
        assert all(verify_chain(s, i).ok and not verify_chain(s, i).complete for i in infos)
        v = verify_run(s, "last")
        assert v.ok, [p.summary() for p in v.problems]
