"""Several processes on one database: recorders, a verifier, a lock held elsewhere.

The Store opens SQLite in WAL mode with a busy timeout; writers take the write lock
with ``BEGIN IMMEDIATE`` (or a single autocommit statement), so a writer that finds
the lock taken waits for it instead of failing, and readers never wait for writers.
These tests run the real CLI in subprocesses against one real file.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from actors import wat_manifest
from conftest import run_cli

from theater.store import Store
from verify.integrity import verify_chain

LOOP_N = 250000  # long enough that the readers overlap the recorders (record got faster)
SENDS = 1500


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "theater", *args]


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.pop("THEATER_DB", None)
    e.update(extra)
    return e


def start(*args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(**extra))


def inputs_file(tmp: Path, n: int) -> Path:
    p = tmp / "inputs.jsonl"
    p.write_bytes(b"".join(orjson.dumps({"kind": "send", "text": f"m{i}"}) + b"\n" for i in range(n)))
    return p


def no_lock_errors(*texts: str) -> None:
    for t in texts:
        assert "locked" not in t and "busy" not in t.lower() and "Traceback" not in t, t


@pytest.mark.slow
def test_four_recorders_and_a_verifier_on_one_database(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    loop = ["record", str(wat_manifest(tmp_path, "random_loop", seed=5)), "--db", str(db), "-q", "--json",
            "--init-param", str(LOOP_N)]
    counter = ["record", str(wat_manifest(tmp_path, "counter", seed=5)), "--db", str(db), "-q", "--json",
               "--inputs", str(inputs_file(tmp_path, SENDS))]
    # the same recordings made alone first: the references, and chains that must stay untouched
    solo = {}
    for name, args in (("loop", loop), ("counter", counter)):
        r = run_cli(*args)
        assert r.returncode == 0, r.stderr
        solo[name] = orjson.loads(r.stdout)

    recorders = [(name, start(*args)) for name, args in
                 (("loop", loop), ("counter", counter), ("loop", loop), ("counter", counter))]
    runs: list[tuple[str, subprocess.CompletedProcess[str]]] = []

    def verifier() -> None:
        while True:
            busy = any(p.poll() is None for _, p in recorders)
            for cmd in (["verify", "--all", "--json"], ["chains", "--json"]):
                runs.append((cmd[0], subprocess.run(cli(*cmd, "--db", str(db)), capture_output=True, text=True,
                                                    env=env(), timeout=120)))
            if not busy:
                return

    t = threading.Thread(target=verifier)
    t.start()
    results = []
    for name, p in recorders:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        no_lock_errors(err)
        results.append((name, orjson.loads(out)))
    t.join(timeout=300)

    overlapped = 0
    for cmd, r in runs:
        assert r.returncode == 0, r.stdout + r.stderr
        no_lock_errors(r.stderr)
        out = orjson.loads(r.stdout)
        if cmd == "verify":
            assert out["ok"], out
            overlapped += any(not c["complete"] for c in out["chains"])
        else:
            overlapped += any(c["status"] == "recording" for c in out)
    assert overlapped >= 2, f"the reader ran only {overlapped} time(s) while chains were being recorded"

    # every chain complete and verified; concurrency changed nothing in any of them
    for name, out in results:
        assert out["outcome"] == "completed" and out["head"] == solo[name]["head"]
        assert out["events"] == solo[name]["events"]
    with Store(db, create=False) as s:
        infos = s.chains()
        assert len(infos) == 6 and all(i.display_status == "complete" for i in infos)
        for info in infos:
            res = verify_chain(s, info)
            assert res.ok and res.complete, res.summary()


@pytest.mark.parametrize("round_", range(5))
def test_four_recorders_create_a_new_database_at_once(tmp_path: Path, round_: int) -> None:
    """The first writers of a new file race to create the schema; none may fail."""
    db = tmp_path / "new" / "fresh.db"
    m = wat_manifest(tmp_path, "counter", seed=round_)
    procs = [start("record", str(m), "--db", str(db), "-q", "--json", "--send", "x") for _ in range(4)]
    heads = set()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        no_lock_errors(err)
        heads.add(orjson.loads(out)["head"])
    assert len(heads) == 1
    with Store(db, create=False) as s:
        assert len(s.chains()) == 4
        assert all(verify_chain(s, c).ok for c in s.chains())
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.conn.execute("PRAGMA user_version").fetchone()[0] == 2  # storage v2


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE chains SET actor = actor")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def hold_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), str(seconds)], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout is not None and p.stdout.readline() == "held\n"
    return p


def test_a_writer_waits_for_a_lock_held_by_another_process(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    m = wat_manifest(tmp_path, "counter")
    r = run_cli("record", str(m), "--db", str(db), "-q", "--json")
    assert r.returncode == 0
    first = orjson.loads(r.stdout)
    holder = hold_lock(db, 2.0)
    t0 = time.monotonic()
    reader = run_cli("verify", "--all", "--db", str(db))  # readers do not wait for the writer
    assert reader.returncode == 0 and time.monotonic() - t0 < 1.9, reader.stderr
    r = run_cli("record", str(m), "--db", str(db), "-q", "--json", "--send", "abc")
    waited = time.monotonic() - t0
    holder.communicate(timeout=30)
    assert r.returncode == 0, r.stderr
    no_lock_errors(r.stderr)
    assert waited >= 1.5, f"the record finished after {waited:.2f} s: it cannot have waited for the lock"
    with Store(db, create=False) as s:
        assert [verify_chain(s, c).ok for c in s.chains()] == [True, True]
        head = s.chain(first["chain"]).head
        assert head is not None and head.hex() == first["head"]


def test_a_lock_held_past_the_busy_timeout_is_one_clear_line(tmp_path: Path) -> None:
    """THEATER_BUSY_TIMEOUT shortens the wait (default 30 s) so this runs fast."""
    db = tmp_path / "l.db"
    m = wat_manifest(tmp_path, "counter")
    r = run_cli("record", str(m), "--db", str(db), "-q", "--json")
    assert r.returncode == 0
    first = orjson.loads(r.stdout)
    holder = hold_lock(db, 4.0)
    try:
        t0 = time.monotonic()
        r = run_cli("record", str(m), "--db", str(db), "-q", env={"THEATER_BUSY_TIMEOUT": "0.5"})
        elapsed = time.monotonic() - t0
    finally:
        holder.kill()  # the holder dies with its transaction open: SQLite rolls it back
        holder.communicate(timeout=30)
    assert r.returncode == 2 and elapsed < 3.5, (elapsed, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"theater: error: cannot write to {db}: database is locked")
    assert "another process held it for longer than 0.5 s" in lines[0]
    with Store(db, create=False) as s:  # nothing lost, nothing half-made
        assert [c.id for c in s.chains()] == [first["chain"]]
        assert verify_chain(s, first["chain"]).ok


def test_wal_and_busy_timeout_are_set(tmp_path: Path) -> None:
    with Store(tmp_path / "w.db") as s:
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    os.environ["THEATER_BUSY_TIMEOUT"] = "2.5"
    try:
        with Store(tmp_path / "w.db") as s:
            assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    finally:
        del os.environ["THEATER_BUSY_TIMEOUT"]
    other = sqlite3.connect(tmp_path / "w.db")
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    finally:
        other.close()
