"""Hypothesis strategies for component values, shared by the codec and fuzz tests."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import strategies as st
from wasmtime import component as wc

from theater.wittypes import INT_RANGES, EnumT, FlagsT, ListT, Prim, RecordT, TupleT, VariantT, WitType


def f32(bits: int) -> float:
    return float(struct.unpack("<f", struct.pack("<I", bits))[0])


def f64(bits: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


NAN32 = st.sampled_from([0x7FC00000, 0xFFC00000, 0x7FC00001, 0x7FFFFFFF, 0x7F800000, 0x80000000])
NAN64 = st.sampled_from([0x7FF8000000000000, 0xFFF8000000000000, 0x7FF80000DEADBEEF, 0x7FF0000000000001,
                         0x7FF0000000000000, 0x8000000000000000])


def values(t: WitType | None, *, edges: bool = False, max_list: int = 4, max_text: int = 8,
           max_bytes: int = 16) -> st.SearchStrategy[Any]:
    """Python values of type ``t`` exactly as wasmtime-py lifts them. With ``edges``,
    integers favour their bounds and zero, and floats include NaNs with payloads."""

    def go(t: WitType | None) -> st.SearchStrategy[Any]:
        if t is None:
            return st.none()
        if isinstance(t, Prim):
            if t.kind in INT_RANGES:
                lo, hi = INT_RANGES[t.kind]
                ints = st.integers(lo, hi)
                return ints | st.sampled_from([lo, hi, 0]) if edges else ints
            text = st.characters(exclude_categories=("Cs",))
            bits32, bits64 = st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1)
            if edges:
                bits32, bits64 = bits32 | NAN32, bits64 | NAN64
            return {"bool": st.booleans(), "char": text, "string": st.text(text, max_size=max_text),
                    "f32": bits32.map(f32), "f64": bits64.map(f64)}[t.kind]
        if isinstance(t, ListT):
            return st.binary(max_size=max_bytes) if t.is_bytes else st.lists(go(t.elem), max_size=max_list)
        if isinstance(t, TupleT):
            return st.tuples(*(go(i) for i in t.items))
        if isinstance(t, RecordT):
            def build(d: dict[str, Any]) -> wc.Record:
                r = wc.Record()
                for k, v in d.items():
                    setattr(r, k, v)
                return r
            return st.fixed_dictionaries({n: go(f) for n, f in t.fields}).map(build)
        if isinstance(t, EnumT):
            return st.sampled_from(t.names)
        if isinstance(t, FlagsT):
            return st.sets(st.sampled_from(t.names))
        assert isinstance(t, VariantT)
        if t.tagged:
            return st.one_of([go(c).map(lambda p, n=n: wc.Variant(n, p)) for n, c in t.cases])
        return st.one_of([go(c) for _, c in t.cases])

    return go(t)
