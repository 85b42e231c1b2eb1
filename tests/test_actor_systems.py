"""Runs of componentize-py actors (issue 19 item 9, and the "done when" of the issue):
a supervisor that spawns 3 workers and fans work out with send and request, a worker
that traps on a given message, a ping-pong pair over a channel. Built once per
machine and cached (fixtures/build.py); recorded once per module."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
from conftest import run_cli
from system_helpers import py_system_manifest

from theater.store import Store

pytestmark = pytest.mark.slow

INPUTS = ("--send", "work 3", "--send", "trap 1", "--send", "work 5")


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], Path]:
    folder = tmp_path_factory.mktemp("supervised")
    py_system_manifest(folder, "worker", seed=None)  # children's seeds derive from the run's
    m = py_system_manifest(folder, "supervisor")
    db = folder / "s.db"
    outs = []
    for _ in range(2):
        r = run_cli("record", str(m), "--db", str(db), "-q", *INPUTS, "--json")
        assert r.returncode == 0, r.stderr
        outs.append(orjson.loads(r.stdout))
    return db, outs, folder


def test_the_supervisor_records_a_run_of_4_chains_that_verify(supervised):
    """A supervisor and its 3 workers: 4 chains, each verifying, and `verify --run`
    passing; the trapping worker is reported to the supervisor's handle-child-error."""
    db, (out, _), _ = supervised
    assert [c["actor"] for c in out["chains"]] == ["supervisor", "worker", "worker", "worker"]
    assert [c["outcome"] for c in out["chains"]][2] == "trapped"
    r = run_cli("verify", "--db", str(db), "--run", out["run"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok run" in r.stdout and r.stdout.count("\nok ") + r.stdout.startswith("ok ") >= 4
    with Store(db) as s:
        last = [e for e in s.events(out["chain"]) if e.type.endswith("#handle-send")][-1]
        callbacks = [e for e in s.events(out["chain"]) if e.type.endswith("#handle-child-error")]
    state = orjson.loads(base64.b64decode(last.payload()["result"]["ok"][0]["some"].removeprefix("base64:")))
    done = state["done"]
    assert done[:4] == ["9", "16", "25", "25"] and done[4].startswith("error: ") and done[5] == "49"
    assert state["errors"] == [f"child {state['workers'][1]} failed"] and len(callbacks) == 1


def test_two_recordings_with_the_same_seed_give_identical_heads_for_every_actor(supervised):
    _, (a, b), _ = supervised
    assert a["run"] != b["run"]
    assert [c["head"] for c in a["chains"]] == [c["head"] for c in b["chains"]]


def test_one_worker_replayed_alone_verifies_and_the_run_replays(supervised):
    db, (out, _), _ = supervised
    worker = out["chains"][1]["chain"]
    r = run_cli("replay", worker, "--db", str(db), "--verify")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("replay", "--run", out["run"], "--db", str(db), "--verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 actors replayed, all verified" in r.stdout


def test_a_ping_pong_pair_over_a_channel(tmp_path):
    """Two pingpong actors bounce 10 pings over a channel, then one closes it."""
    py_system_manifest(tmp_path, "pingpong", "pong", seed=None)
    m = py_system_manifest(tmp_path, "pingpong", "ping")
    db = str(tmp_path / "p.db")
    r = run_cli("record", str(m), "--db", db, "-q", "--send", "start pong.toml", "--json")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    with Store(tmp_path / "p.db") as s:
        kinds = [[e.type.rpartition("#")[2] for e in s.events(c["chain"]) if e.type.startswith("export:")]
                 for c in out["chains"]]
    assert kinds[0].count("handle-channel-message") + kinds[1].count("handle-channel-message") == 10
    # the acceptor answers the open with ping 1 and, at ping 10 (even: its own), closes
    assert "handle-channel-open" in kinds[1] and "handle-channel-close" in kinds[0]
    assert run_cli("verify", "--db", db, "--run", "last").returncode == 0
