"""Component types read once per type object (issue 19, its bench target: messages
between two actors at >= 0.4 of the bare host-call rate; theater/fasttypes.py): the
same values cross, the same chains are recorded, and it is used for the checked
wasmtime-py version only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from system_helpers import stage_manifest
from test_fastvalues import Echo
from wasmtime.component import _func, _types

from theater import fasthost, fasttypes
from theater.fastvalues import CHECKED_VERSION, ENV_OFF, FastPathState
from theater.manifest import load_manifest
from theater.store import Store
from theater.system import RunInput, record_run


def _as_installed() -> dict[tuple[str, str], Any]:
    """What each class holds in its own namespace for each cached reading."""
    return {(c, a): (_func.Func if c == "Func" else getattr(_types, c)).__dict__.get(a) for c, a in fasttypes.CACHED}


fasttypes.uninstall()
ORIGINALS = _as_installed()  # wasmtime-py's own
fasttypes.install()


@pytest.fixture(autouse=True)
def restore() -> Iterator[None]:
    """Every test leaves the caches as theater installs them."""
    yield
    fasttypes.uninstall()
    assert fasttypes.install().active


def test_a_functions_types_are_read_once():
    """issue 19 (bench): an export's type, its parameters' and result's types and the
    types nested in them are each read from the C API once, then kept."""
    assert fasttypes.status().active
    echo = Echo()
    f = echo.func("roundtrip")
    fty = f.type(echo.store)
    assert f.type(echo.store) is fty
    assert fty.params is fty.params and fty.result is fty.result
    lst = fty.params[0][1]
    assert lst.element is lst.element and lst._is_bytes() is True
    fasttypes.uninstall()
    assert f.type(echo.store) is not f.type(echo.store)  # wasmtime-py's own: new objects each time
    assert _as_installed() == ORIGINALS


class TypedEcho(Echo):
    """The echo component with its host functions registered by theater's one host
    trampoline (fasthost.add_func: their types read on the first call, then kept), as
    theater's runtime does."""

    def __init__(self) -> None:
        import wasmtime.component as wc
        from test_fastvalues import ECHO_WAT

        from theater.engine import engine, new_store

        self.store = new_store()
        self.store.set_fuel(10**12)
        self.seen: list[Any] = []
        linker = wc.Linker(engine())

        def echo(store: Any, value: Any) -> Any:
            self.seen.append(value)
            return value

        with linker.root() as root, root.add_instance("host") as host:
            for name in ("echo", "echo-str", "echo32"):
                fasthost.add_func(host, name, echo)
        self.instance = linker.instantiate(self.store, wc.Component(engine(), ECHO_WAT))


def test_a_host_functions_types_are_read_once():
    """issue 19 (bench): a host function registered by theater's trampoline reads its
    import's types on its first call and keeps them, also for a list (review leftover
    D7: one trampoline for every signature); wasmtime-py's own builds them on every call."""
    echo = TypedEcho()
    calls = []
    original = _types.FuncType._from_ptr.__func__

    def counting(cls: Any, ptr: Any, owner: Any = None) -> Any:
        calls.append(1)
        return original(cls, ptr, owner)

    _types.FuncType._from_ptr = classmethod(counting)  # type: ignore[method-assign]
    try:
        f = echo.func("roundtrip")
        for _ in range(5):
            assert f(echo.store, b"ab") == b"ab"
        with_cache = len(calls)
        calls.clear()
        plain = Echo()
        f = plain.func("roundtrip")
        for _ in range(5):
            assert f(plain.store, b"ab") == b"ab"
        without = len(calls)
    finally:
        _types.FuncType._from_ptr = classmethod(original)  # type: ignore[method-assign]
    # one for the export (kept per Func) and one for the host function, against one per
    # host call with wasmtime-py's trampoline
    assert (with_cache, without) == (2, 6)


SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(value=st.binary(max_size=300), text=st.text(max_size=100),
       words=st.lists(st.integers(0, 2**32 - 1), max_size=30))
def test_values_cross_as_without_it(value, text, words):
    """issue 19 (bench): guest export params and results, host import args and results
    (list<u8>, string, list<u32>): the same values with the caches and without."""

    def calls(echo: Echo) -> list[Any]:
        out = []
        for name, v in (("roundtrip", value), ("roundtrip-str", text), ("roundtrip32", words)):
            echo.seen.clear()
            out.append((echo.call(name, v), list(echo.seen)))
            out.append((echo.call(name, v), list(echo.seen)))  # the second call reads the kept types
        return out

    fast = calls(TypedEcho())
    fasttypes.uninstall()
    try:
        slow = calls(Echo())
    finally:
        fasttypes.install()
    assert fast == slow
    assert fast[0] == (value, [value]) and fast[2] == (text, [text]) and fast[4] == (words, [words])


# every host function and export of stage.wat: option<list<u8>> states, tuples,
# result<_, string>, result<list<u8>, string>, the channel-accept and actor-error records
INPUTS = ("Pworker.toml", "Sworker one", "+Sworker two\nRworker three", "Cworker Bhello", "Rworker Dlater",
          "Sworker !", "Bworker ping", "Lworker", "Eworker")


def _record(folder, db) -> list[Any]:
    stage_manifest(folder, "worker")
    m = load_manifest(stage_manifest(folder, "root", limits="messages = 25"))
    with Store(folder / db) as store:
        r = record_run(m, store, inputs=[RunInput("send", i.encode()) for i in INPUTS])
        return [(c.head, [(e.type, e.data) for e in store.events(c.chain)]) for c in r.chains]


def test_runs_are_recorded_identically_with_and_without(tmp_path):
    """issue 19 (bench): a run of two stage actors (sends, requests, channels, a trap,
    a ping-pong, every type their functions use) records the same chains, byte for
    byte, with the caches and without."""
    with_ = _record(tmp_path, "a.db")
    fasttypes.uninstall()
    without = _record(tmp_path, "b.db")
    assert with_ == without and len(with_) >= 2 and sum(len(evs) for _, evs in with_) > 30


@pytest.mark.parametrize("version", ["50.0.0", "50.0.2", "51.0.0", ""])
def test_any_other_version_reads_types_as_wasmtime_py_does(version):
    st_ = fasttypes.install(version=version)
    assert st_.state is FastPathState.UNSUPPORTED_VERSION and CHECKED_VERSION in st_.reason
    assert _as_installed() == ORIGINALS
    echo = Echo()
    assert echo.call("roundtrip", b"abc") == b"abc"


def test_the_environment_turns_it_off():
    st_ = fasttypes.install(environ={ENV_OFF: "1"})
    assert st_.state is FastPathState.DISABLED and _as_installed() == ORIGINALS
    assert fasttypes.install(environ={ENV_OFF: "0"}).active


def test_changed_code_of_the_same_version_reads_types_as_wasmtime_py_does(monkeypatch):
    fasttypes.uninstall()
    original = _func.Func.__call__

    def __call__(self: Any, store: Any, *params: Any) -> Any:  # a patched wasmtime-py
        return original(self, store, *params)

    monkeypatch.setattr(_func.Func, "__call__", __call__)
    st_ = fasttypes.install()
    assert st_.state is FastPathState.CODE_CHANGED and "Func.__call__" in st_.reason
    monkeypatch.undo()
    assert _as_installed() == ORIGINALS


def test_install_is_idempotent_and_uninstall_restores():
    assert fasttypes.install().active and fasttypes.install().active
    assert _as_installed() != ORIGINALS
    fasttypes.uninstall()
    fasttypes.uninstall()
    assert _as_installed() == ORIGINALS and not fasttypes.status().active
