"""Unit tests of the pieces under the recorder (issue 12 item 8): ``plan_imports``
(including its 0.2.x version matching), the manifest loader, the handlers, the
compiled-component cache and the boundary with a tiny in-memory writer. Each runs in
milliseconds, so a change to one of them is checked without running an actor."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from actors import wat_path
from conftest import MemoryWriter

from theater.boundary import Boundary, DivergenceSignal, HostRefusal
from theater.errors import CapabilityError, ManifestError
from theater.handlers import build_handlers, registry
from theater.manifest import DEFAULT_FUEL, load_manifest
from theater.runtime import plan_imports, versionless
from theater.wittypes import ROOT, FuncSig, InterfaceSig, ListT, Prim

U64 = FuncSig("get-random-u64", (), Prim("u64"))
BYTES = FuncSig("get-random-bytes", (("len", Prim("u64")),), ListT(Prim("u8")))


def iface(name: str, *funcs: FuncSig) -> InterfaceSig:
    return InterfaceSig(name, {f.name: f for f in funcs})


# ------------------------------------------------------------------ plan_imports


def test_versionless() -> None:
    assert versionless("wasi:random/random@0.2.9") == ("wasi:random/random", "0.2.9")
    assert versionless("theater:simple/runtime") == ("theater:simple/runtime", None)


def test_plan_binds_a_granted_interface_at_any_0_2_version() -> None:
    """A granted interface binds at the exact version the component imports, when it is 0.2.x."""
    live = {"wasi:random/random": {"get-random-u64": lambda store: 7}}
    for name in ("wasi:random/random@0.2.0", "wasi:random/random@0.2.3", "wasi:random/random@0.2.99"):
        plan = plan_imports({name: iface(name, U64, BYTES)}, ["random"], live)
        bound = {(b.interface, b.function): b for b in plan.bindings}
        assert set(bound) == {(name, "get-random-u64"), (name, "get-random-bytes")}
        assert all(b.handler == "random" for b in bound.values()) and plan.trapped == []
        assert bound[(name, "get-random-u64")].live(None) == 7
        with pytest.raises(HostRefusal, match="is not implemented by the random handler"):
            bound[(name, "get-random-bytes")].live(None, 4)  # granted, but no live fn given


def test_plan_refuses_a_granted_interface_at_another_major_version() -> None:
    """The 0.2.x branch: wasi:random/random@0.3.0 is refused, naming the versions theater has."""
    name = "wasi:random/random@0.3.0"
    with pytest.raises(CapabilityError) as e:
        plan_imports({name: iface(name, U64)}, ["random"])
    assert str(e.value) == ("the component imports wasi:random/random@0.3.0 (theater provides "
                            "wasi:random/random at 0.2.x only); the manifest does not grant it")


def test_plan_without_live_binds_refusals_for_replay() -> None:
    name = "wasi:random/random@0.2.3"
    plan = plan_imports({name: iface(name, U64)}, ["random"])
    (b,) = plan.bindings
    assert b.handler == "random"
    with pytest.raises(HostRefusal):
        b.live(None)


def test_plan_traps_an_ungranted_wasi_interface_and_names_the_handler() -> None:
    name = "wasi:random/random@0.2.3"
    plan = plan_imports({name: iface(name, U64)}, [])
    assert plan.trapped == [name]
    (b,) = plan.bindings
    assert b.handler is None
    with pytest.raises(HostRefusal, match=r'capability not granted: wasi:random/random@0\.2\.3#get-random-u64 '
                                          r'\(add a \[\[handler\]\] with type = "random" to the manifest\)'):
        b.live(None)


def test_plan_refuses_ungranted_non_wasi_imports_and_counts_the_others() -> None:
    imports = {
        "theater:simple/supervisor": iface("theater:simple/supervisor", FuncSig("spawn", (), None)),
        "acme:x/y": iface("acme:x/y", FuncSig("f", (), None)),
        ROOT: iface(ROOT, FuncSig("log", (("m", Prim("string")),), None)),
        "acme:x/types": iface("acme:x/types"),  # types only: grants nothing, refuses nothing
    }
    with pytest.raises(CapabilityError) as e:
        plan_imports(imports, ["random", "runtime"])
    msg = str(e.value)
    assert msg.startswith("the component imports root-level functions (log), which no handler provides")
    assert "(and 2 more: acme:x/y, theater:simple/supervisor)" in msg
    assert "acme:x/types" not in msg
    with pytest.raises(CapabilityError, match="theater does not support it yet"):
        store = {"theater:simple/store": iface("theater:simple/store", FuncSig("new", (), None))}
        plan_imports(store, [])
    # the supervisor is a handler now (issue 19): the hint names it
    with pytest.raises(CapabilityError, match='add a \\[\\[handler\\]\\] with type = "supervisor"'):
        plan_imports({k: v for k, v in imports.items() if k == "theater:simple/supervisor"}, [])


def test_plan_ignores_unknown_handler_types() -> None:
    assert plan_imports({}, ["no-such-handler"]).bindings == []


# ------------------------------------------------------------------ the manifest


def write(tmp: Path, text: str, name: str = "m.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_manifest_defaults_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    p = write(tmp_path, 'name = "a"\ncomponent = "sub/a.wasm"\ninit_state = "s.json"\n')
    m = load_manifest(p)
    assert (m.name, m.version, m.description, m.fuel) == ("a", "0.0.0", "", DEFAULT_FUEL)
    assert m.component == (tmp_path / "sub" / "a.wasm").resolve()
    assert m.init_state == (tmp_path / "s.json").resolve() and m.handlers == ()


def test_manifest_handler_settings_and_older_nested_config(tmp_path: Path) -> None:
    p = write(tmp_path, 'name = "a"\npackage = "a.wasm"\n'
                        '[[handler]]\ntype = "random"\nseed = 1\n'
                        '[[handler]]\ntype = "timing"\n[handler.config]\nmax_sleep_duration = 5\n')
    m = load_manifest(p)
    assert [(h.type, h.settings, h.index) for h in m.handlers] == [
        ("random", {"seed": 1}, 0), ("timing", {"max_sleep_duration": 5}, 1)]
    assert m.handler("timing") is m.handlers[1] and m.handler("runtime") is None


@pytest.mark.parametrize(("text", "message"), [
    ('version = "1"\ncomponent = "a.wasm"\n', "missing required key `name`"),
    ('name = "a"\n', "missing required key `component` (or `package`)"),
    ('name = "a"\ncomponent = 3\n', "key `component` must be a path string, got int"),
    ('name = 5\ncomponent = "a.wasm"\n', "key `name` must be"),
    ('name = "a"\ncomponent = "a.wasm"\n[limits]\nfuel = 0\n', "[limits] fuel and memory must be positive"),
    ('name = "a"\ncomponent = "a.wasm"\nhandler = 3\n', "`handler` must be an array of tables"),
    ('name = "a"\ncomponent = "a.wasm"\n[[handler]]\nseed = 1\n', "handler[0]: missing `type`"),
    ('name = "a"\ncomponent = \n', "not valid TOML"),
])
def test_manifest_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ManifestError) as e:
        load_manifest(p)
    assert str(e.value).startswith(str(p)) and message in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def test_manifest_missing_and_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="^no manifest at "):
        load_manifest(tmp_path / "none.toml")
    p = tmp_path / "bad.toml"
    p.write_bytes(b'name = "\xff"\n')
    with pytest.raises(ManifestError, match="not UTF-8 text"):
        load_manifest(p)


# ------------------------------------------------------------------ handlers


def manifest_with(tmp: Path, handlers: str) -> Any:
    return load_manifest(write(tmp, f'name = "a"\ncomponent = "a.wasm"\n{handlers}'))


def test_random_handler_is_the_seeded_stream(tmp_path: Path) -> None:
    m = manifest_with(tmp_path, '[[handler]]\ntype = "random"\nseed = 42\n')
    draws = []
    for _ in range(2):
        (h,) = build_handlers(m)
        fns = h.functions()["wasi:random/random"]
        draws.append([fns["get-random-u64"](None) for _ in range(3)] + [fns["get-random-bytes"](None, 5)])
    assert draws[0] == draws[1] and len(draws[0][3]) == 5
    (other,) = build_handlers(m, seed_override=43)
    assert other.functions()["wasi:random/random"]["get-random-u64"](None) != draws[0][0]
    assert h.header_settings()["seed"] == 42


def test_handler_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"handler\[0\] \(random\): `bogus`: unknown setting"):
        build_handlers(manifest_with(tmp_path, '[[handler]]\ntype = "random"\nbogus = 1\n'))
    with pytest.raises(ManifestError, match=r"`seed`: must be int, got bool True"):
        build_handlers(manifest_with(tmp_path, '[[handler]]\ntype = "random"\nseed = true\n'))
    with pytest.raises(ManifestError, match=r"type 'nope' is unknown \(supported: environment, filesystem, "
                                            r"http-client, message-server, random"):
        build_handlers(manifest_with(tmp_path, '[[handler]]\ntype = "nope"\n'))


def test_an_upstream_handler_theater_lacks_grants_nothing_with_a_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    assert build_handlers(manifest_with(tmp_path, '[[handler]]\ntype = "store"\n'), warnings=warnings) == []
    assert len(warnings) == 1 and "type 'store' is not supported by theater yet" in warnings[0]


def test_every_handler_declares_what_it_provides() -> None:
    for t, cls in registry().items():
        assert cls.type == t and cls.interfaces, t
        for name in cls.interfaces:
            assert "@" not in name, name  # versionless


# ------------------------------------------------------------------ the compiled-component cache


def test_engine_cache_writes_once_and_recompiles_over_a_bad_digest(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from theater.engine import cache_key, load_component

    monkeypatch.setenv("THEATER_CACHE_DIR", str(tmp_path / "c"))
    data = wat_path("counter").read_bytes()
    load_component(data)
    key = cache_key(data)
    art = tmp_path / "c" / f"{key}.cwasm"
    digest = art.with_name(art.name + ".sha256")
    assert art.is_file() and digest.is_file()
    first = art.stat().st_mtime_ns
    load_component(data)  # loaded from the cache: not rewritten
    assert art.stat().st_mtime_ns == first
    digest.write_text("0" * 64)
    os.utime(art, ns=(first - 10**9, first - 10**9))
    assert load_component(data) is not None  # the artifact is not trusted: compiled and rewritten
    assert digest.read_text().strip() != "0" * 64 and art.stat().st_mtime_ns != first - 10**9
    assert load_component(data, use_cache=False) is not None


# ------------------------------------------------------------------ the boundary with an in-memory writer


def test_boundary_records_then_replays_the_same_values_and_catches_a_changed_argument() -> None:
    name = "wasi:random/random@0.2.3"
    w = MemoryWriter()
    b = Boundary(w)
    fn = b.wrap_import(name, "get-random-bytes", BYTES, lambda store, n: bytes(range(n)))
    assert fn(None, 3) == b"\x00\x01\x02" and fn(None, 1) == b"\x00"
    assert [t for t, _ in w.events] == [f"host:{name}#get-random-bytes"] * 2
    rows = [(i, b"h" * 32, b"p" * 32, t, d, 0.0) for i, (t, d) in enumerate(w.events)]

    w2 = MemoryWriter()
    b2 = Boundary(w2, source=iter(rows))
    fn2 = b2.wrap_import(name, "get-random-bytes", BYTES, None)  # type: ignore[arg-type]
    assert fn2(None, 3) == b"\x00\x01\x02" and w2.events == w.events[:1] and b2.divergence is None
    with pytest.raises(DivergenceSignal, match="called with different arguments") as e:
        fn2(None, 2)  # recorded with 1
    assert b2.divergence is e.value and (e.value.kind, e.value.seq) == ("arguments", 1)


# ------------------------------------------------------------------ the store's replays table


def test_recording_a_replay_outcome_runs_no_schema_statement(tmp_path: Path) -> None:
    """issue 12 item 2 (leftover): a new database has the replays table from its schema,
    so storing an outcome is one INSERT (it re-ran the table's CREATE IF NOT EXISTS
    statements on every call); a database made before the table gets it once."""
    from conftest import write_chain

    from theater.outcomes import ReplayOutcome
    from theater.store import Store

    with Store(tmp_path / "r.db") as store:
        chain = write_chain(store, 3)
        assert store.has_replays_table()
        run: list[str] = []
        store.conn.set_trace_callback(run.append)
        store.record_replay(chain, ReplayOutcome.VERIFIED, chain=None)
        store.record_replay(chain, ReplayOutcome.DIVERGED, chain=None, seq=2, kind="result")
        store.conn.set_trace_callback(None)
        writes = [s.split()[0] for s in run if not s.startswith("SELECT")]  # a read of sqlite_master
        assert writes == ["BEGIN", "INSERT", "COMMIT"] * 2, run
        store.conn.execute("DROP TABLE replays")  # a file from before the table
        store.conn.set_trace_callback(run.append)
        run.clear()
        store.record_replay(chain, ReplayOutcome.VERIFIED, chain=None)
        store.record_replay(chain, ReplayOutcome.VERIFIED, chain=None)
        store.conn.set_trace_callback(None)
        assert sum(s.lstrip().startswith("CREATE TABLE") for s in run) == 1, run
        assert [r.outcome for r in store.replays(chain)] == ["verified", "verified"]


# ------------------------------------------------------------------ the replayer's drive loop


def test_the_replayers_drive_loop_takes_its_settings_by_keyword() -> None:
    """issue 12 item 2 (leftover): ``replay/replayer.py::_drive`` took twelve positional
    parameters, where swapping ``until`` and ``stop`` (both ``int | None``) type-checks;
    past the store, the chain and the writer they are keyword-only."""
    import inspect

    from replay.replayer import _drive

    params = list(inspect.signature(_drive).parameters.values())
    positional = [p.name for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert positional == ["store", "info", "writer"]
    assert {"until", "stop", "limits", "incomplete", "interrupt"} <= {p.name for p in params}
