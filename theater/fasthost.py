"""Host functions whose scalar types are built once (issue 18 item 5).

wasmtime-py calls every host function of a component linker through one trampoline
(``wasmtime/component/_linker.py::func_impl``) that, on every call, wraps the call's
function type (``FuncType._from_ptr``), asks the C API for the number of parameters,
for each parameter's and the result's type (``params``, ``result``,
``valtype_from_ptr``: a Python ``ValType`` object each), then converts the arguments
and the result with those objects. For ``get-random-u64`` (``func() -> u64``) that is
most of the bare host call's cost, paid again on each of millions of calls.

:func:`add_func` registers a host function through a trampoline of theater's own
(:func:`_impl`) that does the same steps, in the same order, with the same
wasmtime-py objects, except that a function whose parameters and result are all
scalars (``bool``, the integers, the floats, ``char``, ``string``: stateless
``ValType`` dataclasses that hold no C pointer) keeps the ``ValType`` objects it built
on its first call and reuses them. Any other function (a list, a record, a resource,
an option...) builds its types on every call, exactly as wasmtime-py does. The
conversions themselves (``convert_from_c``, ``convert_to_c``), the store context, the
error hand-off (``catch_exceptions``'s, including ``LAST_EXCEPTION``) and the slab of
functions with its finalizer are wasmtime-py's.

Why reusing them is exact: a function's type is its import's type in the one
component its linker instantiates (theater makes one linker per actor instance,
``runtime.ActorInstance``), and a scalar ``ValType`` carries no state: the one built
on the first call is equal to any built later. Should a call arrive with another
arity (a linker reused for another component), the types are built anew.

Used only for the wasmtime-py version it was checked against, and only when the
functions it mirrors are, source for source, that version's
(:data:`_FINGERPRINT`); else :func:`add_func` is ``LinkerInstance.add_func``.
``THEATER_NO_FASTPATH`` (theater/fastvalues.py) turns it off too.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import os
from typing import Any

from .fastvalues import CHECKED_VERSION, ENV_OFF, _installed_version, _source_of

__all__ = ["active", "add_func", "fingerprint"]

#: SHA-256 of the source of the wasmtime-py functions this module mirrors, in
#: CHECKED_VERSION (from ``def`` to the last line of code, as in fastvalues).
_FINGERPRINT = {
    "func_impl": "9aa0a323be0f6294649aca349e8b36edc11e1c87b89136c8b94244938cd881c8",
    "catch_exceptions": "696d5cfec47606d8e5b27b44822e3f325941eced37a0caab630ab5b4c592f8e7",
    "LinkerInstance.add_func": "f9bbbae018c20850952b92dc2a1f6a6f80a572ab2640ac7b77b62fbd16781090",
}


@functools.cache
def _wt() -> Any:
    from wasmtime import StoreContext, WasmtimeError
    from wasmtime import _ffi as ffi
    from wasmtime.component import _enter, _linker, _types

    scalars = (_types.Bool, _types.S8, _types.U8, _types.S16, _types.U16, _types.S32, _types.U32,
               _types.S64, _types.U64, _types.F32, _types.F64, _types.Char, _types.String)
    return ffi, _enter, _linker, _types, StoreContext, WasmtimeError, frozenset(scalars)


def fingerprint() -> dict[str, str]:
    """The SHA-256 of the installed source of each function in :data:`_FINGERPRINT`."""
    _, enter, linker, _, _, _, _ = _wt()
    fns = {"func_impl": linker.func_impl, "catch_exceptions": enter.catch_exceptions,
           "LinkerInstance.add_func": linker.LinkerInstance.add_func}
    out = {}
    for name, fn in fns.items():
        # func_impl is a ctypes callback object: its Python function is not reachable,
        # so its source is read from the module by name
        src = _source_of(fn) if hasattr(fn, "__code__") else _module_def(linker, name)
        out[name] = hashlib.sha256(src.encode()).hexdigest() if src else ""
    return out


def _module_def(module: Any, name: str) -> str:
    import linecache

    lines = linecache.getlines(module.__file__)
    start = next((i for i, ln in enumerate(lines) if ln.startswith(f"def {name}(")), None)
    if start is None:
        return ""
    # from the decorator line above the def to the last indented line
    first = start - 1 if start and lines[start - 1].startswith("@") else start
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "".join(lines[first:end])


@functools.cache
def active() -> bool:
    """True when :func:`add_func` uses theater's trampoline (see the module's docstring)."""
    if os.environ.get(ENV_OFF, "") not in ("", "0") or _installed_version() != CHECKED_VERSION:
        return False
    scalars = _wt()[-1]
    # stateless: no dataclass field, so one instance equals any other
    if not all(dataclasses.is_dataclass(c) and not dataclasses.fields(c) for c in scalars):
        return False
    return fingerprint() == _FINGERPRINT


class _Host:
    """One registered host function and, for an all-scalar signature, its types."""

    __slots__ = ("func", "params", "result", "nargs")

    def __init__(self, func: Any) -> None:
        self.func = func
        self.params: tuple[Any, ...] | None = None
        self.result: Any = None
        self.nargs = -1


def _types_of(host: _Host, ty_raw: Any, store: Any, nargs: int, nresults: int) -> tuple[tuple[Any, ...], Any]:
    """The call's parameter and result types, built as wasmtime-py's trampoline builds
    them; kept on ``host`` when every one is a scalar."""
    _, _, _, types, _, _, scalars = _wt()
    with types.FuncType._from_ptr(ty_raw, owner=store) as fty:
        params = tuple(ty for _, ty in fty.params)
        result = fty.result
    assert len(params) == nargs
    assert nresults == (0 if result is None else 1)
    if all(type(t) in scalars for t in params) and (result is None or type(result) in scalars):
        host.params, host.result, host.nargs = params, result, nargs
    return params, result


def _make_impl() -> Any:
    ffi, enter, linker, _, StoreContext, WasmtimeError, _ = _wt()
    functions = linker.FUNCTIONS

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
            result = host.func(store, *[ty.convert_from_c(args[i]) for i, ty in enumerate(params)])
            if result_ty is None:
                assert result is None
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
    ffi, _, linker, _, _, WasmtimeError, _ = _wt()
    inst._assert_not_locked()
    name_bytes = name.encode("utf-8")
    name_buf = ctypes.create_string_buffer(name_bytes)
    idx = linker.FUNCTIONS.allocate(_Host(func))
    err = ffi.wasmtime_component_linker_instance_add_func(inst.ptr(), name_buf, len(name_bytes), _impl(), idx,
                                                         linker.func_finalize)
    if err:
        raise WasmtimeError._from_ptr(err)
