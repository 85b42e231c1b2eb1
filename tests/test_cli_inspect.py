"""The real CLI, run as a user runs it, on real database files."""

import orjson
import pytest
from conftest import run_cli, write_chain
from tamper import set_event

from theater.store import Store


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "cli.db"
    with Store(path) as s:
        ids = [write_chain(s, 6), write_chain(s, 3, actor="other")]
    return path, ids


def test_chains_and_events_json(db):
    path, ids = db
    r = run_cli("chains", "--db", str(path), "--json")
    assert r.returncode == 0, r.stderr
    chains = orjson.loads(r.stdout)
    assert [c["id"] for c in chains] == ids and chains[0]["events"] == 7
    r = run_cli("events", ids[0][:6], "--db", str(path), "--json")
    evs = orjson.loads(r.stdout)
    assert [e["seq"] for e in evs] == list(range(7))
    assert evs[0]["type"].startswith("host:wasi:random") and len(evs[0]["hash"]) == 64
    assert evs[0]["data"] == {"args": {}, "result": 7}
    assert evs[1]["parent"] == evs[0]["hash"]


def test_default_db_from_env(db):
    path, ids = db
    r = run_cli("events", "last", env={"THEATER_DB": str(path)})
    assert r.returncode == 0 and r.stdout.count("\n") == 5  # a header row and 4 events


def test_show(db):
    path, ids = db
    r = run_cli("show", ids[0], "2", "--db", str(path))
    assert r.returncode == 0
    assert "export:theater:simple/actor#init" in r.stdout and "unauthenticated" in r.stdout
    r = run_cli("show", ids[0], "99", "--db", str(path))
    assert r.returncode == 2 and "has no event 99" in r.stderr


def test_verify_ok_and_tampered(db):
    path, ids = db
    r = run_cli("verify", "--all", "--db", str(path))
    assert r.returncode == 0 and r.stdout.count("ok ") == 2
    with Store(path) as s:
        set_event(s, ids[0], 3, data=b"{}")
    r = run_cli("verify", ids[0], "--db", str(path), "--json")
    assert r.returncode == 1
    report = orjson.loads(r.stdout)
    assert report["ok"] is False
    assert report["problem"]["class"] == "hash_mismatch" and report["problem"]["seq"] == 3
    r = run_cli("verify", "--all", "--db", str(path))
    assert r.returncode == 1 and "FAILED" in r.stderr and "seq 3" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (("verify", "nosuchchain"), "no chain matches"),
    (("events", "last", "--db", "/nonexistent/x.db"), "no database"),
])
def test_usage_errors_are_one_line(db, args, needle):
    path, _ = db
    if "--db" not in args:
        args = args + ("--db", str(path))
    r = run_cli(*args)
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_garbage_database(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 1000)
    r = run_cli("verify", "--all", "--db", str(bad))
    assert r.returncode == 2 and "cannot open" in r.stderr and "Traceback" not in r.stderr


def test_every_command_has_help():
    r = run_cli("--help")
    assert r.returncode == 0
    commands = [line.split()[0] for line in r.stdout.split("Commands:")[1].strip().splitlines()]
    assert {"chains", "events", "show", "verify"} <= set(commands)
    for c in commands:
        h = run_cli(c, "--help")
        assert h.returncode == 0 and len(h.stdout) > 80, c
    assert "THEATER_DB" in run_cli("chains", "--help").stdout
