"""Export calls with their value conversions built once per function (issue 19, its
bench target: messages between two actors at >= 0.4 of the bare host-call rate).

wasmtime-py 50.0.1 calls a component export (``Func.__call__``) by reading the
function's type, allocating an array of C values (``wasmtime_component_val_t``, 32
bytes each), converting each argument through its ``ValType`` object
(``convert_to_c``: for a string or a list a C allocation, for an ``option`` or a
``result`` a set of Python classes built per value to find the case, then a C box),
calling ``wasmtime_component_func_call`` through a closure and ``enter_wasm``,
converting the result back (``convert_from_c``, a ctypes object and a C free per
nested value) and deleting the arguments. For ``handle-send`` (``func(option<list<u8>>,
tuple<list<u8>>) -> result<tuple<option<list<u8>>>, string>``) that is about 40 Python
calls, 15 ctypes objects and 10 C allocations or frees per call.

:func:`export_func` wraps an export's ``Func`` in an :class:`Export` that makes the
same C call with what can be built once, built once per function signature: one
lowering and one lifting function per parameter and result type (theater/fastconv.py),
composed from the type tree when the export is first wrapped (for each ``option``, ``result`` and
``variant`` whether it is tagged and each case's Python classes, which wasmtime-py
recomputes per value), and the result slot, allocated once.

- **Arguments in memory Python owns.** ``wasmtime_component_func_call`` only reads
  its arguments (``*const``, each cloned into a ``Val``; wasmtime-py deletes them
  after the call), so each lowering returns its C value's 32 bytes
  (``struct.pack``), pointing into ``bytes`` objects kept alive for the call (a
  string's UTF-8, a list's elements, an option's payload): no C allocation, nothing
  to free, and a value it is not sure of is simply dropped.
- **The result read, then freed once.** The result is wasmtime's: it is read with
  ``ctypes.string_at`` and ``struct``, strings and lists copied out (``list<u8>``
  in one slice, as theater/fastvalues.py does), then freed whole by one
  ``wasmtime_component_val_delete`` (boxes included: wasmtime-py frees each
  payload's contents and leaks its 32-byte box), and the slot reset to a ``bool``
  (the C API assigns the slot, dropping what it held).

The C values are the ones wasmtime-py builds, field for field, and the lifted values
the ones it returns (``bytes``, ``Record``, ``Variant``, untagged options and results
as their payloads). Lowering accepts only what it is sure of: exact ``bool``, ``int``
in the type's range, ``float``, ``str`` that encodes, ``bytes``, ``list``, ``tuple``,
an object with the record's attributes, the right case. Anything else (a
``bytearray``, a ``bool`` for a ``u32``, an out-of-range ``int``, a wrong case) goes
to wasmtime-py's own ``Func.__call__``, which converts or raises exactly as always;
so does a call of the same export nested in one running. A function with a type not
covered (``flags``, resources, futures, streams, error contexts) is not wrapped.

Post-return: wasmtime 50's ``wasmtime_component_func_call`` runs the export's
post-return function itself (tests/test_wat_fixtures.py
``test_post_return_runs_automatically``), as for wasmtime-py's own call;
:meth:`Export.post_return` is ``Func.post_return`` (a harmless no-op).

Used only when theater/wtpatch.py's checks hold: the wasmtime-py version checked,
the code it mirrors source for source that version's (:data:`_FINGERPRINT`), the C
layout, the ctypes signatures and CPython's ``bytes`` layout as assumed
(:func:`_layout_ok`), ``THEATER_NO_FASTPATH`` unset. ``tests/test_fastcall.py``
proves the values equal to wasmtime-py's own call by property tests over the types,
and run chains byte-identical with and without it. docs/performance.md describes it
for upstream.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

from .fastconv import DATA, Unsupported, lifter, lowerer
from .wtpatch import FastPathStatus, decide, source_sha

__all__ = ["Export", "export_func", "fingerprint", "status"]

#: SHA-256 of the source of each wasmtime-py function whose behaviour the lowering and
#: lifting reproduce, in CHECKED_VERSION (from ``def`` to its last line of code)
_FINGERPRINT: dict[str, str] = {
    "Func.__call__": "cd08463247d602605e17b6de9d9f4b151c758f24999c12c27a99457c7bf37fd0",
    "enter_wasm": "96a5767aeba1ad9f1edfe9f8090c0cc3fb2556d776454b1670db1f461e97ccc8",
    "maybe_raise_last_exn": "026713b0cfb55eeb4b366490892ce235f70d20928b6ec13472866e2d23b0ffbb",
    "str_to_capi": "5b746a86c1bb06f3c1d19f5068dde39a62d6be1f4e07c7a2fbc9261d6e59b1a1",
    "bytes_to_capi": "2c188f66c3abbff267d440b849d579e64dfc81e9bd6ec27d69dacc3372fd6734",
    "to_str": "337444f203e5e3bc0edfe2c42b9d02e78b325095ef786c4bc77d9cdcee5acc1f",
    "to_bytes": "5fa9bbed5f291853d3a57231a05bb60c242a48176a41984aff4274c067e4611e",
    "VariantLikeType._lower": "754829dfe558d474af86a08a5e17433b78fd630cf30d0a7aec68f5e131fa9c7d",
    "VariantLikeType._lift": "51f662da57eb47cd4d8da1c3a9a6a5ce595db473cc386ae55879266d8fd01fcf",
    "VariantLikeType._tagged": "4c03f366d3972ca42794689603a575341adc8d4ca8797ae754bc7f61027931ef",
    "VariantLikeType.add_classes": "edf39d8238a1f1fecb835de01e80af2742172274c9d6998e2594e0c5a0056806",
    "OptionType._cases": "a93e90ed00677caf6f3ab7fbe3fccefa4521e2039f3fa670963b47b1b93b66d1",
    "ResultType._cases": "de697fcfd5263d40c61a6ceabb208e810ae906d4edcb954c0cca4131f0020484",
    "VariantType._cases": "d2639b722ecbf19fe8a69856b00036b6c45db87450e4c50d368b4d48c9c7ffad",
    "Bool.convert_to_c": "41a80ecf7199520b1537b60297d90f551ada1c1e22dd60ab1583253dfaf03cef",
    "Bool.convert_from_c": "04580b3a40368540089015804e73359027ce061ccd1023dbcf5ec1bab2dc1638",
    "Bool.add_classes": "0e2c303fd75a64419e2a18dc28aaa421f9ce583413911577e3c6e25a59885496",
    "S8.convert_to_c": "e3cf4a18a1838e705db7f9e0c80607c5f5e6ee2a7c035a513ef498fba783157a",
    "S8.convert_from_c": "a5176d93d692e007760fc28108e397c20f8b06093bda9cefad2fafa6c9540d79",
    "S8.add_classes": "2d68e45423fdbd3c14053d4d5623db30a2c462f3d079e5a51cf4eadf72f078f0",
    "U8.convert_to_c": "b13506bbf528b6dad3875484410fdadbdc69a65b334b86aaa4d555464ceed48b",
    "U8.convert_from_c": "38976e9d227334acc8b28cb1182be794ac5d5e31276ffab3098a87961c59baaf",
    "U8.add_classes": "2d68e45423fdbd3c14053d4d5623db30a2c462f3d079e5a51cf4eadf72f078f0",
    "S16.convert_to_c": "960e56935915d59533480b636024045ff83c17a9e941344055bcfadac9c6b1a3",
    "S16.convert_from_c": "73143ac71a0d91b257ad0437aa6e76ae3390ec34a7c24e521fcab11358fcf974",
    "S16.add_classes": "2d68e45423fdbd3c14053d4d5623db30a2c462f3d079e5a51cf4eadf72f078f0",
    "U16.convert_to_c": "e3c48396a487145c0386205499d83dceaba3735e889dbd1e1deccdb282a4a13d",
    "U16.convert_from_c": "26ad068cc693c7800ef3983f92a378a77503aa88032ef7780d9400e3f8e65d9f",
    "U16.add_classes": "2d68e45423fdbd3c14053d4d5623db30a2c462f3d079e5a51cf4eadf72f078f0",
    "S32.convert_to_c": "b64e7e0f5d522fdd02b8e47eeae1f084de16f73ba53a45f2485c413699f7ffe5",
    "S32.convert_from_c": "282cf9620e4edfaa97032263ea9926255bab2e1ce5dfdd0029f46e06ae9e37b0",
    "S32.add_classes": "2d68e45423fdbd3c14053d4d5623db30a2c462f3d079e5a51cf4eadf72f078f0",
    "U32.convert_to_c": "aa10d7578c7349c718c5bba1674d17b68396e5a7079afde0fd53e2aa270ff2cf",
    "U32.convert_from_c": "ee28fae8eecbab197a44a40a351a47a0c8c97231cc5d76a40b2270163632ae76",
    "U32.add_classes": "2d68e45423fdbd3c14053d4d5623db30a2c462f3d079e5a51cf4eadf72f078f0",
    "S64.convert_to_c": "233803f1957a22c918fcb7da4f82b1b9ce2470e45f64c0dfe007fefbd551e638",
    "S64.convert_from_c": "934ab1610f9ec6d0d52b25badb1e8b07b9dc76163284cb7a51d8b08896358bb7",
    "S64.add_classes": "2d68e45423fdbd3c14053d4d5623db30a2c462f3d079e5a51cf4eadf72f078f0",
    "U64.convert_to_c": "0342f28c0a0ebe1600023e77bca51055833cace7df3c4ee994fd85ece678497e",
    "U64.convert_from_c": "454c92da442b47e68fa35bfba18383814a8744fb462bfaee2b7668e78a0d8fcb",
    "U64.add_classes": "2d68e45423fdbd3c14053d4d5623db30a2c462f3d079e5a51cf4eadf72f078f0",
    "F32.convert_to_c": "4070073a146e8e63db8843e3007198027305412bf150c0d95173593dff2f2de3",
    "F32.convert_from_c": "338936c1dd680c7c9c9db74f4e4ffc1d0b7ac15713c5635c2cfbaa13a340e66a",
    "F32.add_classes": "eaae027be69e298d83a25157e17feff965a7261713fbfdfd54c01ef2aeee42f6",
    "F64.convert_to_c": "1aa4b3d709a6767d9793bbd0c0c6954282d5a085bfaeec563f3bc84e7c17cf34",
    "F64.convert_from_c": "7d786afe2b95d76f113588b8389fc7f6d3cecd8a94d0eb936b786f8cd2abc65a",
    "F64.add_classes": "eaae027be69e298d83a25157e17feff965a7261713fbfdfd54c01ef2aeee42f6",
    "Char.convert_to_c": "0fd2c998a08e7bef6419fb33a35a6cba61169599306011a956d51ea337e7ecee",
    "Char.convert_from_c": "37d4bd23bb4e34687dc3b364ca2495fdaa681aab6a47c487a0a839b897a03e07",
    "Char.add_classes": "2478a589b406fa8b8816aca40905b16da3788eca874070edcc42bd1ea77b8238",
    "String.convert_to_c": "bdac8522365aa42433248a4df520ad0e95783a04758b05a651a2f36357003831",
    "String.convert_from_c": "ed577e6a3a5600f444dc55ba3b2000325fc7aee72810109959899861e4239ae2",
    "String.add_classes": "2478a589b406fa8b8816aca40905b16da3788eca874070edcc42bd1ea77b8238",
    "ListType.convert_to_c": "c0efe57bc21e40fa610a0b19880229a1808dee69904aa9f1078e2ad05a2e0291",
    "ListType.convert_from_c": "d7a53d5f6ecd86a6ba674664c73aa6e1aa55c516296a786308929b819dff8938",
    "ListType.add_classes": "57cc4d05327d67746ac2c87bbc99cf5855a14128330bf2dfcbfd47e556ad0d46",
    "RecordType.convert_to_c": "3d82c95c607bd506ab69439ae67d89bc940478a2424bf3641deddba04e711722",
    "RecordType.convert_from_c": "ff471c0bf6040bff2e714740ce215369b92c7dd23c027233128fb258d5c41755",
    "RecordType.add_classes": "f90720bb41bd0c4b342fe20435927ec9686567a82b53cdff946c624dc5e261e2",
    "TupleType.convert_to_c": "662c5a3e9c8149c65ceab1893a9b20d8f84ea168e32259d64c6c083295c0e289",
    "TupleType.convert_from_c": "43b9927bbb972710ed72415f1308fc0bd6b2ec31595c362ef6bb902b8fa2eb2c",
    "TupleType.add_classes": "092cd7e7ae1d257e22211ed787a9d222b5bdf311118b833b281668316c6ea2cc",
    "VariantType.convert_to_c": "41e9f57aa5fbb501f8f2acfbb6490e8e2b010c3a356608a3b04960731d0056bf",
    "VariantType.convert_from_c": "55acd6f7cf571205cb9f40759df5bde4da2b729c7485dfd207fa4ed2f7a03345",
    "EnumType.convert_to_c": "058f2d78123cc88a4c299ee8f2720bdb8316ce61b957b711ded80e492825915d",
    "EnumType.convert_from_c": "2f58e3c02ee21324fe56d478bfaaa7faa23bcf6713098a1c08a66f6c14ef3860",
    "EnumType.add_classes": "2478a589b406fa8b8816aca40905b16da3788eca874070edcc42bd1ea77b8238",
    "OptionType.convert_to_c": "cd7214f19ef588d2c7e87044c6ddbd81159f76566b8531e0ba9442f492e8c41e",
    "OptionType.convert_from_c": "5bbf152466da6154154bc2888ace4f2435e19f349ae3e10a27fe4fa198e10721",
    "ResultType.convert_to_c": "9a0d01b8d8942c4c47a0ea46bb87d9f31f0c6c7b76a5baf87abfd98aa217f93c",
    "ResultType.convert_from_c": "3600d1d2c79bc5c841d8302681025835a7077bc4c9394823d11476754e594d3f",
}



@functools.cache
def _wt() -> Any:
    from wasmtime import WasmtimeError
    from wasmtime import _bindings as bindings
    from wasmtime import _ffi as ffi
    from wasmtime.component import _enter, _func, _types

    return ffi, bindings, _enter, _func, _types, WasmtimeError


def _mirrored() -> dict[str, Any]:
    ffi, _, enter, func, t, _ = _wt()
    out: dict[str, Any] = {
        "Func.__call__": func.Func.__call__, "enter_wasm": enter.enter_wasm,
        "maybe_raise_last_exn": enter.maybe_raise_last_exn,
        "str_to_capi": ffi.str_to_capi, "bytes_to_capi": ffi.bytes_to_capi, "to_str": ffi.to_str,
        "to_bytes": ffi.to_bytes,
        "VariantLikeType._lower": t.VariantLikeType._lower, "VariantLikeType._lift": t.VariantLikeType._lift,
        "VariantLikeType._tagged": t.VariantLikeType._tagged,
        "VariantLikeType.add_classes": t.VariantLikeType.add_classes,
        "OptionType._cases": t.OptionType._cases, "ResultType._cases": t.ResultType._cases,
        "VariantType._cases": t.VariantType._cases,
    }
    for cls in ("Bool", "S8", "U8", "S16", "U16", "S32", "U32", "S64", "U64", "F32", "F64", "Char", "String",
                "ListType", "RecordType", "TupleType", "VariantType", "EnumType", "OptionType", "ResultType"):
        klass = getattr(t, cls)
        for attr in ("convert_to_c", "convert_from_c", "add_classes"):
            fn = klass.__dict__.get(attr)
            if fn is not None:
                out[f"{cls}.{attr}"] = fn
    return out


def _unpatched(name: str, fn: Any) -> Any:
    """wasmtime-py's own function behind ``fn`` while theater/fastvalues.py or
    theater/fasttypes.py is installed (their wrappers keep it)."""
    from . import fastvalues

    if name.startswith("ListType.convert_") and fastvalues._originals:
        return fastvalues._originals[name.split(".")[1]]
    return getattr(fn, "__wrapped__", fn)


def fingerprint() -> dict[str, str]:
    """The SHA-256 of the installed source of each function :data:`_FINGERPRINT` names
    (wasmtime-py's own, also while the other fast paths are installed)."""
    return {name: source_sha(_unpatched(name, fn)) for name, fn in _mirrored().items()}


def _layout_ok() -> bool:
    """The C layout the packing assumes (x86-64 / aarch64 little-endian, 64-bit), the
    ctypes signatures it calls, and CPython's ``bytes`` data at ``id(b) + DATA``."""
    import sys

    ffi, b, _, _, _, _ = _wt()
    val, union = ffi.wasmtime_component_val_t, ffi.wasmtime_component_valunion_t
    probe = b"theater"
    call = b._wasmtime_component_func_call
    return bool(
        sys.implementation.name == "cpython" and sys.byteorder == "little" and ctypes.sizeof(ctypes.c_void_p) == 8
        and ctypes.string_at(id(probe) + DATA, len(probe)) == probe
        and ctypes.sizeof(val) == 32 and val.kind.offset == 0 and val.kind.size == 1 and val.of.offset == 8
        and ctypes.sizeof(union) == 24
        and ffi.wasm_byte_vec_t.size.offset == 0 and ffi.wasm_byte_vec_t.data.offset == 8
        and ffi.wasmtime_component_vallist_t.size.offset == 0 and ffi.wasmtime_component_vallist_t.data.offset == 8
        and ffi.wasmtime_component_valresult_t.is_ok.offset == 0
        and ffi.wasmtime_component_valresult_t.val.offset == 8
        and ffi.wasmtime_component_valvariant_t.discriminant.offset == 0
        and ffi.wasmtime_component_valvariant_t.val.offset == 16
        and ctypes.sizeof(ffi.wasmtime_component_valrecord_entry_t) == 48
        and ffi.wasmtime_component_valrecord_entry_t.val.offset == 16
        and [k.value for k in (ffi.WASMTIME_COMPONENT_BOOL, ffi.WASMTIME_COMPONENT_CHAR, ffi.WASMTIME_COMPONENT_STRING,
                               ffi.WASMTIME_COMPONENT_LIST, ffi.WASMTIME_COMPONENT_RECORD,
                               ffi.WASMTIME_COMPONENT_TUPLE, ffi.WASMTIME_COMPONENT_VARIANT,
                               ffi.WASMTIME_COMPONENT_ENUM, ffi.WASMTIME_COMPONENT_OPTION,
                               ffi.WASMTIME_COMPONENT_RESULT)] == [0, 11, 12, 13, 14, 15, 16, 17, 18, 19]
        and [getattr(ffi, f"WASMTIME_COMPONENT_{k}").value for k in ("S8", "U8", "S16", "U16", "S32", "U32",
                                                                     "S64", "U64", "F32", "F64")] == list(
            range(1, 11))
        and call.restype is ctypes.POINTER(ffi.wasmtime_error_t)
        and list(call.argtypes) == [ctypes.POINTER(ffi.wasmtime_component_func_t),
                                    ctypes.POINTER(ffi.wasmtime_context_t), ctypes.POINTER(val), ctypes.c_size_t,
                                    ctypes.POINTER(val), ctypes.c_size_t]
        and b._wasmtime_component_val_delete.argtypes == [ctypes.POINTER(val)])


@functools.cache
def status() -> FastPathStatus:
    """Whether :func:`export_func` wraps exports, and why not when it does not
    (decided once per process)."""
    return decide(what="exports are called through wasmtime-py's Func.__call__", expected=_FINGERPRINT,
                  found=fingerprint, layout_ok=_layout_ok,
                  layout="wasmtime_component_val_t or wasmtime_component_func_call is not as assumed")


# -- the call ---------------------------------------------------------------------------


@functools.cache
def _func_call() -> Any:
    """``wasmtime_component_func_call`` with plain addresses for its value arrays (the
    symbol wasmtime-py binds, with the pointer arguments it reads as ``void *``)."""
    ffi, b, _, _, _, _ = _wt()
    proto = ctypes.CFUNCTYPE(ctypes.POINTER(ffi.wasmtime_error_t), ctypes.c_void_p,
                             ctypes.POINTER(ffi.wasmtime_context_t), ctypes.c_void_p, ctypes.c_size_t,
                             ctypes.c_void_p, ctypes.c_size_t)
    address = ctypes.cast(b._wasmtime_component_func_call, ctypes.c_void_p).value
    assert address is not None
    return proto(address)


class Export:
    """A component export called with conversions built once (see the module's
    docstring); called as ``Func`` is: ``export(store, *args)``."""

    __slots__ = ("func", "_lowers", "_lift", "_n", "_res", "_res_addr", "_res_ref", "_nres", "_func_addr",
                 "_busy", "_call", "_delete", "_error", "_raise_last")

    def __init__(self, func: Any, params: list[Any], result: Any) -> None:
        ffi, b, enter, _, _, error = _wt()
        self.func = func
        self._lowers = tuple(lowerer(ty) for ty in params)
        self._lift = None if result is None else lifter(result)
        self._n = len(params)
        self._res = ffi.wasmtime_component_val_t()
        self._res_addr = None if result is None else ctypes.addressof(self._res)
        self._res_ref = ctypes.byref(self._res)
        self._nres = 0 if result is None else 1
        self._func_addr = ctypes.addressof(func._func)
        self._busy = False
        self._call, self._delete = _func_call(), b._wasmtime_component_val_delete
        self._error, self._raise_last = error, enter.maybe_raise_last_exn

    def __call__(self, store: Any, *params: Any) -> Any:
        if self._busy or len(params) != self._n:
            return self.func(store, *params)  # nested, or wasmtime-py's own TypeError
        keep: list[Any] = []
        try:
            args = b"".join([lower(val, keep) for lower, val in zip(self._lowers, params, strict=True)])
        except Exception:
            return self.func(store, *params)  # converts, or raises, as wasmtime-py always does
        self._busy = True
        try:
            err = self._call(self._func_addr, store._context(), id(args) + DATA, self._n, self._res_addr,
                             self._nres)
            if err:
                error = self._error._from_ptr(err)
                self._raise_last()
                raise error
            if self._lift is None:
                return None
            try:
                return self._lift(ctypes.string_at(self._res_ref, 32))
            finally:
                self._delete(self._res_ref)
                # the C API assigns the result slot, dropping what it holds: a bool, as
                # in the fresh value wasmtime-py passes each time
                self._res.kind = 0
        finally:
            self._busy = False
            del keep, args

    def post_return(self, store: Any) -> None:
        self.func.post_return(store)

    def type(self, store: Any) -> Any:
        return self.func.type(store)


def export_func(func: Any, store: Any) -> Any:
    """``func`` (a ``wasmtime.component.Func``) as an :class:`Export` when
    :func:`status` is active and every type of its signature is one the lowering
    covers; else ``func`` itself."""
    if not status().active:
        return func
    fty = func.type(store)
    try:
        return Export(func, [ty for _, ty in fty.params], fty.result)
    except Unsupported:
        return func
