"""`theater fork` and `replay.fork.fork` (issue 13 items 2 and 5): replay a prefix,
checked like a replay, then continue live from exactly where the recording was.
Real components (WAT and the componentize-py example actor), real SQLite, the real CLI."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from actors import py_manifest, wat_manifest
from conftest import run_cli

from fixtures.build import wat_path
from replay.fork import ForkResult, fork
from theater.manifest import load_manifest
from theater.recorder import Input, record
from theater.store import Store
from verify.integrity import verify_chain


def sends(*msgs: bytes) -> list[Input]:
    return [Input("send", m) for m in msgs]


def events(store: Store, chain: str, start: int = 0) -> list[tuple[str, bytes]]:
    return [(e.type, e.data) for e in store.events(chain, start)]


def test_fork_of_a_wat_actor_equals_a_straight_recording(tmp_path: Path) -> None:
    """issue 13 item 2: the prefix is the source's, event for event; after the fork point
    the events (random draws included) are a straight recording's of the same inputs;
    the header names fork_of; the fork verifies; forking twice gives identical heads."""
    m = load_manifest(wat_manifest(tmp_path, "counter", seed=9))
    store = Store(tmp_path / "r.db")
    src = record(m, store, inputs=sends(b"abc", b"de", b"f"))
    # 0 log, 1 init, 2 random, 3 log, 4 handle-send, 5 random, ...: seq 6 forks after seq 4
    a = fork(store, src.chain, at=6, inputs=sends(b"xyz", b"w"))
    b = fork(store, src.chain, at=6, inputs=sends(b"xyz", b"w"))
    straight = record(m, store, inputs=sends(b"abc", b"xyz", b"w"))
    assert isinstance(a, ForkResult) and a.ok and a.seq == 4 and a.at == 6
    assert a.head == b.head and a.events == b.events == straight.events
    assert events(store, a.chain)[:5] == events(store, src.chain)[:5]
    assert events(store, a.chain, 5) == events(store, straight.chain, 5)
    assert a.state == straight.state
    header = orjson.loads(store.chain(a.chain).header)
    assert header["fork_of"] == {"chain": src.chain, "seq": 4, "head": store.event(src.chain, 4).hash.hex()}
    assert verify_chain(store, a.chain).ok
    assert a.to_json()["ok"] and a.to_json()["seq"] == 4


def test_fork_of_the_example_actor_after_its_second_message(tmp_path: Path) -> None:
    """issue 13 item 2 (done when): the componentize-py example actor, forked after its
    2nd message with new messages: the random bytes, the virtual clock and the request
    ids go on as in a straight recording of the same inputs, event for event."""
    m = load_manifest(py_manifest(tmp_path))
    db = tmp_path / "e.db"
    with Store(db) as store:
        src = record(m, store, inputs=[Input("send", b"one"), Input("request", b"two"), Input("send", b"three")])
        exports = [e.seq for e in store.events(src.chain) if e.type.startswith("export:")]
        second = exports[2]  # init, then the 1st and 2nd messages
        new = [Input("send", b"four"), Input("request", b"five")]
        straight = record(m, store, inputs=[Input("send", b"one"), Input("request", b"two"), *new])
    r = run_cli("fork", src.chain, "--at", str(second), "--db", str(db), "--send", "four", "--request", "five",
                "-q", "--json")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert out["ok"] and out["seq"] == second
    with Store(db, create=False) as store:
        assert events(store, out["chain"])[:second + 1] == events(store, src.chain)[:second + 1]
        after = events(store, out["chain"], second + 1)
        assert after == events(store, straight.chain, second + 1)
        types = {t for t, _ in after}
        assert any("wall-clock" in t for t in types) and any("get-random-bytes" in t for t in types)
        assert verify_chain(store, out["chain"]).ok
    again = run_cli("fork", src.chain, "--at", str(second), "--db", str(db), "--send", "four", "--request", "five",
                    "-q", "--json")
    assert orjson.loads(again.stdout)["head"] == out["head"]


def test_fork_with_a_diverging_build_reports_the_divergence_in_the_prefix(tmp_path: Path) -> None:
    """issue 13 item 2: --component of a build that behaves differently inside the prefix:
    exit 1, the divergence named, nothing run live."""
    m = load_manifest(wat_manifest(tmp_path, "counter"))
    with Store(tmp_path / "r.db") as store:
        src = record(m, store, inputs=sends(b"abc", b"de", b"f"))
    r = run_cli("fork", src.chain, "--at", "12", "--db", str(tmp_path / "r.db"),
                "--component", str(wat_path("counter_args")), "--send", "zz", "--json")
    assert r.returncode == 1
    out = orjson.loads(r.stdout)
    assert out["divergence"]["seq"] == 5 and out["divergence"]["kind"] == "arguments"
    assert out["outcome"] == "diverged" and not out["ok"]
    text = run_cli("fork", src.chain, "--at", "12", "--db", str(tmp_path / "r.db"),
                   "--component", str(wat_path("counter_args")), "--send", "zz")
    assert text.returncode == 1 and "diverged at event 5" in text.stdout


def test_fork_before_any_export_call_is_a_usage_error(tmp_path: Path) -> None:
    """issue 13 item 2: bad input is exit 2, one line, and no chain is written."""
    m = load_manifest(wat_manifest(tmp_path, "counter"))
    db = tmp_path / "r.db"
    with Store(db) as store:
        src = record(m, store, inputs=sends(b"abc"))
        n = len(store.chains())
    r = run_cli("fork", src.chain, "--at", "0", "--db", str(db), "--send", "x")
    assert r.returncode == 2 and "no complete export call at or before seq 0" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    with Store(db, create=False) as store:
        assert len(store.chains()) == n


@pytest.mark.parametrize("name", ["counter_trap"])
def test_fork_after_the_run_ended_is_refused(tmp_path: Path, name: str) -> None:
    """issue 13 item 2: a fork point whose export trapped has no run to continue."""
    m = load_manifest(wat_manifest(tmp_path, name))
    db = tmp_path / "r.db"
    with Store(db) as store:
        src = record(m, store, inputs=sends(b"abc", b"de", b"f"))
        last = max(e.seq for e in store.events(src.chain) if e.type.startswith("export:"))
        n = len(store.chains())
    r = run_cli("fork", src.chain, "--at", str(last), "--db", str(db), "--send", "x")
    assert r.returncode == 2 and "did not return ok" in r.stderr
    with Store(db, create=False) as store:
        assert len(store.chains()) == n


def test_verify_checks_a_forks_prefix_against_its_source(tmp_path: Path) -> None:
    """issue 13 item 2: `theater verify` passes a fork whose prefix is its source's, and
    fails it `broken_link` at the first seq where the source no longer agrees; without
    the source in the database it passes with a note."""
    from tamper import flip_data_byte, set_chain

    m = load_manifest(wat_manifest(tmp_path, "counter"))
    db = tmp_path / "r.db"
    with Store(db) as store:
        src = record(m, store, inputs=sends(b"abc", b"de"))
        f = fork(store, src.chain, at=4, inputs=sends(b"q"))
    r = run_cli("verify", f.chain, "--db", str(db), "--json")
    assert r.returncode == 0, r.stdout
    with Store(db) as store:
        flip_data_byte(store, src.chain, 2)  # the source's random draw at seq 2, inside the prefix
    r = run_cli("verify", f.chain, "--db", str(db), "--json")
    assert r.returncode == 1
    problem = orjson.loads(r.stdout)["problem"]
    assert (problem["class"], problem["seq"]) == ("broken_link", 2) and src.chain in problem["message"]
    r = run_cli("verify", f.chain, "--db", str(db))
    assert r.returncode == 1 and "broken_link at seq 2" in r.stdout + r.stderr
    with Store(db) as store:
        set_chain(store, src.chain, id="0000000000000000")  # the source is gone (under another id)
    r = run_cli("verify", f.chain, "--db", str(db), "--json")
    out = orjson.loads(r.stdout)
    assert r.returncode == 0 and any("the link was not checked" in n for n in out["notes"])
