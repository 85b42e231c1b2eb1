"""Component type introspection on real components compiled from WAT."""

from __future__ import annotations

from typing import Any

import pytest
import wasmtime
from wasmtime import component as wc

from theater.wittypes import (
    ROOT,
    EnumT,
    FlagsT,
    FuncSig,
    HandleT,
    ListT,
    Prim,
    RecordT,
    TupleT,
    VariantT,
    WitType,
    component_exports,
    component_imports,
    func_sig,
    render,
    split_func_name,
    split_interface_name,
    wit_type,
)

# Resources, a resource used from a second interface, a named record, root functions.
RESOURCE_WAT = r"""
(component
  (type $streams (instance
    (export "output-stream" (type $os (sub resource)))
    (type $b (borrow $os))
    (type $o (own $os))
    (type $err0 (variant (case "closed") (case "last-operation-failed" u32)))
    (export "stream-error" (type $err (eq $err0)))
    (export "[constructor]output-stream" (func (param "fd" u32) (result $o)))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" $b) (param "contents" (list u8)) (result (result (error $err)))))
    (export "[static]output-stream.open" (func (param "name" string) (result (option $o))))
  ))
  (import "wasi:io/streams@0.2.3" (instance $s (type $streams)))
  (alias export $s "output-stream" (type $os))
  (type $stdout (instance
    (alias outer 1 $os (type $os2))
    (export "output-stream" (type $os3 (eq $os2)))
    (type $o (own $os3))
    (export "get-stdout" (func (result $o)))
  ))
  (import "wasi:cli/stdout@0.2.3" (instance (type $stdout)))
  (type $pt0 (record (field "x" s32) (field "y" s32)))
  (import "point" (type $pt (eq $pt0)))
  (import "log" (func (param "msg" string)))
  (import "area" (func (param "p" $pt) (param "q" $pt) (result u64)))
)
"""

# Exports: a root function and an interface, lifted from a tiny core module.
EXPORT_WAT = r"""
(component
  (core module $M
    (func (export "init") (param i32) (result i32) (local.get 0))
    (func (export "tick") (param i64 f64)))
  (core instance $m (instantiate $M))
  (alias core export $m "init" (core func $ci))
  (alias core export $m "tick" (core func $ct))
  (func $init (param "n" u32) (result u32) (canon lift (core func $ci)))
  (func $tick (param "at" u64) (param "dt" f64) (canon lift (core func $ct)))
  (instance $actor (export "init" (func $init)) (export "tick" (func $tick)))
  (export "theater:simple/actor" (instance $actor))
  (export "init" (func $init))
)
"""


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


def test_split_interface_name() -> None:
    assert split_interface_name("wasi:random/random@0.2.3") == ("wasi:random", "random", "0.2.3")
    assert split_interface_name("theater:simple/runtime") == ("theater:simple", "runtime", None)
    assert split_interface_name("wasi:http/types@0.3.0-rc-2025-09-16") == (
        "wasi:http", "types", "0.3.0-rc-2025-09-16")
    assert split_interface_name("log") == ("", "log", None)


def test_split_func_name() -> None:
    assert split_func_name("[method]output-stream.blocking-write-and-flush") == (
        "method", "output-stream", "blocking-write-and-flush")
    assert split_func_name("[static]output-stream.open") == ("static", "output-stream", "open")
    assert split_func_name("[constructor]output-stream") == ("constructor", "output-stream", "")
    assert split_func_name("get-random-u64") == ("func", None, "get-random-u64")


def test_resources_and_resource_functions(engine: wasmtime.Engine) -> None:
    imps = component_imports(engine, wc.Component(engine, RESOURCE_WAT))
    assert sorted(imps) == [ROOT, "wasi:cli/stdout@0.2.3", "wasi:io/streams@0.2.3"]
    streams = imps["wasi:io/streams@0.2.3"]
    assert streams.resources == ("output-stream",)
    # [resource-drop] is a core builtin, never a component-level import.
    assert sorted(streams.funcs) == ["[constructor]output-stream",
                                     "[method]output-stream.blocking-write-and-flush",
                                     "[static]output-stream.open"]
    write = streams.funcs["[method]output-stream.blocking-write-and-flush"]
    assert write.param_names == ("self", "contents")
    self_ty = write.params[0][1]
    assert self_ty == HandleT("borrow", "output-stream")
    assert isinstance(self_ty, HandleT) and isinstance(self_ty.rtype, wc.ResourceType)
    assert write.render() == ("func(self: borrow<output-stream>, contents: list<u8>) -> "
                              "result<_, variant { closed, last-operation-failed(u32) }>")
    assert streams.funcs["[constructor]output-stream"].result == HandleT("own", "output-stream")
    assert streams.types == {"stream-error": variant_of(("closed", None),
                                                         ("last-operation-failed", Prim("u32")))}
    # The same resource, used from another interface, is the same ResourceType.
    stdout = imps["wasi:cli/stdout@0.2.3"]
    assert stdout.resources == ("output-stream",)
    got = stdout.funcs["get-stdout"].result
    assert isinstance(got, HandleT) and got.rtype == self_ty.rtype
    root = imps[ROOT]
    assert root.funcs["log"] == FuncSig("log", (("msg", Prim("string")),), None)
    point = RecordT((("x", Prim("s32")), ("y", Prim("s32"))))
    assert root.funcs["area"].params == (("p", point), ("q", point))
    assert root.funcs["area"].render() == (
        "func(p: record { x: s32, y: s32 }, q: record { x: s32, y: s32 }) -> u64")


def variant_of(*cases: tuple[str, WitType | None]) -> VariantT:
    return VariantT("variant", tuple(cases))


def test_exports_root_and_interface(engine: wasmtime.Engine) -> None:
    component = wc.Component(engine, EXPORT_WAT)
    exps = component_exports(engine, component)
    assert sorted(exps) == [ROOT, "theater:simple/actor"]
    actor = exps["theater:simple/actor"]
    assert actor.funcs["init"] == FuncSig("init", (("n", Prim("u32")),), Prim("u32"))
    assert actor.funcs["tick"].render() == "func(at: u64, dt: f64)"
    assert exps[ROOT].funcs["init"] == actor.funcs["init"]
    assert component_imports(engine, component) == {}
    # The signature of a live Func matches the static one.
    store = wasmtime.Store(engine)
    inst = wc.Linker(engine).instantiate(store, component)
    idx = inst.get_export_index(store, "theater:simple/actor")
    f = inst.get_func(store, inst.get_export_index(store, "init", idx))
    assert f is not None
    assert func_sig("init", f.type(store)) == actor.funcs["init"]
    assert f(store, 41) == 41


def _walk(vt: Any) -> list[Any]:
    """Every variant-like wasmtime ValType nested in vt."""
    out: list[Any] = []
    if isinstance(vt, (wc.VariantType, wc.OptionType, wc.ResultType)):
        out.append(vt)
        kids: list[Any] = [c for _, c in vt._cases() if c is not None]
    elif isinstance(vt, wc.ListType):
        kids = [vt.element]
    elif isinstance(vt, wc.TupleType):
        kids = vt.elements
    elif isinstance(vt, wc.RecordType):
        kids = [t for _, t in vt.fields]
    else:
        kids = []
    for k in kids:
        out += _walk(k)
    return out


def _walk_wit(t: WitType | None) -> list[VariantT]:
    if isinstance(t, VariantT):
        return [t] + [v for _, c in t.cases for v in _walk_wit(c)]
    if isinstance(t, ListT):
        return _walk_wit(t.elem)
    if isinstance(t, TupleT):
        return [v for i in t.items for v in _walk_wit(i)]
    if isinstance(t, RecordT):
        return [v for _, f in t.fields for v in _walk_wit(f)]
    return []


TYPES_WAT = r"""
(component
  (type $host (instance
    (type $r0 (record (field "a" u32) (field "b-c" (list string))))
    (export "r" (type $r (eq $r0)))
    (type $d0 (variant (case "x") (case "y" u64) (case "z" string)))
    (export "d" (type $d (eq $d0)))
    (type $e0 (variant (case "x" u32) (case "y" u64)))
    (export "e" (type $e (eq $e0)))
    (type $i0 (enum "p" "q"))
    (export "i" (type $i (eq $i0)))
    (type $j0 (flags "m" "n"))
    (export "j" (type $j (eq $j0)))
    (export "f" (func
      (param "a" (option (option u32))) (param "b" (result (error string)))
      (param "c" (result (tuple (option (list u8))) (error string)))
      (param "d" $d) (param "e" $e)
      (param "f" (option (result u8 (error string))))
      (param "g" (result (option u32) (error string)))
      (param "h" (option $r)) (param "i" $i) (param "j" $j)
      (param "k" (tuple char f32 s64 bool s8 s16 u16))
      (result (list (option (list u8))))))
  ))
  (import "test:types/host@1.0.0" (instance (type $host)))
)
"""


def test_tagging_matches_wasmtime_py(engine: wasmtime.Engine) -> None:
    component = wc.Component(engine, TYPES_WAT)
    sig = component_imports(engine, component)["test:types/host@1.0.0"].funcs["f"]
    raw = component.type.imports(engine)["test:types/host@1.0.0"].ty.exports(engine)["f"].ty
    tagged = {}
    for (name, vt), (name2, wt) in zip(raw.params, sig.params, strict=True):
        assert name == name2
        ours = _walk_wit(wt)
        theirs = _walk(vt)
        assert len(ours) == len(theirs) > 0 or not theirs
        assert [o.tagged for o in ours] == [t._tagged() for t in theirs]
        if ours:
            tagged[name] = ours[0].tagged
    assert tagged == {"a": True, "b": False, "c": False, "d": False, "e": True,
                      "f": False, "g": False, "h": False}
    assert render(sig.params[2][1]) == "result<tuple<option<list<u8>>>, string>"
    assert render(sig.params[8][1]) == "enum { p, q }"
    assert sig.params[9][1] == FlagsT(("m", "n")) and sig.params[8][1] == EnumT(("p", "q"))
    assert render(sig.params[10][1]) == "tuple<char, f32, s64, bool, s8, s16, u16>"
    assert render(sig.result) == "list<option<list<u8>>>"


def test_wit_types_are_hashable_and_convert_from_valtypes(engine: wasmtime.Engine) -> None:
    component = wc.Component(engine, TYPES_WAT)
    raw = component.type.imports(engine)["test:types/host@1.0.0"].ty.exports(engine)["f"].ty
    a = tuple(wit_type(t) for _, t in raw.params)
    b = tuple(wit_type(t) for _, t in raw.params)
    assert a == b and hash(a) == hash(b)
    sig = component_imports(engine, component)["test:types/host@1.0.0"].funcs["f"]
    assert {sig: 1}[func_sig("f", raw)] == 1
    assert ListT(Prim("u8")).is_bytes and not ListT(Prim("s8")).is_bytes
