"""theater/fastcall.py (issue 19, its bench target: messages between two actors at
>= 0.4 of the bare host-call rate): an export called through theater's conversions,
built once per function, returns what wasmtime-py's own ``Func.__call__`` returns for
every type theater's actors use, refuses what it refuses, and records the same run
chains; so does a host function's argument lifted by them in theater's trampoline
(theater/fasthost.py); it is used for the checked wasmtime-py version only.

The components are real (WAT, generated per type): export ``e<i>`` of type
``func(x: T) -> T`` passes its flattened argument to the host import ``h<i>`` and
returns what the host returned (the host, wasmtime-py's own ``add_func``, answers
with its argument), so a value crosses the export both ways.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import wasmtime.component as wc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from system_helpers import stage_manifest
from wasmtime.component import Record, Variant

from theater import fastcall, fasthost, wtpatch
from theater.engine import engine, new_store
from theater.manifest import load_manifest
from theater.store import Store
from theater.system import RunInput, record_run

# -- types, their flattening (the canonical ABI) and their WAT --------------------------

Ty = tuple[Any, ...]
INTS = {"u8": (0, 2**8 - 1), "u16": (0, 2**16 - 1), "u32": (0, 2**32 - 1), "u64": (0, 2**64 - 1),
        "s8": (-2**7, 2**7 - 1), "s16": (-2**15, 2**15 - 1), "s32": (-2**31, 2**31 - 1), "s64": (-2**63, 2**63 - 1)}
BYTES: Ty = ("list", ("u8",))
STATE: Ty = ("option", BYTES)
ACCEPT: Ty = ("record", (("accepted", ("bool",)), ("message", STATE)))
ERROR_TYPE: Ty = ("enum", ("operation-timeout", "channel-closed", "internal"))
SHAPE: Ty = ("variant", (("circle", ("f64",)), ("point", None), ("named", ("string",))))

#: every type theater's exports and imports use, and their neighbours
TYPES: list[Ty] = [
    ("bool",), *[(k,) for k in INTS], ("f32",), ("f64",), ("char",), ("string",), BYTES, ("list", ("u32",)),
    ("list", ("string",)), STATE, ("option", ("string",)), ("option", ("option", ("u32",))),
    ("result", ("tuple", (STATE,)), ("string",)), ("result", None, ("string",)), ("result", BYTES, ("string",)),
    ("result", ("u32",), None), ("result", None, None), ("result", ("string",), ("string",)),
    ("tuple", (("string",), BYTES)), ("tuple", (("u64",), ("bool",), ("char",))),
    ("result", ("tuple", (STATE, ("tuple", (ACCEPT,)))), ("string",)), ACCEPT, ERROR_TYPE,
    ("record", (("error-type", ERROR_TYPE), ("data", STATE))), SHAPE, ("option", SHAPE),
    ("tuple", (("string",), ("record", (("error-type", ERROR_TYPE), ("data", STATE))))),
]
NAMED = ("record", "enum", "variant")  # types a component must name (imported here from an instance)


def flat(t: Ty) -> list[str]:
    k = t[0]
    if k in ("bool", "char", "u8", "u16", "u32", "s8", "s16", "s32", "enum"):
        return ["i32"]
    if k in ("u64", "s64"):
        return ["i64"]
    if k in ("f32", "f64"):
        return [k]
    if k in ("string", "list"):
        return ["i32", "i32"]
    if k == "tuple":
        return [f for e in t[1] for f in flat(e)]
    if k == "record":
        return [f for _, e in t[1] for f in flat(e)]
    payloads = {"option": lambda: [t[1]], "result": lambda: [t[1], t[2]],
                "variant": lambda: [c for _, c in t[1]]}[k]()
    joined: list[str] = []
    for p in payloads:
        for i, f in enumerate([] if p is None else flat(p)):
            if i == len(joined):
                joined.append(f)
            elif joined[i] != f:
                joined[i] = "i32" if {joined[i], f} == {"i32", "f32"} else "i64"
    return ["i32", *joined]


def wat(t: Ty, names: dict[Ty, str]) -> str:
    k = t[0]
    if t in names:
        return names[t]
    if k == "list":
        return f"(list {wat(t[1], names)})"
    if k == "option":
        return f"(option {wat(t[1], names)})"
    if k == "tuple":
        return "(tuple " + " ".join(wat(e, names) for e in t[1]) + ")"
    if k == "result":
        ok = "" if t[1] is None else " " + wat(t[1], names)
        err = "" if t[2] is None else f" (error {wat(t[2], names)})"
        return f"(result{ok}{err})"
    if k == "record":
        return "(record " + " ".join(f'(field "{n}" {wat(e, names)})' for n, e in t[1]) + ")"
    if k == "enum":
        return "(enum " + " ".join(f'"{n}"' for n in t[1]) + ")"
    if k == "variant":
        return "(variant " + " ".join(f'(case "{n}"' + ("" if e is None else " " + wat(e, names)) + ")"
                                      for n, e in t[1]) + ")"
    return k


def named_in(t: Ty, out: list[Ty]) -> None:
    """The record, enum and variant types in ``t``, innermost first."""
    k = t[0]
    subs = {"list": lambda: [t[1]], "option": lambda: [t[1]], "tuple": lambda: list(t[1]),
            "result": lambda: [x for x in t[1:] if x is not None], "record": lambda: [e for _, e in t[1]],
            "variant": lambda: [e for _, e in t[1] if e is not None]}.get(k, list)()
    for s in subs:
        named_in(s, out)
    if k in NAMED and t not in out:
        out.append(t)


def echo_wat(types: list[Ty]) -> str:
    named: list[Ty] = []
    for t in types:
        named_in(t, named)
    inner: dict[Ty, str] = {}
    type_decls = []
    for i, t in enumerate(named):
        type_decls.append(f'(type $d{i} {wat(t, inner)}) (export "t{i}" (type $t{i} (eq $d{i})))')
        inner[t] = f"$t{i}"
    outer = {t: f"$n{i}" for i, t in enumerate(named)}
    aliases = "\n".join(f'(alias export $types "t{i}" (type $n{i}))' for i in range(len(named)))
    host, lowers, core_imports, core_funcs, lifts, withs, posts = [], [], [], [], [], [], []
    for i, t in enumerate(types):
        w = wat(t, outer)
        host.append(f'(export "h{i}" (func (param "x" {w}) (result {w})))')
        lowers.append(f'(core func $h{i} (canon lower (func $host "h{i}") (memory $mem) (realloc $realloc)))')
        params = flat(t)
        if len(params) > 16:
            params = ["i32"]
        results = flat(t)
        retptr = len(results) > 1
        imp_params = params + (["i32"] if retptr else [])
        imp_result = "" if retptr else f" (result {results[0]})"
        core_imports.append(f'(import "host" "h{i}" (func $h{i} (param {" ".join(imp_params)}){imp_result}))')
        args = " ".join(f"(local.get {j})" for j in range(len(params))) + (" (i32.const 16)" if retptr else "")
        ret = "i32" if retptr else results[0]
        core_funcs.append(f'(func (export "e{i}") (param {" ".join(params)}) (result {ret})'
                          f' (call $h{i} {args}){" (i32.const 16)" if retptr else ""})')
        core_funcs.append(f'(func (export "post{i}") (param {ret}) (global.set $heap (i32.const 1024)))')
        posts.append(f'(alias core export $main "post{i}" (core func $post{i}))')
        withs.append(f'(export "h{i}" (func $h{i}))')
        lifts.append(f'(func (export "e{i}") (param "x" {w}) (result {w}) (canon lift (core func $main "e{i}") '
                     f"(memory $mem) (realloc $realloc) (post-return $post{i})))")
    nl = "\n  "
    return f"""
(component
  (import "types" (instance $types {" ".join(type_decls)}))
  {aliases}
  (import "host" (instance $host {" ".join(host)}))
  (core module $libc
    (memory (export "memory") 1)
    (global $heap (export "heap") (mut i32) (i32.const 1024))
    (func (export "cabi_realloc")
      (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
      (local $ptr i32) (local $end i32)
      (local.set $ptr
        (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                 (i32.sub (i32.const 0) (local.get $align))))
      (local.set $end (i32.add (local.get $ptr) (local.get $new_size)))
      (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
        (then
          (if (i32.eq
                (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (i32.shl (memory.size) (i32.const 16)))
                                                 (i32.const 65535))
                                        (i32.const 16)))
                (i32.const -1))
            (then unreachable))))
      (global.set $heap (local.get $end))
      (local.get $ptr))
  )
  (core instance $libc (instantiate $libc))
  (alias core export $libc "memory" (core memory $mem))
  (alias core export $libc "cabi_realloc" (core func $realloc))
  {nl.join(lowers)}
  (core module $main
    (import "libc" "memory" (memory 1))
    (import "libc" "heap" (global $heap (mut i32)))
    {nl.join(core_imports)}
    {nl.join(core_funcs)}
  )
  (core instance $main (instantiate $main
    (with "libc" (instance $libc))
    (with "host" (instance {" ".join(withs)}))))
  {nl.join(posts)}
  {nl.join(lifts)}
)
"""


# -- Python values of each type, as wasmtime-py represents them --------------------------


def classes(t: Ty) -> set[type]:
    """wasmtime-py's ``add_classes`` of a type."""
    k = t[0]
    if k == "bool":
        return {bool}
    if k in INTS:
        return {int}
    if k in ("f32", "f64"):
        return {float}
    if k in ("char", "string", "enum"):
        return {str}
    if k == "list":
        return {bytes} if t[1] == ("u8",) else {list}
    if k == "tuple":
        return {tuple}
    if k == "record":
        return {Record}
    if tagged(t):
        return {Variant}
    out: set[type] = set()
    for c in cases(t).values():
        out |= {object} if c is None else classes(c)
    return out


def cases(t: Ty) -> dict[str, Ty | None]:
    if t[0] == "option":
        return {"none": None, "some": t[1]}
    if t[0] == "result":
        return {"ok": t[1], "err": t[2]}
    return dict(t[1])


def tagged(t: Ty) -> bool:
    seen: set[type] = set()
    for c in cases(t).values():
        cls = {object} if c is None else classes(c)
        if cls & seen:
            return True
        seen |= cls
    return False


def record(**fields: Any) -> Record:
    r = Record()
    for n, v in fields.items():
        setattr(r, n, v)
    return r


def values(t: Ty) -> st.SearchStrategy[Any]:
    k = t[0]
    if k == "bool":
        return st.booleans()
    if k in INTS:
        lo, hi = INTS[k]
        return st.one_of(st.sampled_from([lo, hi, 0 if lo == 0 else -1]), st.integers(lo, hi))
    if k == "f32":
        return st.floats(width=32, allow_nan=False)
    if k == "f64":
        return st.floats(allow_nan=False)
    if k == "char":
        return st.characters(exclude_categories=("Cs",))
    if k == "string":
        return st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
    if k == "list":
        if t[1] == ("u8",):
            return st.one_of(st.binary(max_size=100), st.binary(min_size=3000, max_size=6000))
        return st.lists(values(t[1]), max_size=6)
    if k == "tuple":
        return st.tuples(*[values(e) for e in t[1]])
    if k == "record":
        return st.fixed_dictionaries({n: values(e) for n, e in t[1]}).map(lambda d: record(**d))
    if k == "enum":
        return st.sampled_from(t[1])
    is_tagged = tagged(t)
    options = []
    for name, c in cases(t).items():
        payload = st.none() if c is None else values(c)
        if is_tagged:
            options.append(st.just(Variant(name)) if c is None else payload.map(lambda v, n=name: Variant(n, v)))
        else:
            options.append(payload)
    return st.one_of(*options)


def same(a: Any, b: Any) -> bool:
    """Equal, of the same Python types all the way down (bytes is not a list of ints)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Record):
        return vars(a).keys() == vars(b).keys() and all(same(v, getattr(b, n)) for n, v in vars(a).items())
    if isinstance(a, Variant):
        return a.tag == b.tag and same(a.payload, b.payload)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


# -- the component, called both ways ------------------------------------------------------


class Instance:
    """The generated component instantiated, its exports as wasmtime-py ``Func``s and
    its host functions added by wasmtime-py's ``add_func``; ``fast``: the exports
    wrapped by theater/fastcall.py and the host functions added by theater's
    trampoline (theater/fasthost.py, which lifts their arguments and packs a scalar
    result with fastcall's conversions), so a value crosses theater's code both ways."""

    def __init__(self, component: wc.Component, n: int, *, fast: bool) -> None:
        self.store = new_store()
        self.store.set_fuel(10**15)
        linker = wc.Linker(engine())
        with linker.root() as root, root.add_instance("host") as inst:
            for i in range(n):
                if fast:
                    fasthost.add_func(inst, f"h{i}", lambda store, x: x)
                else:
                    inst.add_func(f"h{i}", lambda store, x: x)
        self.instance = linker.instantiate(self.store, component)
        self.funcs = [self.instance.get_func(self.store, self.instance.get_export_index(self.store, f"e{i}"))
                      for i in range(n)]
        if fast:
            self.funcs = [fastcall.export_func(f, self.store) for f in self.funcs]

    def call(self, i: int, *args: Any) -> Any:
        return self.funcs[i](self.store, *args)


class Echoes:
    """The generated component, compiled once; ``plain`` and ``fast`` are an instance
    each (a call wasmtime refuses can leave its instance unusable: ``fresh()`` makes
    new ones)."""

    def __init__(self, types: list[Ty]) -> None:
        self.n = len(types)
        self.component = wc.Component(engine(), echo_wat(types))
        self.plain, self.fast = self.fresh()

    def fresh(self) -> tuple[Instance, Instance]:
        return Instance(self.component, self.n, fast=False), Instance(self.component, self.n, fast=True)


@pytest.fixture(scope="module")
def echoes() -> Echoes:
    return Echoes(TYPES)


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except Exception as e:
        return ("raised", (type(e), str(e).splitlines()[0] if str(e) else ""))


def test_it_is_active_for_the_checked_version_and_wraps_every_type(echoes):
    """issue 19 (bench): on the pinned wasmtime-py every export of theater's types is
    called through theater's conversions."""
    assert fastcall.status().active and fastcall.fingerprint() == fastcall._FINGERPRINT
    assert all(isinstance(f, fastcall.Export) for f in echoes.fast.funcs)


SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.data_too_large,
                                           HealthCheck.too_slow])


@pytest.mark.parametrize("index", range(len(TYPES)), ids=[wat(t, {}) for t in TYPES])
def test_values_cross_as_through_wasmtime_py(echoes, index):
    """issue 19 (bench): for every type, hypothesis values passed to the export and
    returned by it are the same through theater's conversions as through wasmtime-py's
    ``Func.__call__``, and of the same Python types; each call twice (the kept arrays
    reused)."""

    @SETTINGS
    @given(value=values(TYPES[index]))
    def check(value: Any) -> None:
        plain = outcome(lambda: echoes.plain.call(index, value))
        fast = outcome(lambda: echoes.fast.call(index, value))
        again = outcome(lambda: echoes.fast.call(index, value))
        assert plain[0] == fast[0] == again[0] == "ok", (plain, fast)
        assert same(fast[1], plain[1]) and same(again[1], plain[1])
        assert same(plain[1], value) or isinstance(value, float)  # an f32 rounds

    check()


#: values wasmtime-py converts or refuses in its own way: theater's conversions give
#: them to it (a bool for an int, an int out of range, a bytearray, a wrong case...)
ODD: list[tuple[Ty, Any]] = [
    (("u32",), True), (("u32",), 2**32), (("u32",), -1), (("u8",), 300), (("s8",), -129), (("u64",), 2**64),
    (("u32",), 1.5), (("u32",), "1"), (("bool",), 1), (("f64",), 1), (("f32",), 1e300), (("char",), "ab"),
    (("char",), ""), (("string",), b"x"), (("string",), "\ud800"), (BYTES, bytearray(b"ab")), (BYTES, [1, 2]),
    (BYTES, "ab"), (BYTES, None), (("list", ("u32",)), (1, 2)), (("list", ("u32",)), [1, "x"]),
    (("list", ("string",)), ["a", 3]), (STATE, "x"), (STATE, bytearray(b"x")), (STATE, [b"x"]),
    (("option", ("option", ("u32",))), 3), (("option", ("option", ("u32",))), Variant("some", 3)),
    (("option", ("option", ("u32",))), Variant("bad")), (("result", None, ("string",)), 3),
    (("result", None, ("string",)), b"x"), (("result", ("u32",), None), Variant("ok", 1)),
    (("result", None, None), None), (("result", None, None), Variant("ok", 1)),
    (("tuple", (("string",), BYTES)), ("a",)), (("tuple", (("string",), BYTES)), ["a", b"b"]),
    (("tuple", (("string",), BYTES)), ("a", "b")), (ACCEPT, record(accepted=True)), (ACCEPT, object()),
    (ACCEPT, record(accepted=1, message=None)), (ERROR_TYPE, "nope"), (ERROR_TYPE, 3),
    (SHAPE, Variant("circle", "x")), (SHAPE, "circle"), (SHAPE, Variant("square")),
    (("result", ("tuple", (STATE,)), ("string",)), (b"x",)),
]


@pytest.mark.parametrize(("ty", "value"), ODD, ids=[f"{wat(t, {})}={v!r:.20}" for t, v in ODD])
def test_odd_values_are_converted_or_refused_as_wasmtime_py_does(echoes, ty, value):
    """issue 19 (bench): what theater's conversions are not sure of goes through
    wasmtime-py's own call: the same result, or the same exception and message."""
    i = TYPES.index(ty)
    plain_instance, fast_instance = echoes.fresh()
    plain = outcome(lambda: plain_instance.call(i, value))
    fast = outcome(lambda: fast_instance.call(i, value))
    assert fast[0] == plain[0]
    if plain[0] == "ok":
        assert same(fast[1], plain[1])
    else:
        assert fast[1] == plain[1]
    # and where a refused value leaves the instance usable, the export works afterwards
    # (nothing half-lowered is left behind)
    good = {("u32",): 5, BYTES: b"ok", STATE: None}.get(ty)
    if good is not None and plain[0] == "raised" and outcome(lambda: plain_instance.call(i, good))[0] == "ok":
        assert fast_instance.call(i, good) == good


def test_a_wrong_number_of_arguments_fails_as_wasmtime_py_does(echoes):
    plain = outcome(lambda: echoes.plain.call(0))
    fast = outcome(lambda: echoes.fast.call(0))
    assert plain == fast and plain[0] == "raised" and plain[1][0] is TypeError


def _trapping_calls(*, fast: bool) -> list[tuple[str, Any]]:
    types = [("u32",), BYTES]
    store = new_store()
    store.set_fuel(10**12)
    linker = wc.Linker(engine())

    def host(store: Any, x: Any) -> Any:
        if x in (7, b"boom"):
            raise RuntimeError(f"refused {x!r}")
        return x

    with linker.root() as root, root.add_instance("host") as inst:
        for i in range(len(types)):
            inst.add_func(f"h{i}", host)
    instance = linker.instantiate(store, wc.Component(engine(), echo_wat(types)))
    funcs = [instance.get_func(store, instance.get_export_index(store, f"e{i}")) for i in range(2)]
    if fast:
        funcs = [fastcall.export_func(f, store) for f in funcs]
    return [outcome(lambda: funcs[0](store, 8)), outcome(lambda: funcs[1](store, b"ok")),
            outcome(lambda: funcs[0](store, 7)), outcome(lambda: funcs[1](store, b"fine"))]


def test_a_trap_fails_as_wasmtime_py_does():
    """A host function that raises traps the export the same way (the host's exception
    re-raised from the call), and the next call fails as it does through wasmtime-py
    (the trapped instance cannot be entered again)."""
    plain, fast = _trapping_calls(fast=False), _trapping_calls(fast=True)
    assert plain == fast
    assert fast[:2] == [("ok", 8), ("ok", b"ok")]
    assert fast[2] == ("raised", (RuntimeError, "refused 7")) and fast[3][0] == "raised"


@pytest.fixture
def fresh_status() -> Iterator[None]:
    fastcall.status.cache_clear()
    yield
    fastcall.status.cache_clear()


@pytest.mark.usefixtures("fresh_status")
def test_the_environment_turns_it_off(monkeypatch, echoes):
    monkeypatch.setenv(wtpatch.ENV_OFF, "1")
    assert fastcall.status().state is wtpatch.FastPathState.DISABLED
    f = echoes.plain.funcs[0]
    assert fastcall.export_func(f, echoes.plain.store) is f


@pytest.mark.usefixtures("fresh_status")
def test_changed_wasmtime_code_or_another_version_turns_it_off(monkeypatch, echoes):
    monkeypatch.setattr(fastcall, "_FINGERPRINT", {**fastcall._FINGERPRINT, "Func.__call__": "0" * 64})
    st_ = fastcall.status()
    assert st_.state is wtpatch.FastPathState.CODE_CHANGED and "Func.__call__" in st_.reason
    f = echoes.plain.funcs[0]
    assert fastcall.export_func(f, echoes.plain.store) is f
    monkeypatch.undo()
    fastcall.status.cache_clear()
    monkeypatch.setattr(wtpatch, "installed_version", lambda: "50.0.2")
    assert fastcall.status().state is wtpatch.FastPathState.UNSUPPORTED_VERSION


# every host function and export of stage.wat: option<list<u8>> states, tuples,
# result<_, string>, result<list<u8>, string>, the channel-accept and actor-error records
INPUTS = ("Pworker.toml", "Sworker one", "+Sworker two\nRworker three", "Cworker Bhello", "Rworker Dlater",
          "Sworker !", "Bworker ping", "Lworker", "Eworker")


def _record(folder: Any, db: str) -> list[Any]:
    stage_manifest(folder, "worker")
    m = load_manifest(stage_manifest(folder, "root", limits="messages = 25"))
    with Store(folder / db) as store:
        r = record_run(m, store, inputs=[RunInput("send", i.encode()) for i in INPUTS])
        return [(c.head, [(e.type, e.data) for e in store.events(c.chain)]) for c in r.chains]


@pytest.mark.usefixtures("fresh_status")
def test_runs_are_recorded_identically_with_and_without(tmp_path, monkeypatch):
    """issue 19 (bench): a run of two stage actors (sends, requests, channels, a trap,
    a ping-pong, every type their exports use) records the same chains, byte for byte,
    with export calls through theater's conversions and through wasmtime-py's."""
    calls = []
    real = fastcall.Export.__call__

    def counting(self: Any, store: Any, *args: Any) -> Any:
        calls.append(1)
        return real(self, store, *args)

    monkeypatch.setattr(fastcall.Export, "__call__", counting)
    with_ = _record(tmp_path, "a.db")
    assert len(calls) > 20  # every export call of the run went through theater's conversions
    calls.clear()
    monkeypatch.setattr(fastcall, "status", lambda: wtpatch.FastPathStatus(
        state=wtpatch.FastPathState.DISABLED, wasmtime=wtpatch.CHECKED_VERSION))
    without = _record(tmp_path, "b.db")
    assert not calls
    assert with_ == without and len(with_) >= 2 and sum(len(evs) for _, evs in with_) > 30
