"""The list<u8> fast path for wasmtime-py's value conversion (issue 18 item 7):
theater/fastvalues.py converts exactly as wasmtime-py 50.0.1 does, in both directions,
on host imports and guest exports, and is used for that version only.

The comparisons are against wasmtime-py's own ``ListType.convert_to_c`` /
``convert_from_c``, kept by the module while it is installed, on ``ListType`` objects
of a real component, and through real calls of a real component (a WAT one below).
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import Any

import pytest
import wasmtime.component as wc
from actors import wat_manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasmtime import _ffi as ffi
from wasmtime.component import _types

from theater import fastvalues
from theater.engine import engine, new_store
from theater.fastvalues import CHECKED_VERSION, FastPathState
from theater.manifest import load_manifest
from theater.recorder import Input, record
from theater.store import Store

# A component whose exports pass their argument to a host import and return what it
# returned: `roundtrip` (list<u8>), `roundtrip-str` (string), `roundtrip32` (list<u32>,
# which the fast path leaves to wasmtime-py). The host's return value is written by
# the lowered import at address 16, which is also each export's return area.
ECHO_WAT = """
(component
  (import "host" (instance $host
    (export "echo" (func (param "b" (list u8)) (result (list u8))))
    (export "echo-str" (func (param "s" string) (result string)))
    (export "echo32" (func (param "x" (list u32)) (result (list u32))))
  ))
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
  (core func $echo (canon lower (func $host "echo") (memory $mem) (realloc $realloc)))
  (core func $echo_str (canon lower (func $host "echo-str") (memory $mem) (realloc $realloc)))
  (core func $echo32 (canon lower (func $host "echo32") (memory $mem) (realloc $realloc)))
  (core module $main
    (import "libc" "memory" (memory 1))
    (import "libc" "heap" (global $heap (mut i32)))
    (import "host" "echo" (func $echo (param i32 i32 i32)))
    (import "host" "echo-str" (func $echo_str (param i32 i32 i32)))
    (import "host" "echo32" (func $echo32 (param i32 i32 i32)))
    (func (export "roundtrip") (param i32 i32) (result i32)
      (call $echo (local.get 0) (local.get 1) (i32.const 16)) (i32.const 16))
    (func (export "roundtrip-str") (param i32 i32) (result i32)
      (call $echo_str (local.get 0) (local.get 1) (i32.const 16)) (i32.const 16))
    (func (export "roundtrip32") (param i32 i32) (result i32)
      (call $echo32 (local.get 0) (local.get 1) (i32.const 16)) (i32.const 16))
    (func (export "cabi_post_return") (param i32) (global.set $heap (i32.const 1024)))
  )
  (core instance $main (instantiate $main
    (with "libc" (instance $libc))
    (with "host" (instance
      (export "echo" (func $echo)) (export "echo-str" (func $echo_str)) (export "echo32" (func $echo32))))))
  (alias core export $main "cabi_post_return" (core func $post))
  (func (export "roundtrip") (param "b" (list u8)) (result (list u8))
    (canon lift (core func $main "roundtrip") (memory $mem) (realloc $realloc) (post-return $post)))
  (func (export "roundtrip-str") (param "s" string) (result string)
    (canon lift (core func $main "roundtrip-str") (memory $mem) (realloc $realloc) (post-return $post)))
  (func (export "roundtrip32") (param "x" (list u32)) (result (list u32))
    (canon lift (core func $main "roundtrip32") (memory $mem) (realloc $realloc) (post-return $post)))
)
"""

ORIGINAL_TO_C = _types.ListType.convert_to_c
ORIGINAL_FROM_C = _types.ListType.convert_from_c


def original_to_c() -> Any:
    return fastvalues._originals.get("convert_to_c", _types.ListType.convert_to_c)


def original_from_c() -> Any:
    return fastvalues._originals.get("convert_from_c", _types.ListType.convert_from_c)


@pytest.fixture(autouse=True)
def restore_fastpath() -> Iterator[None]:
    """Every test leaves the fast path as theater installs it."""
    yield
    fastvalues.uninstall()
    assert fastvalues.install().active


class Echo:
    """The echo component, instantiated; ``seen`` holds what the host imports received."""

    def __init__(self) -> None:
        self.store = new_store()
        self.store.set_fuel(10**12)
        self.seen: list[Any] = []
        component = wc.Component(engine(), ECHO_WAT)
        linker = wc.Linker(engine())

        def echo(store: Any, value: Any) -> Any:
            self.seen.append(value)
            return value

        with linker.root() as root, root.add_instance("host") as host:
            for name in ("echo", "echo-str", "echo32"):
                host.add_func(name, echo)
        self.instance = linker.instantiate(self.store, component)

    def func(self, name: str) -> Any:
        return self.instance.get_func(self.store, self.instance.get_export_index(self.store, name))

    def call(self, name: str, value: Any) -> Any:
        return self.func(name)(self.store, value)

    def param_type(self, name: str) -> Any:
        return self.func(name).type(self.store).params[0][1]


@pytest.fixture(scope="module")
def echo() -> Echo:
    return Echo()


def raw_elements(val: Any) -> list[tuple[int, int]]:
    """(kind, u8) of each element of a lowered list value: what wasmtime reads."""
    lst = val.of.list
    return [(lst.data[i].kind, lst.data[i].of.u8) for i in range(lst.size)]


def lower(fn: Any, ty: Any, value: Any) -> Any:
    val = ffi.wasmtime_component_val_t()
    fn(ty, None, value, ctypes.pointer(val))
    return val


BYTES = st.one_of(st.just(b""), st.binary(min_size=1, max_size=1), st.binary(max_size=300),
                  st.binary(min_size=4_000, max_size=20_000))
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.data_too_large])


def test_theater_installs_it_for_the_checked_version():
    engine()
    assert _types.ListType.convert_to_c is fastvalues._convert_to_c
    assert _types.ListType.convert_from_c is fastvalues._convert_from_c
    assert fastvalues.status().state is FastPathState.ACTIVE
    assert fastvalues.status().to_json() == {"state": "active", "wasmtime": CHECKED_VERSION, "reason": "",
                                             "active": True}
    assert fastvalues._originals["convert_to_c"] is ORIGINAL_TO_C


@SETTINGS
@given(value=BYTES)
def test_lowering_equals_wasmtime_py(echo, value):
    ty = echo.param_type("roundtrip")
    mine = lower(fastvalues._convert_to_c, ty, value)
    theirs = lower(original_to_c(), ty, value)
    assert mine.kind == theirs.kind == ffi.WASMTIME_COMPONENT_LIST.value
    assert raw_elements(mine) == raw_elements(theirs) == [(ffi.WASMTIME_COMPONENT_U8.value, b) for b in value]
    # each lifts back, by the other's code, to the value
    assert original_from_c()(ty, mine) == value
    assert fastvalues._convert_from_c(ty, theirs) == value


@SETTINGS
@given(value=BYTES)
def test_lifting_equals_wasmtime_py(echo, value):
    ty = echo.param_type("roundtrip")
    a, b = lower(original_to_c(), ty, value), lower(original_to_c(), ty, value)
    mine, theirs = fastvalues._convert_from_c(ty, a), original_from_c()(ty, b)
    assert type(mine) is type(theirs) is bytes
    assert mine == theirs == value


@pytest.mark.parametrize("value", [bytearray(b"ab"), [1, 2], "ab", None, memoryview(b"ab"), 7])
def test_lowering_refuses_what_wasmtime_py_refuses(echo, value):
    ty = echo.param_type("roundtrip")
    errors = []
    for fn in (fastvalues._convert_to_c, original_to_c()):
        with pytest.raises(TypeError) as e:
            lower(fn, ty, value)
        errors.append(str(e.value))
    assert errors[0] == errors[1] == "expected bytes value"


class Odd(bytes):
    """A bytes subclass whose iteration is not its buffer: wasmtime-py iterates."""

    def __iter__(self) -> Iterator[int]:
        return iter([7] * len(self))


def test_a_bytes_subclass_converts_as_wasmtime_py_does(echo):
    ty = echo.param_type("roundtrip")
    mine, theirs = lower(fastvalues._convert_to_c, ty, Odd(b"abc")), lower(original_to_c(), ty, Odd(b"abc"))
    assert raw_elements(mine) == raw_elements(theirs) == [(ffi.WASMTIME_COMPONENT_U8.value, 7)] * 3
    assert fastvalues._convert_from_c(ty, mine) == original_from_c()(ty, theirs) == b"\x07\x07\x07"


def test_lifting_a_list_of_another_kind_fails_as_wasmtime_py_does(echo):
    ty = echo.param_type("roundtrip")
    for fn in (fastvalues._convert_from_c, original_from_c()):
        val = lower(original_to_c(), echo.param_type("roundtrip32"), [1, 2, 3])  # U32 elements
        with pytest.raises(AssertionError):
            fn(ty, val)


def calls(echo: Echo, name: str, value: Any) -> tuple[Any, list[Any]]:
    echo.seen.clear()
    out = echo.call(name, value)
    return out, list(echo.seen)


@SETTINGS
@given(value=BYTES, text=st.text(max_size=200), words=st.lists(st.integers(0, 2**32 - 1), max_size=50))
def test_component_calls_equal_wasmtime_py(echo, value, text, words):
    """Guest export params and results, host import args and results: the same values
    with the fast path and without."""
    fast = [calls(echo, "roundtrip", value), calls(echo, "roundtrip-str", text), calls(echo, "roundtrip32", words)]
    fastvalues.uninstall()
    try:
        slow = [calls(echo, "roundtrip", value), calls(echo, "roundtrip-str", text),
                calls(echo, "roundtrip32", words)]
    finally:
        fastvalues.install()
    assert fast == slow == [(value, [value]), (text, [text]), (words, [words])]
    assert type(fast[0][0]) is type(fast[0][1][0]) is bytes


def test_unicode_strings_cross_unchanged(echo):
    for text in ["", "é", "日本語", "\U0001f600 emoji", "a\x00b", "\u2028\ufeff"]:
        assert calls(echo, "roundtrip-str", text) == (text, [text])


@pytest.mark.parametrize("version", ["50.0.0", "50.0.2", "51.0.0", "49.0.1", "50.0.1.dev0", ""])
def test_any_other_version_uses_wasmtime_py(echo, version):
    st_ = fastvalues.install(version=version)
    assert st_.state is FastPathState.UNSUPPORTED_VERSION and not st_.active
    assert CHECKED_VERSION in st_.reason
    assert _types.ListType.convert_to_c is ORIGINAL_TO_C
    assert _types.ListType.convert_from_c is ORIGINAL_FROM_C
    assert calls(echo, "roundtrip", b"abc") == (b"abc", [b"abc"])  # and it still works


@pytest.mark.parametrize("value", ["1", "yes", "true"])
def test_the_environment_turns_it_off(value):
    st_ = fastvalues.install(environ={fastvalues.ENV_OFF: value})
    assert st_.state is FastPathState.DISABLED and fastvalues.ENV_OFF in st_.reason
    assert _types.ListType.convert_to_c is ORIGINAL_TO_C
    for off in ("", "0"):
        assert fastvalues.install(environ={fastvalues.ENV_OFF: off}).active


def test_changed_code_of_the_same_version_uses_wasmtime_py(monkeypatch):
    fastvalues.uninstall()

    def convert_from_c(self: Any, c: Any) -> Any:  # a patched wasmtime-py
        return ORIGINAL_FROM_C(self, c)

    monkeypatch.setattr(_types.U8, "convert_from_c", convert_from_c)
    st_ = fastvalues.install()
    assert st_.state is FastPathState.CODE_CHANGED and "U8.convert_from_c" in st_.reason
    assert _types.ListType.convert_to_c is ORIGINAL_TO_C


def test_install_is_idempotent_and_uninstall_restores():
    assert fastvalues.install().active and fastvalues.install().active
    assert fastvalues._originals["convert_to_c"] is ORIGINAL_TO_C
    fastvalues.uninstall()
    fastvalues.uninstall()
    assert _types.ListType.convert_to_c is ORIGINAL_TO_C and not fastvalues.status().active


def test_recordings_are_identical_with_and_without(tmp_path):
    """A recording of a real actor (state and messages are list<u8>) has the same events
    and head either way."""
    manifest = load_manifest(wat_manifest(tmp_path, "counter_state"))
    inputs = [Input(kind="send", payload=b"x" * n) for n in (0, 1, 5000)]
    results = []
    for i, on in enumerate((True, False)):
        if not on:
            fastvalues.uninstall()
        with Store(tmp_path / f"{i}.db") as store:
            r = record(manifest, store, init_param="p", inputs=inputs)
            results.append((r.head, r.events, r.state, [(e.type, e.data) for e in store.events(r.chain)]))
    assert results[0] == results[1] and results[0][1] > 5


def test_the_checked_version_is_the_pinned_one():
    """Bumping wasmtime in pyproject.toml without proving the fast path again shows here
    (and at run time falls back: test_any_other_version_uses_wasmtime_py)."""
    import tomllib

    from conftest import ROOT

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"wasmtime=={CHECKED_VERSION}" in deps
