"""Bulk conversion of ``list<u8>`` values for wasmtime-py (issue 18 item 7).

wasmtime-py converts a component value to and from the C API's
``wasmtime_component_val_t`` (32 bytes: a one-byte kind at offset 0, the value's
union at offset 8) by Python calls, one per list element. A ``list<u8>`` of 5 KB is
5,000 ``U8.convert_to_c`` calls, each building a ``ctypes.pointer``: about 7 ms, and
the example actor's state crosses the boundary twice per message. This module
replaces only that case, in both directions:

- **lower** (``ListType.convert_to_c``, Python ``bytes`` to a C value list): one
  ``bytearray`` of ``32 * n`` zero bytes, the kind byte written into every element by
  one strided slice assignment (``buf[0::32]``), the bytes themselves by another
  (``buf[8::32]``), copied into the list wasmtime allocated with one ``memmove``;
- **lift** (``ListType.convert_from_c``, a C value list to ``bytes``): one
  ``ctypes.string_at`` of the list's ``32 * n`` bytes, every element's kind checked
  by one comparison (``raw[0::32]``), the bytes taken by one slice (``raw[8::32]``),
  then the list freed as wasmtime-py frees it.

Any other list (another element type) and every other type go through wasmtime-py's
own code, unchanged. Errors are wasmtime-py's: a value that is not ``bytes`` raises
the same ``TypeError`` with the same message; a list holding an element of another
kind fails the same ``assert`` (wasmtime never produces one).

The patch is installed (:func:`install`, called when theater creates its engine)
only when every check holds, else wasmtime-py's conversion stays and
:func:`status` says why:

- the installed wasmtime is :data:`CHECKED_VERSION`, the one this was proven equal
  against (``tests/test_fastvalues.py``);
- the four functions it replaces or relies on are, source text for source text, the
  ones of that version (:data:`_FINGERPRINT`), so a patched build of the same version
  falls back too;
- the C layout is the one the strided slices assume (value size 32, union at
  offset 8, one-byte kind, ``U8`` = 2, ``LIST`` = 13);
- ``THEATER_NO_FASTPATH`` is unset (or empty, or ``0``): set it to turn it off.

docs/performance.md describes it for upstream.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .wtpatch import CHECKED_VERSION, ENV_OFF, FastPathState, FastPathStatus, decide, source_of, source_sha
from .wtpatch import installed_version as _installed_version

__all__ = [
    "CHECKED_VERSION", "ENV_OFF", "FastPathState", "FastPathStatus", "fingerprint", "install", "lift_bytes",
    "lower_bytes", "status", "uninstall",
]

#: SHA-256 of the source of each function the patch replaces or relies on, in
#: wasmtime-py CHECKED_VERSION (its lines from ``def`` to its last line of code, UTF-8).
_FINGERPRINT = {
    "ListType.convert_to_c": "c0efe57bc21e40fa610a0b19880229a1808dee69904aa9f1078e2ad05a2e0291",
    "ListType.convert_from_c": "d7a53d5f6ecd86a6ba674664c73aa6e1aa55c516296a786308929b819dff8938",
    "U8.convert_to_c": "b13506bbf528b6dad3875484410fdadbdc69a65b334b86aaa4d555464ceed48b",
    "U8.convert_from_c": "38976e9d227334acc8b28cb1182be794ac5d5e31276ffab3098a87961c59baaf",
}
_source_of = source_of  # the name theater/fasttypes.py and tests used before theater/wtpatch.py

_VAL_SIZE = 32  # sizeof(wasmtime_component_val_t)
_VAL_OFFSET = 8  # offsetof(wasmtime_component_val_t, of)
_KIND_U8 = 2  # WASMTIME_COMPONENT_U8
_KIND_LIST = 13  # WASMTIME_COMPONENT_LIST


_lock = threading.Lock()
_status = FastPathStatus(state=FastPathState.NOT_INSTALLED, wasmtime="", reason="install() has not run")
_originals: dict[str, Callable[..., Any]] = {}


@functools.cache
def _types() -> Any:
    from wasmtime.component import _types

    return _types


@functools.cache
def _ffi() -> Any:
    from wasmtime import _ffi

    return _ffi


# -- the conversions -----------------------------------------------------------------


def lower_bytes(val: Any, ptr: Any) -> None:
    """Store the Python ``bytes`` ``val`` in the ``wasmtime_component_val_t`` that
    ``ptr`` points to, as a list of ``U8`` values: what wasmtime-py 50.0.1's
    ``ListType.convert_to_c`` does for a ``list<u8>``, in bulk."""
    ffi = _ffi()
    if not isinstance(val, bytes):
        raise TypeError("expected bytes value")
    n = len(val)
    # everything that can fail (a MemoryError) happens before wasmtime allocates
    buf = bytearray(n * _VAL_SIZE)
    if n:
        buf[0::_VAL_SIZE] = bytes((_KIND_U8,)) * n
        buf[_VAL_OFFSET::_VAL_SIZE] = val
    raw = ffi.wasmtime_component_vallist_t()
    ffi.wasmtime_component_vallist_new_uninit(raw, n)
    if n:
        ctypes.memmove(raw.data, (ctypes.c_char * len(buf)).from_buffer(buf), len(buf))
    ptr.contents.kind = ffi.WASMTIME_COMPONENT_LIST
    ptr.contents.of.list = raw


def lift_bytes(c: Any) -> bytes:
    """The ``bytes`` of the ``list<u8>`` value ``c`` (a ``wasmtime_component_val_t``),
    freeing the list: what wasmtime-py 50.0.1's ``ListType.convert_from_c`` does for a
    ``list<u8>``, in bulk."""
    ffi = _ffi()
    assert c.kind == _KIND_LIST
    try:
        n = c.of.list.size
        if not n:
            return b""
        raw = ctypes.string_at(c.of.list.data, n * _VAL_SIZE)
        # wasmtime-py asserts each element's kind (U8.convert_from_c); so does this, at once
        assert raw[0::_VAL_SIZE] == bytes((_KIND_U8,)) * n
        return raw[_VAL_OFFSET::_VAL_SIZE]
    finally:
        ffi.wasmtime_component_valtuple_delete(ctypes.byref(c.of.tuple))


def _convert_to_c(self: Any, store: Any, val: Any, ptr: Any) -> None:
    # exactly bytes: a subclass could iterate differently from its buffer (wasmtime-py iterates)
    if type(val) is bytes and isinstance(self.element, _types().U8):
        lower_bytes(val, ptr)
    else:
        _originals["convert_to_c"](self, store, val, ptr)


def _convert_from_c(self: Any, c: Any) -> Any:
    if isinstance(self.element, _types().U8):
        return lift_bytes(c)
    return _originals["convert_from_c"](self, c)


# -- installing ----------------------------------------------------------------------


def fingerprint() -> dict[str, str]:
    """The SHA-256 of the source of each function in :data:`_FINGERPRINT` as installed
    ("" where the source cannot be read)."""
    t = _types()
    out = {}
    for name in _FINGERPRINT:
        cls, attr = name.split(".")
        fn: Any = _originals[attr] if cls == "ListType" and _originals else getattr(getattr(t, cls), attr)
        out[name] = source_sha(fn)
    return out


def _layout_ok() -> bool:
    ffi = _ffi()
    val = ffi.wasmtime_component_val_t
    lst = ffi.wasmtime_component_vallist_t
    return (ctypes.sizeof(val) == _VAL_SIZE and val.of.offset == _VAL_OFFSET and val.kind.size == 1
            and ffi.WASMTIME_COMPONENT_U8.value == _KIND_U8 and ffi.WASMTIME_COMPONENT_LIST.value == _KIND_LIST
            and lst.size.offset == 0 and lst.data.offset == ctypes.sizeof(ctypes.c_size_t)
            and ctypes.sizeof(ffi.wasmtime_component_valtuple_t) == ctypes.sizeof(lst))


def _decide(version: str, environ: Mapping[str, str] | None) -> FastPathStatus:
    return decide(what="wasmtime-py converts every value itself", expected=_FINGERPRINT, found=fingerprint,
                  version=version, environ=environ, layout_ok=_layout_ok,
                  layout="wasmtime_component_val_t is not 32 bytes with the value at offset 8")


def install(*, version: str | None = None, environ: Mapping[str, str] | None = None) -> FastPathStatus:
    """Patch wasmtime-py's ``ListType`` conversions if every check holds (see the
    module's docstring); otherwise leave them alone. ``version`` (default: the
    installed wasmtime's) and ``environ`` (default: ``os.environ``) are what the checks
    read. Idempotent; returns the resulting :func:`status`."""
    global _status
    with _lock:
        found = _installed_version() if version is None else version
        decided = _decide(found, environ)
        t = _types()
        if decided.active and not _originals:
            _originals["convert_to_c"] = t.ListType.convert_to_c
            _originals["convert_from_c"] = t.ListType.convert_from_c
            t.ListType.convert_to_c = _convert_to_c
            t.ListType.convert_from_c = _convert_from_c
        elif not decided.active and _originals:
            _restore(t)
        _status = decided
        return _status


def _restore(t: Any) -> None:
    t.ListType.convert_to_c = _originals.pop("convert_to_c")
    t.ListType.convert_from_c = _originals.pop("convert_from_c")


def uninstall() -> None:
    """Put wasmtime-py's own conversions back (a no-op when not installed)."""
    global _status
    with _lock:
        if _originals:
            _restore(_types())
        _status = FastPathStatus(state=FastPathState.NOT_INSTALLED, wasmtime=_status.wasmtime,
                                 reason="uninstalled")


def status() -> FastPathStatus:
    """Whether the fast path is in use, and why not when it is not."""
    return _status
