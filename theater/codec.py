"""Type-driven, lossless codec: wasmtime-py component values <-> canonical JSON.

Canonical JSON uses only ``dict``/``list``/``str``/``int``/``bool``/``None``:

==================  ==========================================================
bool                ``true`` / ``false``
s8 .. u64           JSON integer (range-checked)
f32 / f64           ``"f32:7fc00000"`` / ``"f64:400921fb54442d18"``: the IEEE bit
                    pattern, lowercase fixed-width hex (NaN payloads survive)
char, string        JSON string
list<u8>            ``"base64:<standard, padded base64>"``
list<T>, tuple      JSON array
record              object keyed by WIT field name
enum                case name
flags               sorted list of set flag names
option<T>           ``null`` | ``{"some": v}``
result<T, E>        ``{"ok": v}`` | ``{"err": e}`` (``null`` when no payload)
variant             ``{"case": name, "value": v-or-null}``
own/borrow          whatever the caller's ``resource_encoder`` returns
==================  ==========================================================

wasmtime-py 50 lifts a variant/option/result *untagged* (the bare payload, or
``None`` for a payload-less case) unless two cases share a Python class in
``add_classes`` (a payload-less case counts as ``object``), in which case it
uses ``Variant(tag, payload)``; see :attr:`theater.wittypes.VariantT.tagged`.
So ``option<u32>`` is ``None | int`` but ``option<option<u32>>`` is
``Variant("none") | Variant("some", None | int)``. :func:`encode` picks the
untagged case by the value's exact Python type; :func:`decode` returns exactly
what wasmtime-py lowers, and raises :class:`CodecError` for the few values
wasmtime-py 50 would lower as a *different* case (e.g. ``b(true)`` in
``variant { a(u32), b(bool) }``, since ``bool`` is an ``int``).

f32 crosses wasmtime-py as a Python float (a double), so an f32 signalling NaN
is quieted on the way (x86); decode rejects such bit patterns, which encode
never produces. f64 bit patterns survive exactly.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import orjson
from wasmtime import component as wc

from .canonical import BYTES_TAG, canonical_json, decode_tagged_bytes, encode_tagged_bytes
from .errors import CodecError
from .wittypes import (
    INT_RANGES,
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
    wit_type,
)

__all__ = [
    "Json", "CodecError", "ResourceEncoder", "ResourceDecoder",
    "encode", "decode", "encode_params", "decode_params", "encode_result", "decode_result",
    "dumps", "loads",
]

Json: TypeAlias = None | bool | int | str | list["Json"] | dict[str, "Json"]
ResourceEncoder = Callable[[Any, HandleT], Json]
ResourceDecoder = Callable[[Json, HandleT], Any]
TypeLike: TypeAlias = WitType | Any  # a WitType, or a wasmtime-py ValType (converted)


def _tn(v: Any) -> str:
    return type(v).__name__


def _fail(path: str, msg: str) -> CodecError:
    return CodecError(f"{path}: {msg}")


def _check_text(path: str, s: str) -> None:
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise _fail(path, "string contains a lone surrogate") from None


def _f32_bits(v: float) -> int:
    """The f32 bits wasmtime-py stores when lowering ``v`` (a ctypes c_float store)."""
    return int.from_bytes(bytes(ctypes.c_float(v)), "little")


def _f32_value(bits: int) -> float:
    return float(ctypes.c_float.from_buffer_copy(bits.to_bytes(4, "little")).value)


def _as_wit(ty: TypeLike) -> WitType:
    if isinstance(ty, (Prim, ListT, TupleT, RecordT, VariantT, EnumT, FlagsT, HandleT)):
        return ty
    return wit_type(ty)


# ---------------------------------------------------------------- encode

def _enc(t: WitType, v: Any, path: str, renc: ResourceEncoder | None) -> Json:
    if isinstance(t, Prim):
        k = t.kind
        rng = INT_RANGES.get(k)
        if rng is not None:
            if type(v) is not int or not rng[0] <= v <= rng[1]:
                raise _fail(path, f"expected int {rng[0]}..{rng[1]}, got {_tn(v)} {v!r}")
            return v
        if k == "string":
            if not isinstance(v, str):
                raise _fail(path, f"expected str, got {_tn(v)}")
            _check_text(path, v)
            return v
        if k == "bool":
            if not isinstance(v, bool):
                raise _fail(path, f"expected bool, got {_tn(v)}")
            return v
        if k == "f64":
            if not isinstance(v, float):
                raise _fail(path, f"expected float, got {_tn(v)}")
            return f"f64:{struct.unpack('<Q', struct.pack('<d', v))[0]:016x}"
        if k == "f32":
            if not isinstance(v, float):
                raise _fail(path, f"expected float, got {_tn(v)}")
            return f"f32:{_f32_bits(v):08x}"
        if k == "char":
            if not isinstance(v, str) or len(v) != 1:
                raise _fail(path, f"expected a one-character str, got {_tn(v)} {v!r:.40}")
            _check_text(path, v)
            return v
        raise _fail(path, f"type {k} is not supported by the codec")
    if isinstance(t, VariantT):
        return _enc_variant(t, v, path, renc)
    if isinstance(t, ListT):
        if t.is_bytes:
            if type(v) is not bytes:
                raise _fail(path, f"expected bytes for list<u8>, got {_tn(v)}")
            return encode_tagged_bytes(v)
        if not isinstance(v, list):
            raise _fail(path, f"expected list, got {_tn(v)}")
        e = t.elem
        return [_enc(e, x, f"{path}[{i}]", renc) for i, x in enumerate(v)]
    if isinstance(t, TupleT):
        if not isinstance(v, tuple) or len(v) != len(t.items):
            raise _fail(path, f"expected tuple of {len(t.items)}, got {_tn(v)} {v!r:.60}")
        pairs = enumerate(zip(t.items, v, strict=True))
        return [_enc(et, x, f"{path}[{i}]", renc) for i, (et, x) in pairs]
    if isinstance(t, RecordT):
        out: dict[str, Json] = {}
        for name, ft in t.fields:
            try:
                fv = getattr(v, name)
            except AttributeError:
                raise _fail(path, f"record has no field {name!r} ({_tn(v)})") from None
            out[name] = _enc(ft, fv, f"{path}.{name}", renc)
        return out
    if isinstance(t, EnumT):
        if not isinstance(v, str) or v not in t.names:
            raise _fail(path, f"expected one of {list(t.names)}, got {_tn(v)} {v!r:.40}")
        return v
    if isinstance(t, FlagsT):
        if not isinstance(v, set):
            raise _fail(path, f"expected set of flag names, got {_tn(v)}")
        bad = [x for x in v if not isinstance(x, str) or x not in t.names]
        if bad:
            raise _fail(path, f"unknown flags {bad!r:.60}; known {list(t.names)}")
        return sorted(v)
    if isinstance(t, HandleT):
        if renc is None:
            raise _fail(path, f"cannot encode {t.kind}<{t.resource}> without a resource_encoder")
        return renc(v, t)
    raise _fail(path, f"not a WIT type: {t!r}")


def _untagged_case(t: VariantT, v: Any) -> tuple[str, WitType | None] | None:
    """Which case an untagged lifted value belongs to: exact type first, then
    wasmtime-py's own lowering rule (first case whose classes accept it)."""
    if v is None:
        for name, ct in t.cases:
            if ct is None:
                return name, ct
    tv = type(v)
    for (name, ct), lift in zip(t.cases, t.case_lift, strict=True):
        if tv in lift:
            return name, ct
    found = _lowering_case(t, v)
    if found is None and v is not None:
        with_payload = [(n, ct) for n, ct in t.cases if ct is not None]
        if len(with_payload) == 1:  # e.g. option<T>: report the error inside T
            return with_payload[0]
    return found


def _lowering_case(t: VariantT, v: Any) -> tuple[str, WitType | None] | None:
    """wasmtime-py 50 ``VariantLikeType._lower`` case choice for an untagged value."""
    for (name, ct), lower in zip(t.cases, t.case_lower, strict=True):
        if ct is None:
            if v is None:
                return name, ct
        elif isinstance(v, lower):
            return name, ct
    return None


def _enc_variant(t: VariantT, v: Any, path: str, renc: ResourceEncoder | None) -> Json:
    if t.tagged:
        if not isinstance(v, wc.Variant):
            raise _fail(path, f"expected Variant for {t.kind}, got {_tn(v)}")
        cases = t.case_map
        if v.tag not in cases:
            raise _fail(path, f"unknown case {v.tag!r}; cases {list(cases)}")
        ct = cases[v.tag]
        name, payload = v.tag, v.payload
        if ct is None and payload is not None:
            raise _fail(path, f"case {name!r} has no payload, got {_tn(payload)}")
    else:
        found = _untagged_case(t, v)
        if found is None:
            raise _fail(path, f"{_tn(v)} {v!r:.40} fits no case of {t.kind} "
                              f"{[n for n, _ in t.cases]}")
        name, ct = found
        payload = v
    enc = None if ct is None else _enc(ct, payload, f"{path}.{name}", renc)
    if t.kind == "option":
        return None if name == "none" else {"some": enc}
    if t.kind == "result":
        return {name: enc}
    return {"case": name, "value": enc}


# ---------------------------------------------------------------- decode

def _dec(t: WitType, o: Any, path: str, rdec: ResourceDecoder | None) -> Any:
    if isinstance(t, Prim):
        k = t.kind
        rng = INT_RANGES.get(k)
        if rng is not None:
            if type(o) is not int or not rng[0] <= o <= rng[1]:
                raise _fail(path, f"expected int {rng[0]}..{rng[1]}, got {_tn(o)} {o!r:.40}")
            return o
        if k == "string":
            if not isinstance(o, str):
                raise _fail(path, f"expected str, got {_tn(o)}")
            _check_text(path, o)
            return o
        if k == "bool":
            if not isinstance(o, bool):
                raise _fail(path, f"expected bool, got {_tn(o)}")
            return o
        if k in ("f32", "f64"):
            width = 8 if k == "f32" else 16
            if (not isinstance(o, str) or len(o) != width + 4 or not o.startswith(k + ":")
                    or o[4:].strip("0123456789abcdef")):
                raise _fail(path, f"expected '{k}:' + {width} lowercase hex digits, got {o!r:.40}")
            bits = int(o[4:], 16)
            if k == "f64":
                return struct.unpack("<d", struct.pack("<Q", bits))[0]
            val = _f32_value(bits)
            if _f32_bits(val) != bits:
                raise _fail(path, f"f32 bits {o[4:]} (signalling NaN) cannot cross wasmtime-py")
            return val
        if k == "char":
            if not isinstance(o, str) or len(o) != 1:
                raise _fail(path, f"expected a one-character str, got {_tn(o)} {o!r:.40}")
            _check_text(path, o)
            return o
        raise _fail(path, f"type {k} is not supported by the codec")
    if isinstance(t, VariantT):
        return _dec_variant(t, o, path, rdec)
    if isinstance(t, ListT):
        if t.is_bytes:
            if not isinstance(o, str) or not o.startswith(BYTES_TAG):
                raise _fail(path, f"expected 'base64:...' for list<u8>, got {_tn(o)} {o!r:.40}")
            raw = decode_tagged_bytes(o)
            if raw is None:
                raise _fail(path, "invalid base64")
            if encode_tagged_bytes(raw) != o:
                raise _fail(path, "non-canonical base64")
            return raw
        if not isinstance(o, list):
            raise _fail(path, f"expected list, got {_tn(o)}")
        e = t.elem
        return [_dec(e, x, f"{path}[{i}]", rdec) for i, x in enumerate(o)]
    if isinstance(t, TupleT):
        if not isinstance(o, list) or len(o) != len(t.items):
            raise _fail(path, f"expected array of {len(t.items)}, got {_tn(o)} {o!r:.60}")
        pairs = enumerate(zip(t.items, o, strict=True))
        return tuple(_dec(et, x, f"{path}[{i}]", rdec) for i, (et, x) in pairs)
    if isinstance(t, RecordT):
        names = [n for n, _ in t.fields]
        if not isinstance(o, dict) or set(o) != set(names):
            got = sorted(o) if isinstance(o, dict) else _tn(o)
            raise _fail(path, f"expected object with fields {sorted(names)}, got {got}")
        rec = wc.Record()
        for name, ft in t.fields:
            setattr(rec, name, _dec(ft, o[name], f"{path}.{name}", rdec))
        return rec
    if isinstance(t, EnumT):
        if not isinstance(o, str) or o not in t.names:
            raise _fail(path, f"expected one of {list(t.names)}, got {_tn(o)} {o!r:.40}")
        return o
    if isinstance(t, FlagsT):
        if (not isinstance(o, list) or any(not isinstance(x, str) or x not in t.names for x in o)
                or o != sorted(set(o))):
            raise _fail(path, f"expected sorted unique list of {list(t.names)}, got {o!r:.60}")
        return set(o)
    if isinstance(t, HandleT):
        if rdec is None:
            raise _fail(path, f"cannot decode {t.kind}<{t.resource}> without a resource_decoder")
        return rdec(o, t)
    raise _fail(path, f"not a WIT type: {t!r}")


def _dec_variant(t: VariantT, o: Any, path: str, rdec: ResourceDecoder | None) -> Any:
    cases = t.case_map
    if t.kind == "option":
        if o is None:
            name, po = "none", None
        elif isinstance(o, dict) and list(o) == ["some"]:
            name, po = "some", o["some"]
        else:
            raise _fail(path, f"expected null or {{\"some\": v}}, got {o!r:.60}")
    elif t.kind == "result":
        if not isinstance(o, dict) or len(o) != 1 or next(iter(o)) not in ("ok", "err"):
            raise _fail(path, f"expected {{\"ok\": v}} or {{\"err\": e}}, got {o!r:.60}")
        name, po = next(iter(o.items()))
    else:
        if (not isinstance(o, dict) or set(o) != {"case", "value"}
                or not isinstance(o["case"], str) or o["case"] not in cases):
            raise _fail(path, f"expected {{\"case\": one of {list(cases)}, \"value\": v}}, "
                              f"got {o!r:.60}")
        name, po = o["case"], o["value"]
    ct = cases[name]
    if ct is None:
        if po is not None:
            raise _fail(path, f"case {name!r} has no payload, expected null, got {po!r:.40}")
        payload = None
    else:
        payload = _dec(ct, po, f"{path}.{name}", rdec)
    if t.tagged:
        return wc.Variant(name, payload)
    chosen = _lowering_case(t, payload)
    if chosen is None or chosen[0] != name:
        other = "no case" if chosen is None else f"case {chosen[0]!r}"
        raise _fail(path, f"wasmtime-py would lower this {name!r} value as {other} "
                          f"(untagged {t.kind} with overlapping Python types)")
    return payload


# ---------------------------------------------------------------- public API

def encode(ty: TypeLike, value: Any, *, resource_encoder: ResourceEncoder | None = None,
           path: str = "value") -> Json:
    """Encode a wasmtime-py value of component type ``ty`` (a WitType or ValType)."""
    return _enc(_as_wit(ty), value, path, resource_encoder)


def decode(ty: TypeLike, obj: Json, *, resource_decoder: ResourceDecoder | None = None,
           path: str = "value") -> Any:
    """Decode canonical JSON into exactly the Python value wasmtime-py lowers for ``ty``."""
    return _dec(_as_wit(ty), obj, path, resource_decoder)


def encode_params(sig: FuncSig, args: Sequence[Any], *,
                  resource_encoder: ResourceEncoder | None = None) -> dict[str, Json]:
    """Encode positional arguments as ``{param name: json}``."""
    if len(args) != len(sig.params):
        raise CodecError(f"params: {sig.name} takes {len(sig.params)} arguments, got {len(args)}")
    pairs = zip(sig.params, args, strict=True)
    return {n: _enc(t, a, f"params.{n}", resource_encoder) for (n, t), a in pairs}


def decode_params(sig: FuncSig, obj: Json, *,
                  resource_decoder: ResourceDecoder | None = None) -> tuple[Any, ...]:
    """Decode ``{param name: json}`` into the positional argument tuple."""
    names = sig.param_names
    if not isinstance(obj, dict) or set(obj) != set(names):
        got = sorted(obj) if isinstance(obj, dict) else _tn(obj)
        raise CodecError(f"params: expected object with {sorted(names)}, got {got}")
    return tuple(_dec(t, obj[n], f"params.{n}", resource_decoder) for n, t in sig.params)


def encode_result(sig: FuncSig, value: Any, *,
                  resource_encoder: ResourceEncoder | None = None) -> Json:
    """Encode a function's return value (``None`` for a function without result)."""
    if sig.result is None:
        if value is not None:
            raise CodecError(f"result: {sig.name} has no result, got {_tn(value)}")
        return None
    return _enc(sig.result, value, "result", resource_encoder)


def decode_result(sig: FuncSig, obj: Json, *,
                  resource_decoder: ResourceDecoder | None = None) -> Any:
    """Decode a function's return value."""
    if sig.result is None:
        if obj is not None:
            raise CodecError(f"result: {sig.name} has no result, got {obj!r:.40}")
        return None
    return _dec(sig.result, obj, "result", resource_decoder)


def dumps(obj: Json) -> bytes:
    """Canonical bytes: compact UTF-8 JSON with sorted keys (orjson)."""
    try:
        return canonical_json(obj, strict=True)
    except orjson.JSONEncodeError as e:
        raise CodecError(f"dumps: {e}") from None


def loads(data: bytes | str) -> Json:
    """Parse JSON bytes produced by :func:`dumps`."""
    try:
        out: Json = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise CodecError(f"loads: {e}") from None
    return out
