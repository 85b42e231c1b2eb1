"""Actors as other toolchains build them (issue 14): resource aliases, the WASI
interfaces preview-1 adapters need, the filesystem handler, exports beyond
theater:simple, and componentize-js / Rust fixtures."""

from __future__ import annotations

from pathlib import Path

import wasmtime
import wasmtime.component as wc
from actors import wat_manifest
from conftest import run_cli

from theater.engine import describe_wasmtime_error, engine
from theater.wittypes import component_imports


def _record(tmp_path: Path, name: str, *args: str, handlers: str | None = None, extra: str = ""):
    db = tmp_path / "t.db"
    m = wat_manifest(tmp_path, name, handlers=handlers, extra=extra)
    res = run_cli("record", str(m), "--db", str(db), "--json", *args)
    return db, res


def test_resource_alias_is_one_type_and_instantiates(tmp_path: Path) -> None:
    """issue 14 item 1: `type headers = fields` (as in wasi:http/types) is one resource
    type with three names; theater gives it one host type, so the component
    instantiates, records and replays."""
    from fixtures.build import wat_path

    sigs = component_imports(engine(), wc.Component(engine(), wat_path("wasi/resource_alias").read_text()))
    keys = sigs["wasi:http/types@0.2.10"].resource_keys
    assert keys["headers"] == keys["fields"] == keys["trailers"] == "wasi:http/types@0.2.10#fields"
    assert keys["output-stream"] == "wasi:io/streams@0.2.3#output-stream"  # used from another interface
    trailers_of = sigs["wasi:http/types@0.2.10"].funcs["trailers-of"]
    assert trailers_of.params[0][1].key == "wasi:http/types@0.2.10#fields"

    db, res = _record(tmp_path, "wasi/resource_alias")
    assert res.returncode == 0, res.stderr
    rep = run_cli("replay", "last", "--db", str(db), "--verify")
    assert rep.returncode == 0, rep.stderr
    assert "verified" in rep.stdout


def test_instantiation_error_keeps_wasmtime_cause(tmp_path: Path) -> None:
    """issue 14 item 1: a failed instantiation is reported with wasmtime's cause lines
    ("mismatched resource types"), condensed to one line."""
    from fixtures.build import wat_path

    comp = wc.Component(engine(), wat_path("wasi/resource_alias").read_text())
    linker = wc.Linker(engine())
    with linker.root() as root, root.add_instance("wasi:http/types@0.2.10") as inst:
        inst.add_resource("fields", wc.ResourceType.host(1), lambda store, rep: None)
        inst.add_resource("headers", wc.ResourceType.host(2), lambda store, rep: None)
    linker.define_unknown_imports_as_traps(comp)
    try:
        linker.instantiate(wasmtime.Store(engine()), comp)
    except wasmtime.WasmtimeError as e:
        msg = describe_wasmtime_error(e)
    else:
        raise AssertionError("two host types for one resource type must not instantiate")
    assert "\n" not in msg
    assert "matching implementation was not found" in msg
    assert "`headers` has the wrong type: mismatched resource types" in msg


TIMING = """
[[handler]]
type = "runtime"

[[handler]]
type = "timing"
start_time = 1767225600
"""
LIVE_TIMING = """
[[handler]]
type = "runtime"

[[handler]]
type = "timing"
"""


def _state(db: Path) -> bytes:
    """The state init returned, from the recorded export event."""
    import base64

    from theater.store import Store

    with Store(db) as s:
        info = s.resolve("last")
        ev = next(e for e in s.events(info.id, 0, None) if e.type == "export:theater:simple/actor#init")
    enc = ev.payload()["result"]["ok"][0]["some"]
    return base64.b64decode(enc.removeprefix("base64:"))


def _types(db: Path) -> list[str]:
    from theater.store import Store

    with Store(db) as s:
        info = s.resolve("last")
        return [e.type for e in s.events(info.id, 0, None)]


def _replays(db: Path) -> None:
    rep = run_cli("replay", "last", "--db", str(db), "--verify")
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert "verified" in rep.stdout


def test_stdin_is_empty_unless_given(tmp_path: Path) -> None:
    """issue 14 item 2: wasi:cli/stdin is an empty stream by default (the first read
    says `closed`, the adapter's start-up no longer traps), and the bytes of
    `--stdin FILE` otherwise, every read recorded with its bytes; replay reads nothing."""
    db, res = _record(tmp_path, "wasi/adapter", "--init-param", "s", handlers=TIMING)
    assert res.returncode == 0, res.stdout + res.stderr
    assert _state(db) == b""
    feed = tmp_path / "in.txt"
    feed.write_bytes(b"hello, stdin")
    db2 = tmp_path / "t2.db"
    m = wat_manifest(tmp_path, "wasi/adapter", handlers=TIMING)
    res = run_cli("record", str(m), "--db", str(db2), "--init-param", "s", "--stdin", str(feed))
    assert res.returncode == 0, res.stderr
    assert _state(db2) == b"hello, stdin"
    reads = [t for t in _types(db2) if t.endswith("input-stream.blocking-read")]
    assert len(reads) == 4  # 4 + 4 + 4 bytes, then closed
    feed.unlink()  # replay never reads the file
    _replays(db2)
    bad = run_cli("record", str(m), "--db", str(db2), "--stdin", str(tmp_path / "missing"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--stdin" in bad.stderr


def test_no_terminal(tmp_path: Path) -> None:
    """issue 14 item 2: wasi:cli/terminal-stdout says there is no terminal (none)."""
    db, res = _record(tmp_path, "wasi/adapter", "--init-param", "t", handlers=TIMING)
    assert res.returncode == 0, res.stderr
    assert _state(db) == b"\x00"
    _replays(db)


def test_virtual_clock_timers_advance_virtual_time(tmp_path: Path) -> None:
    """issue 14 item 2: with the virtual clock, waiting for a 5 s timer (poll, or
    pollable.block) moves virtual time 5 s forward at once: the run takes no real
    time, two recordings have the same head, and the replay verifies."""
    import time

    heads = []
    for op in ("p", "b", "p"):
        t0 = time.monotonic()
        db, res = _record(tmp_path, "wasi/adapter", "--init-param", op, handlers=TIMING)
        assert time.monotonic() - t0 < 5
        assert res.returncode == 0, res.stderr
        state = _state(db)
        elapsed = int.from_bytes(state[:8], "little")
        assert 5_000_000_000 <= elapsed < 5_010_000_000  # the timer, plus a tick per clock read
        second = int.from_bytes(state[8:], "little")
        assert second == (1 if op == "p" else 0)  # poll: one ready index; block: not ready before
        _replays(db)
        import orjson

        heads.append((op, orjson.loads(res.stdout)["head"]))
        (tmp_path / "t.db").unlink()
    assert heads[0][1] == heads[2][1] != heads[1][1]


def test_live_clock_waits_are_real_and_recorded(tmp_path: Path) -> None:
    """issue 14 item 2: with the live clock a timer is a real wait; the replay
    returns the recorded results without waiting."""
    import time

    from fixtures.build import wat_path

    # a 5 s timer is too long for a test: the same fixture with a 50 ms one
    short = tmp_path / "short.wat"
    short.write_text(wat_path("wasi/adapter").read_text().replace("5000000000", "50000000"))
    m = wat_manifest(tmp_path, "wasi/adapter", handlers=LIVE_TIMING)
    m.write_text(m.read_text().replace(str(wat_path("wasi/adapter")), str(short)))
    db = tmp_path / "live.db"
    t0 = time.monotonic()
    res = run_cli("record", str(m), "--db", str(db), "--init-param", "p")
    took = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert int.from_bytes(_state(db)[:8], "little") >= 50_000_000
    assert took >= 0.05
    assert any(t.endswith("wasi:io/poll@0.2.3#poll") for t in _types(db))
    _replays(db)


def test_exit_ends_the_run(tmp_path: Path) -> None:
    """issue 14 item 2: wasi:cli/exit is recorded and ends the run, as a process
    ends: exit(ok) stops it (exit 0), exit(err) is an error (exit 1); both replay."""
    import orjson

    db, res = _record(tmp_path, "wasi/adapter", "--init-param", "e", handlers=TIMING)
    assert res.returncode == 0, res.stderr
    assert orjson.loads(res.stdout)["outcome"] == "stopped"
    types = _types(db)
    assert types[-3:] == ["host:wasi:cli/exit@0.2.3#exit", "export:theater:simple/actor#init", "end"]
    _replays(db)
    (tmp_path / "t.db").unlink()
    db, res = _record(tmp_path, "wasi/adapter", "--init-param", "f", handlers=TIMING)
    assert res.returncode == 1
    out = orjson.loads(res.stdout)
    assert out["outcome"] == "error" and out["error"] == "the actor exited with an error status"
    _replays(db)


def _fs_handlers(root: str) -> str:
    return TIMING + f'\n[[handler]]\ntype = "filesystem"\npath = "{root}"\n'


def test_filesystem_handler_reads_and_writes_under_its_root(tmp_path: Path) -> None:
    """issue 14 item 3: theater:simple/filesystem writes and reads under the
    handler's `path` (relative to the manifest); the bytes read and written are in
    the chain, and the replay (root deleted) never touches the disk."""
    import shutil

    import orjson

    root = tmp_path / "files"
    root.mkdir()
    (root / "given.txt").write_bytes(b"from the host")
    db, res = _record(tmp_path, "wasi/files", "--init-param", "out.txt", "--send", "given.txt",
                      handlers=_fs_handlers("files"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert (root / "out.txt").read_bytes() == b"written by the actor"
    assert _state(db) == b"written by the actor"
    from theater.store import Store

    with Store(db) as s:
        evs = list(s.events(s.resolve("last").id, 0, None))
    write = next(e for e in evs if e.type == "host:theater:simple/filesystem#write-file")
    assert orjson.loads(write.data)["args"] == {"path": "out.txt", "content": "written by the actor"}
    reads = [orjson.loads(e.data) for e in evs if e.type == "host:theater:simple/filesystem#read-file"]
    assert [r["result"] for r in reads] == [{"ok": "base64:d3JpdHRlbiBieSB0aGUgYWN0b3I="},
                                            {"ok": "base64:ZnJvbSB0aGUgaG9zdA=="}]
    shutil.rmtree(root)
    _replays(db)


def test_filesystem_handler_refuses_paths_out_of_its_root(tmp_path: Path) -> None:
    """issue 14 item 3: `..`, an absolute path and a symbolic link pointing out of the
    root are refused (the refusal is the recorded err), and nothing is written."""
    import os

    import orjson

    root = tmp_path / "files"
    root.mkdir()
    os.symlink(tmp_path, root / "link")
    for i, path in enumerate(["../escape.txt", str(tmp_path / "escape.txt"), "link/escape.txt", "a/../../x"]):
        db = tmp_path / f"t{i}.db"
        m = wat_manifest(tmp_path, "wasi/files", handlers=_fs_handlers("files"))
        res = run_cli("record", str(m), "--db", str(db), "--json", "--init-param", path)
        assert res.returncode == 1, res.stdout
        assert orjson.loads(res.stdout)["error"] == f"{path}: outside the filesystem root"
        assert not (tmp_path / "escape.txt").exists()
    m = wat_manifest(tmp_path, "wasi/files", handlers=_fs_handlers("missing"))
    bad = run_cli("record", str(m), "--db", str(tmp_path / "x.db"))
    assert bad.returncode == 2 and "is not a folder" in bad.stderr and bad.stderr.count("\n") == 1


COUNTERS = "example:counters/counters"


def test_call_any_export_and_actor_defined_resources(tmp_path: Path) -> None:
    """issue 14 item 4: `--call IFACE#FUNC ARGS-JSON` records any exported function
    (no init needed); a resource the actor defines crosses as a stable id
    (`{"resource": N}`), later calls name it so, a record result replays (the
    `cannot unpack non-iterable Record object` crash), and two recordings agree."""
    import orjson

    heads = []
    for n in range(2):
        db = tmp_path / f"c{n}.db"
        m = wat_manifest(tmp_path, "wasi/counters", handlers="")
        res = run_cli("record", str(m), "--db", str(db), "--json",
                      "--call", f"{COUNTERS}#[constructor]counter", "[5]",
                      "--call", f"{COUNTERS}#[constructor]counter", '{"start": 100}',
                      "--call", f"{COUNTERS}#[method]counter.add", '[{"resource": 1}, 7]',
                      "--call", f"{COUNTERS}#describe", '[{"resource": 1}]',
                      "--call", f"{COUNTERS}#total", "[]")
        assert res.returncode == 0, res.stdout + res.stderr
        heads.append(orjson.loads(res.stdout)["head"])
        from theater.store import Store

        with Store(db) as s:
            evs = [orjson.loads(e.data) for e in s.events(s.resolve("last").id, 0, None)]
        assert [e.get("result") for e in evs[:5]] == [
            {"resource": 0}, {"resource": 1}, 107, {"label": "counter", "value": 107}, 112]
        _replays(db)
    assert heads[0] == heads[1]


def test_manifest_declared_calls(tmp_path: Path) -> None:
    """issue 14 item 4: a manifest's [[call]] tables are made in order, before the
    command line's, with JSON text or TOML arrays as arguments."""
    import orjson

    extra = (f'[[call]]\nexport = "{COUNTERS}#[constructor]counter"\nargs = "[40]"\n'
             f'[[call]]\nexport = "{COUNTERS}#[method]counter.add"\nargs = [{{resource = 0}}, 2]\n')
    m = wat_manifest(tmp_path, "wasi/counters", handlers="", extra=extra)
    db = tmp_path / "m.db"
    res = run_cli("record", str(m), "--db", str(db), "--json", "--call", f"{COUNTERS}#total", "[]")
    assert res.returncode == 0, res.stderr
    from theater.store import Store

    with Store(db) as s:
        evs = [(e.type, orjson.loads(e.data)) for e in s.events(s.resolve("last").id, 0, None)]
    assert [t.rpartition("#")[2] for t, _ in evs] == ["[constructor]counter", "[method]counter.add", "total", "end"]
    assert evs[2][1]["result"] == 42
    _replays(db)


def test_bad_calls_are_one_line_usage_errors(tmp_path: Path) -> None:
    """issue 14 item 4: a call naming no export, arguments that are not JSON, of the
    wrong names or types, or a malformed [[call]]: exit 2, one line, no chain."""
    from theater.store import Store

    m = wat_manifest(tmp_path, "wasi/counters", handlers="")
    db = tmp_path / "bad.db"
    cases = [
        (("--call", f"{COUNTERS}#nothing", "[]"), "does not export example:counters/counters#nothing"),
        (("--call", "nointerface", "[]"), "expected INTERFACE#FUNCTION"),
        (("--call", f"{COUNTERS}#total", "[1"), "the arguments are not JSON"),
        (("--call", f"{COUNTERS}#[constructor]counter", "[1, 2]"), "takes 1 argument(s) (start), got 2"),
        (("--call", f"{COUNTERS}#[constructor]counter", '{"begin": 1}'), "takes the arguments ['start']"),
        (("--call", f"{COUNTERS}#[constructor]counter", '["five"]'), "the arguments do not fit"),
        (("--call", f"{COUNTERS}#describe", "[7]"), 'expected {"resource": N}'),
    ]
    for args, needle in cases:
        res = run_cli("record", str(m), "--db", str(db), *args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert needle in res.stderr and res.stderr.count("\n") == 1, res.stderr
    m2 = wat_manifest(tmp_path, "wasi/counters", handlers="", extra='[[call]]\nargs = "[]"\n')
    res = run_cli("record", str(m2), "--db", str(db))
    assert res.returncode == 2 and "call[0]: `export`" in res.stderr
    if db.exists():
        with Store(db) as s:
            assert s.chains() == []


def test_apply_result_never_raises_on_other_shapes() -> None:
    """issue 14 item 4: the calling convention reads only theater:simple results;
    anything else (a record, a replaced build's other shape) is ok, never a TypeError."""
    from wasmtime.component import Record

    from theater.convention import apply_result

    rec = Record()
    assert apply_result("describe", rec, COUNTERS) == (True, None, rec, None)
    assert apply_result("init", rec, "theater:simple/actor") == (True, None, rec, None)
    assert apply_result("handle-request", (b"s", 3), "theater:simple/message-server-client")[0] is True
    assert apply_result("init", (b"s",), "theater:simple/actor@0.1.0") == (True, b"s", None, None)
    assert apply_result("init", "boom", "theater:simple/actor") == (False, None, None, "boom")


def test_a_fork_resumes_the_virtual_clock_past_recorded_timers(tmp_path: Path) -> None:
    """issue 13 item 2 with issue 14 item 2: `theater fork` moves the live timing
    handler to where the recording was; with timers that means replaying each recorded
    read, subscribe and wait, so the next live read of the monotonic clock is the
    recorded last one plus a tick (a read counter alone would be 5 s behind), and the
    next pollable gets the next rep."""
    from replay.fork import handlers_from_header, resume_handlers
    from theater.handlers.timing import TimingHandler
    from theater.store import Store

    for op in ("p", "b"):
        db, res = _record(tmp_path, "wasi/adapter", "--init-param", op, handlers=TIMING)
        assert res.returncode == 0, res.stderr
        store = Store(db)
        info = store.resolve("last")
        reads = [ev.payload() for ev in store.events(info.id)
                 if ev.type.startswith("host:wasi:clocks/monotonic-clock") and ev.type.endswith("#now")]
        subscribed = [ev for ev in store.events(info.id) if "#subscribe-" in ev.type]
        assert reads and subscribed  # the fixture reads the clock and waits on a timer
        handlers = handlers_from_header(info, info.header_json())
        resume_handlers(store, info.id, info.length, handlers)
        timing = next(h for h in handlers if isinstance(h, TimingHandler))
        live_now = timing.functions()["wasi:clocks/monotonic-clock"]["now"]
        assert live_now(None) == reads[-1]["result"] + timing.tick
        pollable = timing.timers.subscribe_at(0)
        assert pollable.rep == 2 + len(subscribed)  # rep 1 is the always-ready pollable
        store.close()
        db.unlink()


def test_ctrl_c_ends_a_live_wait_at_once(tmp_path: Path) -> None:
    """A live timer wait wakes on Ctrl-C: `theater record` of an actor waiting on a 5 s
    live timer exits 130 within a fraction of it, one line on stderr, the chain kept as
    incomplete with nothing recorded for the interrupted wait (it was a plain sleep
    that Ctrl-C did not cut before)."""
    import signal
    import subprocess
    import sys
    import time

    from theater.errors import StoreError
    from theater.store import Store

    m = wat_manifest(tmp_path, "wasi/adapter", handlers=LIVE_TIMING)
    db = tmp_path / "live.db"
    proc = subprocess.Popen([sys.executable, "-m", "theater", "record", str(m), "--db", str(db),
                             "--init-param", "p"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    try:
        watch = None
        while proc.poll() is None and time.monotonic() < deadline and not (watch and watch.chains()):
            time.sleep(0.01)  # a poll interval, not a wait for something
            if watch is None and db.exists():
                try:
                    watch = Store(db, create=False)
                except StoreError:  # created, its schema not yet committed
                    pass
        assert watch is not None
        assert proc.poll() is None, "the recording ended before it could be signalled"
        # the actor reaches its 5 s wait within milliseconds of its chain; give it that
        # moment, so the signal lands inside the wait (5 s long) and not before it
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert took < 2.5, f"Ctrl-C took {took:.1f} s to end a live wait"
    assert err.count("\n") == 1 and "Traceback" not in err
    (chain,) = watch.chains()
    assert watch.chain(chain.id).status == "incomplete"
    types = [e.type for e in watch.events(chain.id)]
    assert not any(t.endswith("#poll") for t in types)


def test_timing_sleep_is_bounded_virtual_and_replayed(tmp_path: Path) -> None:
    """theater:simple/timing#sleep (upstream's signature): with the virtual clock a 5 s
    sleep moves time 5 s at once; max_sleep_duration / min_sleep_duration refuse a
    sleep outside them with an err result, recorded, and no wait; every run replays."""
    import time

    import orjson

    start = 1767225600
    db, res = _record(tmp_path, "timing/sleeper", "--init-param", "5000", handlers=TIMING)
    assert res.returncode == 0, res.stderr
    # now() after the sleep: the start, the 5 s slept, one tick (1 ms) for the read
    assert int.from_bytes(_state(db), "little") == start * 1000 + 5000 + 1
    _replays(db)
    (tmp_path / "t.db").unlink()

    bounded = TIMING + "max_sleep_duration = 1000\nmin_sleep_duration = 10\n"
    for ms, words in (("5000", "longer than max_sleep_duration (1000 ms)"),
                      ("3", "shorter than min_sleep_duration (10 ms)")):
        t0 = time.monotonic()
        db, res = _record(tmp_path, "timing/sleeper", "--init-param", ms, handlers=bounded.replace(
            "start_time = 1767225600\n", ""))  # the live clock: a refused sleep must not wait
        assert time.monotonic() - t0 < 4
        assert res.returncode == 1, res.stderr
        out = orjson.loads(res.stdout)
        assert out["outcome"] == "error" and words in out["error"]
        assert "host:theater:simple/timing#sleep" in _types(db)
        _replays(db)
        (tmp_path / "t.db").unlink()


def test_timing_sleep_waits_live(tmp_path: Path) -> None:
    """Without start_time, sleep(60) is a real wait of 60 ms (the wall clock read after
    it is at least 60 ms past the start); the replay returns the recorded results."""
    import time

    before_ms = time.time_ns() // 1_000_000
    db, res = _record(tmp_path, "timing/sleeper", "--init-param", "60", handlers=LIVE_TIMING)
    assert res.returncode == 0, res.stderr
    assert int.from_bytes(_state(db), "little") >= before_ms + 60
    _replays(db)
    recorded = [t for t in _types(db) if "timing#" in t]
    assert recorded == ["host:theater:simple/timing#sleep", "host:theater:simple/timing#now"]


def test_a_call_naming_a_handle_not_yet_returned_ends_the_chain_cleanly(tmp_path: Path) -> None:
    """A `--call` whose handle the actor has not returned (known only during the run)
    is exit 2 with one line, and the chain ends there complete (outcome error, reason
    input), not left incomplete: it verifies and its replay verifies."""
    import orjson

    from theater.store import Store

    m = wat_manifest(tmp_path, "wasi/counters", handlers="")
    db = tmp_path / "h.db"
    res = run_cli("record", str(m), "--db", str(db),
                  "--call", f"{COUNTERS}#[constructor]counter", "[5]",
                  "--call", f"{COUNTERS}#describe", '[{"resource": 3}]')
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.count("\n") == 1 and "no resource 3 yet" in res.stderr and "ends there" in res.stderr
    with Store(db) as s:
        (info,) = s.chains()
        assert info.status == "complete"
        end = orjson.loads(s.last_event(info.id).data)
        assert end["outcome"] == "error" and end["reason"] == "input" and "no resource 3" in end["error"]
    assert run_cli("verify", info.id, "--db", str(db)).returncode == 0
    _replays(db)
