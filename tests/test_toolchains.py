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
