"""Trust in what theater compiles and how it stops (issue 11, items 1, 2, 8 and 12).

Everything runs for real: WAT fixtures compiled by wasmtime, SQLite files in
tmp_path, the CLI in a subprocess (signals and exit codes are the point), a compile
cache folder of the test's own (``THEATER_CACHE_DIR``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from actors import wat_manifest
from conftest import run_cli
from test_reliability import one_line_error

from fixtures.build import wat_path
from theater.chain import END_TYPE, make_header
from theater.engine import cache_dir, cache_key, load_component
from theater.errors import StoreError
from theater.manifest import load_manifest
from theater.recorder import Input, record
from theater.store import Store
from verify.integrity import verify_chain
from verify.results import FailureKind


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A compile cache of this test's own, for the library and for subprocesses."""
    folder = tmp_path / "cache" / "compiled"
    monkeypatch.setenv("THEATER_CACHE_DIR", str(folder))
    return folder


def _recorded(tmp_path: Path, name: str = "counter", *args: str) -> tuple[Path, str]:
    db = tmp_path / "t.db"
    r = run_cli("record", str(wat_manifest(tmp_path, name)), "--db", str(db), "-q", *args)
    assert r.returncode == 0, r.stderr
    with Store(db, create=False) as s:
        return db, s.resolve("last").id


def _chains(db: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(db) as c:
        return [(r[0], r[1]) for r in c.execute("SELECT id, replay_of FROM chains ORDER BY rowid")]


# -- item 1: stored component bytes are checked --------------------------------


@pytest.mark.parametrize("warm", [False, True], ids=["cold-cache", "warm-cache"])
def test_swapped_component_bytes_are_refused(warm: bool, cache: Path, tmp_path: Path) -> None:
    """issue 11 item 1: a database whose stored component bytes are another component's
    (under the recorded sha256) is refused before anything compiles them: exit 1, one
    line naming both hashes, no replay chain. Before, replay ran the swapped code and
    said DIVERGED (cold cache), or silently ran the cached original (warm cache)."""
    db, chain = _recorded(tmp_path, "counter", "--send", "abc")
    with Store(db, create=False) as s:
        sha = s.chain(chain).component_sha256
    assert sha is not None
    if warm:  # a faithful replay first: the recorded component is now in the cache
        r = run_cli("replay", chain, "--db", str(db), "--verify")
        assert r.returncode == 0, r.stdout + r.stderr
    evil = wat_path("counter_state").read_bytes()
    with sqlite3.connect(db) as c:
        c.execute("UPDATE components SET bytes = ? WHERE sha256 = ?", (evil, sha))
    before = _chains(db)
    r = run_cli("replay", chain, "--db", str(db), "--verify")
    line = one_line_error(r, 1, "the database's component bytes are not the component the chain recorded",
                          sha, hashlib.sha256(evil).hexdigest())
    assert "DIVERGED" not in r.stdout, line
    assert _chains(db) == before  # nothing written


def test_component_bytes_stored_as_text_are_refused_by_their_hash(tmp_path: Path) -> None:
    """issue 11 items 1 and 9: SQLite does not enforce column types, so a hand-edited
    file can hold the component's bytes as TEXT that is not UTF-8. It is refused like
    any other bytes that are not the recorded component (exit 1, both hashes), not
    reported as a database that cannot be read ("Could not decode to UTF-8")."""
    db, chain = _recorded(tmp_path, "counter", "--send", "abc")
    with Store(db, create=False) as s:
        sha = s.chain(chain).component_sha256
    with sqlite3.connect(db) as c:
        c.execute("UPDATE components SET bytes = CAST(x'0061736dff0d0001' AS TEXT) WHERE sha256 = ?", (sha,))
        raw = c.execute("SELECT typeof(bytes), CAST(bytes AS BLOB) FROM components WHERE sha256 = ?", (sha,)).fetchone()
    assert raw[0] == "text"
    before = _chains(db)
    r = run_cli("replay", chain, "--db", str(db), "--verify")
    one_line_error(r, 1, "the database's component bytes are not the component the chain recorded",
                   str(sha), hashlib.sha256(bytes(raw[1])).hexdigest())
    assert _chains(db) == before


# -- item 2: the compile cache is keyed by what was compiled ----------------------


def test_cache_key_is_the_hash_of_the_compiled_bytes_and_folder_is_private(cache: Path) -> None:
    """issue 11 item 2: the cache file is named by the SHA-256 of the bytes compiled
    (plus wasmtime version and engine tag), the folder is created 0700, and an
    artifact digest is kept beside each .cwasm."""
    data = wat_path("counter").read_bytes()
    load_component(data)
    key = cache_key(data)
    assert key.startswith(hashlib.sha256(data).hexdigest() + "-")
    assert cache_dir() == cache
    assert sorted(p.name for p in cache.iterdir()) == [f"{key}.cwasm", f"{key}.cwasm.sha256"]
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700


def test_an_artifact_theater_did_not_write_for_that_key_is_never_loaded(cache: Path) -> None:
    """issue 11 item 2: a .cwasm is native code; one planted under another component's
    key (with or without the digest file of the key it was written for) is not
    deserialized: the bytes asked for are compiled instead."""
    from theater.runtime import load_imports

    counter = wat_path("counter").read_bytes()
    spin = wat_path("spin").read_bytes()
    load_component(spin)  # a genuine artifact and digest, for spin's key
    k_counter, k_spin = cache_key(counter), cache_key(spin)
    for names in ([".cwasm"], [".cwasm", ".cwasm.sha256"]):
        for suffix in names:
            shutil.copyfile(cache / f"{k_spin}{suffix}", cache / f"{k_counter}{suffix}")
        comp = load_component(counter)
        # counter imports log and get-random-bytes; spin imports nothing
        assert load_imports(comp), f"spin's artifact was loaded for counter's bytes (planted {names})"
    assert not load_imports(load_component(spin))  # spin's own entry still loads


def _chain_with_header(db: Path, component_sha256: str, component: bytes) -> str:
    header = make_header(actor="evil", component_sha256=component_sha256, seed=1)
    with Store(db) as s:
        w = s.create_chain(header)
        w.finish("completed")
        s.conn.execute("INSERT INTO components (sha256, size, bytes) VALUES (?, ?, ?)",
                       (component_sha256, len(component), component))
        return w.chain_id


def test_header_sha_that_is_not_hex_is_malformed_and_never_a_path(cache: Path, tmp_path: Path) -> None:
    """issue 11 item 2: a header whose component_sha256 is "../../x" is `malformed` in
    verify, and replay refuses it (exit 2, one line) without writing or loading a
    .cwasm anywhere. Before, replay wrote the compiled code outside the cache."""
    db = tmp_path / "t.db"
    chain = _chain_with_header(db, "../../x", wat_path("no_init").read_bytes())
    before = _chains(db)
    r = run_cli("replay", chain, "--db", str(db))
    one_line_error(r, 2, "component_sha256", "not 64 lowercase hex")
    assert _chains(db) == before
    assert [p for p in tmp_path.rglob("*.cwasm")] == []
    with Store(db, create=False) as s:
        res = verify_chain(s, s.chain(chain))
    assert not res.ok and res.problem is not None and res.problem.kind == FailureKind.MALFORMED
    assert "component_sha256" in res.problem.message
    r = run_cli("verify", chain, "--db", str(db), "--json")
    assert r.returncode == 1 and orjson.loads(r.stdout)["problem"]["class"] == "malformed"


# -- item 8: SIGINT and SIGTERM stop an actor spinning in pure wasm ------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize(("signame", "code", "word"), [("SIGINT", 130, "interrupted"),
                                                         ("SIGTERM", 143, "terminated")])
def test_signal_stops_an_actor_spinning_in_wasm(signame: str, code: int, word: str, cache: Path,
                                                 tmp_path: Path) -> None:
    """issue 11 item 8: spin.wat loops in wasm without a host call; SIGINT / SIGTERM
    stop it within 1 s (epoch interruption), exit 130 / 143 with one line, the chain
    kept incomplete with no recorded trap. Before, nothing happened until the fuel ran
    out (about a minute at the default fuel)."""
    db = tmp_path / "spin.db"
    env = dict(os.environ)
    env.pop("THEATER_DB", None)
    proc = subprocess.Popen([sys.executable, "-m", "theater", "record", str(wat_manifest(tmp_path, "spin")),
                             "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    watch = None
    try:
        deadline = time.monotonic() + 60
        chain = None
        while chain is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                watch = watch or sqlite3.connect(db, timeout=30)
                row = watch.execute("SELECT id FROM chains WHERE writer_pid = ?", (proc.pid,)).fetchone()
                chain = None if row is None else row[0]
            except sqlite3.OperationalError:
                pass
            time.sleep(0.01)
        assert chain is not None, "no chain appeared"
        # the evidence that init is spinning in wasm: the process keeps burning CPU after
        # its chain row appeared (not a fixed time, which a loaded machine stretches)
        start_cpu = cpu_seconds(proc.pid)
        while cpu_seconds(proc.pid) - start_cpu < 0.3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)  # a poll interval
        assert cpu_seconds(proc.pid) - start_cpu >= 0.3, "the recorder is not running init's loop"
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(getattr(signal, signame))
        stopped = None
        while time.monotonic() - sent < 20:
            status = watch.execute("SELECT status FROM chains WHERE id = ?", (chain,)).fetchone()[0]
            if status != "recording":
                stopped = time.monotonic() - sent
                break
            time.sleep(0.005)
        _, err_b = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if watch is not None:
            watch.close()
    err = err_b.decode()
    assert stopped is not None and stopped < 1.0, f"stopped after {stopped} s"
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert lines == [f"theater: error: {word}: chain {chain} kept as incomplete, 0 events "
                     "(it verifies as a prefix)"], err
    with Store(db, create=False) as s:
        info = s.chain(chain)
        res = verify_chain(s, info)
        events = list(s.events(chain))
    assert info.status == "incomplete" and res.ok and not res.complete
    assert events == []  # neither the stop nor a trap is recorded


# -- item 12: errors keep their cause --------------------------------------------

BAD_UTF8_LOG = r"""
(component
  (import "theater:simple/runtime" (instance $runtime (export "log" (func (param "msg" string)))))
  (core module $libc
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024)))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "memory" (core memory $mem))
  (alias core export $libc "cabi_realloc" (core func $realloc))
  (core func $log (canon lower (func $runtime "log") (memory $mem)))
  (core module $m
    (import "libc" "memory" (memory 1))
    (import "host" "log" (func $log (param i32 i32)))
    (data (i32.const 64) "\ff\fe\fd")
    (func (export "init") (param i32 i32 i32 i32 i32) (result i32)
      (call $log (i32.const 64) (i32.const 3))
      (i32.store8 (i32.const 16) (i32.const 0))
      (i32.store8 (i32.const 20) (i32.const 0))
      (i32.const 16)))
  (core instance $i (instantiate $m (with "libc" (instance $libc))
                                    (with "host" (instance (export "log" (func $log))))))
  (alias core export $i "init" (core func $init_core))
  (func $init (param "state" (option (list u8))) (param "params" (tuple string))
    (result (result (tuple (option (list u8))) (error string)))
    (canon lift (core func $init_core) (memory $mem) (realloc $realloc)))
  (instance $actor (export "init" (func $init)))
  (export "theater:simple/actor" (instance $actor))
)
"""


def test_trap_from_invalid_utf8_says_so(cache: Path, tmp_path: Path) -> None:
    """issue 11 item 12: an actor that logs invalid UTF-8 traps, and both the CLI line
    and the recorded trap say why (wasmtime's "Caused by" line), with no backtrace
    address. Before, both said only "error while executing at wasm backtrace:"."""
    comp = tmp_path / "bad_utf8.wat"
    comp.write_text(BAD_UTF8_LOG)
    m = tmp_path / "bad.toml"
    m.write_text(f'name = "bad"\nversion = "0.1.0"\ncomponent = "{comp}"\n[[handler]]\ntype = "runtime"\n')
    db = tmp_path / "t.db"
    r = run_cli("record", str(m), "--db", str(db))
    line = one_line_error(r, 1, "the actor trapped", "invalid utf-8 sequence")
    assert "backtrace" not in line and "0x" not in line, line
    with Store(db, create=False) as s:
        chain = s.resolve("last").id
        end = s.last_event(chain)
        traps = [e.payload() for e in s.events(chain) if e.type.startswith("export:")]
    assert end is not None and end.type == END_TYPE
    assert traps and "invalid utf-8 sequence" in traps[0]["trap"] and "0x" not in traps[0]["trap"]
    r = run_cli("replay", chain, "--db", str(db), "--verify")
    assert r.returncode == 0, r.stdout + r.stderr  # and it is deterministic


def test_disk_full_says_disk_full(cache: Path, tmp_path: Path) -> None:
    """issue 11 item 12: when the database cannot grow (SQLITE_FULL, here from SQLite's
    own max_page_count on the writer's connection), the error says the disk is full.
    Before, the failed automatic rollback's "cannot rollback - no transaction is
    active" replaced it."""
    m = load_manifest(wat_manifest(tmp_path, "counter"))
    with Store(tmp_path / "full.db") as s:
        pages = s.conn.execute("PRAGMA page_count").fetchone()[0]
        s.conn.execute(f"PRAGMA max_page_count = {pages + 16}")
        with pytest.raises(StoreError) as e:  # 20 sends of 50 kB: SQLite rolls the batch back itself
            record(m, s, inputs=[Input("send", b"x" * 50_000)] * 20)
        assert not s.conn.in_transaction
    msg = str(e.value)
    assert "database or disk is full (the disk is full)" in msg and "cannot rollback" not in msg, msg
