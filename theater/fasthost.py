"""Theater's one host-call trampoline: host functions whose types are built once
(issue 18 item 5; issue 19, review leftover D7).

wasmtime-py calls every host function of a component linker through one trampoline
(``wasmtime/component/_linker.py::func_impl``) that, on every call, wraps the call's
function type (``FuncType._from_ptr``), asks the C API for the number of parameters,
for each parameter's and the result's type (``params``, ``result``,
``valtype_from_ptr``: a Python ``ValType`` object each), then converts the arguments
and the result with those objects. For ``get-random-u64`` (``func() -> u64``) that is
most of the bare host call's cost, paid again on each of millions of calls.

:func:`add_func` registers a host function through a trampoline of theater's own
(:func:`_impl`) that does the same steps, in the same order, with the same
wasmtime-py objects, except that it keeps the ``ValType`` objects it built on a
function's first call and reuses them. The store context, the error hand-off
(``catch_exceptions``'s, including ``LAST_EXCEPTION``) and the slab of functions with
its finalizer are wasmtime-py's. The conversions are wasmtime-py's
(``convert_from_c``, ``convert_to_c``) unless theater/fastcall.py is active: then the
arguments are read at once and lifted by its liftings (the values ``convert_from_c``
returns), then freed as ``convert_from_c`` frees them (each left a ``bool``, as it
leaves an empty vector), and a scalar result is packed straight into the result slot
(anything it is not sure of: ``convert_to_c``); tests/test_fastcall.py proves both
directions equal to wasmtime-py's over its types.

Why reusing them is exact: a function's type is its import's type in the one
component its linker instantiates (theater makes one linker per actor instance,
``runtime.ActorInstance``: use it only there). A scalar ``ValType`` carries no state;
a list, record, option... type holds its own copy of the C type (``valtype_from_ptr``
clones it), freed when the object is, so keeping it keeps it valid. Should a call
arrive with another arity (a linker reused for another component), the types are
built anew. Until this session theater had two trampolines, this one for all-scalar
signatures and ``fasttypes.add_func`` for the rest; measured in one process with
alternated runs (docs/performance.md, "One host trampoline") this one keeping every
signature's types costs no more on either kind, so it is the only one.

Used only when theater/wtpatch.py's checks hold: the wasmtime-py version it was
checked against, the functions it mirrors source for source that version's
(:data:`_FINGERPRINT`), the module files whose module-level code it stands in for
(``FUNCTIONS``, ``func_finalize``, ``LAST_EXCEPTION``) byte for byte that version's
(:data:`_MODULE_FINGERPRINT`), ``THEATER_NO_FASTPATH`` unset; else :func:`add_func` is
``LinkerInstance.add_func``.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

from .wtpatch import FastPathStatus, decide, file_sha, module_def_sha, source_sha

__all__ = ["active", "add_func", "fingerprint", "status"]

#: SHA-256 of the source of the wasmtime-py functions this module mirrors, in
#: CHECKED_VERSION (from ``def`` to the last line of code, as in fastvalues).
_FINGERPRINT = {
    "func_impl": "9aa0a323be0f6294649aca349e8b36edc11e1c87b89136c8b94244938cd881c8",
    "catch_exceptions": "696d5cfec47606d8e5b27b44822e3f325941eced37a0caab630ab5b4c592f8e7",
    "LinkerInstance.add_func": "f9bbbae018c20850952b92dc2a1f6a6f80a572ab2640ac7b77b62fbd16781090",
}
#: SHA-256 of the whole source of the wasmtime-py modules whose module-level code the
#: trampoline relies on (``FUNCTIONS``, ``func_finalize``, ``LAST_EXCEPTION``), in CHECKED_VERSION
_MODULE_FINGERPRINT = {
    "wasmtime/component/_linker.py": "7855091bf9366e41632bb97c93218bdc61cd341a787341abccae882fddf06fb7",
    "wasmtime/component/_enter.py": "213fd2bb17eebb1a83f86816c719b052ecfbc2eee062ff7eb45feb5b5199d9d7",
}


@functools.cache
def _wt() -> Any:
    from wasmtime import StoreContext, WasmtimeError
    from wasmtime import _ffi as ffi
    from wasmtime.component import _enter, _linker, _types

    return ffi, _enter, _linker, _types, StoreContext, WasmtimeError


def fingerprint() -> dict[str, str]:
    """The SHA-256 of the installed source of each function in :data:`_FINGERPRINT`
    and of each file in :data:`_MODULE_FINGERPRINT`."""
    _, enter, linker, _, _, _ = _wt()
    return {
        # func_impl is a ctypes callback object: its Python function is not reachable,
        # so its source is read from the module by name
        "func_impl": module_def_sha(linker, "func_impl"),
        "catch_exceptions": source_sha(enter.catch_exceptions),
        "LinkerInstance.add_func": source_sha(linker.LinkerInstance.add_func),
        **{rel: file_sha(rel) for rel in _MODULE_FINGERPRINT},
    }


@functools.cache
def status() -> FastPathStatus:
    """Whether :func:`add_func` uses theater's trampoline, and why not when it does not
    (decided once per process)."""
    return decide(what="host functions go through wasmtime-py's own trampoline",
                  expected={**_FINGERPRINT, **_MODULE_FINGERPRINT}, found=fingerprint)


def active() -> bool:
    """True when :func:`add_func` uses theater's trampoline (see the module's docstring)."""
    return status().active


class _Host:
    """One registered host function and, after its first call, its types, and the
    conversions theater/fastcall.py builds for them (``lifts``: one per parameter, or
    None; ``owned``: the parameters whose C values hold memory; ``lower``: a scalar
    result's packing, or None)."""

    __slots__ = ("func", "params", "result", "nargs", "lifts", "owned", "lower")

    def __init__(self, func: Any) -> None:
        self.func = func
        self.params: tuple[Any, ...] | None = None
        self.result: Any = None
        self.nargs = -1
        self.lifts: tuple[Any, ...] | None = None
        self.owned: tuple[int, ...] = ()
        self.lower: Any = None


_SCALARS = ("Bool", "S8", "U8", "S16", "U16", "S32", "U32", "S64", "U64", "F32", "F64", "Char")


def _conversions(host: _Host) -> None:
    """theater/fastcall.py's liftings for the arguments and packing for a scalar result,
    when it is active and covers every parameter type (else wasmtime-py's conversions)."""
    from . import fastcall, fastconv

    host.lifts, host.owned, host.lower = None, (), None
    if not fastcall.status().active:
        return
    try:
        host.lifts = tuple(fastconv.lifter(ty) for ty in host.params or ())
    except fastconv.Unsupported:
        return
    host.owned = tuple(i for i, ty in enumerate(host.params or ()) if type(ty).__name__ not in _SCALARS)
    if host.result is not None and type(host.result).__name__ in _SCALARS:
        host.lower = fastconv.lowerer(host.result)


def _types_of(host: _Host, ty_raw: Any, store: Any, nargs: int, nresults: int) -> tuple[tuple[Any, ...], Any]:
    """The call's parameter and result types, built as wasmtime-py's trampoline builds
    them, and kept on ``host``."""
    types = _wt()[3]
    with types.FuncType._from_ptr(ty_raw, owner=store) as fty:
        params = tuple(ty for _, ty in fty.params)
        result = fty.result
    assert len(params) == nargs
    assert nresults == (0 if result is None else 1)
    host.params, host.result, host.nargs = params, result, nargs
    _conversions(host)
    return params, result


def _make_impl() -> Any:
    ffi, enter, linker, _, StoreContext, WasmtimeError = _wt()
    functions = linker.FUNCTIONS
    string_at, memmove, byref = ctypes.string_at, ctypes.memmove, ctypes.byref
    delete = ffi.wasmtime_component_val_delete

    @ffi.wasmtime_component_func_callback_t
    def _impl(idx, context, ty_raw, args, nargs, results, nresults):  # type: ignore[no-untyped-def]
        store = StoreContext(context)
        exception = None
        try:
            host = functions.get(idx or 0)
            if host.nargs == nargs:
                params, result_ty = host.params, host.result
            else:
                params, result_ty = _types_of(host, ty_raw, store, nargs, nresults)
            lifts = host.lifts
            if lifts is None:
                pyargs = [ty.convert_from_c(args[i]) for i, ty in enumerate(params)]
            else:
                # read every argument at once, then free what wasmtime-py's conversions
                # free (a string's bytes, a list...), leaving a bool as they leave an
                # empty vector: whatever wasmtime drops after the call holds nothing
                raw = string_at(args, 32 * nargs) if nargs else b""
                pyargs = [lift(raw[32 * i:32 * i + 32]) for i, lift in enumerate(lifts)]
                for i in host.owned:
                    arg = args[i]
                    delete(byref(arg))
                    arg.kind = 0
            result = host.func(store, *pyargs)
            if result_ty is None:
                assert result is None
            elif host.lower is not None:
                try:
                    packed = host.lower(result, None)
                except Exception:  # not sure of it: wasmtime-py converts or refuses it
                    result_ty.convert_to_c(store, result, results)
                else:
                    memmove(results, packed, 32)
            else:
                result_ty.convert_to_c(store, result, results)
        except WasmtimeError as e:
            exception = e
        except Exception as e:
            enter.LAST_EXCEPTION = e
            exception = WasmtimeError("python exception")
        finally:
            store._invalidate()
        if exception:
            return ctypes.cast(exception._consume(), ctypes.c_void_p).value
        return 0

    return _impl


@functools.cache
def _impl() -> Any:
    return _make_impl()


def add_func(inst: Any, name: str, func: Any) -> None:
    """``inst.add_func(name, func)`` (a ``wasmtime.component.LinkerInstance``), through
    theater's trampoline when :func:`active`."""
    if not active():
        inst.add_func(name, func)
        return
    ffi, _, linker, _, _, WasmtimeError = _wt()
    inst._assert_not_locked()
    name_bytes = name.encode("utf-8")
    name_buf = ctypes.create_string_buffer(name_bytes)
    idx = linker.FUNCTIONS.allocate(_Host(func))
    err = ffi.wasmtime_component_linker_instance_add_func(inst.ptr(), name_buf, len(name_bytes), _impl(), idx,
                                                         linker.func_finalize)
    if err:
        raise WasmtimeError._from_ptr(err)
