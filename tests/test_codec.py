"""The typed codec, proven on real values crossing real wasmtime components.

The echo component imports ``test:codec/host`` and exports ``test:codec/guest``
with the same functions; each guest export forwards its arguments to the host
import and returns what the host returned. The host side encodes what it
received, serializes, parses, decodes and returns the decoded value, so every
round trip here is: Python -> lower -> wasm -> lift -> encode -> bytes ->
decode -> lower -> wasm -> lift -> Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import wasmtime
import witvalues
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasmtime import component as wc

from theater.codec import (
    decode,
    decode_params,
    decode_result,
    dumps,
    encode,
    encode_params,
    encode_result,
    loads,
)
from theater.errors import CodecError
from theater.wittypes import (
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
    component_imports,
    variant,
)

# (name, params WAT, result WAT, flat core params, flat core result or None = via ret pointer)
ECHO_FUNCS: list[tuple[str, str, str, str, str | None]] = [
    ("bool", '(param "x" bool)', "bool", "i32", "i32"),
    ("s8", '(param "x" s8)', "s8", "i32", "i32"),
    ("u8", '(param "x" u8)', "u8", "i32", "i32"),
    ("s16", '(param "x" s16)', "s16", "i32", "i32"),
    ("u16", '(param "x" u16)', "u16", "i32", "i32"),
    ("s32", '(param "x" s32)', "s32", "i32", "i32"),
    ("u32", '(param "x" u32)', "u32", "i32", "i32"),
    ("s64", '(param "x" s64)', "s64", "i64", "i64"),
    ("u64", '(param "x" u64)', "u64", "i64", "i64"),
    ("f32", '(param "x" f32)', "f32", "f32", "f32"),
    ("f64", '(param "x" f64)', "f64", "f64", "f64"),
    ("char", '(param "x" char)', "char", "i32", "i32"),
    ("string", '(param "x" string)', "string", "i32 i32", None),
    ("bytes", '(param "x" (list u8))', "(list u8)", "i32 i32", None),
    ("strings", '(param "x" (list string))', "(list string)", "i32 i32", None),
    ("tuple", '(param "x" (tuple u8 string f64))', "(tuple u8 string f64)",
     "i32 i32 i32 f64", None),
    ("rec", '(param "x" $rec)', "$rec", "i32 i32 i32 i32 i32", None),
    ("var", '(param "x" $var)', "$var", "i32 i64 i32", None),
    ("tagged-var", '(param "x" $tv)', "$tv", "i32 i64", None),
    ("int-bool", '(param "x" $ib)', "$ib", "i32 i32", None),
    ("color", '(param "x" $color)', "$color", "i32", "i32"),
    ("perms", '(param "x" $perms)', "$perms", "i32", "i32"),
    ("opt", '(param "x" (option u32))', "(option u32)", "i32 i32", None),
    ("opt-opt", '(param "x" (option (option u32)))', "(option (option u32))", "i32 i32 i32", None),
    ("res-unit", '(param "x" (result (error string)))', "(result (error string))",
     "i32 i32 i32", None),
    ("res-state", '(param "x" (result (tuple (option (list u8))) (error string)))',
     "(result (tuple (option (list u8))) (error string))", "i32 i32 i32 i32", None),
    ("list-opt", '(param "x" (list (option string)))', "(list (option string))", "i32 i32", None),
    ("init", '(param "state" (option (list u8))) (param "params" (tuple string))',
     "(result (tuple (option (list u8))) (error string))", "i32 i32 i32 i32 i32", None),
]

HOST_TYPES = """
    (type $rec0 (record (field "a" u32) (field "b-c" string) (field "d" (list f32))))
    (export "rec-type" (type $rec (eq $rec0)))
    (type $var0 (variant (case "nothing") (case "num" u64) (case "txt" string) (case "flt" f32)))
    (export "var-type" (type $var (eq $var0)))
    (type $tv0 (variant (case "a" u32) (case "b" u64)))
    (export "tagged-var-type" (type $tv (eq $tv0)))
    (type $ib0 (variant (case "a" u32) (case "b" bool)))
    (export "int-bool-type" (type $ib (eq $ib0)))
    (type $color0 (enum "red" "green" "blue"))
    (export "color-type" (type $color (eq $color0)))
    (type $perms0 (flags "read" "write" "exec"))
    (export "perms-type" (type $perms (eq $perms0)))
"""
TYPE_NAMES = ["rec-type", "var-type", "tagged-var-type", "int-bool-type", "color-type",
              "perms-type"]
_TYPE_VARS = {"rec-type": "rec", "var-type": "var", "tagged-var-type": "tv",
              "int-bool-type": "ib", "color-type": "color", "perms-type": "perms"}

# A bump allocator: memory and realloc shared by every lowered and lifted function.
MEM_MODULE = """
  (core module $Mem
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 8192))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (block $ok (loop $grow
        (br_if $ok (i32.le_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow (i32.const 1)))
        (br $grow)))
      (local.get $p)))
  (core instance $m (instantiate $Mem))
  (alias core export $m "mem" (core memory $mem))
  (alias core export $m "realloc" (core func $realloc))
"""


def echo_component_wat() -> str:
    """Component-model WAT of the echo component (guest exports forward to host imports)."""
    out = ["(component", "  (type $host-t (instance", HOST_TYPES]
    for n, params, res, _, _ in ECHO_FUNCS:
        out.append(f'    (export "{n}" (func {params} (result {res})))')
    out += ["  ))", '  (import "test:codec/host" (instance $h (type $host-t)))']
    out += [f'  (alias export $h "{t}" (type ${_TYPE_VARS[t]}))' for t in TYPE_NAMES]
    out.append(MEM_MODULE)
    imports, bodies, withs, lifts, exps = [], [], [], [], []
    for i, (n, params, res, cp, cr) in enumerate(ECHO_FUNCS):
        out.append(f'  (alias export $h "{n}" (func $hf{i}))')
        out.append(f"  (core func $lo{i} (canon lower (func $hf{i})"
                   " (memory $mem) (realloc $realloc)))")
        withs.append(f'(export "{n}" (func $lo{i}))')
        gets = " ".join(f"(local.get {k})" for k in range(len(cp.split())))
        if cr is None:  # results travel through a return area at a fixed address
            area = 64 + 64 * i
            imports.append(f'    (import "h" "{n}" (func $i{i} (param {cp} i32)))')
            bodies.append(f'    (func (export "{n}") (param {cp}) (result i32)'
                          f" (call $i{i} {gets} (i32.const {area})) (i32.const {area}))")
        else:
            imports.append(f'    (import "h" "{n}" (func $i{i} (param {cp}) (result {cr})))')
            bodies.append(f'    (func (export "{n}") (param {cp}) (result {cr})'
                          f" (call $i{i} {gets}))")
        lifts.append(f'  (alias core export $main "{n}" (core func $cf{i}))')
        lifts.append(f"  (func $x{i} {params} (result {res})"
                     f" (canon lift (core func $cf{i}) (memory $mem) (realloc $realloc)))")
        exps.append(f'(export "{n}" (func $x{i}))')
    out += ["  (core module $Main", '    (import "m" "mem" (memory 1))', *imports, *bodies, "  )"]
    out.append(f'  (core instance $main (instantiate $Main (with "m" (instance $m))'
               f' (with "h" (instance {" ".join(withs)}))))')
    out += lifts
    texps = " ".join(f'(export "{t}" (type ${_TYPE_VARS[t]}))' for t in TYPE_NAMES)
    out.append(f"  (instance $g {texps} {' '.join(exps)})")
    out += ['  (export "test:codec/guest" (instance $g))', ")"]
    return "\n".join(out)


@dataclass
class Echo:
    """An instantiated echo component whose host side runs the codec on every call."""

    store: wasmtime.Store
    sigs: dict[str, FuncSig]
    funcs: dict[str, wc.Func]
    seen: list[tuple[str, bytes]] = field(default_factory=list)
    host_result: dict[str, Any] = field(default_factory=dict)

    def call(self, name: str, *args: Any) -> Any:
        return self.funcs[name](self.store, *args)

    def ty(self, name: str) -> WitType:
        r = self.sigs[name].result
        assert r is not None
        return r


@pytest.fixture(scope="module")
def echo() -> Echo:
    engine = wasmtime.Engine()
    component = wc.Component(engine, echo_component_wat())
    sigs = component_imports(engine, component)["test:codec/host"].funcs
    linker = wc.Linker(engine)
    holder: dict[str, Echo] = {}

    def host(name: str) -> Callable[..., Any]:
        sig = sigs[name]

        def fn(_store: Any, *args: Any) -> Any:
            data = dumps(encode_params(sig, args))
            holder["e"].seen.append((name, data))
            back = decode_params(sig, loads(data))
            assert dumps(encode_params(sig, back)) == data
            result = holder["e"].host_result.get(name, back[0] if back else None)
            rdata = dumps(encode_result(sig, result))
            return decode_result(sig, loads(rdata))

        return fn

    with linker.root() as root:
        with root.add_instance("test:codec/host") as inst:
            for n in sigs:
                inst.add_func(n, host(n))
    store = wasmtime.Store(engine)
    instance = linker.instantiate(store, component)
    gidx = instance.get_export_index(store, "test:codec/guest")
    funcs = {}
    for n in sigs:
        f = instance.get_func(store, instance.get_export_index(store, n, gidx))
        assert f is not None
        funcs[n] = f
    e = Echo(store, sigs, funcs)
    holder["e"] = e
    return e


def rec(a: int, bc: str, d: list[float]) -> wc.Record:
    r = wc.Record()
    r.a, r.d = a, d
    setattr(r, "b-c", bc)
    return r


f32, f64 = witvalues.f32, witvalues.f64


NAN_PAYLOAD = f64(0x7FF8_0000_DEAD_BEEF)
CASES: list[tuple[str, Any, Any]] = [
    ("bool", True, True),
    ("s8", -128, -128), ("u8", 255, 255), ("s16", -32768, -32768), ("u16", 65535, 65535),
    ("s32", -(2**31), -(2**31)), ("u32", 2**32 - 1, 2**32 - 1),
    ("s64", -(2**63), -(2**63)), ("u64", 2**64 - 1, 2**64 - 1),
    ("f32", 1.5, "f32:3fc00000"), ("f32", -0.0, "f32:80000000"),
    ("f32", f32(0x7FC0_1234), "f32:7fc01234"), ("f32", math.inf, "f32:7f800000"),
    ("f64", math.pi, "f64:400921fb54442d18"), ("f64", NAN_PAYLOAD, "f64:7ff80000deadbeef"),
    ("char", "\U0001f600", "\U0001f600"),
    ("string", "héllo\x00wörld", "héllo\x00wörld"),
    ("bytes", b"\x00\xffabc", "base64:AP9hYmM="), ("bytes", b"", "base64:"),
    ("strings", ["a", "", "ç"], ["a", "", "ç"]),
    ("tuple", (7, "x", 2.5), [7, "x", "f64:4004000000000000"]),
    ("rec", rec(5, "hi", [1.0, f32(0x7FC0_0001)]),
     {"a": 5, "b-c": "hi", "d": ["f32:3f800000", "f32:7fc00001"]}),
    ("var", None, {"case": "nothing", "value": None}),
    ("var", 2**64 - 1, {"case": "num", "value": 2**64 - 1}),
    ("var", "t", {"case": "txt", "value": "t"}),
    ("var", 0.25, {"case": "flt", "value": "f32:3e800000"}),
    ("tagged-var", wc.Variant("a", 1), {"case": "a", "value": 1}),
    ("tagged-var", wc.Variant("b", 2**64 - 1), {"case": "b", "value": 2**64 - 1}),
    ("color", "green", "green"),
    ("perms", {"write", "exec"}, ["exec", "write"]), ("perms", set(), []),
    ("opt", None, None), ("opt", 0, {"some": 0}),
    ("opt-opt", wc.Variant("none"), None),
    ("opt-opt", wc.Variant("some", None), {"some": None}),
    ("opt-opt", wc.Variant("some", 3), {"some": {"some": 3}}),
    ("res-unit", None, {"ok": None}), ("res-unit", "boom", {"err": "boom"}),
    ("res-state", (b"st",), {"ok": [{"some": "base64:c3Q="}]}),
    ("res-state", (None,), {"ok": [None]}),
    ("res-state", "bad", {"err": "bad"}),
    ("list-opt", ["a", None, ""], [{"some": "a"}, None, {"some": ""}]),
]


@pytest.mark.parametrize(("name", "value", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_real_values_round_trip_through_wasmtime(echo: Echo, name: str, value: Any,
                                                 expected: Any) -> None:
    echo.seen.clear()
    out = echo.call(name, value)
    ty = echo.ty(name)
    assert encode(ty, value) == expected
    assert encode(ty, out) == expected  # NaN-safe equality: compare bit patterns
    assert echo.seen == [(name, dumps({"x": expected}))]
    if expected == encode(ty, value) and not _has_nan(out):
        assert out == value
        assert type(out) is type(value)


def _has_nan(v: Any) -> bool:
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, (list, tuple)):
        return any(_has_nan(x) for x in v)
    if isinstance(v, wc.Record):
        return any(_has_nan(x) for x in v.__dict__.values())
    return False


def test_multi_param_function_and_distinct_result(echo: Echo) -> None:
    sig = echo.sigs["init"]
    assert sig.param_names == ("state", "params")
    echo.seen.clear()
    echo.host_result["init"] = "no state"
    try:
        assert echo.call("init", b"\x01\x02", ("p",)) == "no state"
        echo.host_result["init"] = (b"new",)
        assert echo.call("init", None, ("",)) == (b"new",)
    finally:
        echo.host_result.clear()
    assert [d for _, d in echo.seen] == [
        b'{"params":["p"],"state":{"some":"base64:AQI="}}',
        b'{"params":[""],"state":null}',
    ]


def test_untagged_int_bool_variant_limit(echo: Echo) -> None:
    """wasmtime-py 50 lowers True in variant{a(u32), b(bool)} as case a (bool is an int)."""
    ty = echo.ty("int-bool")
    assert isinstance(ty, VariantT) and not ty.tagged
    echo.seen.clear()
    assert echo.call("int-bool", True) == 1
    assert echo.seen == [("int-bool", b'{"x":{"case":"a","value":1}}')]
    assert encode(ty, True) == {"case": "b", "value": True}
    with pytest.raises(CodecError, match=r"value: wasmtime-py would lower this 'b' .* case 'a'"):
        decode(ty, {"case": "b", "value": True})
    assert decode(ty, {"case": "a", "value": 1}) == 1


def test_result_with_object_overlap_cannot_lower_err() -> None:
    """result<option<u32>, string> is untagged; wasmtime-py would route err("x") to ok."""
    ty = variant("result", (("ok", variant("option", (("none", None), ("some", Prim("u32"))))),
                            ("err", Prim("string"))))
    assert not ty.tagged
    assert encode(ty, "x") == {"err": "x"}
    assert encode(ty, None) == {"ok": None} and encode(ty, 4) == {"ok": {"some": 4}}
    with pytest.raises(CodecError, match="would lower this 'err' value as case 'ok'"):
        decode(ty, {"err": "x"})
    assert decode(ty, {"ok": {"some": 4}}) == 4


def test_error_messages_name_the_path(echo: Echo) -> None:
    sig = echo.sigs["init"]
    with pytest.raises(CodecError, match=r"^params\.state\.some: expected bytes for list<u8>, "):
        encode_params(sig, ("abc", ("p",)))
    with pytest.raises(CodecError, match=r"^params\.params\[0\]: expected str, got int"):
        decode_params(sig, {"state": None, "params": [5]})
    with pytest.raises(CodecError, match=r"^params: expected object with \['params', 'state'\]"):
        decode_params(sig, {"state": None})
    with pytest.raises(CodecError, match=r"^result\.ok\[0\]\.some: non-canonical base64"):
        decode_result(sig, {"ok": [{"some": "base64:AR=="}]})
    with pytest.raises(CodecError, match=r"^params: init takes 2 arguments, got 1"):
        encode_params(sig, (None,))
    with pytest.raises(CodecError, match=r"^value\[1\]\.some: expected str, got int"):
        decode(echo.ty("list-opt"), [None, {"some": 5}])
    with pytest.raises(CodecError, match=r"^value: expected int 0\.\.255, got str"):
        encode(Prim("u8"), "x")
    with pytest.raises(CodecError, match=r"^value: expected int 0\.\.255, got bool"):
        encode(Prim("u8"), True)
    with pytest.raises(CodecError, match=r"^value\.b-c: expected str, got int"):
        encode(echo.ty("rec"), rec(1, 2, []))  # type: ignore[arg-type]


@pytest.mark.parametrize(("ty", "bad"), [
    (Prim("u32"), 2**32), (Prim("s8"), -129), (Prim("u64"), -1), (Prim("bool"), 1),
    (Prim("f64"), "f64:400921FB54442D18"), (Prim("f64"), "f64:1"), (Prim("f32"), 1.0),
    (Prim("f32"), "f64:0000000000000000"), (Prim("char"), "ab"), (Prim("char"), "\ud800"),
    (Prim("string"), "\udfff"), (ListT(Prim("u8")), "AQI="), (ListT(Prim("u8")), "base64:A"),
    (EnumT(("a", "b")), "c"), (FlagsT(("a", "b")), ["b", "a"]), (FlagsT(("a", "b")), ["a", "a"]),
    (TupleT((Prim("u8"),)), [1, 2]), (RecordT((("a", Prim("u8")),)), {"a": 1, "b": 2}),
    (variant("option", (("none", None), ("some", Prim("u8")))), {"some": 1, "x": 2}),
    (variant("result", (("ok", None), ("err", None))), {"ok": 1}),
    (variant("variant", (("a", None), ("b", Prim("u8")))), {"case": "c", "value": None}),
    (Prim("future"), None),
])
def test_decode_rejects_non_canonical_input(ty: WitType, bad: Any) -> None:
    with pytest.raises(CodecError, match=r"^value"):
        decode(ty, bad)


def test_f32_signalling_nan_is_rejected_f64_is_exact() -> None:
    with pytest.raises(CodecError, match="signalling NaN"):
        decode(Prim("f32"), "f32:7f800001")
    snan = "f64:7ff0000000000001"
    assert encode(Prim("f64"), decode(Prim("f64"), snan)) == snan


def test_resources_need_callbacks() -> None:
    ty = HandleT("own", "thing")
    host = wc.ResourceHost.own(7, 42)
    with pytest.raises(CodecError, match=r"^params\.x: cannot encode own<thing> without a"):
        encode(ty, host, path="params.x")
    with pytest.raises(CodecError, match="without a resource_decoder"):
        decode(ty, {"rep": 7})
    seen: list[HandleT] = []

    def enc(v: Any, t: HandleT) -> Any:
        seen.append(t)
        return {"rep": v.rep, "type": v.type}

    obj = encode(TupleT((ty, Prim("u8"))), (host, 1), resource_encoder=enc)
    assert obj == [{"rep": 7, "type": 42}, 1] and seen == [ty]
    back = decode(ty, {"rep": 7, "type": 42},
                  resource_decoder=lambda o, t: wc.ResourceHost.own(o["rep"], o["type"]))
    assert isinstance(back, wc.ResourceHost) and (back.rep, back.type, back.owned) == (7, 42, True)


def test_dumps_is_canonical_and_byte_stable() -> None:
    obj = {"b": [1, {"z": None, "a": True}], "a": "é", "c": {"some": "f64:0000000000000000"}}
    expected = b'{"a":"\xc3\xa9","b":[1,{"a":true,"z":null}],"c":{"some":"f64:0000000000000000"}}'
    assert dumps(obj) == expected
    assert dumps(loads(expected)) == expected
    assert dumps(dict(reversed(list(obj.items())))) == expected
    with pytest.raises(CodecError, match="dumps"):
        dumps({1: 2})  # type: ignore[dict-item]
    with pytest.raises(CodecError, match="loads"):
        loads(b"{")


# ---------------------------------------------------------------- property tests

def values(t: WitType | None) -> st.SearchStrategy[Any]:
    """Python values of type ``t`` exactly as wasmtime-py lifts them."""
    return witvalues.values(t)


ROUND_TRIP = [n for n, *_ in ECHO_FUNCS if n not in ("int-bool", "init")]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_property_round_trip_through_wasmtime(echo: Echo, name: str) -> None:
    ty = echo.ty(name)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(values(ty))
    def prop(v: Any) -> None:
        obj = encode(ty, v)
        data = dumps(obj)
        assert dumps(loads(data)) == data
        back = decode(ty, loads(data))
        assert encode(ty, back) == obj
        assert encode(ty, echo.call(name, v)) == obj

    prop()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_property_f32_bit_patterns(bits: int) -> None:
    text = f"f32:{bits:08x}"
    is_snan = (bits & 0x7F800000) == 0x7F800000 and bits & 0x7FFFFF and not bits & 0x400000
    if is_snan:
        with pytest.raises(CodecError):
            decode(Prim("f32"), text)
    else:
        assert encode(Prim("f32"), decode(Prim("f32"), text)) == text


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_property_f64_bit_patterns(bits: int) -> None:
    text = f"f64:{bits:016x}"
    assert encode(Prim("f64"), decode(Prim("f64"), text)) == text


def option(t: WitType) -> VariantT:
    return variant("option", (("none", None), ("some", t)))


NESTED = option(option(option(Prim("f32"))))


@settings(max_examples=200, deadline=None)
@given(values(NESTED))
def test_property_nested_options(v: Any) -> None:
    obj = encode(NESTED, v)
    assert encode(NESTED, decode(NESTED, loads(dumps(obj)))) == obj
