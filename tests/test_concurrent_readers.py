"""Readers that work while another process records into the same database (issue 11 item 7).

`replay --verify`, `verify`, `export`, `diff` and the TUI data layer read recorded events
on a read connection of their own, in bounded pages each its own short read
transaction, and write (a replay chain, its outcome) on another. A second process
really records (the real CLI, a real SQLite file) the whole time they run.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson
import pytest
from actors import wat_manifest
from conftest import run_cli
from test_concurrency import inputs_file, no_lock_errors, start

from theater.errors import StoreError
from theater.store import Store
from tui.data import ChainSource

LOOP_N = "20000000"  # far more than the test waits for: it is killed at the end


class Recorder:
    """A `theater record` of a long random loop in another process, restarted whenever
    it finishes, so something is always appending while the readers run."""

    def __init__(self, tmp: Path, db: Path) -> None:
        self.args = ("record", str(wat_manifest(tmp, "random_loop", seed=9)), "--db", str(db), "-q", "--json",
                     "--init-param", LOOP_N)
        self.procs: list[subprocess.Popen[str]] = []
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[str]:
        p = start(*self.args)
        self.procs.append(p)
        return p

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            self.proc = self._start()
            return False
        return True

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            _, err = p.communicate(timeout=60)
            no_lock_errors(err)


def wait_for_events(db: Path, n: int) -> str:
    """The id of the chain being recorded, once it has at least ``n`` committed events."""
    deadline = time.time() + 60
    while time.time() < deadline:
        try:  # the recorder may not have created the file, or its tables, yet
            with Store(db, create=False) as s:
                live = [c for c in s.chains() if c.display_status == "recording" and c.length >= n]
        except StoreError:
            live = []
        if live:
            return live[-1].id
        time.sleep(0.05)
    raise AssertionError("the recorder never got going")


@pytest.mark.slow
def test_replay_verify_export_diff_while_another_process_records(tmp_path: Path) -> None:
    """issue 11 item 7: today replay fails within a second with "database is locked"
    (SQLITE_BUSY_SNAPSHOT) and leaves an incomplete replay chain."""
    db = tmp_path / "live.db"
    counter = wat_manifest(tmp_path, "counter", seed=3)
    r = run_cli("record", str(counter), "--db", str(db), "-q", "--json", "--inputs", str(inputs_file(tmp_path, 1500)))
    assert r.returncode == 0, r.stderr
    rec = orjson.loads(r.stdout)
    rec_id = rec["chain"]

    recorder = Recorder(tmp_path, db)
    try:
        live = wait_for_events(db, 2048)
        overlapped = 0
        for _ in range(1):
            r = run_cli("replay", rec_id, "--db", str(db), "--verify", "--json", "--save")
            assert r.returncode == 0, r.stdout + r.stderr
            no_lock_errors(r.stderr)
            out = orjson.loads(r.stdout)
            assert out["verified"] and out["outcome"] == "verified" and out["head"] == rec["head"]
            overlapped += recorder.alive()

            for chain in (rec_id, live):
                v = run_cli("verify", chain, "--db", str(db), "--json")
                assert v.returncode == 0, v.stdout + v.stderr
                no_lock_errors(v.stderr)
                assert orjson.loads(v.stdout)["ok"]
            overlapped += recorder.alive()

            # the live chain exported while it grows: the first line agrees with the events
            e = run_cli("export", live, "--db", str(db))
            assert e.returncode == 0, e.stderr
            lines = e.stdout.splitlines()
            meta, events = orjson.loads(lines[0]), [orjson.loads(x) for x in lines[1:]]
            assert meta["events"] == len(events) >= 2048
            assert meta["head"] == events[-1]["hash"] and [x["seq"] for x in events] == list(range(len(events)))
            overlapped += recorder.alive()

            # a chain still being recorded, diffed with itself: one consistent extent
            d = run_cli("diff", live, live, "--db", str(db), "--json")
            assert d.returncode == 0, d.stdout + d.stderr
            dj = orjson.loads(d.stdout)
            assert dj["identical"] and dj["length_a"] == dj["length_b"] == dj["common_prefix"], dj
            assert dj["same_head"]
            d = run_cli("diff", rec_id, out["chain"], "--db", str(db), "--json")
            assert d.returncode == 0 and orjson.loads(d.stdout)["identical"], d.stdout + d.stderr
            overlapped += recorder.alive()
        assert overlapped == 4, f"the recorder was running during only {overlapped} of 4 reads"
    finally:
        recorder.stop()

    with Store(db, create=False) as s:
        replays = [c for c in s.chains() if c.replay_of == rec_id]
        assert len(replays) == 1 and all(c.display_status == "complete" for c in replays)
        assert [x.outcome for x in s.replays(rec_id)] == ["verified"]


@pytest.mark.slow
def test_tui_chain_source_reads_a_chain_while_it_is_recorded(tmp_path: Path) -> None:
    """issue 11 item 7: the TUI data layer pages a chain another process is appending to;
    every page it reads is a consistent, linked prefix."""
    db = tmp_path / "live.db"
    recorder = Recorder(tmp_path, db)
    try:
        live = wait_for_events(db, 1024)
        with Store(db, create=False) as store:
            src = ChainSource(store, live, page_size=256)
            first = src.rows
            seen = 0
            deadline = time.time() + 30
            while time.time() < deadline:
                time.sleep(0.05)
                src.reload()
                for seq in range(seen, src.rows):
                    ev = src.event(seq)
                    assert ev is not None and ev.seq == seq
                    if seq:
                        prev = src.event(seq - 1)
                        assert prev is not None and ev.parent == prev.hash
                seen = src.rows
                if seen > first + 4096:
                    break
            assert seen > first, "the chain did not grow while it was read"
            assert recorder.alive(), "the recorder stopped before the reads ended"
            # the same connection still answers the rest of the store's reads
            assert store.count(live) >= seen and store.chain(live).id == live
    finally:
        recorder.stop()
