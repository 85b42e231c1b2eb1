"""The boundary's fast paths for ``func() -> <integer>`` behave exactly like its general
path: the same event bytes recorded, the same values and errors replayed.

Each case runs twice, once through the fast path and once through the general path
(forced by hiding the integer result from ``_int_result``), and compares everything
observable: the return value or the exception, the appended events, the failure state.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import MemoryWriter
from hypothesis import given
from hypothesis import strategies as st

from theater import boundary as boundary_mod
from theater.boundary import Boundary
from theater.chain import ChainBuilder, event_hash
from theater.errors import HostRefusal
from theater.wittypes import INT_RANGES, FuncSig, Prim

IFACE, FN = "wasi:random/random@0.2.3", "get-random-u64"
TYPE = f"host:{IFACE}#{FN}"


def sig(kind: str = "u64") -> FuncSig:
    return FuncSig(FN, (), Prim(kind))


def outcome(fn: Any, b: Boundary, w: MemoryWriter) -> tuple[Any, ...]:
    try:
        value = fn(None)
        result: tuple[Any, ...] = ("ok", value, type(value))
    except Exception as e:  # noqa: BLE001 - every exception is part of the behaviour
        result = ("raise", type(e).__name__, str(e), getattr(e, "kind", None))
    return (*result, w.events, b.host_failure, b.stopped, None if b.divergence is None else b.divergence.kind)


def record_both(kind: str, value: Any, monkeypatch: pytest.MonkeyPatch, refuse: bool = False) -> list[tuple[Any, ...]]:
    def live(store: Any) -> Any:
        if refuse:
            raise HostRefusal("no")
        return value

    out = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(boundary_mod, "_int_result", lambda s: None)
            w = MemoryWriter()
            b = Boundary(w)
            fn = b.wrap_import(IFACE, FN, sig(kind), live)
            assert (fn.__name__ == "record_int") == fast
            out.append(outcome(fn, b, w))
    return out


def replay_both(kind: str, rows: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch,
                until: int | None = None) -> list[tuple[Any, ...]]:
    out = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(boundary_mod, "_int_result", lambda s: None)
            w = MemoryWriter()
            b = Boundary(w, source=iter(list(rows)), until=until)
            fn = b.wrap_import(IFACE, FN, sig(kind), None)  # type: ignore[arg-type]
            assert (fn.__name__ == "replay_int") == fast
            first = outcome(fn, b, w)
            try:  # what is left for the next crossing
                nxt: Any = b.peek()
                left = None if nxt is None else (nxt.seq, nxt.type, nxt.data)
            except TypeError as e:  # a row that is not an event (text data)
                left = str(e)
            out.append((*first, left))
    return out


def row(data: bytes, type_: str = TYPE, seq: int = 0) -> tuple[Any, ...]:
    return (seq, b"h" * 32, b"p" * 32, type_, data, 1.5)


EDGE_VALUES = [0, 1, 9, 10, 255, 256, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
               -1, -(2**7), -(2**7) - 1, -(2**31), -(2**63), -(2**63) - 1]


@pytest.mark.parametrize("kind", sorted(INT_RANGES))
@pytest.mark.parametrize("value", EDGE_VALUES)
def test_record_fast_path_is_the_general_path(kind, value, monkeypatch):
    fast, general = record_both(kind, value, monkeypatch)
    assert fast == general


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None, b"1", 2**64, -1])
def test_record_fast_path_rejects_what_the_general_path_rejects(value, monkeypatch):
    fast, general = record_both("u64", value, monkeypatch)
    assert fast == general and fast[0] == "raise" and fast[1] == "CodecError"


def test_record_fast_path_refusal(monkeypatch):
    fast, general = record_both("u64", 1, monkeypatch, refuse=True)
    assert fast == general and fast[1] == "HostTrap"
    assert fast[4] == [(TYPE, b'{"args":{},"trap":"no"}')]


@given(kind=st.sampled_from(sorted(INT_RANGES)), value=st.integers(min_value=-(2**64), max_value=2**65))
def test_record_fast_path_any_int(kind, value):
    with pytest.MonkeyPatch.context() as mp:
        fast, general = record_both(kind, value, mp)
    assert fast == general


REPLAY_DATA = [
    b'{"args":{},"result":0}',
    b'{"args":{},"result":7}',
    b'{"args":{},"result":18446744073709551615}',
    b'{"args":{},"result":18446744073709551616}',  # out of range for u64
    b'{"args":{},"result":-1}',
    b'{"args":{},"result":-9223372036854775808}',
    b'{"args":{},"result":007}',  # not JSON
    b'{"args":{},"result":00}',
    b'{"args":{},"result":1_000}',  # int() would take it; JSON does not
    b'{"args":{},"result": 5}',
    b'{"args":{},"result":+5}',
    b'{"args":{},"result":5.0}',
    b'{"args":{},"result":1e3}',
    b'{"args":{},"result":"5"}',
    b'{"args":{},"result":true}',
    b'{"args":{},"result":null}',
    b'{"args":{},"result":}',
    b'{"args":{},"result":5',
    b'{"args":{},"result":5}}',
    b'{"args":{},"result":\xd9\xa3}',  # a non-ASCII digit
    b'{"args":{},"trap":"no"}',
    b'{"args":{"len":4},"result":5}',
    b'{"result":5,"args":{}}',
    b'{"args":{}}',
    b"not json",
    b"",
]


@pytest.mark.parametrize("kind", ["u64", "u8", "s64", "s8"])
@pytest.mark.parametrize("data", REPLAY_DATA)
def test_replay_fast_path_is_the_general_path(kind, data, monkeypatch):
    rows = [row(data), row(b'{"args":{},"result":1}', seq=1)]
    fast, general = replay_both(kind, rows, monkeypatch)
    assert fast == general


@pytest.mark.parametrize("rows", [
    [],
    [row(b'{"args":{},"result":5}', type_="host:wasi:random/random@0.2.3#get-random-bytes")],
    [row(b'{"args":{},"result":5}', type_="export:theater:simple/actor#init")],
    [row(b'{"outcome":"completed"}', type_="end")],
    [row(b'{"args":{"len":4},"result":"base64:AAAAAA=="}', type_="host:wasi:random/random@0.2.3#get-random-bytes"),
     row(b'{"args":{},"result":5}', seq=1)],
    [row("text, not bytes")],  # type: ignore[arg-type]
])
def test_replay_fast_path_mismatches(rows, monkeypatch):
    fast, general = replay_both("u64", rows, monkeypatch)
    assert fast == general


def test_replay_fast_path_until(monkeypatch):
    rows = [row(b'{"args":{},"result":5}'), row(b'{"args":{},"result":6}', seq=1)]
    fast, general = replay_both("u64", rows, monkeypatch, until=0)
    assert fast == general and fast[1] == "StopReplay" and fast[-3] is True


@given(kind=st.sampled_from(sorted(INT_RANGES)), value=st.integers(min_value=-(2**64), max_value=2**65))
def test_replay_fast_path_any_int(kind, value):
    data = b'{"args":{},"result":%d}' % value
    with pytest.MonkeyPatch.context() as mp:
        fast, general = replay_both(kind, [row(data)], mp)
    assert fast == general


@given(st.lists(st.tuples(st.sampled_from(["a", "host:x#y", "end", "é"]), st.binary(max_size=80)), max_size=20))
def test_chain_builder_computes_event_hash(events):
    # event_hasher, the faster copy of event_hash, was dead code (issue 12 item 5)
    builder = ChainBuilder(b"{}")
    for type_, data in events:
        seq, parent, h = builder.append(type_, data)
        assert h == event_hash(seq, parent, type_, data)
