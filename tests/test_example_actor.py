"""The componentize-py example actor end to end with the real CLI: random, log,
print, the clock and messages, state kept across calls."""

import orjson
import pytest
from actors import py_manifest
from conftest import run_cli

from fixtures.build import build_actor
from theater import ChaCha20Rng


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("example")
    return tmp, py_manifest(tmp, "example", seed=42)


def rec(tmp, manifest, db, *extra):
    r = run_cli("record", str(manifest), "--db", str(db), "--send", "hello", "--request", "status",
                "--send", "world", "--json", *extra)
    assert r.returncode == 0, r.stderr
    return orjson.loads(r.stdout), r.stderr


def test_record_is_reproducible_and_shows_output(example):
    tmp, manifest = example
    db = tmp / "a.db"
    a, stderr = rec(tmp, manifest, db)
    b, _ = rec(tmp, manifest, db)
    c, _ = rec(tmp, manifest, db, "--seed", "43")
    assert a["head"] == b["head"] and a["chain"] != b["chain"]
    assert c["head"] != a["head"]
    assert "[log] example: init example" in stderr
    assert "[stdout] example: initialized example" in stderr
    r = run_cli("verify", "--all", "--db", str(db))
    assert r.returncode == 0 and r.stdout.count("ok ") == 3


def test_random_values_match_the_seed(example):
    import base64

    tmp, manifest = example
    db = tmp / "rand.db"
    out, _ = rec(tmp, manifest, db)
    evs = orjson.loads(run_cli("events", out["chain"], "--db", str(db), "--json").stdout)
    rng = ChaCha20Rng.seed_from_u64(42)
    draws = [e for e in evs if e["type"].startswith("host:wasi:random/random@0.2.9#get-random-bytes")]
    assert len(draws) >= 10  # CPython's start-up draws ~2.5 KB before user code runs
    for e in draws:
        expect = rng.fill_bytes(e["data"]["args"]["len"])
        assert e["data"]["result"] == "base64:" + base64.b64encode(expect).decode()


def test_replay_verifies_and_v2_diverges_at_the_second_send(example):
    tmp, manifest = example
    db = tmp / "r.db"
    out, _ = rec(tmp, manifest, db)
    r = run_cli("replay", out["chain"], "--db", str(db), "--verify", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert orjson.loads(r.stdout)["head"] == out["head"]
    v2 = build_actor("example_v2")
    r = run_cli("replay", out["chain"], "--db", str(db), "--verify", "--component", str(v2))
    assert r.returncode == 1
    assert "argument len: expected 8, got 16" in r.stdout
    r = run_cli("replay", out["chain"], "--db", str(db), "--verify", "--json", "--component", str(v2))
    d = orjson.loads(r.stdout)["divergence"]
    evs = orjson.loads(run_cli("events", out["chain"], "--db", str(db), "--json").stdout)
    sends = [e["seq"] for e in evs if e["type"].endswith("#handle-send")]
    # the divergence is the first crossing of the second handle-send
    assert d["kind"] == "arguments" and sends[0] < d["seq"] < sends[1]
    assert evs[d["seq"]]["type"].endswith("#get-random-bytes")
