"""Component type introspection: a pure-Python, hashable view of WIT types.

wasmtime-py exposes component types as FFI-backed objects (``ListType``,
``RecordType``, ...) that are slow to walk (every property is a native call)
and are not hashable. This module converts them once into small frozen
dataclasses (:data:`WitType`) that the codec, the boundary and the UI share,
and lists a component's imports and exports as :class:`InterfaceSig` objects.

How things appear in wasmtime-py 50 (measured):

* ``Component.type.imports(engine)`` / ``.exports(engine)`` map names to
  ``ComponentExtern``; ``.ty`` is a ``ComponentInstanceType`` for an interface
  ("wasi:random/random@0.2.3"), a ``FuncType`` for a root-level function, a
  ``ResourceType`` for a resource. Root-level *type* imports are not listed.
* Inside an instance, resources are ``ResourceType`` items named by the bare
  resource name ("output-stream"); a resource used from another interface
  (``use wasi:io/streams.{output-stream}``) is listed there too, and compares
  equal (``==``) to the original. Named value types (records, variants, ...)
  appear as ``ValType`` items.
* Resource functions are ordinary functions with decorated names:
  ``[constructor]R`` (returns ``own<R>``), ``[method]R.name`` (first param
  ``self: borrow<R>``), ``[static]R.name``. ``[resource-drop]R`` is NOT an
  import at the component level: it is a core-level canonical builtin, so it
  never appears here (dropping is ``ResourceAny.drop`` / the linker dtor).
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from wasmtime import Engine
from wasmtime import component as wc

__all__ = [
    "Prim", "ListT", "TupleT", "RecordT", "VariantT", "EnumT", "FlagsT", "HandleT",
    "WitType", "FuncSig", "InterfaceSig", "ROOT", "INT_RANGES",
    "wit_type", "func_sig", "render", "split_interface_name", "split_func_name",
    "component_imports", "component_exports", "resource_groups", "lower_classes", "lift_classes", "variant",
]

ROOT = ""
"""Key of the pseudo-interface holding root-level functions."""

INT_RANGES: dict[str, tuple[int, int]] = {
    "u8": (0, 2**8 - 1), "u16": (0, 2**16 - 1), "u32": (0, 2**32 - 1), "u64": (0, 2**64 - 1),
    "s8": (-(2**7), 2**7 - 1), "s16": (-(2**15), 2**15 - 1),
    "s32": (-(2**31), 2**31 - 1), "s64": (-(2**63), 2**63 - 1),
}

_PRIMS: dict[type, str] = {
    wc.Bool: "bool", wc.S8: "s8", wc.S16: "s16", wc.S32: "s32", wc.S64: "s64",
    wc.U8: "u8", wc.U16: "u16", wc.U32: "u32", wc.U64: "u64",
    wc.F32: "f32", wc.F64: "f64", wc.Char: "char", wc.String: "string",
    wc.ErrorContext: "error-context",
}


@dataclass(frozen=True)
class Prim:
    """A primitive: bool, s8..u64, f32, f64, char, string (also the unsupported
    future, stream and error-context, which the codec refuses)."""

    kind: str


@dataclass(frozen=True)
class ListT:
    """``list<elem>``; ``list<u8>`` is ``bytes`` in wasmtime-py."""

    elem: WitType
    is_bytes: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_bytes", self.elem == Prim("u8"))


@dataclass(frozen=True)
class TupleT:
    """``tuple<...>``: a Python ``tuple``."""

    items: tuple[WitType, ...]


@dataclass(frozen=True)
class RecordT:
    """``record``: a ``wasmtime.component.Record`` with one attribute per field
    (attribute names are the kebab-case WIT names, read with ``getattr``)."""

    fields: tuple[tuple[str, WitType], ...]


@dataclass(frozen=True)
class VariantT:
    """``variant``, ``option`` or ``result``, as ordered ``(case, payload)``.

    option cases are ``(("none", None), ("some", T))``; result cases are
    ``(("ok", T|None), ("err", E|None))``. ``tagged`` (derived) says whether
    wasmtime-py represents a value as ``Variant(tag, payload)`` (True) or
    untagged, as the bare payload (``None`` for a payload-less case).
    """

    kind: Literal["variant", "option", "result"]
    cases: tuple[tuple[str, WitType | None], ...]
    tagged: bool = field(init=False, compare=False)
    case_map: dict[str, WitType | None] = field(init=False, compare=False, repr=False)
    case_lift: tuple[frozenset[type], ...] = field(init=False, compare=False, repr=False)
    case_lower: tuple[tuple[type, ...], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Derived once: the codec needs these on every value it converts.
        setattr_ = object.__setattr__
        setattr_(self, "tagged", _is_tagged(self.cases))
        setattr_(self, "case_map", dict(self.cases))
        setattr_(self, "case_lift", tuple(lift_classes(c) for _, c in self.cases))
        setattr_(self, "case_lower", tuple(tuple(lower_classes(c)) for _, c in self.cases))


@dataclass(frozen=True)
class EnumT:
    """``enum``: the case name as ``str``."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class FlagsT:
    """``flags``: a Python ``set`` of flag names."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class HandleT:
    """``own<R>`` or ``borrow<R>``. ``resource`` is the resource's name as seen
    from the interface (or "resource" if unknown); ``rtype`` is the wasmtime
    ``ResourceType`` (compare with ``==``), not part of equality."""

    kind: Literal["own", "borrow"]
    resource: str
    rtype: Any = field(default=None, compare=False, hash=False, repr=False)
    #: the resource's identity, ``interface#name`` of the first place it appears
    #: (:func:`resource_keys`); an alias (``type headers = fields``) has its original's key
    key: str = field(default="", compare=False, hash=False, repr=False)


WitType: TypeAlias = Prim | ListT | TupleT | RecordT | VariantT | EnumT | FlagsT | HandleT


def lower_classes(t: WitType | None) -> frozenset[type]:
    """Python classes wasmtime-py accepts when lowering ``t`` (its ``add_classes``);
    a payload-less case counts as ``object``."""
    if t is None:
        return frozenset({object})
    if isinstance(t, Prim):
        k = t.kind
        if k == "bool":
            return frozenset({bool})
        if k in INT_RANGES:
            return frozenset({int})
        if k in ("f32", "f64"):
            return frozenset({float})
        if k in ("char", "string"):
            return frozenset({str})
        return frozenset()
    if isinstance(t, ListT):
        return frozenset({bytes if t.is_bytes else list})
    if isinstance(t, TupleT):
        return frozenset({tuple})
    if isinstance(t, RecordT):
        return frozenset({wc.Record})
    if isinstance(t, EnumT):
        return frozenset({str})
    if isinstance(t, FlagsT):
        return frozenset({set})
    if isinstance(t, HandleT):
        return frozenset({wc.ResourceAny, wc.ResourceHost})
    if t.tagged:
        return frozenset({wc.Variant})
    out: frozenset[type] = frozenset()
    for cls in t.case_lower:
        out |= frozenset(cls)
    return out


def lift_classes(t: WitType | None) -> frozenset[type]:
    """Exact Python types lifting ``t`` can produce (payload-less case: ``NoneType``)."""
    if t is None:
        return frozenset({type(None)})
    if isinstance(t, HandleT):
        return frozenset({wc.ResourceAny})
    if isinstance(t, VariantT) and not t.tagged:
        out: frozenset[type] = frozenset()
        for cls in t.case_lift:
            out |= cls
        return out
    return lower_classes(t)


def _is_tagged(cases: tuple[tuple[str, WitType | None], ...]) -> bool:
    """wasmtime-py's ``VariantLikeType._tagged``: tagged iff two cases share a class."""
    seen: frozenset[type] = frozenset()
    for _, ct in cases:
        cls = lower_classes(ct)
        if cls & seen:
            return True
        seen |= cls
    return False


def variant(kind: Literal["variant", "option", "result"],
            cases: tuple[tuple[str, WitType | None], ...]) -> VariantT:
    """Shorthand for ``VariantT(kind, cases)``."""
    return VariantT(kind, cases)


_Resources = list[tuple[str, Any]] | list[tuple[str, Any, str]]


def wit_type(vt: Any, resources: _Resources | None = None) -> WitType:
    """Convert a wasmtime-py ``ValType`` to a :data:`WitType`.

    ``resources`` is a list of ``(name, ResourceType)`` used to name handles."""
    res = resources or []

    def conv(v: Any) -> WitType:
        return wit_type(v, res)

    v = vt
    name = _PRIMS.get(type(v))
    if name is not None:
        return Prim(name)
    if isinstance(v, wc.ListType):
        return ListT(conv(v.element))
    if isinstance(v, wc.TupleType):
        return TupleT(tuple(conv(e) for e in v.elements))
    if isinstance(v, wc.RecordType):
        return RecordT(tuple((n, conv(f)) for n, f in v.fields))
    if isinstance(v, wc.VariantType):
        return variant("variant", tuple((n, None if c is None else conv(c)) for n, c in v.cases))
    if isinstance(v, wc.OptionType):
        return variant("option", (("none", None), ("some", conv(v.payload))))
    if isinstance(v, wc.ResultType):
        ok, err = v.ok, v.err
        return variant("result", (("ok", None if ok is None else conv(ok)),
                                  ("err", None if err is None else conv(err))))
    if isinstance(v, wc.EnumType):
        return EnumT(tuple(v.names))
    if isinstance(v, wc.FlagsType):
        return FlagsT(tuple(v.names))
    if isinstance(v, (wc.OwnType, wc.BorrowType)):
        rname, key = "resource", ""
        for entry in res:
            if entry[1] == v.ty:
                rname, key = entry[0], (entry[2] if len(entry) > 2 else "")
                break
        return HandleT("own" if isinstance(v, wc.OwnType) else "borrow", rname, v.ty, key)
    if isinstance(v, wc.FutureType):
        return Prim("future")
    if isinstance(v, wc.StreamType):
        return Prim("stream")
    raise TypeError(f"unknown component value type {v!r}")


def render(t: WitType | None) -> str:
    """WIT-like text for a type, e.g. ``result<tuple<option<list<u8>>>, string>``."""
    if t is None:
        return "_"
    if isinstance(t, Prim):
        return t.kind
    if isinstance(t, ListT):
        return f"list<{render(t.elem)}>"
    if isinstance(t, TupleT):
        return "tuple<" + ", ".join(render(i) for i in t.items) + ">"
    if isinstance(t, RecordT):
        return "record { " + ", ".join(f"{n}: {render(f)}" for n, f in t.fields) + " }"
    if isinstance(t, EnumT):
        return "enum { " + ", ".join(t.names) + " }"
    if isinstance(t, FlagsT):
        return "flags { " + ", ".join(t.names) + " }"
    if isinstance(t, HandleT):
        return f"{t.kind}<{t.resource}>"
    if t.kind == "option":
        return f"option<{render(t.cases[1][1])}>"
    if t.kind == "result":
        ok, err = t.cases[0][1], t.cases[1][1]
        if ok is None and err is None:
            return "result"
        if err is None:
            return f"result<{render(ok)}>"
        return f"result<{render(ok)}, {render(err)}>"
    return "variant { " + ", ".join(
        n if c is None else f"{n}({render(c)})" for n, c in t.cases) + " }"


@dataclass(frozen=True)
class FuncSig:
    """A component function's signature: WIT name, named params, optional result."""

    name: str
    params: tuple[tuple[str, WitType], ...]
    result: WitType | None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.params)

    def render(self) -> str:
        """``func(a: u32, b: string) -> string``."""
        ps = ", ".join(f"{n}: {render(t)}" for n, t in self.params)
        return f"func({ps})" + ("" if self.result is None else f" -> {render(self.result)}")


@dataclass
class InterfaceSig:
    """One imported/exported instance (or :data:`ROOT` for root-level functions)."""

    name: str
    funcs: dict[str, FuncSig] = field(default_factory=dict)
    resources: tuple[str, ...] = ()
    types: dict[str, WitType] = field(default_factory=dict)
    #: resource name -> its identity (``interface#name`` where it first appears): the
    #: names of one resource type (an alias, a ``use`` from another interface) share it
    resource_keys: dict[str, str] = field(default_factory=dict)


def func_sig(name: str, fty: Any, resources: _Resources | None = None) -> FuncSig:
    """Build a :class:`FuncSig` from a wasmtime ``FuncType`` (e.g. ``Func.type(store)``)."""
    params = tuple((n, wit_type(t, resources)) for n, t in fty.params)
    r = fty.result
    return FuncSig(name, params, None if r is None else wit_type(r, resources))


_IFACE = re.compile(r"^(?P<pkg>[^/@]+:[^/@]+)/(?P<iface>[^/@]+)(?:@(?P<ver>.+))?$")


def split_interface_name(name: str) -> tuple[str, str, str | None]:
    """``"wasi:random/random@0.2.3"`` -> ``("wasi:random", "random", "0.2.3")``.

    A plain name (no package) gives ``("", name, None)``."""
    m = _IFACE.match(name)
    if m is None:
        return ("", name, None)
    return (m["pkg"], m["iface"], m["ver"])


def split_func_name(name: str) -> tuple[str, str | None, str]:
    """Decode resource function names.

    ``"[method]output-stream.write"`` -> ``("method", "output-stream", "write")``;
    ``"[static]R.f"`` -> ``("static", "R", "f")``; ``"[constructor]R"`` ->
    ``("constructor", "R", "")``; a plain ``"f"`` -> ``("func", None, "f")``."""
    if name.startswith("["):
        end = name.index("]")
        kind, rest = name[1:end], name[end + 1:]
        res, _, member = rest.partition(".")
        return (kind, res, member)
    return ("func", None, name)


def _collect(engine: Engine, items: dict[str, Any]) -> dict[str, InterfaceSig]:
    exts = {n: e.ty for n, e in items.items()}
    # Resources are grouped by type identity (``==`` on wasmtime's ResourceType), not by
    # name: ``type headers = fields`` is one resource with two names, a resource used
    # from another interface is the same type, and two interfaces may each define an
    # unrelated resource called ``error``. Each group is keyed by where it first appears.
    every: list[tuple[str, Any, str]] = []

    def key_of(name: str, where: str, t: Any) -> str:
        for _, r, k in every:
            if r == t:
                every.append((name, t, k))
                return k
        k = f"{where}#{name}" if where else name
        every.append((name, t, k))
        return k

    keys: dict[str, dict[str, str]] = {}
    for iname, ty in exts.items():
        if isinstance(ty, wc.ComponentInstanceType):
            for n, e in ty.exports(engine).items():
                t = e.ty
                if isinstance(t, wc.ResourceType):
                    keys.setdefault(iname, {})[n] = key_of(n, iname, t)
        elif isinstance(ty, wc.ResourceType):
            keys.setdefault(ROOT, {})[iname] = key_of(iname, "", ty)
    out: dict[str, InterfaceSig] = {}
    root = InterfaceSig(ROOT)
    for iname, ty in exts.items():
        if isinstance(ty, wc.ComponentInstanceType):
            inner = {n: e.ty for n, e in ty.exports(engine).items()}
            local = [(n, t, keys[iname][n]) for n, t in inner.items() if isinstance(t, wc.ResourceType)]
            scope: _Resources = local + every
            sig = InterfaceSig(iname, resources=tuple(n for n, _, _ in local),
                               resource_keys={n: k for n, _, k in local})
            for n, t in inner.items():
                if isinstance(t, wc.FuncType):
                    sig.funcs[n] = func_sig(n, t, scope)
                elif isinstance(t, wc.ValType):
                    sig.types[n] = wit_type(t, scope)
            out[iname] = sig
        elif isinstance(ty, wc.FuncType):
            root.funcs[iname] = func_sig(iname, ty, every)
        elif isinstance(ty, wc.ResourceType):
            root.resources += (iname,)
            root.resource_keys[iname] = keys[ROOT][iname]
    if root.funcs or root.resources:
        out[ROOT] = root
    return out


def resource_groups(sigs: dict[str, InterfaceSig]) -> dict[str, list[tuple[str, str]]]:
    """Each resource type's key -> every ``(interface, name)`` it goes by."""
    out: dict[str, list[tuple[str, str]]] = {}
    for iname, isig in sigs.items():
        for n, k in isig.resource_keys.items():
            out.setdefault(k, []).append((iname, n))
    return out


#: the signatures of each live component object, (engine, imports, exports): walking
#: wasmtime's type objects is about a fifth of a short replay, and a process that keeps
#: its compiled components (engine.keep_compiled: a fleet worker) loads one many times
_SIGS: weakref.WeakKeyDictionary[Any, tuple[Engine, dict[str, InterfaceSig] | None,
                                            dict[str, InterfaceSig] | None]] = weakref.WeakKeyDictionary()


def _sigs(engine: Engine, component: wc.Component, which: int) -> dict[str, InterfaceSig]:
    entry = _SIGS.get(component)
    if entry is None or entry[0] is not engine:
        entry = (engine, None, None)
    got = entry[1] if which == 1 else entry[2]
    if got is None:
        ty = component.type
        got = _collect(engine, ty.imports(engine) if which == 1 else ty.exports(engine))
        entry = (engine, got, entry[2]) if which == 1 else (engine, entry[1], got)
        _SIGS[component] = entry
    return dict(got)


def component_imports(engine: Engine, component: wc.Component) -> dict[str, InterfaceSig]:
    """Imported interfaces by full name; root-level function imports under :data:`ROOT`
    (walked once per component object)."""
    return _sigs(engine, component, 1)


def component_exports(engine: Engine, component: wc.Component) -> dict[str, InterfaceSig]:
    """Exported interfaces by full name; root-level function exports under :data:`ROOT`
    (walked once per component object)."""
    return _sigs(engine, component, 2)
