"""Replaying actors of a run (issue 19 item 6): one actor alone from its own chain;
`replay --run RUN --verify` per actor; `--component NAME=PATH` replaces one actor's
build, which diverges at that actor and the right seq."""

from __future__ import annotations

import orjson
from conftest import run_cli
from system_helpers import stage_manifest

from fixtures.build import wat_path
from theater.manifest import load_manifest
from theater.store import Store
from theater.store.runs import runs
from theater.system import RunInput, record_run

INPUTS = ("Pworker.toml", "Sworker one", "+Sworker two\nRworker three", "Rworker Rroot loop",
          "Sworker Sroot back", "Sworker !")


def record(tmp_path):
    stage_manifest(tmp_path, "worker")
    m = load_manifest(stage_manifest(tmp_path, "root"))
    store = Store(tmp_path / "r.db")
    return store, record_run(m, store, inputs=[RunInput("send", i.encode()) for i in INPUTS])


def test_one_worker_replayed_alone_verifies(tmp_path):
    """issue 19 item 6: what it received are recorded inputs (with their cause), what its
    sends and requests returned are recorded results; no other actor runs."""
    from replay.replayer import replay

    store, r = record(tmp_path)
    worker = r.chains[1]
    result = replay(store, worker.chain)
    assert result.verified and result.head == worker.head
    assert len(runs(store)) == 1  # a replay is not a run
    out = run_cli("replay", worker.chain, "--db", str(tmp_path / "r.db"), "--verify")
    assert out.returncode == 0 and "verified" in out.stdout


def test_replay_run_verify_reports_per_actor(tmp_path):
    """issue 19 item 6: `replay --run last --verify`, text and --json."""
    store, r = record(tmp_path)
    db = str(tmp_path / "r.db")
    out = run_cli("replay", "--run", "last", "--db", db, "--verify")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"run {r.run}: 2 actors replayed, all verified" in out.stdout
    j = orjson.loads(run_cli("replay", "--run", r.run, "--db", db, "--json").stdout)
    assert j["verified"] and [a["actor"] for a in j["actors"]] == ["root", "worker"]
    assert [a["head"] for a in j["actors"]] == [c.head.hex() for c in r.chains]


def test_a_changed_worker_build_diverges_at_that_actor_and_the_right_seq(tmp_path):
    """issue 19 item 6 (done when): the worker's new build writes "OK:" where the
    recorded one wrote "ok:"; the root still verifies, the worker diverges at its
    first handle-send whose state depends on it."""
    store, r = record(tmp_path)
    v2 = tmp_path / "stage_v2.wat"
    v2.write_text(wat_path("stage").read_text().replace('(data (i32.const 64) "ok:")', '(data (i32.const 64) "OK:")'))
    db = str(tmp_path / "r.db")
    out = run_cli("replay", "--run", r.run, "--db", db, "--verify", "--component", f"worker={v2}", "--json")
    assert out.returncode == 1
    j = orjson.loads(out.stdout)
    root, worker = j["actors"]
    assert root["verified"] and not worker["verified"]
    # the first of the worker's export calls whose new state is "ok:..." (its send to the root)
    expected = next(e.seq for e in store.events(r.chains[1].chain)
                    if e.type.startswith("export:") and b'"some":"base64:b2s6' in e.data.split(b'"result"')[1])
    assert worker["divergence"]["seq"] == expected and worker["divergence"]["kind"] == "result"
    text = run_cli("replay", "--run", r.run, "--db", db, "--verify", "--component", f"worker={v2}")
    assert text.returncode == 1 and f"diverged at event {expected}" in text.stdout
    bad = run_cli("replay", "--run", r.run, "--db", db, "--component", f"nobody={v2}")
    assert bad.returncode == 2 and "no actor of that name" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli("replay", "--run", r.run, "--db", db, "--component", str(v2))
    assert bad.returncode == 2 and "NAME=PATH" in bad.stderr


def test_every_scenario_replays_actor_by_actor(tmp_path):
    """issue 19 item 6: ends the run decided (a stop by the parent, a restart, a run
    limit) are recorded inputs of a replay like the links; each actor verifies alone."""
    from test_verify_run import SCENARIOS
    from test_verify_run import record as record_scenario

    from replay.run import replay_run

    for n, (name, inputs) in enumerate(sorted(SCENARIOS.items())):
        store, r = record_scenario(tmp_path, inputs, db=f"s{n}.db")
        result = replay_run(store, r.run)
        assert result.verified, (name, [(a.actor, a.result.divergence and a.result.divergence.message)
                                        for a in result.diverged])
