"""Recording real components on real wasmtime, through the library and the real CLI."""

import base64

import orjson
import pytest
from actors import wat_manifest
from conftest import run_cli

from theater import ChaCha20Rng
from theater.errors import CapabilityError, ComponentError, ManifestError
from theater.manifest import load_manifest
from theater.recorder import Input, record
from theater.store import Store
from verify.integrity import verify_chain


def rec(tmp_path, name, *, seed=42, sends=(), **kw):
    store = Store(tmp_path / "r.db")
    m = load_manifest(wat_manifest(tmp_path, name, seed=seed, **kw))
    r = record(m, store, inputs=[Input("send", s) for s in sends])
    return store, r


def test_counter_records_every_crossing_in_order(tmp_path):
    store, r = rec(tmp_path, "counter", sends=[b"abc", b"xy"])
    assert r.outcome == "completed" and r.state == (5).to_bytes(8, "little")
    types = [e.type for e in store.events(r.chain)]
    assert types == [
        "host:theater:simple/runtime#log",
        "export:theater:simple/actor#init",
        "host:wasi:random/random@0.2.3#get-random-bytes",
        "host:theater:simple/runtime#log",
        "export:theater:simple/message-server-client#handle-send",
        "host:wasi:random/random@0.2.3#get-random-bytes",
        "host:theater:simple/runtime#log",
        "export:theater:simple/message-server-client#handle-send",
        "end",
    ]
    init = store.event(r.chain, 1).payload()
    assert init == {"args": {"params": ["counter"], "state": None},
                    "result": {"ok": [{"some": "base64:" + base64.b64encode(bytes(8)).decode()}]}}
    assert verify_chain(store, r.chain).ok
    header = orjson.loads(store.chain(r.chain).header)
    assert header["seed"] == 42 and header["component_sha256"] == store.chain(r.chain).component_sha256
    assert store.get_component(header["component_sha256"]) is not None  # replayable from the file alone


def test_same_seed_same_head_different_seed_different_head(tmp_path):
    _, a = rec(tmp_path, "counter", seed=1, sends=[b"abc"])
    _, b = rec(tmp_path, "counter", seed=1, sends=[b"abc"])
    _, c = rec(tmp_path, "counter", seed=2, sends=[b"abc"])
    assert a.chain != b.chain and a.head == b.head
    assert c.head != a.head


def test_recorded_random_values_are_the_seeded_stream(tmp_path):
    store, r = rec(tmp_path, "counter", seed=12345, sends=[b"a", b"b", b"c"])
    rng = ChaCha20Rng.seed_from_u64(12345)
    n = 0
    for ev in store.events(r.chain):
        if ev.type.endswith("#get-random-bytes"):
            p = ev.payload()
            assert p["result"] == "base64:" + base64.b64encode(rng.fill_bytes(p["args"]["len"])).decode()
            n += 1
    assert n == 3


def test_random_loop_u64_values(tmp_path):
    store, r = rec(tmp_path, "random_loop", seed=42, extra="")
    # init's param is the actor name ("random_loop"): not a number, so 0 calls
    assert [e.type for e in store.events(r.chain)][-1] == "end"
    store2 = Store(tmp_path / "loop.db")
    m = load_manifest(wat_manifest(tmp_path, "random_loop", seed=42))
    r2 = record(m, store2, init_param="25")
    rng = ChaCha20Rng.seed_from_u64(42)
    vals = [e.payload()["result"] for e in store2.events(r2.chain) if e.type.endswith("get-random-u64")]
    assert vals == [rng.next_u64() for _ in range(25)]
    assert vals[0] == 9482535800248027256
    acc = sum(vals) % 2**64
    assert r2.state == acc.to_bytes(8, "little")


def test_runaway_loop_is_stopped_by_fuel_and_recorded(tmp_path):
    store, r = rec(tmp_path, "spin", extra="[limits]\nfuel = 2000000\n")
    assert r.outcome == "trapped" and "fuel" in r.error
    last_two = list(store.events(r.chain))[-2:]
    assert last_two[0].type == "export:theater:simple/actor#init" and "fuel" in last_two[0].payload()["trap"]
    assert last_two[1].type == "end" and last_two[1].payload()["outcome"] == "trapped"
    assert verify_chain(store, r.chain).ok


def test_trap_is_recorded_and_ends_the_chain(tmp_path):
    store, r = rec(tmp_path, "counter_trap", sends=[b"a", b"b"])
    assert r.outcome == "trapped" and "unreachable" in r.error
    assert store.last_event(r.chain).payload() == {"outcome": "trapped", "error": r.error}


def test_actor_err_is_recorded(tmp_path):
    store, r = rec(tmp_path, "counter_err", sends=[b"a", b"b"])
    assert r.outcome == "error" and r.error == "boom"


def test_random_request_above_max_bytes_is_a_recorded_refusal(tmp_path):
    handlers = '[[handler]]\ntype = "runtime"\n\n[[handler]]\ntype = "random"\nseed = {seed}\nmax_bytes = 2\n'
    store, r = rec(tmp_path, "counter", sends=[b"a"], handlers=handlers)
    assert r.outcome == "trapped" and "max_bytes" in r.error
    ev = [e for e in store.events(r.chain) if e.type.endswith("get-random-bytes")][0]
    assert ev.payload() == {"args": {"len": 4}, "trap": "requested 4 random bytes, more than max_bytes = 2"}


def test_ungranted_import_is_refused_before_running(tmp_path):
    with pytest.raises(CapabilityError, match="theater:simple/supervisor"):
        rec(tmp_path, "needs_fs")


def test_ungranted_wasi_import_traps_naming_the_capability(tmp_path):
    """Toolchains declare most of WASI: an ungranted WASI call is a recorded trap."""
    store, r = rec(tmp_path, "counter", sends=[b"a"], handlers='[[handler]]\ntype = "runtime"\n')
    assert r.outcome == "trapped"
    assert "capability not granted" in r.error and 'type = "random"' in r.error
    ev = [e for e in store.events(r.chain) if e.type.endswith("get-random-bytes")][0]
    assert "capability not granted" in ev.payload()["trap"]


def test_component_errors(tmp_path):
    with pytest.raises(ComponentError, match="does not export theater:simple/actor#init"):
        rec(tmp_path, "no_init", handlers="")
    assert Store(tmp_path / "r.db").chains() == []  # nothing stored for an unusable actor
    bad = tmp_path / "core.wasm"
    bad.write_bytes(b"\0asm\x01\x00\x00\x00")
    m = tmp_path / "m.toml"
    m.write_text(f'name = "x"\ncomponent = "{bad}"\n')
    with pytest.raises(ComponentError, match="core WebAssembly module"):
        record(load_manifest(m), Store(tmp_path / "x.db"))
    (tmp_path / "text.wasm").write_text("hello")
    m.write_text('name = "x"\ncomponent = "text.wasm"\n')
    with pytest.raises(ComponentError, match="not a WebAssembly component"):
        record(load_manifest(m), Store(tmp_path / "x.db"))


@pytest.mark.parametrize("body,needle", [
    ('name = "x"\ncomponent = 3\n', "`component` must be a path"),
    ('name = \n', "not valid TOML"),
    ('version = "1"\ncomponent = "a.wasm"\n', "missing required key `name`"),
    ('name = "x"\ncomponent = "a.wasm"\n[[handler]]\ntype = "nope"\n', "'nope' is unknown"),
    ('name = "x"\ncomponent = "a.wasm"\n[[handler]]\ntype = "random"\nseed = "7"\n', "`seed`: must be int"),
    ('name = "x"\ncomponent = "a.wasm"\n[[handler]]\ntype = "random"\nsed = 7\n', "unknown setting"),
])
def test_manifest_errors_name_file_and_key(tmp_path, body, needle):
    from theater.handlers import build_handlers

    p = tmp_path / "bad.toml"
    p.write_text(body)
    with pytest.raises(ManifestError) as e:
        build_handlers(load_manifest(p))
    assert needle in str(e.value) and str(p) in str(e.value)


def test_cli_record_json_and_exit_codes(tmp_path):
    db = tmp_path / "cli.db"
    m = wat_manifest(tmp_path, "counter")
    r = run_cli("record", str(m), "--db", str(db), "--send", "abc", "--send", "de", "--json")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert out["events"] == 9 and len(out["head"]) == 64 and out["outcome"] == "completed"
    assert "[log] init" in r.stderr
    r = run_cli("record", str(wat_manifest(tmp_path, "needs_fs")), "--db", str(db))
    assert r.returncode == 2 and "theater:simple/supervisor" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = run_cli("record", str(wat_manifest(tmp_path, "counter_trap")), "--db", str(db), "--send", "a", "--send", "b")
    assert r.returncode == 1 and "trapped" in r.stdout
    r = run_cli("chains", "--db", str(db), "--json")
    assert [c["status"] for c in orjson.loads(r.stdout)] == ["complete", "complete"]


def test_cli_inputs_file_keeps_order(tmp_path):
    db = tmp_path / "cli.db"
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"kind": "send", "text": "abcd"}\n{"kind": "send", "base64": "AAE="}\n')
    r = run_cli("record", str(wat_manifest(tmp_path, "counter")), "--db", str(db), "--send", "x",
                "--inputs", str(inputs), "--json")
    assert r.returncode == 0, r.stderr
    with Store(db) as s:
        sends = [e.payload()["args"]["params"][0] for e in s.events(orjson.loads(r.stdout)["chain"])
                 if e.type.endswith("handle-send")]
    assert sends == ["base64:eA==", "base64:YWJjZA==", "base64:AAE="]
    inputs.write_text("not json\n")
    r = run_cli("record", str(wat_manifest(tmp_path, "counter")), "--db", str(db), "--inputs", str(inputs))
    assert r.returncode == 2 and "in.jsonl:1" in r.stderr


def test_without_a_seed_one_is_drawn_and_recorded(tmp_path):
    handlers = '[[handler]]\ntype = "runtime"\n\n[[handler]]\ntype = "random"\n'
    store, r = rec(tmp_path, "counter", sends=[b"a", b"b"], handlers=handlers)
    seed = orjson.loads(store.chain(r.chain).header)["seed"]
    assert isinstance(seed, int) and 0 <= seed < 2**64
    rng = ChaCha20Rng.seed_from_u64(seed)
    got = [e.payload()["result"] for e in store.events(r.chain) if e.type.endswith("get-random-bytes")]
    assert got == ["base64:" + base64.b64encode(rng.fill_bytes(4)).decode() for _ in got]
    from replay.replayer import replay

    assert replay(store, r.chain).verified


def test_record_signs_checkpoints(tmp_path):
    db = tmp_path / "s.db"
    assert run_cli("keygen", "--out", str(tmp_path / "k")).returncode == 0
    m = wat_manifest(tmp_path, "counter")
    r = run_cli("record", str(m), "--db", str(db), "--send", "abc", "--send", "de", "--sign-key",
                str(tmp_path / "k.key"), "--checkpoint-every", "3", "--json")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    with Store(db) as s:
        rows = s.conn.execute("SELECT size, head FROM checkpoints ORDER BY id").fetchall()
        sizes = [row[0] for row in rows]
        assert sizes == [5, 8, 9]  # after the commits that crossed 3 and 6 events, and at the end
        for size, head in rows:
            assert s.event(out["chain"], size - 1).hash == bytes(head)
    r = run_cli("verify", "--db", str(db), "--key", str(tmp_path / "k.pub"), "--json")
    assert r.returncode == 0, r.stdout
    r = run_cli("record", str(m), "--db", str(db), "--checkpoint-every", "3")
    assert r.returncode == 2 and "--sign-key" in r.stderr


def test_upstream_handler_types_theater_lacks_load_with_a_warning(tmp_path):
    handlers = ('[[handler]]\ntype = "runtime"\n\n[[handler]]\ntype = "random"\nseed = {seed}\n\n'
                '[[handler]]\ntype = "process"\n\n[[handler]]\ntype = "store"\n')
    m = wat_manifest(tmp_path, "counter", handlers=handlers)
    r = run_cli("record", str(m), "--db", str(tmp_path / "w.db"), "--send", "a", "-q")
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("theater: warning:")]
    assert len(warnings) == 2 and "'process' is not supported by theater yet" in warnings[0]
    # granting nothing: an actor that imports the supervisor is still refused
    m = wat_manifest(tmp_path, "needs_fs", handlers=handlers)
    r = run_cli("record", str(m), "--db", str(tmp_path / "w.db"))
    assert r.returncode == 2 and "theater:simple/supervisor" in r.stderr


def test_message_server_and_supervisor_are_granted_now(tmp_path):
    """issue 19 item 1 (and 9): upstream manifests naming message-server or supervisor get
    them; needs_fs.wat's supervisor#list-children import is bound and runs."""
    handlers = ('[[handler]]\ntype = "runtime"\n\n[[handler]]\ntype = "message-server"\n\n'
                '[[handler]]\ntype = "supervisor"\n')
    m = wat_manifest(tmp_path, "needs_fs", handlers=handlers)
    r = run_cli("record", str(m), "--db", str(tmp_path / "w.db"), "--json")
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr
    with Store(tmp_path / "w.db") as s:
        ev = [e for e in s.events(orjson.loads(r.stdout)["chain"]) if e.type.endswith("#list-children")]
    assert [e.payload()["result"] for e in ev] == [[]]
