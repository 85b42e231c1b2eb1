"""The hand-written WAT component fixtures (fixtures/wat/*.wat), run on real wasmtime.

Each fixture is compiled from its text, instantiated with a component Linker whose
host functions are plain Python recorders (test host functions, not the theater
handlers), and driven the way the host drives an actor. The tests pin:

* the exact WIT signatures each fixture imports and exports (upstream theater:simple
  and wasi:random@0.2.3 signatures);
* the canonical-ABI layouts the fixtures rely on (flat core signatures are checked by
  wasmtime at compile time; memory layouts by round-tripping values through them);
* the exact sequence of host calls per export call and the returned state;
* that every divergence variant matches counter.wat up to the second handle-send and
  then differs exactly as documented in fixtures/wat/README.md;
* how wasmtime-py 50.0.1 represents the values and failures (facts the codec, the
  boundary and the recorder rely on).
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
import wasmtime
from wasmtime.component import (
    U8,
    U32,
    U64,
    Bool,
    Component,
    ComponentInstanceType,
    EnumType,
    FuncType,
    Linker,
    ListType,
    OptionType,
    RecordType,
    ResultType,
    String,
    TupleType,
)

WAT_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "wat"

ACTOR = "theater:simple/actor"
MSC = "theater:simple/message-server-client"
RUNTIME = "theater:simple/runtime"
RANDOM = "wasi:random/random@0.2.3"
SUPERVISOR = "theater:simple/supervisor"

INIT_SIG = "func(state: option<list<u8>>, params: tuple<string>) -> result<tuple<option<list<u8>>>, string>"
HANDLE_SEND_SIG = "func(state: option<list<u8>>, params: tuple<list<u8>>) -> result<tuple<option<list<u8>>>, string>"
LOG_SIG = "func(msg: string)"
U64_SIG = "func() -> u64"
BYTES_SIG = "func(len: u64) -> list<u8>"
LIST_CHILDREN_SIG = "func() -> list<string>"

MASK64 = (1 << 64) - 1


def le64(n: int) -> bytes:
    return struct.pack("<Q", n & MASK64)


ZERO = le64(0)

# ---------------------------------------------------------------------------
# Expected shape of every fixture: imports and exports, as WIT signatures.

COUNTER_EXPORTS = {ACTOR: {"init": INIT_SIG}, MSC: {"handle-send": HANDLE_SEND_SIG}}
COUNTER_IMPORTS = {RUNTIME: {"log": LOG_SIG}, RANDOM: {"get-random-bytes": BYTES_SIG}}

SHAPES = {
    "random_loop": ({RANDOM: {"get-random-u64": U64_SIG}}, COUNTER_EXPORTS),
    "coin": ({RANDOM: {"get-random-u64": U64_SIG}}, COUNTER_EXPORTS),
    "counter": (COUNTER_IMPORTS, COUNTER_EXPORTS),
    "counter_args": (COUNTER_IMPORTS, COUNTER_EXPORTS),
    "counter_extra": (
        {RUNTIME: {"log": LOG_SIG}, RANDOM: {"get-random-bytes": BYTES_SIG, "get-random-u64": U64_SIG}},
        COUNTER_EXPORTS,
    ),
    "counter_missing": (COUNTER_IMPORTS, COUNTER_EXPORTS),
    "counter_state": (COUNTER_IMPORTS, COUNTER_EXPORTS),
    "counter_trap": (COUNTER_IMPORTS, COUNTER_EXPORTS),
    "counter_err": (COUNTER_IMPORTS, COUNTER_EXPORTS),
    "spin": ({}, {ACTOR: {"init": INIT_SIG}}),
    "grow": ({}, {ACTOR: {"init": INIT_SIG}}),  # memory-limit fixture (tests/test_reliability.py)
    "no_init": ({}, {ACTOR: {"ping": "func() -> u32"}}),
    "needs_fs": ({SUPERVISOR: {"list-children": LIST_CHILDREN_SIG}}, {ACTOR: {"init": INIT_SIG}}),
    # the actor of the run tests (issue 19): upstream's exact theater:simple signatures
    "stage": (
        {
            "theater:simple/types": {},
            "theater:simple/message-server-host": {
                "send": "func(actor-id: string, msg: list<u8>) -> result<_, string>",
                "request": "func(actor-id: string, msg: list<u8>) -> result<list<u8>, string>",
                "open-channel": "func(actor-id: string, initial-msg: list<u8>) -> result<string, string>",
                "send-on-channel": "func(channel-id: string, msg: list<u8>) -> result<_, string>",
                "close-channel": "func(channel-id: string) -> result<_, string>",
                "list-outstanding-requests": "func() -> list<string>",
                "respond-to-request": "func(request-id: string, response: list<u8>) -> result<_, string>",
                "cancel-request": "func(request-id: string) -> result<_, string>",
            },
            SUPERVISOR: {
                "spawn": "func(manifest: string, init-bytes: option<list<u8>>) -> result<string, string>",
                "stop-child": "func(child-id: string) -> result<_, string>",
                "restart-child": "func(child-id: string) -> result<_, string>",
            },
        },
        {
            ACTOR: {"init": INIT_SIG},
            MSC: {
                "handle-send": HANDLE_SEND_SIG,
                "handle-request": "func(state: option<list<u8>>, params: tuple<string, list<u8>>) -> "
                                  "result<tuple<option<list<u8>>, tuple<option<list<u8>>>>, string>",
                "handle-channel-open": "func(state: option<list<u8>>, params: tuple<string, list<u8>>) -> "
                                       "result<tuple<option<list<u8>>, tuple<record { accepted: bool, "
                                       "message: option<list<u8>> }>>, string>",
                "handle-channel-message": "func(state: option<list<u8>>, params: tuple<string, list<u8>>) -> "
                                          "result<tuple<option<list<u8>>>, string>",
                "handle-channel-close": "func(state: option<list<u8>>, params: tuple<string>) -> "
                                        "result<tuple<option<list<u8>>>, string>",
            },
            "theater:simple/supervisor-handlers": {
                "handle-child-error": "func(state: option<list<u8>>, params: tuple<string, record { error-type: "
                                      "enum { operation-timeout, channel-closed, shutting-down, function-not-found, "
                                      "type-mismatch, internal, serialization-error, update-component-error, "
                                      "paused }, data: option<list<u8>> }>) -> result<tuple<option<list<u8>>>, string>",
                "handle-child-exit": "func(state: option<list<u8>>, params: tuple<string, option<list<u8>>>) -> "
                                     "result<tuple<option<list<u8>>>, string>",
                "handle-child-external-stop": "func(state: option<list<u8>>, params: tuple<string>) -> "
                                              "result<tuple<option<list<u8>>>, string>",
            },
        },
    ),
}


def wit(t) -> str:
    """Render a wasmtime-py component value type as WIT text (the subset used here)."""
    if isinstance(t, U8):
        return "u8"
    if isinstance(t, Bool):
        return "bool"
    if isinstance(t, RecordType):
        return "record { " + ", ".join(f"{n}: {wit(ft)}" for n, ft in t.fields) + " }"
    if isinstance(t, EnumType):
        return "enum { " + ", ".join(t.names) + " }"
    if isinstance(t, U32):
        return "u32"
    if isinstance(t, U64):
        return "u64"
    if isinstance(t, String):
        return "string"
    if isinstance(t, ListType):
        return f"list<{wit(t.element)}>"
    if isinstance(t, OptionType):
        return f"option<{wit(t.payload)}>"
    if isinstance(t, TupleType):
        return "tuple<" + ", ".join(wit(e) for e in t.elements) + ">"
    if isinstance(t, ResultType):
        ok = "_" if t.ok is None else wit(t.ok)
        err = "_" if t.err is None else wit(t.err)
        return f"result<{ok}, {err}>"
    raise AssertionError(f"unexpected type {t!r}")


def func_sig(ft: FuncType) -> str:
    params = ", ".join(f"{name}: {wit(t)}" for name, t in ft.params)
    result = ft.result
    return f"func({params})" + ("" if result is None else f" -> {wit(result)}")


def interface_shape(engine, externs) -> dict:
    shape = {}
    for iface, ext in externs.items():
        ity = ext.ty
        assert isinstance(ity, ComponentInstanceType), iface
        funcs = {}
        for fname, fext in ity.exports(engine).items():
            fty = fext.ty
            if iface == "theater:simple/types":  # types only (stage.wat's channel-accept, wit-actor-error)
                continue
            assert isinstance(fty, FuncType), (iface, fname)
            funcs[fname] = func_sig(fty)
        shape[iface] = funcs
    return shape


# ---------------------------------------------------------------------------
# Test host: records every call, returns deterministic values.

GOLDEN = 0x9E3779B97F4A7C15


class Host:
    """Test host functions for runtime/random/supervisor that record their calls.

    calls: a list of (function name, args tuple), in call order. get-random-u64
    returns the next value of `u64_values` if given, else (k+1)*GOLDEN mod 2^64
    for the k-th call; get-random-bytes(n) returns bytes((k*31 + i) & 0xff).
    """

    def __init__(self, u64_values=None, children=("alpha", "beta", "gamma")):
        self.calls: list[tuple[str, tuple]] = []
        self.u64_returned: list[int] = []
        self._u64_values = None if u64_values is None else list(u64_values)
        self._n_u64 = 0
        self._n_bytes = 0
        self.children = list(children)

    def log(self, store, msg):
        assert type(msg) is str
        self.calls.append(("log", (msg,)))

    def get_random_u64(self, store):
        if self._u64_values is None:
            v = ((self._n_u64 + 1) * GOLDEN) & MASK64
        else:
            v = self._u64_values[self._n_u64]
        self._n_u64 += 1
        self.u64_returned.append(v)
        self.calls.append(("get-random-u64", ()))
        return v

    def get_random_bytes(self, store, n):
        assert type(n) is int
        k = self._n_bytes
        self._n_bytes += 1
        self.calls.append(("get-random-bytes", (n,)))
        return bytes((k * 31 + i) & 0xFF for i in range(n))

    def list_children(self, store):
        self.calls.append(("list-children", ()))
        return list(self.children)

    def bind(self, linker: Linker, supervisor: bool = False) -> None:
        with linker.root() as root:
            with root.add_instance(RUNTIME) as inst:
                inst.add_func("log", self.log)
            with root.add_instance(RANDOM) as inst:
                inst.add_func("get-random-u64", self.get_random_u64)
                inst.add_func("get-random-bytes", self.get_random_bytes)
            if supervisor:
                with root.add_instance(SUPERVISOR) as inst:
                    inst.add_func("list-children", self.list_children)


# ---------------------------------------------------------------------------
# Fixtures and helpers

@pytest.fixture(scope="module")
def engine():
    return wasmtime.Engine()


_COMPILED: dict[tuple[int, str], Component] = {}


def compile_fixture(engine, name: str) -> Component:
    key = (id(engine), name)
    if key not in _COMPILED:
        _COMPILED[key] = Component(engine, (WAT_DIR / f"{name}.wat").read_text())
    return _COMPILED[key]


class Actor:
    """A fresh store + instance of one fixture, with export helpers."""

    def __init__(self, engine, name, host: Host | None = None, supervisor=False, component=None, fuel=None):
        self.engine = engine
        self.host = host if host is not None else Host()
        self.store = wasmtime.Store(engine)
        if fuel is not None:  # with consume_fuel, instantiation already needs fuel
            self.store.set_fuel(fuel)
        linker = Linker(engine)
        self.host.bind(linker, supervisor=supervisor)
        self.component = component if component is not None else compile_fixture(engine, name)
        self.instance = linker.instantiate(self.store, self.component)

    def func(self, iface: str, name: str):
        idx = self.instance.get_export_index(self.store, iface)
        assert idx is not None, iface
        fidx = self.instance.get_export_index(self.store, name, idx)
        assert fidx is not None, (iface, name)
        f = self.instance.get_func(self.store, fidx)
        assert f is not None
        return f

    def call(self, iface, name, *args):
        f = self.func(iface, name)
        result = f(self.store, *args)
        # A no-op in wasmtime-py 50.0.1: post-return runs inside the call (see
        # test_post_return_runs_automatically). Kept to show it is harmless.
        f.post_return(self.store)
        return result

    def init(self, state, param: str):
        return self.call(ACTOR, "init", state, (param,))

    def handle_send(self, state, msg: bytes):
        return self.call(MSC, "handle-send", state, (msg,))


ALL_FIXTURES = sorted(SHAPES)


def test_fixture_set_is_complete():
    assert sorted(p.stem for p in WAT_DIR.glob("*.wat")) == ALL_FIXTURES


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_compiles_fast_with_exact_signatures(engine, name):
    text = (WAT_DIR / f"{name}.wat").read_text()
    t0 = time.perf_counter()
    component = Component(engine, text)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"{name} took {elapsed:.3f}s to compile"  # ~2-6 ms in practice
    expected_imports, expected_exports = SHAPES[name]
    ctype = component.type
    assert interface_shape(engine, ctype.imports(engine)) == expected_imports
    assert interface_shape(engine, ctype.exports(engine)) == expected_exports


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_serialize_roundtrip(engine, name):
    component = compile_fixture(engine, name)
    data = component.serialize()
    again = Component.deserialize(engine, data)
    assert list(again.type.exports(engine)) == list(SHAPES[name][1])


# ---------------------------------------------------------------------------
# Canonical ABI: the flat core signatures are validated by wasmtime when the
# component is compiled, so a fixture whose core function does not match the
# flattening of its WIT type cannot compile. These mutations prove that check is
# real (the unmutated text compiles in test_compiles_fast_with_exact_signatures).

_INIT_PARAMS = "(param $sdisc i32) (param $sptr i32) (param $slen i32) (param $pptr i32) (param $plen i32)"
_HS_PARAMS = "(param $sdisc i32) (param $sptr i32) (param $slen i32) (param $mptr i32) (param $mlen i32)"
_INIT_TAIL = "(else (call $return_u64 (i64.const 0)))))"
_INIT_LIFT = "(canon lift (core func $init_core) (memory $mem) (realloc $realloc) (post-return $post_return))"


def _mutate(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize(
    "mutations, message",
    [
        # option<list<u8>> -> (i32 disc, i32 ptr, i32 len); tuple<string> -> (i32 ptr, i32 len)
        ([(_INIT_PARAMS, _INIT_PARAMS.replace(" (param $plen i32)", ""))],
         "lowered parameter types `[I32, I32, I32, I32, I32]` do not match parameter types `[I32, I32, I32, I32]`"),
        # option<list<u8>> -> 3 flat values; tuple<list<u8>> -> (i32 ptr, i32 len)
        ([(_HS_PARAMS, _HS_PARAMS.replace(" (param $mptr i32)", ""))],
         "lowered parameter types `[I32, I32, I32, I32, I32]` do not match parameter types `[I32, I32, I32, I32]`"),
        # result<tuple<option<list<u8>>>, string> flattens to 4 values > MAX_FLAT_RESULTS (1),
        # so the lifted core function returns one i32: the return-area pointer
        ([(_INIT_PARAMS + "\n      (result i32)", _INIT_PARAMS + "\n      (result i64)"),
          (_INIT_TAIL, _INIT_TAIL[:-1] + "\n      i64.extend_i32_u)"),
          # (post-return takes the core results, so it must go too)
          (_INIT_LIFT, _INIT_LIFT.replace(" (post-return $post_return)", ""))],
         "lowered result types `[I32]` do not match result types `[I64]`"),
    ],
    ids=["init-params", "handle-send-params", "export-result"],
)
def test_flat_core_signatures_match_wasmtime(engine, mutations, message):
    """Wasmtime checks each lifted core function against the flattening of its WIT
    type when compiling. Breaking the core signature (while keeping the core module
    valid) makes wasmtime print its own flattening, which is what the fixtures use.
    (The flat check alone cannot tell an i32 return pointer from, say, a u32
    result; the memory layouts are proved by the round-trip tests below.)"""
    text = (WAT_DIR / "counter.wat").read_text()
    for old, new in mutations:
        text = _mutate(text, old, new)
    with pytest.raises(wasmtime.WasmtimeError) as info:
        Component(engine, text)
    assert message in str(info.value)


def test_option_and_result_memory_layout_roundtrip(engine):
    """counter.init returns a `some` state as it was given: the host lowers it into
    guest memory (realloc), the guest writes ok/some/ptr/len into its return area at
    +0/+4/+8/+12, the host lifts it back. Any layout error garbles the bytes."""
    a = Actor(engine, "counter")
    blob = bytes(range(256)) * 5 + b"tail"
    assert a.init(blob, "x") == (blob,)
    assert a.init(b"", "") == (b"",)  # some(empty) stays some, distinct from none
    assert a.init(None, "") == (ZERO,)
    assert a.host.calls == [("log", ("init",))] * 3


def test_err_string_layout(engine):
    """err("boom"): discriminant 1 at +0, string ptr at +4, len at +8."""
    a = Actor(engine, "counter_err")
    state = a.init(None, "")[0]
    state = a.handle_send(state, b"a")[0]
    assert a.handle_send(state, b"b") == "boom"


# ---------------------------------------------------------------------------
# wasmtime-py value representation facts (relied on by the codec and boundary)

def test_value_representation(engine):
    a = Actor(engine, "counter")
    ok = a.init(None, "")
    # result ok(tuple<option<list<u8>>>) -> a Python tuple with one element;
    # option some(list<u8>) -> bytes (untagged), none -> None
    assert type(ok) is tuple and len(ok) == 1 and type(ok[0]) is bytes
    # list<u8> arguments must be `bytes`; bytearray / list / str are refused
    for bad in (bytearray(b"a"), [97], "a"):
        with pytest.raises(TypeError, match="expected bytes value"):
            a.handle_send(ok[0], bad)
    # a tuple<...> parameter must be a Python tuple
    with pytest.raises(TypeError, match="expected tuple type"):
        a.func(MSC, "handle-send")(a.store, None, [b"a"])
    # the result err(string) arrives as a bare str
    e = Actor(engine, "counter_err")
    s = e.init(None, "")[0]
    s = e.handle_send(s, b"")[0]
    err = e.handle_send(s, b"")
    assert type(err) is str and err == "boom"


def test_host_function_exception_propagates_and_poisons_instance(engine):
    class HostFailure(Exception):
        pass

    class FailingHost(Host):
        def get_random_bytes(self, store, n):
            raise HostFailure("host failed")

    a = Actor(engine, "counter", host=FailingHost())
    with pytest.raises(HostFailure, match="host failed"):
        a.handle_send(None, b"x")
    with pytest.raises(wasmtime.WasmtimeError, match="cannot enter component instance"):
        a.init(None, "")


def test_host_returning_bytearray_for_list_u8_is_a_type_error(engine):
    class BadHost(Host):
        def get_random_bytes(self, store, n):
            return bytearray(n)

    a = Actor(engine, "counter", host=BadHost())
    with pytest.raises(TypeError, match="expected bytes value"):
        a.handle_send(None, b"x")


def test_post_return_runs_automatically(engine):
    """wasmtime-py 50.0.1 runs the post-return function itself at the end of each
    call: without ever calling Func.post_return, ten 60 KB messages fit in a memory
    limited to 2 pages, because the fixture's post-return resets its bump heap.
    The same component without the post-return option runs out of memory, which
    shows the limit is real."""
    text = (WAT_DIR / "counter.wat").read_text()
    without = text.replace(" (post-return $post_return)", "")
    assert without != text

    def run(component):
        store = wasmtime.Store(engine)
        store.set_limits(memory_size=2 * 65536)
        linker = Linker(engine)
        Host().bind(linker)
        inst = linker.instantiate(store, component)
        m = inst.get_export_index(store, MSC)
        f = inst.get_func(store, inst.get_export_index(store, "handle-send", m))
        state = None
        for _ in range(10):
            state = f(store, state, (b"x" * 60_000,))[0]  # no post_return call
        return state

    assert run(Component(engine, text)) == le64(600_000)
    with pytest.raises(wasmtime.WasmtimeError, match="unreachable"):
        run(Component(engine, without))


# ---------------------------------------------------------------------------
# random_loop.wat

def sum64(values) -> int:
    return sum(values) & MASK64


@pytest.mark.parametrize(
    "param, n",
    [("5", 5), ("", 0), ("0", 0), ("1", 1), ("007", 7), ("10", 10), ("123", 123),
     ("12x", 0), ("x12", 0), ("-3", 0), ("+3", 0), (" 5", 0), ("5 ", 0), ("1.5", 0),
     ("9", 9), ("19", 19), ("1:", 0), ("1/", 0), ("\u0663", 0)],
)
def test_random_loop_init_parses_n(engine, param, n):
    a = Actor(engine, "random_loop")
    result = a.init(None, param)
    assert a.host.calls == [("get-random-u64", ())] * n
    assert result == (le64(sum64(a.host.u64_returned)),)
    assert len(a.host.u64_returned) == n


def test_random_loop_init_wraps_and_starts_from_state(engine):
    a = Actor(engine, "random_loop", host=Host(u64_values=[MASK64, MASK64, 3, 10, 20]))
    assert a.init(None, "3") == (le64(1),)  # (2^64-1)*2 + 3 mod 2^64
    assert a.init(le64(100) + b"ignored", "2") == (le64(130),)
    assert a.init(b"short", "") == (ZERO,)  # state shorter than 8 bytes counts as 0
    assert len(a.host.calls) == 5


def test_random_loop_large_n(engine):
    a = Actor(engine, "random_loop")
    result = a.init(None, "20000")
    assert len(a.host.calls) == 20000
    assert result == (le64(sum64(a.host.u64_returned)),)


def test_random_loop_handle_send(engine):
    a = Actor(engine, "random_loop")
    state = a.init(None, "2")[0]
    after_init = sum64(a.host.u64_returned)
    assert state == le64(after_init)
    assert a.handle_send(state, b"abcd") == (le64(sum64(a.host.u64_returned)),)
    assert len(a.host.calls) == 6
    before = len(a.host.calls)
    assert a.handle_send(le64(7), b"") == (le64(7),)  # empty message: no call
    assert len(a.host.calls) == before
    assert a.handle_send(None, b"z") == (le64(a.host.u64_returned[-1]),)
    assert a.host.calls == [("get-random-u64", ())] * 7


def test_coin_draws_again_on_an_odd_draw(engine):
    """coin.wat (issue 13 item 3's what-if fixture): one draw, and a second one when the
    first is odd; the state is their sum."""
    a = Actor(engine, "coin", host=Host(u64_values=[4, 7, 10, 20]))
    state = a.init(None, "0")[0]
    assert a.handle_send(state, b"m") == (le64(4),)  # even: one draw
    assert a.handle_send(le64(1), b"m") == (le64(1 + 7 + 10),)  # odd: a second draw
    assert a.host.calls == [("get-random-u64", ())] * 3


def test_random_loop_is_deterministic_across_instances(engine):
    results = []
    for _ in range(2):
        a = Actor(engine, "random_loop")
        s = a.init(None, "50")[0]
        results.append((s, a.handle_send(s, b"xyz")))
    assert results[0] == results[1]


# ---------------------------------------------------------------------------
# counter.wat and its divergence variants

SCENARIO = [("init", None, ""), ("handle-send", b"abc"), ("handle-send", b"hello"), ("handle-send", b"xy")]


def run_scenario(engine, name):
    """Run SCENARIO on a fresh instance. Returns a trace: per export call, the
    host calls it made and its outcome (the result, or ("trap", message)).
    The host keeps the previous state when a call returns err or traps."""
    a = Actor(engine, name)
    trace = []
    state = None
    for step in SCENARIO:
        start = len(a.host.calls)
        try:
            if step[0] == "init":
                result = a.init(step[1], step[2])
            else:
                result = a.handle_send(state, step[1])
        except wasmtime.WasmtimeError as exc:
            result = ("trap", str(exc))
        if type(result) is tuple and len(result) == 1:
            state = result[0]
        trace.append((step[0], a.host.calls[start:], result))
    return trace


BYTES4 = ("get-random-bytes", (4,))
LOG_HS = ("log", ("handle-send",))
LOG_INIT = ("log", ("init",))

COUNTER_TRACE = [
    ("init", [LOG_INIT], (ZERO,)),
    ("handle-send", [BYTES4, LOG_HS], (le64(3),)),
    ("handle-send", [BYTES4, LOG_HS], (le64(8),)),
    ("handle-send", [BYTES4, LOG_HS], (le64(10),)),
]


def test_counter_scenario(engine):
    assert run_scenario(engine, "counter") == COUNTER_TRACE


def test_counter_init_keeps_given_state_and_handle_send_reads_it(engine):
    a = Actor(engine, "counter")
    assert a.init(le64(41), "ignored") == (le64(41),)
    assert a.handle_send(le64(41), b"z") == (le64(42),)
    assert a.handle_send(le64(MASK64), b"ab") == (le64(1),)  # wraps
    assert a.handle_send(None, b"abcd") == (le64(4),)  # none counts as 0
    assert a.handle_send(b"1234567", b"") == (ZERO,)  # < 8 bytes counts as 0
    assert a.handle_send(le64(5) + b"extra", b"") == (le64(5),)
    assert a.host.calls == [LOG_INIT] + [BYTES4, LOG_HS] * 5


def test_counter_handle_send_never_diverges_on_later_calls(engine):
    a = Actor(engine, "counter")
    s = a.init(None, "")[0]
    for i in range(1, 6):
        s = a.handle_send(s, b"x" * i)[0]
    assert s == le64(15)
    assert a.host.calls == [LOG_INIT] + [BYTES4, LOG_HS] * 5


VARIANT_SECOND_SEND = {
    "counter_args": ([("get-random-bytes", (16,)), LOG_HS], (le64(8),)),
    "counter_extra": ([BYTES4, ("get-random-u64", ()), LOG_HS], (le64(8),)),
    "counter_missing": ([LOG_HS], (le64(8),)),
    "counter_state": ([BYTES4, LOG_HS], (le64(9),)),
    "counter_trap": ([BYTES4], "trap"),
    "counter_err": ([BYTES4, LOG_HS], "boom"),
}

VARIANT_THIRD_SEND = {
    "counter_args": ([BYTES4, LOG_HS], (le64(10),)),
    "counter_extra": ([BYTES4, LOG_HS], (le64(10),)),
    "counter_missing": ([BYTES4, LOG_HS], (le64(10),)),
    "counter_state": ([BYTES4, LOG_HS], (le64(11),)),
    "counter_trap": ([], "poisoned"),
    "counter_err": ([BYTES4, LOG_HS], (le64(5),)),  # from the state kept after err: 3 + 2
}


@pytest.mark.parametrize("name", sorted(VARIANT_SECOND_SEND))
def test_divergence_variant(engine, name):
    trace = run_scenario(engine, name)
    # identical to counter.wat through init and the first handle-send
    assert trace[:2] == COUNTER_TRACE[:2]
    # the second handle-send differs, exactly as documented
    calls, outcome = VARIANT_SECOND_SEND[name]
    kind, got_calls, got = trace[2]
    assert kind == "handle-send"
    assert got_calls == calls
    if outcome == "trap":
        assert got[0] == "trap"
        assert "wasm `unreachable` instruction executed" in got[1]
    else:
        assert got == outcome
    assert trace[2] != COUNTER_TRACE[2]
    # later calls behave like counter.wat again (a trapped instance stays dead)
    calls, outcome = VARIANT_THIRD_SEND[name]
    _, got_calls, got = trace[3]
    assert got_calls == calls
    if outcome == "poisoned":
        assert got == ("trap", "wasm trap: cannot enter component instance")
    else:
        assert got == outcome


# ---------------------------------------------------------------------------
# spin.wat, no_init.wat, needs_fs.wat

def test_spin_is_stopped_by_fuel():
    config = wasmtime.Config()
    config.consume_fuel = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    store.set_fuel(1_000_000)
    inst = Linker(engine).instantiate(store, Component(engine, (WAT_DIR / "spin.wat").read_text()))
    actor = inst.get_export_index(store, ACTOR)
    init = inst.get_func(store, inst.get_export_index(store, "init", actor))
    t0 = time.perf_counter()
    with pytest.raises(wasmtime.WasmtimeError) as info:
        init(store, None, ("",))
    assert time.perf_counter() - t0 < 10
    assert type(info.value) is wasmtime.WasmtimeError
    assert "wasm trap: all fuel consumed by WebAssembly" in str(info.value)
    assert store.get_fuel() == 0
    with pytest.raises(wasmtime.WasmtimeError, match="cannot enter component instance"):
        init(store, None, ("",))


def test_no_init(engine):
    a = Actor(engine, "no_init")
    actor = a.instance.get_export_index(a.store, ACTOR)
    assert actor is not None
    assert a.instance.get_export_index(a.store, "init", actor) is None
    assert a.instance.get_export_index(a.store, MSC) is None
    assert a.call(ACTOR, "ping") == 42
    assert a.host.calls == []


def test_needs_fs_unbound_import_is_refused(engine):
    component = compile_fixture(engine, "needs_fs")
    store = wasmtime.Store(engine)
    linker = Linker(engine)
    Host().bind(linker)  # runtime + random only
    with pytest.raises(wasmtime.WasmtimeError) as info:
        linker.instantiate(store, component)
    assert "component imports instance `theater:simple/supervisor`" in str(info.value)


def test_needs_fs_import_bound_to_trap(engine):
    component = compile_fixture(engine, "needs_fs")
    store = wasmtime.Store(engine)
    linker = Linker(engine)
    linker.define_unknown_imports_as_traps(component)
    inst = linker.instantiate(store, component)
    actor = inst.get_export_index(store, ACTOR)
    init = inst.get_func(store, inst.get_export_index(store, "init", actor))
    with pytest.raises(wasmtime.WasmtimeError) as info:
        init(store, None, ("",))
    assert "unknown import: `theater:simple/supervisor#list-children` has not been defined" in str(info.value)


@pytest.mark.parametrize("children", [[], ["alpha"], ["alpha", "beta", "gamma"], [str(i) * i for i in range(40)]])
def test_needs_fs_calls_list_children_once(engine, children):
    host = Host(children=children)
    a = Actor(engine, "needs_fs", host=host, supervisor=True)
    assert a.init(None, "") == (le64(len(children)),)
    assert host.calls == [("list-children", ())]


def test_fixtures_run_under_deterministic_config():
    """The settings the runtime uses (DESIGN.md: NaN canonicalization, deterministic
    relaxed SIMD, fuel) accept every fixture, and the counter scenario is unchanged."""
    config = wasmtime.Config()
    config.cranelift_nan_canonicalization = True
    config.wasm_relaxed_simd_deterministic = True
    config.consume_fuel = True
    engine = wasmtime.Engine(config)
    for name in ALL_FIXTURES:
        Component(engine, (WAT_DIR / f"{name}.wat").read_text())
    a = Actor(engine, "counter", fuel=10_000_000)
    s = a.init(None, "")[0]
    for msg in (b"abc", b"hello", b"xy"):
        s = a.handle_send(s, msg)[0]
    assert s == le64(10)
    assert 0 < a.store.get_fuel() < 10_000_000
