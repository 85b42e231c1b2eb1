"""Running an actor: capability checks, binding every import through the boundary,
instantiation with limits, and export calls.

Deny by default. An import is bound only when a granted handler provides its
interface (matched by package and interface across compatible versions, bound at the
exact version the component imports). A WASI interface no handler grants is bound to
a recorded trap naming the missing capability (toolchains such as componentize-py
declare most of WASI 0.2 and call little of it); any other ungranted import is
refused before the actor runs.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import wasmtime
import wasmtime.component as wc

from . import fastcall, fasthost
from .boundary import Boundary
from .convention import ACTOR, HTTP_HANDLERS, MESSAGES, SUPERVISED
from .engine import STOPPING, describe_wasmtime_error, engine, new_store, request_stop
from .errors import CapabilityError, CodecError, ComponentError, HostRefusal, Interrupted
from .handlers import PROVIDERS, Handler, LiveFn, registry
from .wittypes import (
    ROOT,
    FuncSig,
    HandleT,
    InterfaceSig,
    component_exports,
    component_imports,
    resource_groups,
)

COMPATIBLE = ("0.2.",)


def versionless(name: str) -> tuple[str, str | None]:
    """``wasi:random/random@0.2.9`` -> (``wasi:random/random``, ``0.2.9``)."""
    base, _, ver = name.partition("@")
    return base, (ver or None)


@dataclass
class Binding:
    interface: str  # as the component imports it, with version
    function: str
    sig: FuncSig
    live: LiveFn  # the live implementation, or a refusal
    handler: str | None  # handler type, None for an ungranted trap


@dataclass
class Plan:
    """Every import of a component, decided: bound to a handler or to a recorded trap."""

    bindings: list[Binding] = field(default_factory=list)
    resources: dict[str, dict[str, int]] = field(default_factory=dict)  # iface(with version) -> name -> id
    trapped: list[str] = field(default_factory=list)  # ungranted WASI interfaces
    resource_ids: dict[str, int] = field(default_factory=dict)  # resource key (HandleT.key) -> host type id
    #: host state whose functions run in record and replay alike, never recorded one by
    #: one (theater/wasihttp.py::HttpState): each has ``bind(boundary, plan)``
    local: list[Any] = field(default_factory=list)


#: Host type ids of resources no handler defines start here, one per resource type in
#: the order of their keys (so a component gets the same ids in every run).
FIRST_FREE_RESOURCE_ID = 0x10000


def resource_type_ids(
    imports: Mapping[str, InterfaceSig], handler_resources: Mapping[str, Mapping[str, int]]
) -> dict[str, int]:
    """A host type id for every imported resource *type* (grouped by identity, not by
    name: ``type headers = fields`` in wasi:http/types is one resource, which must get
    one host type, or wasmtime refuses the instance with "mismatched resource types").
    A type a handler defines gets the handler's id, whichever of its names matched."""
    known = {(iface, name): tid for iface, names in handler_resources.items() for name, tid in names.items()}
    out: dict[str, int] = {}
    free = FIRST_FREE_RESOURCE_ID
    for key, members in sorted(resource_groups(dict(imports)).items()):
        tid = next((known[(versionless(i)[0], n)] for i, n in members if (versionless(i)[0], n) in known), None)
        if tid is None:
            tid, free = free, free + 1
        out[key] = tid
    return out


#: Ungranted functions that answer "nothing granted" instead of trapping, because
#: language runtimes call them at start-up whether or not they use what they ask for
#: (the WASI preview-1 adapter asks for the preopened directories before a program's
#: first ``println!``): the answer is recorded like any host call.
NOTHING_GRANTED: dict[tuple[str, str], Callable[..., Any]] = {
    ("wasi:filesystem/preopens", "get-directories"): lambda store: [],
}


def _refuse(what: str) -> LiveFn:
    def refuse(store: Any, *args: Any) -> Any:
        raise HostRefusal(what)

    return refuse


def plan_imports(
    imports: Mapping[str, InterfaceSig],
    handler_types: Iterable[str],
    live: Mapping[str, Mapping[str, LiveFn]] | None = None,
) -> Plan:
    """Decide every import. ``live`` maps versionless interface -> function -> fn
    (record mode); without it (replay) functions are bound to a refusal, which the
    boundary never calls in replay mode."""
    reg = registry()
    granted: dict[str, str] = {}
    resource_types: dict[str, dict[str, int]] = {}
    for t in handler_types:
        cls = reg.get(t)
        if cls is None:
            continue
        for iface in cls.interfaces:
            granted[iface] = t
        resource_types.update(cls.resource_types)
    plan = Plan(resource_ids=resource_type_ids(imports, resource_types))
    refused: list[str] = []
    for name, isig in sorted(imports.items()):
        if name == ROOT:
            funcs = ", ".join(sorted(isig.funcs))
            refused.append(f"root-level functions ({funcs}), which no handler provides")
            continue
        base, ver = versionless(name)
        # every resource type gets a host type, the same in every instance that uses it
        local = {r: plan.resource_ids[k] for r, k in isig.resource_keys.items()}
        if local:
            plan.resources[name] = local
        if ver is not None and not ver.startswith(COMPATIBLE) and not base.startswith("theater:"):
            if base in granted:
                refused.append(f"{name} (theater provides {base} at 0.2.x only)")
                continue
        htype = granted.get(base)
        if htype is not None:
            for fname, fsig in isig.funcs.items():
                fn = None if live is None else live.get(base, {}).get(fname)
                if fn is None:
                    fn = _refuse(f"{name}#{fname} is not implemented by the {htype} handler")
                plan.bindings.append(Binding(name, fname, fsig, fn, htype))
            continue
        provider = PROVIDERS.get(base)
        hint = (f'add a [[handler]] with type = "{provider}" to the manifest'
                if provider else "no theater handler provides it")
        if provider and provider not in reg:
            hint = f'the "{provider}" handler would provide it, and theater does not support it yet'
        if base.startswith("wasi:"):
            plan.trapped.append(name)
            for fname, fsig in isig.funcs.items():
                what = f"capability not granted: {name}#{fname} ({hint})"
                empty = NOTHING_GRANTED.get((base, fname))
                plan.bindings.append(Binding(name, fname, fsig, empty or _refuse(what), None))
            continue
        if isig.funcs:  # a types-only interface grants nothing
            refused.append(f"{name} ({hint})")
    if refused:
        first = refused[0]
        others = ", ".join(r.split(" ")[0] for r in refused[1:])
        more = f" (and {len(refused) - 1} more: {others})" if len(refused) > 1 else ""
        raise CapabilityError(f"the component imports {first}{more}; the manifest does not grant it")
    return plan


def handler_functions(handlers: Iterable[Handler]) -> dict[str, dict[str, LiveFn]]:
    out: dict[str, dict[str, LiveFn]] = {}
    for h in handlers:
        for iface, fns in h.functions().items():
            out.setdefault(iface, {}).update(fns)
    return out


def resource_codec(plan: Plan) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Encode and decode handles as the chain records them.

    A host resource is its rep, ``{"rep": N}``. A resource the actor defines (a handle
    an export returned, such as ``own<counter>``) gets a stable id in the order the run
    first saw it, ``{"resource": N}``: the same in a replay of the same calls, so a
    recorded call on handle N is replayed on the handle the replay's own run returned.
    One codec serves one run (its table of actor handles)."""
    by_name: dict[str, int] = {}
    for names in plan.resources.values():
        by_name.update(names)
    by_key = plan.resource_ids
    guest: list[Any] = []  # the actor's handles, by stable id

    def encode(store: Any, value: Any, ty: HandleT) -> Any:
        if isinstance(value, wc.ResourceHost):
            return {"rep": value.rep}
        if isinstance(value, wc.ResourceAny):
            for i, known in enumerate(guest):
                if known is value:
                    return {"resource": i}
            guest.append(value)
            return {"resource": len(guest) - 1}
        raise CodecError(f"cannot record a {type(value).__name__} for {ty.kind}<{ty.resource}>")

    def decode(store: Any, obj: Any, ty: HandleT) -> Any:
        if isinstance(obj, dict) and set(obj) == {"resource"}:
            n = obj["resource"]
            if type(n) is not int or not 0 <= n < len(guest):
                raise CodecError(f"{ty.kind}<{ty.resource}>: no resource {n!r} yet: the actor has returned "
                                 f"{len(guest)} handle(s) in this run (ids 0 to {len(guest) - 1})")
            return guest[n]
        tid = by_key.get(ty.key) if ty.key else by_name.get(ty.resource)
        if tid is None or not isinstance(obj, dict) or set(obj) != {"rep"} or type(obj["rep"]) is not int:
            raise CodecError(f"cannot rebuild a handle for {ty.kind}<{ty.resource}> from {obj!r:.60}")
        make = wc.ResourceHost.own if ty.kind == "own" else wc.ResourceHost.borrow
        return make(int(obj["rep"]), tid)

    return encode, decode


def canonical_live(live: LiveFn, sig: FuncSig, plan: Plan) -> LiveFn:
    """A live function that returns canonical JSON (theater/handlers/filesystem.py),
    decoded to the function's WIT type as the component imports it."""
    from .codec import decode_result

    decoder = resource_codec(plan)[1]

    def call(store: Any, *args: Any) -> Any:
        try:
            return decode_result(sig, live(store, *args), resource_decoder=lambda o, t: decoder(store, o, t))
        except CodecError as e:  # the component imports the function with another type
            raise HostRefusal(f"{sig.name}: the handler's result does not fit the imported type {sig.render()}: "
                              f"{e}") from None

    return call


@dataclass
class Interrupt:
    """A stop request, set by a signal and acted on at a safe point.

    A signal handler must not raise: it can run inside wasmtime-py's ctypes glue, where
    an exception is lost and the call fails as a bogus trap. And while the main thread
    is inside wasm, no Python signal handler runs at all. So :meth:`request` (called
    by the CLI's watcher thread, which ``signal.set_wakeup_fd`` wakes) sets
    ``requested`` and increments the engine's epoch: wasm code stops at its next epoch
    check (every store's deadline is one tick), and the export call is re-raised as
    :class:`Interrupted` instead of being recorded as a trap. A host call checks it
    first, and raises from inside the host function, where wasmtime-py carries it
    across the wasm frames and re-raises it from the export call (nothing is recorded
    for that call); the recorder checks it between export calls too."""

    requested: bool = False
    signum: int = signal.SIGINT

    def __post_init__(self) -> None:
        STOPPING.clear()  # a new watch: an earlier run's stop does not cut this one's waits

    def request(self, signum: int = signal.SIGINT) -> None:
        """Ask the run to stop (any thread): at the next host call, export boundary or
        epoch check in wasm."""
        if not self.requested:
            self.signum = signum
        self.requested = True
        request_stop()

    def error(self) -> Interrupted:
        return Interrupted("terminated" if self.signum == signal.SIGTERM else "interrupted", signum=self.signum)

    def check(self) -> None:
        if self.requested:
            raise self.error()

    def guard(self, live: LiveFn) -> LiveFn:
        def guarded(store: Any, *args: Any) -> Any:
            if self.requested:
                raise self.error()
            try:
                return live(store, *args)
            except Interrupted:  # a live wait woken by the stop: with the signal that asked
                raise self.error() from None

        return guarded

    def stoppable(self, func: Any) -> Any:
        """An export function whose epoch interrupt, once a stop was requested, raises
        :class:`Interrupted` (and is never recorded as the actor's trap)."""
        def call(store: Any, *args: Any) -> Any:
            try:
                return func(store, *args)
            except wasmtime.WasmtimeError:
                if self.requested:
                    raise self.error() from None
                raise

        return call


class ActorInstance:
    """One instantiated component, every import bound through a boundary."""

    def __init__(
        self, component: wc.Component, plan: Plan, boundary: Boundary, *, fuel: int, memory: int,
        interrupt: Interrupt | None = None,
    ) -> None:
        eng = engine()
        self.component = component
        self.plan = plan
        self.boundary = boundary
        self.fuel = fuel
        self.interrupt = interrupt
        self.store = new_store()
        self.store.set_limits(memory_size=memory)
        self.exports = component_exports(eng, component)
        linker = wc.Linker(eng)
        by_iface: dict[str, list[Binding]] = {}
        for b in plan.bindings:
            by_iface.setdefault(b.interface, []).append(b)
        for iface in plan.resources:
            by_iface.setdefault(iface, [])
        overrides: dict[tuple[str, str], Callable[..., Any]] = {}
        for ext in plan.local:
            overrides.update(ext.bind(boundary, plan))
        with linker.root() as root:
            for iface, binds in by_iface.items():
                with root.add_instance(iface) as inst:
                    for rname, tid in plan.resources.get(iface, {}).items():
                        inst.add_resource(rname, wc.ResourceType.host(tid), lambda store, rep: None)
                    for b in binds:
                        live = canonical_live(b.live, b.sig, plan) if getattr(b.live, "canonical", False) else b.live
                        fn = boundary.wrap_import(b.interface, b.function, b.sig, live)
                        override = overrides.get((versionless(b.interface)[0], b.function))
                        if override is not None:
                            fn = override(fn, b.sig)
                        # checked before the crossing, in record and replay alike; types
                        # built once by theater's one trampoline (theater/fasthost.py; it
                        # assumes one component per linker, as here)
                        fasthost.add_func(inst, b.function, fn if interrupt is None else interrupt.guard(fn))
        linker.define_unknown_imports_as_traps(component)
        self.store.set_fuel(fuel)
        try:
            self.instance = linker.instantiate(self.store, component)
        except wasmtime.WasmtimeError as e:
            first = describe_wasmtime_error(e, "instantiation failed")
            if "memory limits" in first:
                first += f" (the manifest's [limits] memory is {memory} bytes)"
            raise ComponentError(f"cannot instantiate the component: {first}") from None

    def export(self, interface: str, function: str) -> tuple[str, Any, FuncSig] | None:
        """Find an export by versionless interface name: (full name, func, sig); None if
        the component has no such function. Looked up once per instance (the same
        ``Func`` object each time, so its types are read once: theater/fasttypes.py)."""
        cache: dict[tuple[str, str], tuple[str, Any, FuncSig] | None] = self.__dict__.setdefault("_exports", {})
        key = (interface, function)
        if key not in cache:
            cache[key] = self._find_export(interface, function)
        return cache[key]

    def _find_export(self, interface: str, function: str) -> tuple[str, Any, FuncSig] | None:
        """The uncached lookup of :meth:`export`."""
        for name, isig in self.exports.items():
            if versionless(name)[0] == interface and function in isig.funcs:
                idx = self.instance.get_export_index(self.store, name)
                fidx = self.instance.get_export_index(self.store, function, idx)
                if fidx is None:
                    return None
                func = self.instance.get_func(self.store, fidx)
                if func is None:
                    return None
                func = fastcall.export_func(func, self.store)  # conversions built once (issue 19)
                if self.interrupt is not None:
                    return name, self.interrupt.stoppable(func), isig.funcs[function]
                return name, func, isig.funcs[function]
        return None

    def call(self, interface: str, function: str, args: tuple[Any, ...]) -> tuple[str, Any]:
        found = self.export(interface, function)
        if found is None:
            raise ComponentError(f"the component does not export {interface}#{function}")
        name, func, sig = found
        return self.boundary.call_export(self.store, func, name, function, sig, args, fuel=self.fuel)


def load_imports(component: wc.Component) -> dict[str, InterfaceSig]:
    return component_imports(engine(), component)


# -- pre-flight checks (before any chain row exists) -----------------------------

def read_component(path: Any, limit: int) -> bytes:
    """Read a component file of at most ``limit`` bytes (``[limits] component_bytes``,
    ``$THEATER_MAX_COMPONENT_BYTES``): stat first, then a bounded read, so
    ``/dev/zero`` or a 2 GB file is refused without being read."""
    from .manifest import TooLarge, read_bounded

    try:
        return read_bounded(path, limit)
    except FileNotFoundError:
        raise ComponentError(f"component file not found: {path}") from None
    except TooLarge as e:
        hint = "" if e.strerror == "not a regular file" else (
            " (raise [limits] component_bytes or $THEATER_MAX_COMPONENT_BYTES if it is really a component)")
        raise ComponentError(f"cannot read component {path}: {e.strerror}{hint}") from None
    except OSError as e:
        raise ComponentError(f"cannot read component {path}: {e.strerror}") from None


_HTTP_HEADERS = "headers: list<tuple<string, string>>, body: option<list<u8>>"
_HTTP_REQUEST = f"record {{ method: string, uri: string, {_HTTP_HEADERS} }}"
_HTTP_RESPONSE = f"record {{ status: u16, {_HTTP_HEADERS} }}"
#: The theater:simple signatures of the exports theater calls, as FuncSig.render() gives them.
EXPORT_SIGNATURES: dict[tuple[str, str], str] = {
    (ACTOR, "init"):
        "func(state: option<list<u8>>, params: tuple<string>) -> result<tuple<option<list<u8>>>, string>",
    (MESSAGES, "handle-send"):
        "func(state: option<list<u8>>, params: tuple<list<u8>>) -> result<tuple<option<list<u8>>>, string>",
    (MESSAGES, "handle-request"):
        "func(state: option<list<u8>>, params: tuple<string, list<u8>>)"
        " -> result<tuple<option<list<u8>>, tuple<option<list<u8>>>>, string>",
    (HTTP_HANDLERS, "handle-request"):
        f"func(state: option<list<u8>>, params: tuple<u64, {_HTTP_REQUEST}>)"
        f" -> result<tuple<option<list<u8>>, tuple<{_HTTP_RESPONSE}>>, string>",
    (MESSAGES, "handle-channel-open"):
        "func(state: option<list<u8>>, params: tuple<string, list<u8>>)"
        " -> result<tuple<option<list<u8>>, tuple<record { accepted: bool, message: option<list<u8>> }>>, string>",
    (MESSAGES, "handle-channel-message"):
        "func(state: option<list<u8>>, params: tuple<string, list<u8>>) -> result<tuple<option<list<u8>>>, string>",
    (MESSAGES, "handle-channel-close"):
        "func(state: option<list<u8>>, params: tuple<string>) -> result<tuple<option<list<u8>>>, string>",
    (SUPERVISED, "handle-child-error"):
        "func(state: option<list<u8>>, params: tuple<string, record { error-type: enum { operation-timeout, "
        "channel-closed, shutting-down, function-not-found, type-mismatch, internal, serialization-error, "
        "update-component-error, paused }, data: option<list<u8>> }>) -> result<tuple<option<list<u8>>>, string>",
    (SUPERVISED, "handle-child-exit"):
        "func(state: option<list<u8>>, params: tuple<string, option<list<u8>>>)"
        " -> result<tuple<option<list<u8>>>, string>",
    (SUPERVISED, "handle-child-external-stop"):
        "func(state: option<list<u8>>, params: tuple<string>) -> result<tuple<option<list<u8>>>, string>",
}

_STREAM_ERR = "variant { last-operation-failed(own<error>), closed }"
_DATETIME = "record { seconds: u64, nanoseconds: u32 }"
#: What theater's handlers implement, by versionless interface and function (WIT 0.2.x).
IMPORT_SIGNATURES: dict[tuple[str, str], str] = {
    ("theater:simple/runtime", "log"): "func(msg: string)",
    ("theater:simple/runtime", "shutdown"): "func(data: option<list<u8>>) -> result<_, string>",
    ("wasi:cli/stdout", "get-stdout"): "func() -> own<output-stream>",
    ("wasi:cli/stderr", "get-stderr"): "func() -> own<output-stream>",
    ("wasi:io/streams", "[method]output-stream.check-write"):
        f"func(self: borrow<output-stream>) -> result<u64, {_STREAM_ERR}>",
    ("wasi:io/streams", "[method]output-stream.write"):
        f"func(self: borrow<output-stream>, contents: list<u8>) -> result<_, {_STREAM_ERR}>",
    ("wasi:io/streams", "[method]output-stream.blocking-write-and-flush"):
        f"func(self: borrow<output-stream>, contents: list<u8>) -> result<_, {_STREAM_ERR}>",
    ("wasi:io/streams", "[method]output-stream.flush"):
        f"func(self: borrow<output-stream>) -> result<_, {_STREAM_ERR}>",
    ("wasi:io/streams", "[method]output-stream.blocking-flush"):
        f"func(self: borrow<output-stream>) -> result<_, {_STREAM_ERR}>",
    ("wasi:random/random", "get-random-bytes"): "func(len: u64) -> list<u8>",
    ("wasi:random/random", "get-random-u64"): "func() -> u64",
    ("wasi:random/insecure", "get-insecure-random-bytes"): "func(len: u64) -> list<u8>",
    ("wasi:random/insecure", "get-insecure-random-u64"): "func() -> u64",
    ("wasi:random/insecure-seed", "insecure-seed"): "func() -> tuple<u64, u64>",
    ("wasi:clocks/wall-clock", "now"): f"func() -> {_DATETIME}",
    ("wasi:clocks/wall-clock", "resolution"): f"func() -> {_DATETIME}",
    ("wasi:clocks/monotonic-clock", "now"): "func() -> u64",
    ("wasi:clocks/monotonic-clock", "resolution"): "func() -> u64",
    ("wasi:clocks/monotonic-clock", "subscribe-duration"): "func(when: u64) -> own<pollable>",
    ("wasi:clocks/monotonic-clock", "subscribe-instant"): "func(when: u64) -> own<pollable>",
    ("wasi:io/poll", "[method]pollable.ready"): "func(self: borrow<pollable>) -> bool",
    ("wasi:io/poll", "[method]pollable.block"): "func(self: borrow<pollable>)",
    ("wasi:io/poll", "poll"): "func(in: list<borrow<pollable>>) -> list<u32>",
    ("wasi:io/streams", "[method]output-stream.subscribe"): "func(self: borrow<output-stream>) -> own<pollable>",
    ("wasi:io/streams", "[method]input-stream.read"):
        f"func(self: borrow<input-stream>, len: u64) -> result<list<u8>, {_STREAM_ERR}>",
    ("wasi:io/streams", "[method]input-stream.blocking-read"):
        f"func(self: borrow<input-stream>, len: u64) -> result<list<u8>, {_STREAM_ERR}>",
    ("wasi:io/streams", "[method]input-stream.skip"):
        f"func(self: borrow<input-stream>, len: u64) -> result<u64, {_STREAM_ERR}>",
    ("wasi:io/streams", "[method]input-stream.blocking-skip"):
        f"func(self: borrow<input-stream>, len: u64) -> result<u64, {_STREAM_ERR}>",
    ("wasi:io/streams", "[method]input-stream.subscribe"): "func(self: borrow<input-stream>) -> own<pollable>",
    ("wasi:cli/stdin", "get-stdin"): "func() -> own<input-stream>",
    ("wasi:cli/terminal-stdin", "get-terminal-stdin"): "func() -> option<own<terminal-input>>",
    ("wasi:cli/terminal-stdout", "get-terminal-stdout"): "func() -> option<own<terminal-output>>",
    ("wasi:cli/terminal-stderr", "get-terminal-stderr"): "func() -> option<own<terminal-output>>",
    ("wasi:cli/exit", "exit"): "func(status: result)",
    ("theater:simple/timing", "now"): "func() -> u64",
    ("wasi:cli/environment", "get-environment"): "func() -> list<tuple<string, string>>",
    ("wasi:cli/environment", "get-arguments"): "func() -> list<string>",
    ("wasi:cli/environment", "initial-cwd"): "func() -> option<string>",
    ("theater:simple/http-client", "send-http"): f"func(req: {_HTTP_REQUEST}) -> result<{_HTTP_RESPONSE}, string>",
    # a run's actor system (upstream's theater:simple WIT, wit/theater-simple/)
    ("theater:simple/message-server-host", "send"): "func(actor-id: string, msg: list<u8>) -> result<_, string>",
    ("theater:simple/message-server-host", "request"):
        "func(actor-id: string, msg: list<u8>) -> result<list<u8>, string>",
    ("theater:simple/message-server-host", "open-channel"):
        "func(actor-id: string, initial-msg: list<u8>) -> result<string, string>",
    ("theater:simple/message-server-host", "send-on-channel"):
        "func(channel-id: string, msg: list<u8>) -> result<_, string>",
    ("theater:simple/message-server-host", "close-channel"): "func(channel-id: string) -> result<_, string>",
    ("theater:simple/message-server-host", "list-outstanding-requests"): "func() -> list<string>",
    ("theater:simple/message-server-host", "respond-to-request"):
        "func(request-id: string, response: list<u8>) -> result<_, string>",
    ("theater:simple/message-server-host", "cancel-request"): "func(request-id: string) -> result<_, string>",
    ("theater:simple/supervisor", "spawn"):
        "func(manifest: string, init-bytes: option<list<u8>>) -> result<string, string>",
    ("theater:simple/supervisor", "resume"):
        "func(manifest: string, init-state: option<list<u8>>) -> result<string, string>",
    ("theater:simple/supervisor", "list-children"): "func() -> list<string>",
    ("theater:simple/supervisor", "stop-child"): "func(child-id: string) -> result<_, string>",
    ("theater:simple/supervisor", "restart-child"): "func(child-id: string) -> result<_, string>",
    ("theater:simple/supervisor", "get-child-state"):
        "func(child-id: string) -> result<option<list<u8>>, string>",
    ("theater:simple/supervisor", "get-child-events"):
        "func(child-id: string) -> result<list<record { hash: list<u8>, parent-hash: option<list<u8>>, "
        "event-type: string, data: list<u8>, timestamp: u64, description: option<string> }>, string>",
}


def _types_only(rendered: str) -> str:
    """``func(a: u32, b: string) -> x`` -> ``func(u32, string) -> x``: parameter names are
    not part of what a call passes, so they are not compared (record fields are)."""
    if not rendered.startswith("func("):
        return rendered
    depth, params, cur, i = 0, [], "", 5
    while i < len(rendered):
        c = rendered[i]
        if c in "(<{":
            depth += 1
        elif c in ")>}":
            if depth == 0:
                break
            depth -= 1
        if c == "," and depth == 0:
            params.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    if cur.strip():
        params.append(cur)
    types = [p.strip().partition(": ")[2] or p.strip() for p in params]
    return "func(" + ", ".join(types) + rendered[i:]


def check_export_signatures(exports: Mapping[str, InterfaceSig], calls: Iterable[str]) -> None:
    """Every export theater will call (``calls``: function names) has its theater:simple
    signature; raises :class:`ComponentError` naming the first that does not."""
    by_base = {versionless(n)[0]: isig for n, isig in exports.items()}
    for (iface, fname), want in EXPORT_SIGNATURES.items():
        if fname not in calls:
            continue
        sig = getattr(by_base.get(iface), "funcs", {}).get(fname)
        if sig is None:
            continue  # a missing export has its own message
        if _types_only(sig.render()) != _types_only(want):
            raise ComponentError(f"the component exports {iface}#{fname} as {sig.render()}; "
                                 f"theater calls it as {want} (the theater:simple signature)")


def check_import_signatures(plan: Plan) -> None:
    """Every import bound to a handler has the type that handler implements; raises
    :class:`CapabilityError` naming the first that does not (before any chain exists)."""
    for b in plan.bindings:
        if b.handler is None:
            continue
        want = IMPORT_SIGNATURES.get((versionless(b.interface)[0], b.function))
        if want is not None and _types_only(b.sig.render()) != _types_only(want):
            raise CapabilityError(f"the component imports {b.interface}#{b.function} as {b.sig.render()}; "
                                  f"the {b.handler} handler provides {want}")


def replay_limits(chain_id: str, header: Mapping[str, Any]) -> tuple[int, int]:
    """``(fuel, memory)`` from a recorded header's ``limits``, checked: a table whose
    ``fuel`` and ``memory`` are positive integers of at most 64 bits (absent: the
    defaults). A header with anything else is malformed: :class:`ReplayError`, one line."""
    from .errors import ReplayError
    from .manifest import DEFAULT_FUEL, DEFAULT_MEMORY, INT_MAX

    limits = header.get("limits")
    if limits is None:
        limits = {}
    if not isinstance(limits, dict):
        raise ReplayError(f"chain {chain_id} has a malformed header: `limits` must be an object of fuel and "
                          f"memory, got {type(limits).__name__} {str(limits)[:40]!r}")
    out = []
    for key, default in (("fuel", DEFAULT_FUEL), ("memory", DEFAULT_MEMORY)):
        v = limits.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= INT_MAX:
            raise ReplayError(f"chain {chain_id} has a malformed header: `limits.{key}` must be a positive "
                              f"64-bit integer, got {type(v).__name__} {str(v)[:40]!r}")
        out.append(v)
    return out[0], out[1]


@dataclass(frozen=True, kw_only=True)
class LoadedComponent:
    """A manifest's component ready to instantiate (:func:`load_actor_component`)."""

    data: bytes
    sha: str  # SHA-256 of ``data``, hex: what a chain's header binds
    component: wc.Component
    plan: Plan
    exports: dict[str, InterfaceSig]  # by versionless interface name


def load_actor_component(manifest: Any, handlers: Iterable[Handler]) -> LoadedComponent:
    """Read the manifest's component (bounded), compile it or load it from the cache,
    plan its imports against ``handlers`` and check their signatures, and list its
    exports: the pre-flight steps ``record``, ``theater serve`` and a run's spawn share,
    all before any chain row exists."""
    from .engine import load_component_hashed

    handlers = list(handlers)
    data = read_component(manifest.component, manifest.component_bytes)
    try:
        component, sha = load_component_hashed(data)  # hashed once: the cache key's digest
    except ComponentError as e:  # name the file: the manifest may point anywhere
        raise ComponentError(f"{manifest.component}: {e}") from None
    plan = plan_imports(load_imports(component), [h.type for h in handlers], handler_functions(handlers))
    plan.local.extend(s for h in handlers if (s := getattr(h, "local_state", None)) is not None)
    check_import_signatures(plan)
    exports = {versionless(n)[0]: isig for n, isig in component_exports(engine(), component).items()}
    return LoadedComponent(data=data, sha=sha, component=component, plan=plan, exports=exports)
