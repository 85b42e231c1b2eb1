"""theater/fasthost.py (issue 18 item 5; issue 19, review leftover D7: theater's one
host trampoline): host functions registered through it, whose types are built once,
call exactly as through wasmtime-py's ``LinkerInstance.add_func``: the same values
both ways, the same errors. Real components (WAT), real calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import wasmtime
import wasmtime.component as wc
from actors import wat_manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasmtime.component import _types

from theater import fasthost, wtpatch
from theater.engine import engine, new_store
from theater.fastvalues import CHECKED_VERSION
from theater.manifest import load_manifest
from theater.recorder import record
from theater.store import Store

# Guest exports that pass their arguments to a host import and return its result:
# `next` () -> u64, `mix` (s32, u8, f64, char, bool) -> f32, `sink` (u32) -> nothing,
# and `echo` (list<u8>) -> list<u8>, which is not all-scalar.
SCALAR_WAT = """
(component
  (import "host" (instance $host
    (export "next" (func (result u64)))
    (export "mix" (func (param "a" s32) (param "b" u8) (param "c" f64) (param "d" char) (param "e" bool)
                        (result f32)))
    (export "sink" (func (param "x" u32)))
    (export "echo" (func (param "b" (list u8)) (result (list u8))))
  ))
  (core module $libc
    (memory (export "memory") 1)
    (global $heap (export "heap") (mut i32) (i32.const 1024))
    (func (export "cabi_realloc")
      (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
      (local $ptr i32)
      (local.set $ptr
        (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                 (i32.sub (i32.const 0) (local.get $align))))
      (global.set $heap (i32.add (local.get $ptr) (local.get $new_size)))
      (local.get $ptr))
  )
  (core instance $libc (instantiate $libc))
  (alias core export $libc "memory" (core memory $mem))
  (alias core export $libc "cabi_realloc" (core func $realloc))
  (core func $next (canon lower (func $host "next")))
  (core func $mix (canon lower (func $host "mix")))
  (core func $sink (canon lower (func $host "sink")))
  (core func $echo (canon lower (func $host "echo") (memory $mem) (realloc $realloc)))
  (core module $main
    (import "libc" "heap" (global $heap (mut i32)))
    (import "host" "next" (func $next (result i64)))
    (import "host" "mix" (func $mix (param i32 i32 f64 i32 i32) (result f32)))
    (import "host" "sink" (func $sink (param i32)))
    (import "host" "echo" (func $echo (param i32 i32 i32)))
    (func (export "next") (result i64) (call $next))
    (func (export "mix") (param i32 i32 f64 i32 i32) (result f32)
      (call $mix (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
    (func (export "sink") (param i32) (call $sink (local.get 0)))
    (func (export "echo") (param i32 i32) (result i32)
      (call $echo (local.get 0) (local.get 1) (i32.const 16)) (i32.const 16))
    (func (export "cabi_post_return") (param i32) (global.set $heap (i32.const 1024)))
  )
  (core instance $main (instantiate $main
    (with "libc" (instance $libc))
    (with "host" (instance
      (export "next" (func $next)) (export "mix" (func $mix)) (export "sink" (func $sink))
      (export "echo" (func $echo))))))
  (alias core export $main "cabi_post_return" (core func $post))
  (func (export "next") (result u64) (canon lift (core func $main "next")))
  (func (export "mix") (param "a" s32) (param "b" u8) (param "c" f64) (param "d" char) (param "e" bool)
    (result f32) (canon lift (core func $main "mix")))
  (func (export "sink") (param "x" u32) (canon lift (core func $main "sink")))
  (func (export "echo") (param "b" (list u8)) (result (list u8))
    (canon lift (core func $main "echo") (memory $mem) (realloc $realloc) (post-return $post)))
)
"""


class Host:
    """The component instantiated with its host functions added by ``add`` (theater's
    ``fasthost.add_func`` or wasmtime-py's ``LinkerInstance.add_func``). ``answer`` is
    what the host functions return (a value, or an exception to raise); ``seen`` holds
    the arguments they received."""

    def __init__(self, fast: bool) -> None:
        self.store = new_store()
        self.store.set_fuel(10**12)
        self.seen: list[tuple[str, tuple[Any, ...]]] = []
        self.answer: Any = 0
        linker = wc.Linker(engine())

        def host(name: str) -> Any:
            def fn(store: Any, *args: Any) -> Any:
                self.seen.append((name, args))
                if isinstance(self.answer, BaseException):
                    raise self.answer
                return self.answer(*args) if callable(self.answer) else self.answer
            return fn

        with linker.root() as root, root.add_instance("host") as inst:
            for name in ("next", "mix", "sink", "echo"):
                if fast:
                    fasthost.add_func(inst, name, host(name))
                else:
                    inst.add_func(name, host(name))
        self.instance = linker.instantiate(self.store, wc.Component(engine(), SCALAR_WAT))

    def call(self, name: str, *args: Any) -> Any:
        func = self.instance.get_func(self.store, self.instance.get_export_index(self.store, name))
        return func(self.store, *args)


@pytest.fixture(scope="module")
def hosts() -> tuple[Host, Host]:
    return Host(fast=True), Host(fast=False)


def both(hosts: tuple[Host, Host], answer: Any, name: str, *args: Any) -> list[Any]:
    """What each way returns (or raises, as (type, message)), and what its host saw."""
    out = []
    for h in hosts:
        h.answer, h.seen = answer, []
        try:
            got: Any = ("ok", h.call(name, *args))
        except Exception as e:
            got = ("raised", type(e), str(e).splitlines()[0])
        out.append((got, h.seen))
    return out


def test_it_is_active_for_the_checked_version():
    """issue 18 item 5: theater registers its host functions through its trampoline on
    the pinned wasmtime-py, whose mirrored functions are the ones fingerprinted."""
    from importlib.metadata import version

    assert version("wasmtime") == CHECKED_VERSION
    assert fasthost.fingerprint() == {**fasthost._FINGERPRINT, **fasthost._MODULE_FINGERPRINT}
    assert fasthost.active()


U64 = st.integers(0, 2**64 - 1)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(value=U64)
def test_u64_results_equal_wasmtime_py(hosts, value):
    fast, plain = both(hosts, value, "next")
    assert fast == plain == (("ok", value), [("next", ())])


@SETTINGS
@given(a=st.integers(-2**31, 2**31 - 1), b=st.integers(0, 255), c=st.floats(allow_nan=False),
       d=st.characters(exclude_categories=("Cs",)), e=st.booleans(), r=st.floats(width=32, allow_nan=False))
def test_scalar_arguments_and_results_equal_wasmtime_py(hosts, a, b, c, d, e, r):
    fast, plain = both(hosts, r, "mix", a, b, c, d, e)
    assert fast == plain
    (status, got), seen = fast
    assert status == "ok" and (got == r or math.isinf(r) and got == r)
    assert seen == [("mix", (a, b, c, d, e))]


def test_no_result_and_a_list_equal_wasmtime_py(hosts):
    """A function without a result, and one that is not all-scalar (list<u8>), cross as
    through wasmtime-py."""
    assert both(hosts, None, "sink", 7)[0] == both(hosts, None, "sink", 7)[1] == (("ok", None), [("sink", (7,))])
    for value in (b"", b"x", bytes(range(256)) * 20):
        fast, plain = both(hosts, lambda b: b, "echo", value)
        assert fast == plain == (("ok", value), [("echo", (value,))])


@pytest.mark.parametrize("answer", [RuntimeError("the handler failed"), wasmtime.WasmtimeError("refused"),
                                    "not an int", -1, 2**64, None])
def test_errors_equal_wasmtime_py(hosts, answer):
    """A handler that raises, or returns what does not fit u64, fails the guest's call
    the same way either way (the same exception, the same first line)."""
    fast, plain = both(hosts, answer, "next")
    assert fast == plain and fast[0][0] == "raised"


def test_a_wrong_result_for_a_function_without_one_fails_the_same(hosts):
    fast, plain = both(hosts, 5, "sink", 1)
    assert fast == plain and fast[0][0] == "raised"


@pytest.fixture
def type_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the host calls' function types wasmtime-py's FuncType._from_ptr wraps (the
    ones a store owns: a guest export's call wraps its own type, with no owner)."""
    count = [0]
    real = _types.FuncType._from_ptr.__func__

    def counting(cls: Any, ptr: Any, owner: Any = None) -> Any:
        if owner is not None:
            count[0] += 1
        return real(cls, ptr, owner)

    monkeypatch.setattr(_types.FuncType, "_from_ptr", classmethod(counting))
    return count


def test_scalar_types_are_built_once_per_function(type_builds):
    """issue 18 item 5: 200 calls of `next` and of `mix` build each function's types
    once; wasmtime-py's trampoline builds them on every call."""
    fast, plain = Host(fast=True), Host(fast=False)
    for h, expected in ((fast, 2), (plain, 400)):
        type_builds[0] = 0
        for i in range(200):
            h.answer = i
            assert h.call("next") == i
            h.answer = 0.5
            assert h.call("mix", 1, 2, 3.0, "x", True) == 0.5
        assert type_builds[0] == expected


def test_a_list_function_builds_its_types_once(type_builds):
    """issue 19 (review leftover D7): the one trampoline keeps a list function's types
    too (fasttypes.add_func did, for what fasthost did not)."""
    fast = Host(fast=True)
    fast.answer = lambda b: b
    for _ in range(20):
        assert fast.call("echo", b"abc") == b"abc"
    assert type_builds[0] == 1


def test_a_recording_builds_types_once(tmp_path, type_builds):
    """`theater record` binds its imports through the trampoline: 2,000 get-random-u64
    crossings of random_loop build the function's type once."""
    manifest = load_manifest(wat_manifest(tmp_path, "random_loop"))
    with Store(tmp_path / "r.db") as store:
        result = record(manifest, store, init_param="2000")
    assert result.outcome == "completed" and result.events == 2002
    assert type_builds[0] <= 5


@pytest.fixture
def reset_active() -> Iterator[None]:
    fasthost.status.cache_clear()
    yield
    fasthost.status.cache_clear()


@pytest.mark.usefixtures("reset_active")
@pytest.mark.parametrize("value", ["1", "yes"])
def test_the_environment_turns_it_off(monkeypatch, type_builds, value):
    monkeypatch.setenv("THEATER_NO_FASTPATH", value)
    assert not fasthost.active()
    h = Host(fast=True)  # fasthost.add_func is then wasmtime-py's add_func
    for i in range(10):
        h.answer = i
        assert h.call("next") == i
    assert type_builds[0] == 10


@pytest.mark.usefixtures("reset_active")
def test_changed_wasmtime_code_turns_it_off(monkeypatch):
    monkeypatch.setattr(fasthost, "_FINGERPRINT", {**fasthost._FINGERPRINT, "func_impl": "0" * 64})
    assert not fasthost.active()
    fasthost.status.cache_clear()
    monkeypatch.setattr(fasthost, "_FINGERPRINT", {k: v for k, v in fasthost.fingerprint().items()
                                                   if k in fasthost._FINGERPRINT})
    assert fasthost.active()
    fasthost.status.cache_clear()
    monkeypatch.setattr(wtpatch, "installed_version", lambda: "50.0.2")
    assert not fasthost.active()
    assert fasthost.status().state is wtpatch.FastPathState.UNSUPPORTED_VERSION
