"""Component types resolved once, not on every call (issue 19, its bench target:
messages between two actors at >= 0.4 of the bare host-call rate).

wasmtime-py 50.0.1 asks the C API for a function's component types on every call,
and again for every nested type each value conversion meets: ``Func.__call__`` calls
``Func.type(store)`` (a new ``FuncType``), reads ``params`` and ``result`` (a new
``ValType`` per parameter, through ``valtype_from_ptr``), and converting an
``option<list<u8>>`` reads ``OptionType.payload`` and ``ListType.element`` (new objects
again), a ``result`` its ``ok`` and ``err`` types twice (once to tell whether it is
tagged), a tuple its ``elements``. One ``handle-send`` export call of a run made about
25 such type objects; none of them can change, a component's types being fixed.

This module makes each of those readings a per-object cache, in the style of
theater/fastvalues.py: the first read computes what wasmtime-py computes (its own
code, called once) and keeps it on the object; later reads return the kept value.
The conversions themselves are wasmtime-py's own, unchanged. ``Func.type`` is kept
per ``Func`` object, so an export looked up once (theater/runtime.py caches them per
instance) resolves its types once for all its calls; a host function's types are
kept by theater's one host trampoline (theater/fasthost.py).

Installed by :func:`install` (theater.engine calls it with fastvalues) only when
every check of theater/wtpatch.py holds, else wasmtime-py reads its types as before
and :func:`status` says why: the installed wasmtime is ``CHECKED_VERSION``; the source
of each accessor it caches is 50.0.1's (:data:`_FINGERPRINT`); ``THEATER_NO_FASTPATH``
is unset. ``tests/test_fasttypes.py`` proves the values
and types are the same with and without it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .wtpatch import FastPathState, FastPathStatus, decide, source_sha
from .wtpatch import installed_version as _installed_version

__all__ = ["CACHED", "fingerprint", "install", "status", "uninstall"]

#: (class, attribute) of each type reading cached, in wasmtime.component._types
#: (``Func.type`` is in wasmtime.component._func); properties and methods of one
#: argument (``self``) or, for ``Func.type``, ``(self, store)``
CACHED = (
    ("FuncType", "params"), ("FuncType", "result"),
    ("ListType", "element"), ("ListType", "_is_bytes"),
    ("RecordType", "fields"), ("TupleType", "elements"),
    ("VariantType", "cases"), ("VariantType", "_cases"), ("VariantType", "_tagged"),
    ("EnumType", "names"), ("FlagsType", "names"),
    ("OptionType", "payload"), ("OptionType", "_cases"), ("OptionType", "_tagged"),
    ("ResultType", "ok"), ("ResultType", "err"), ("ResultType", "_cases"), ("ResultType", "_tagged"),
    ("Func", "type"),
)

#: SHA-256 of the source of each accessor, in wasmtime-py CHECKED_VERSION
_FINGERPRINT = {
    "FuncType.params": "2f428d2fd171a7179c06adc92837600768bfdc780339a327861383234de38aae",
    "FuncType.result": "b82ce9e777f77c1072c8d672e06b1308b147e4e506c6c710a2b71d424fd1145f",
    "ListType.element": "3f57b2af25de8dd481b6b70f2931786f5ffc307c258c2c1d86058c23b32b199e",
    "ListType._is_bytes": "f1f5e733fab06126be217f9e66bbfb1560dcc32968bf1debb6311923ab9d186c",
    "RecordType.fields": "2e3eb72195c23191fc3626dfba3ca8893fe6779bf80c16652b56f0ea383fba59",
    "TupleType.elements": "44d9b76e7ddbba5e1294c067b7dd0579eebb5ca49da222d026d0b5bf77d8251b",
    "VariantType.cases": "355b78f61e68bab56666ce14013effdc5e1b9d5e9e05afd987eb2d18ea10d57b",
    "VariantType._cases": "d2639b722ecbf19fe8a69856b00036b6c45db87450e4c50d368b4d48c9c7ffad",
    "VariantLikeType._tagged": "4c03f366d3972ca42794689603a575341adc8d4ca8797ae754bc7f61027931ef",
    "EnumType.names": "33c77ea175b16272b5a597e9de089c2293814910bdf4f36ae2bd1e11ae72d0fe",
    "FlagsType.names": "b87a66df1c56342bf9749fc0b11fb48a56677af0c3aa4cbace5838733a9c8907",
    "OptionType.payload": "568a5761bce890dc14a591c103f7538d92b69e3143b5fa003a69a755d1a10c93",
    "OptionType._cases": "a93e90ed00677caf6f3ab7fbe3fccefa4521e2039f3fa670963b47b1b93b66d1",
    "ResultType.ok": "d41fe48a09c3aefc333b34cdae631f3695448a7b7a755e0fd7c2cb59fa5ef836",
    "ResultType.err": "13319bb76ec31e0be89ba9792e68280434d57d8fca255f28549b573f14310a84",
    "ResultType._cases": "de697fcfd5263d40c61a6ceabb208e810ae906d4edcb954c0cca4131f0020484",
    "Func.type": "24a6988c796c0a57d8811d1306cae44a3525560bc33d52a4b35657ea56048971",
    "Func.__call__": "cd08463247d602605e17b6de9d9f4b151c758f24999c12c27a99457c7bf37fd0",
}
_lock = threading.Lock()
_status = FastPathStatus(state=FastPathState.NOT_INSTALLED, wasmtime="", reason="install() has not run")
_originals: dict[tuple[str, str], Any] = {}  # (class, attribute) -> what the class had (in its own __dict__)
_MISSING = object()


@functools.cache
def _modules() -> tuple[Any, Any]:
    from wasmtime.component import _func, _types

    return _types, _func


def _cls(name: str) -> Any:
    types, func = _modules()
    return func.Func if name == "Func" else getattr(types, name)


def _raw(cls: Any, attr: str) -> Any:
    """The function behind ``cls.attr`` (a property's getter, or the method), looked
    up along the class's bases as Python does."""
    for klass in cls.__mro__:
        if attr in klass.__dict__:
            v = klass.__dict__[attr]
            return v.fget if isinstance(v, property) else v
    raise AttributeError(attr)


def fingerprint() -> dict[str, str]:
    """The SHA-256 of the source of each function in :data:`_FINGERPRINT` as installed
    (wasmtime-py's own, also while installed)."""
    out = {}
    for name in _FINGERPRINT:
        cls_name, attr = name.split(".")
        original = _originals.get((cls_name, attr), _MISSING)
        if original is not _MISSING and original is not None:
            fn = original.fget if isinstance(original, property) else original
        else:
            fn = _raw(_cls(cls_name), attr)
        out[name] = source_sha(fn)
    return out


def _cached(fn: Callable[[Any], Any], key: str) -> Callable[[Any], Any]:
    def get(self: Any) -> Any:
        d = self.__dict__
        try:
            return d[key]
        except KeyError:
            v = d[key] = fn(self)
            return v

    get.__name__, get.__doc__, get.__wrapped__ = fn.__name__, fn.__doc__, fn  # type: ignore[attr-defined]
    return get


def _cached_type(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def type_(self: Any, store: Any) -> Any:
        d = self.__dict__
        try:
            return d["_theater_type"]
        except KeyError:
            v = d["_theater_type"] = fn(self, store)
            return v

    type_.__name__, type_.__doc__, type_.__wrapped__ = fn.__name__, fn.__doc__, fn  # type: ignore[attr-defined]
    return type_


def _decide(version: str, environ: Mapping[str, str] | None) -> FastPathStatus:
    return decide(what="wasmtime-py reads every type on every call",
                  expected=_FINGERPRINT, found=fingerprint, version=version, environ=environ)


def install(*, version: str | None = None, environ: Mapping[str, str] | None = None) -> FastPathStatus:
    """Cache wasmtime-py's type readings if every check holds (see the module's
    docstring); otherwise leave them alone. Idempotent; returns :func:`status`."""
    global _status
    with _lock:
        found = _installed_version() if version is None else version
        decided = _decide(found, environ)
        if decided.active and not _originals:
            for cls_name, attr in CACHED:
                cls = _cls(cls_name)
                _originals[(cls_name, attr)] = cls.__dict__.get(attr)
                raw = _raw(cls, attr)
                if cls_name == "Func":
                    setattr(cls, attr, _cached_type(raw))
                    continue
                was_property = isinstance(inspect_attr(cls, attr), property)
                getter = _cached(raw, f"_theater_{attr}")
                setattr(cls, attr, property(getter) if was_property else getter)
        elif not decided.active and _originals:
            _restore()
        _status = decided
        return _status


def inspect_attr(cls: Any, attr: str) -> Any:
    """``cls.attr`` as stored in the class (or its bases), not through the descriptor."""
    for klass in cls.__mro__:
        if attr in klass.__dict__:
            return klass.__dict__[attr]
    raise AttributeError(attr)


def _restore() -> None:
    for (cls_name, attr), original in _originals.items():
        cls = _cls(cls_name)
        if original is None:
            delattr(cls, attr)
        else:
            setattr(cls, attr, original)
    _originals.clear()


def uninstall() -> None:
    """Put wasmtime-py's own type readings back (a no-op when not installed). Type
    objects that cached a reading keep it (it cannot change)."""
    global _status
    with _lock:
        if _originals:
            _restore()
        _status = FastPathStatus(state=FastPathState.NOT_INSTALLED, wasmtime=_status.wasmtime,
                                 reason="uninstalled")


def status() -> FastPathStatus:
    """Whether the type caches are in use, and why not when they are not."""
    return _status
