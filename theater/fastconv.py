"""Value conversions built once per component type, for theater/fastcall.py (export
calls) and theater/fasthost.py (host calls): issue 19, its bench target.

:func:`lowerer` composes, from a wasmtime-py ``ValType`` tree, one function that packs
a Python value into the 32 bytes of a ``wasmtime_component_val_t`` pointing into
``bytes`` objects the caller keeps (memory Python owns, for the C API to read);
:func:`lifter` one that reads such a value (a result wasmtime owns) back into the
Python value wasmtime-py's ``convert_from_c`` returns. Every choice wasmtime-py makes
per value (whether an ``option``/``result``/``variant`` is tagged, which case a value
takes) is made the same way, with what can be computed once computed once. A value a
lowering is not sure of raises :class:`Fallback` (the caller then uses wasmtime-py's
own conversion); a type neither covers raises :class:`Unsupported`. Whether they may
be used at all is theater/fastcall.py's ``status()`` (the fingerprints and layout
they rely on); docs/performance.md describes them.
"""

from __future__ import annotations

import ctypes
import functools
import struct
from collections.abc import Callable
from typing import Any

from .errors import FastPathFallback, FastPathUnsupported

__all__ = ["DATA", "Fallback", "Lift", "Lower", "Unsupported", "lifter", "lowerer"]

Lower = Callable[[Any, list[Any]], bytes]  # (value, keep) -> the val_t's 32 bytes; raises to fall back
Lift = Callable[[bytes], Any]  # (the val_t's 32 bytes) -> value


@functools.cache
def _types() -> Any:
    from wasmtime.component import _types

    return _types


Unsupported = FastPathUnsupported  # a type the conversions do not cover
Fallback = FastPathFallback  # a value they are not sure of


# -- lowering: Python value -> the 32 bytes of a wasmtime_component_val_t ---------------
#
# The C API only reads the arguments (``wasmtime_component_func_call`` takes them as
# ``*const`` and clones each into a ``Val``), so they are built in memory Python owns:
# each lowering returns the value's 32 bytes (``struct.pack``) and appends to ``keep``
# every buffer they point into (a string's UTF-8, a list's elements, an option's
# payload), each a ``bytes`` object whose data is at ``id(b) + DATA`` (CPython's
# ``PyBytesObject.ob_sval``, checked by :func:`_layout_ok`). Nothing is allocated by
# wasmtime, so nothing is freed: a value it is not sure of is simply dropped.

DATA = bytes.__basicsize__ - 1  # offset of a bytes object's data from its id()
_INT_FORMATS = {
    "S8": (1, "b"), "U8": (2, "B"), "S16": (3, "h"), "U16": (4, "H"), "S32": (5, "i"), "U32": (6, "I"),
    "S64": (7, "q"), "U64": (8, "Q"),
}
_K_BOOL, _K_F32, _K_F64, _K_CHAR, _K_STRING, _K_LIST = 0, 9, 10, 11, 12, 13
_K_RECORD, _K_TUPLE, _K_VARIANT, _K_ENUM, _K_OPTION, _K_RESULT = 14, 15, 16, 17, 18, 19
_VEC = struct.Struct("<B7xQQ8x")  # kind, then a (size, pointer) pair: string, list, tuple, record, enum
_PTR = struct.Struct("<B7xQ16x")  # kind, then a pointer: option
_RESULT = struct.Struct("<B7x?7xQ8x")  # kind, is_ok, pointer
_VARIANT = struct.Struct("<B7xQQQ")  # kind, discriminant (size, pointer), pointer
_NAME = struct.Struct("<QQ")  # a record entry's name, before its 32-byte value
_U8 = bytes((2,))


def _classes(ty: Any) -> tuple[type, ...]:
    s: set[type] = set()
    ty.add_classes(s)
    return tuple(s)


def _scalar_lowerer(kind: int, fmt: str, exact: type) -> Lower:
    pack = struct.Struct(f"<B7x{fmt}").pack
    pad = bytes(32 - struct.calcsize(f"<B7x{fmt}"))

    def lower(val: Any, keep: list[Any]) -> bytes:
        if type(val) is not exact:
            raise Fallback
        return pack(kind, val) + pad  # an int out of range, an f32 overflow: struct.error, OverflowError

    return lower


def lowerer(ty: Any) -> Lower:
    """The lowering of one type (raises :class:`Unsupported`)."""
    t = _types()
    name = type(ty).__name__
    if name == "Bool":
        return _scalar_lowerer(_K_BOOL, "?", bool)
    if name in _INT_FORMATS:
        return _scalar_lowerer(*_INT_FORMATS[name], int)
    if name == "F32":
        return _scalar_lowerer(_K_F32, "f", float)
    if name == "F64":
        return _scalar_lowerer(_K_F64, "d", float)
    pack_vec = _VEC.pack
    if name == "Char":
        pack_char = struct.Struct("<B7xI20x").pack

        def lower_char(val: Any, keep: list[Any]) -> bytes:
            if type(val) is not str or len(val) != 1:
                raise Fallback
            return pack_char(_K_CHAR, ord(val))
        return lower_char
    if name == "String" or isinstance(ty, t.EnumType):
        kind = _K_STRING if name == "String" else _K_ENUM

        def lower_string(val: Any, keep: list[Any]) -> bytes:
            if type(val) is not str:
                raise Fallback
            b = val.encode("utf-8")  # a str that is not UTF-8 raises, as in wasmtime-py
            keep.append(b)
            return pack_vec(kind, len(b), id(b) + DATA)
        return lower_string
    if isinstance(ty, t.ListType):
        if isinstance(ty.element, t.U8):
            def lower_bytes(val: Any, keep: list[Any]) -> bytes:
                if type(val) is not bytes:
                    raise Fallback
                n = len(val)
                buf = bytearray(n * 32)
                buf[0::32] = _U8 * n
                buf[8::32] = val
                data = bytes(buf)
                keep.append(data)
                return pack_vec(_K_LIST, n, id(data) + DATA)
            return lower_bytes
        element = lowerer(ty.element)

        def lower_list(val: Any, keep: list[Any]) -> bytes:
            if type(val) is not list:
                raise Fallback
            data = b"".join([element(e, keep) for e in val])
            keep.append(data)
            return pack_vec(_K_LIST, len(val), id(data) + DATA)
        return lower_list
    if isinstance(ty, t.TupleType):
        elements = [lowerer(e) for e in ty.elements]
        n = len(elements)

        def lower_tuple(val: Any, keep: list[Any]) -> bytes:
            if type(val) is not tuple or len(val) != n:
                raise Fallback
            data = b"".join([lower(e, keep) for lower, e in zip(elements, val, strict=True)])
            keep.append(data)
            return pack_vec(_K_TUPLE, n, id(data) + DATA)
        return lower_tuple
    if isinstance(ty, t.RecordType):
        return _record_lowerer(ty)
    if isinstance(ty, (t.OptionType, t.ResultType, t.VariantType)):
        return _variant_lowerer(ty)
    raise Unsupported(name)


def _record_lowerer(ty: Any) -> Lower:
    fields = []
    names = []  # kept as long as the lowering: the entries point into them
    for fname, fty in ty.fields:
        b = fname.encode("utf-8")
        names.append(b)
        fields.append((fname, _NAME.pack(len(b), id(b) + DATA), lowerer(fty)))
    n = len(fields)
    pack_vec = _VEC.pack

    def lower_record(val: Any, keep: list[Any]) -> bytes:
        try:
            values = [getattr(val, fname) for fname, _, _ in fields]
        except Exception:
            raise Fallback from None
        data = b"".join([entry + lower(v, keep) for (_, entry, lower), v in zip(fields, values, strict=True)])
        keep.append(data)
        return pack_vec(_K_RECORD, n, id(data) + DATA)

    lower_record.names = names  # type: ignore[attr-defined]
    return lower_record


def _cases(ty: Any) -> list[tuple[str, Any]]:
    return list(ty._cases())


def _variant_lowerer(ty: Any) -> Lower:
    t = _types()
    tagged = bool(ty._tagged())
    cases = [(name, None if cty is None else lowerer(cty), None if cty is None else _classes(cty))
             for name, cty in _cases(ty)]
    variant_cls = t.Variant

    def case_of(val: Any, keep: list[Any]) -> tuple[str, int]:
        """wasmtime-py's ``VariantLikeType._lower`` with the classes built once: the
        case's name and the address of its payload (0: none)."""
        if tagged and type(val) is not variant_cls:
            raise Fallback
        for name, lower, classes in cases:
            if tagged:
                if name != val.tag:
                    continue
            elif lower is None:
                if val is not None:
                    continue
            elif not isinstance(val, classes):  # type: ignore[arg-type]
                continue
            if lower is None:
                return name, 0
            payload = lower(val.payload if tagged else val, keep)
            keep.append(payload)
            return name, id(payload) + DATA
        raise Fallback

    if isinstance(ty, t.OptionType):
        pack_ptr = _PTR.pack

        def lower_option(val: Any, keep: list[Any]) -> bytes:
            return pack_ptr(_K_OPTION, case_of(val, keep)[1])
        return lower_option
    if isinstance(ty, t.ResultType):
        pack_result = _RESULT.pack

        def lower_result(val: Any, keep: list[Any]) -> bytes:
            name, ptr = case_of(val, keep)
            return pack_result(_K_RESULT, name == "ok", ptr)
        return lower_result
    pack_variant = _VARIANT.pack
    tags = {name: name.encode("utf-8") for name, _, _ in cases}

    def lower_variant(val: Any, keep: list[Any]) -> bytes:
        name, ptr = case_of(val, keep)
        tag = tags[name]
        return pack_variant(_K_VARIANT, len(tag), id(tag) + DATA, ptr)

    lower_variant.tags = tags  # type: ignore[attr-defined]
    return lower_variant


# -- lifting: the result's C value -> Python value --------------------------------------
#
# The result is wasmtime's: it is read (``ctypes.string_at``, ``struct.unpack_from``),
# every string and list copied out, then freed by one ``wasmtime_component_val_delete``
# of the whole tree (boxes included) after the call.


def lifter(ty: Any) -> Lift:
    """The lifting of one type, the values wasmtime-py's ``convert_from_c`` returns
    (raises :class:`Unsupported`); ``lift(raw)`` takes the value's 32 bytes."""
    t = _types()
    name = type(ty).__name__
    scalars: dict[str, tuple[int, str, type]] = {
        "Bool": (_K_BOOL, "?", bool), "F32": (_K_F32, "f", float), "F64": (_K_F64, "d", float)}
    scalars.update({n: (k, f, int) for n, (k, f) in _INT_FORMATS.items()})
    string_at, unpack_vec = ctypes.string_at, struct.Struct("<8xQQ").unpack_from
    if name in scalars:
        kind, fmt, _conv = scalars[name]
        unpack = struct.Struct(f"<8x{fmt}").unpack_from

        def lift_scalar(raw: bytes) -> Any:
            assert raw[0] == kind
            return unpack(raw)[0]
        return lift_scalar
    if name == "Char":
        unpack_char = struct.Struct("<8xI").unpack_from

        def lift_char(raw: bytes) -> Any:
            assert raw[0] == _K_CHAR
            return chr(unpack_char(raw)[0])
        return lift_char
    if name == "String" or isinstance(ty, t.EnumType):
        kind = _K_STRING if name == "String" else _K_ENUM

        def lift_string(raw: bytes) -> Any:
            assert raw[0] == kind
            n, p = unpack_vec(raw)
            return string_at(p, n).decode("utf-8") if n else ""
        return lift_string
    if isinstance(ty, t.ListType):
        if isinstance(ty.element, t.U8):
            def lift_bytes(raw: bytes) -> Any:
                assert raw[0] == _K_LIST
                n, p = unpack_vec(raw)
                if not n:
                    return b""
                data = string_at(p, 32 * n)
                assert data[0::32] == _U8 * n  # each element a u8, as wasmtime-py asserts one by one
                return data[8::32]
            return lift_bytes
        element = lifter(ty.element)

        def lift_list(raw: bytes) -> Any:
            assert raw[0] == _K_LIST
            n, p = unpack_vec(raw)
            data = string_at(p, 32 * n) if n else b""
            return [element(data[i:i + 32]) for i in range(0, 32 * n, 32)]
        return lift_list
    if isinstance(ty, t.TupleType):
        elements = [lifter(e) for e in ty.elements]

        def lift_tuple(raw: bytes) -> Any:
            assert raw[0] == _K_TUPLE
            n, p = unpack_vec(raw)
            data = string_at(p, 32 * n) if n else b""
            return tuple([lift(data[32 * i:32 * i + 32]) for i, lift in zip(range(n), elements, strict=False)])
        return lift_tuple
    if isinstance(ty, t.RecordType):
        fields = [(fname, lifter(fty)) for fname, fty in ty.fields]
        record_cls, unpack_name = t.Record, _NAME.unpack_from

        def lift_record(raw: bytes) -> Any:
            assert raw[0] == _K_RECORD
            n, p = unpack_vec(raw)
            data = string_at(p, 48 * n) if n else b""
            ret = record_cls()
            for i, (fname, lift) in zip(range(n), fields, strict=False):  # as wasmtime-py
                size, np = unpack_name(data, 48 * i)
                assert (string_at(np, size).decode("utf-8") if size else "") == fname
                setattr(ret, fname, lift(data[48 * i + 16:48 * i + 48]))
            return ret
        return lift_record
    if isinstance(ty, (t.OptionType, t.ResultType, t.VariantType)):
        return _variant_lifter(ty)
    raise Unsupported(name)


def _variant_lifter(ty: Any) -> Lift:
    t = _types()
    tagged = bool(ty._tagged())
    cases = {name: None if cty is None else lifter(cty) for name, cty in reversed(_cases(ty))}
    variant_cls, string_at = t.Variant, ctypes.string_at

    def case(tag: str, ptr: int) -> Any:
        """wasmtime-py's ``VariantLikeType._lift``."""
        if tag not in cases:
            raise ValueError(f"tag {tag} not found in variant cases")
        lift = cases[tag]
        if lift is None:
            return variant_cls(tag) if tagged else None
        payload = lift(string_at(ptr, 32))
        return variant_cls(tag, payload) if tagged else payload

    if isinstance(ty, t.OptionType):
        unpack_ptr = struct.Struct("<8xQ").unpack_from

        def lift_option(raw: bytes) -> Any:
            assert raw[0] == _K_OPTION
            ptr = unpack_ptr(raw)[0]
            return case("some" if ptr else "none", ptr)
        return lift_option
    if isinstance(ty, t.ResultType):
        unpack_result = struct.Struct("<8x?7xQ").unpack_from

        def lift_result(raw: bytes) -> Any:
            assert raw[0] == _K_RESULT
            is_ok, ptr = unpack_result(raw)
            return case("ok" if is_ok else "err", ptr)
        return lift_result
    unpack_variant = struct.Struct("<8xQQQ").unpack_from

    def lift_variant(raw: bytes) -> Any:
        assert raw[0] == _K_VARIANT
        n, p, ptr = unpack_variant(raw)
        return case(string_at(p, n).decode("utf-8") if n else "", ptr)
    return lift_variant
