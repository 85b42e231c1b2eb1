"""The boundary: the one place every crossing between actor and host goes through.

Host imports (the actor calls the host) and guest exports (the host calls the actor)
are both wrapped here. A handler is only a live implementation; it never knows
whether the actor is being recorded or replayed.

- **record**: call the live implementation, append one event with the interface,
  function, canonical arguments and canonical result (or the trap), return it.
- **replay**: take the next recorded event, check interface, function and
  arguments, and return the recorded result decoded to its type. The live
  implementation is never called. A mismatch raises :class:`DivergenceSignal`, which
  aborts the guest; the replayer turns it into a :class:`replay.Divergence`.

One event per crossing. An export event is appended when the call returns, after the
host events it caused.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import wasmtime
import wasmtime.component

from .canonical import canonical_json as dumps
from .chain import END_TYPE, Event, export_type, host_type
from .codec import decode_params, decode_result, encode_params, encode_result
from .convention import is_exit_call, is_shutdown_call
from .errors import ActorExit, CodecError, DivergenceSignal, HostRefusal, HostTrap, StopReplay
from .wittypes import INT_RANGES, FuncSig, HandleT, ListT, Prim

# The canonical event bytes of a function without params start with this prefix.
_NO_ARGS_RESULT = b'{"args":{},"result":'
_NO_ARGS_INT = _NO_ARGS_RESULT + b"%d}"  # ... and, for an integer result, are this


class Writer(Protocol):
    @property
    def length(self) -> int: ...

    def append(self, type_: str, data: bytes) -> bytes: ...


def bound_append(writer: Writer, type_: str) -> Callable[[bytes], Any]:
    """``writer.append`` for one event type: the writer's own ``appender(type_)`` when it
    has one (theater/store/writer.py::ChainWriter.appender: the type's lookups done
    once), else ``append`` with the type bound."""
    appender = getattr(writer, "appender", None)
    if appender is not None:
        bound: Callable[[bytes], Any] = appender(type_)
        return bound
    return functools.partial(writer.append, type_)


def trap_message(e: BaseException) -> str:
    """A deterministic one-line description of a trap (no backtrace, no addresses),
    keeping wasmtime's cause (e.g. invalid UTF-8 in a string the guest passed)."""
    from .engine import describe_wasmtime_error

    return describe_wasmtime_error(e, type(e).__name__)


ResourceCodec = tuple[Callable[..., Any] | None, Callable[..., Any] | None]
Row = tuple[Any, ...]  # a stored event row, see Boundary


class Boundary:
    """Records crossings into a writer, or replays them from recorded events.

    ``source`` (replay only) yields the recorded rows ``(seq, hash, parent, type,
    data, written_at)`` in seq order, as :meth:`Store.event_rows` gives them (the hot
    path reads a row's type and data without building an :class:`Event`);
    :meth:`peek` and :meth:`take` return them as events.
    """

    def __init__(
        self,
        writer: Writer,
        *,
        source: Iterator[Row] | None = None,
        resources: ResourceCodec = (None, None),
        until: int | None = None,
        redactor: Any = None,
    ) -> None:
        self.writer = writer
        #: theater/redact.py::Redactor, or None: secrets replaced by tokens before a
        #: crossing's values are stored (and, in replay, compared)
        self.redactor = redactor
        self.replaying = source is not None
        self._source = source
        self._ahead: deque[Row] = deque()
        self.resource_encoder, self.resource_decoder = resources
        self.until = until
        self.divergence: DivergenceSignal | None = None
        self.host_failure: str | None = None
        self.stopped = False
        self.shutdown_seen = False  # the actor called theater:simple/runtime#shutdown
        #: fields a live function adds to the event of its own crossing (a run's links,
        #: theater/links.py): set by the live function, merged into that event, cleared
        self.annotation: dict[str, Any] | None = None

    # -- replay source ------------------------------------------------------

    def peek(self, n: int = 0) -> Event | None:
        """The recorded event ``n`` places after the next one, without taking it."""
        ahead = self._ahead
        while len(ahead) <= n and self._source is not None:
            row = next(self._source, None)
            if row is None:
                break
            ahead.append(row)
        return _event(ahead[n]) if len(ahead) > n else None

    def take(self) -> Event | None:
        if self._ahead:
            return _event(self._ahead.popleft())
        row = None if self._source is None else next(self._source, None)
        return None if row is None else _event(row)

    def _append(self, type_: str, data: bytes) -> None:
        self.writer.append(type_, data)
        if self.until is not None and self.writer.length > self.until:
            self.stopped = True
            raise StopReplay()

    def _diverge(self, kind: str, type_: str, expected: Any, actual: Any, message: str) -> DivergenceSignal:
        sig = DivergenceSignal(kind, self.writer.length, type_, expected, actual, message)
        self.divergence = sig
        return sig

    def carry(self, prefix: str) -> None:
        """Replay: append the recorded events of kind ``prefix`` that come next, as
        recorded (facts the host wrote between export calls, such as a request
        ``theater serve`` refused before the actor saw it: no crossing to replay)."""
        while (ev := self.peek()) is not None and ev.type.startswith(prefix):
            self.take()
            self._append(ev.type, ev.data)

    # -- host imports --------------------------------------------------------

    def wrap_import(
        self, interface: str, function: str, sig: FuncSig, live: Callable[..., Any]
    ) -> Callable[..., Any]:
        """The function to bind in the linker for one host import."""
        type_ = host_type(interface, function)
        enc_res = self.resource_encoder
        no_params = not sig.params
        handles = _handle_params(sig)

        int_range = _int_result(sig) if no_params else None
        if is_exit_call(type_):
            return self._exit_import(type_, sig, live)
        redact = None if self.redactor is None else self.redactor.for_crossing(interface.partition("@")[0], function)
        if redact is not None:  # an integer holds no secret: only the general paths redact
            int_range = None
        if self.replaying:
            if int_range is not None:
                return self._replay_int(type_, sig, int_range)
            return self._replay_import(type_, sig, redact)
        if int_range is not None:
            return self._record_int(type_, sig, live, int_range)
        red_args, red_result = redact if redact is not None else (None, None)

        def record(store: Any, *args: Any) -> Any:
            if handles:
                args = _take_handles(store, args, handles)
            try:
                enc_args = {} if no_params else encode_params(sig, args, resource_encoder=_bind(enc_res, store))
            except CodecError as e:  # a type theater cannot record (future, stream, ...)
                raise self._refused(type_, {}, HostRefusal(f"cannot record the arguments: {e}")) from None
            if red_args is not None:
                enc_args = red_args(enc_args)
            try:
                result = live(store, *args)
            except HostRefusal as e:
                self.annotation = None
                raise self._refused(type_, enc_args, e) from None
            # a live result that does not fit its type is a handler's bug: CodecError
            enc_result = encode_result(sig, result, resource_encoder=_bind(enc_res, store))
            if red_result is not None:
                enc_result = red_result(enc_result)
            body = {"args": enc_args, "result": enc_result}
            if self.annotation is not None:  # a run's link (theater/links.py), set by the handler
                body.update(self.annotation)
                self.annotation = None
            self._append(type_, dumps(body))
            return result

        return record

    def _exit_import(self, type_: str, sig: FuncSig, live: Callable[..., Any]) -> Callable[..., Any]:
        """``wasi:cli/exit#exit(status)``: the crossing is recorded (or replayed) like any
        other, then :class:`ActorExit` unwinds the guest: exit never returns."""
        inner = self._replay_import(type_, sig) if self.replaying else None

        def exit_(store: Any, *args: Any) -> Any:
            enc_args = encode_params(sig, args)
            if inner is not None:
                inner(store, *args)
            else:
                live(store, *args)
                self._append(type_, dumps({"args": enc_args, "result": None}))
            status = enc_args.get("status") if isinstance(enc_args, dict) else None
            raise ActorExit(isinstance(status, dict) and "ok" in status)

        return exit_

    def _refused(self, type_: str, enc_args: Any, e: HostRefusal) -> HostTrap:
        """Record a refused host call; returns the trap to raise into the guest."""
        self._append(type_, dumps({"args": enc_args, "trap": str(e)}))
        self.host_failure = f"{type_}: {e}"
        return HostTrap(f"{type_}: {e}")

    def local_crossing(self, interface: str, function: str, args: Any, live: Callable[[], Any]) -> Any:
        """One crossing whose arguments and result the caller gives as canonical JSON:
        a wasi:http request, made of many local resource calls (theater/wasihttp.py),
        recorded as one event ``host:<interface>#<function>``. Record: ``live()``, both
        redacted as ``send-http``'s are, appended. Replay: the recorded event must have
        the same type and arguments; its result is returned, ``live`` never called."""
        type_ = host_type(interface, function)
        redact = None if self.redactor is None else self.redactor.for_crossing(
            "theater:simple/http-client", "send-http")
        if redact is not None:
            args = redact[0](args)
        if self.replaying:
            ev = self.peek()
            actual = {"type": type_, "args": args}
            if ev is None or ev.type != type_:
                kind = "extra_call" if ev is None or ev.type == END_TYPE or ev.type.startswith("export:") \
                    else "different_call"
                raise self._diverge(kind, type_, None if ev is None else {"type": ev.type, **_payload(ev)},
                                    actual, f"expected {None if ev is None else ev.type}, the replay sent {type_}")
            recorded = _payload(ev)
            if recorded.get("args") != args:
                raise self._diverge("arguments", type_, {"args": recorded.get("args")}, {"args": args},
                                    f"{type_} sent a different request")
            self.take()
            self._append(type_, ev.data)
            return recorded.get("result")
        result = live()
        stored = result if redact is None else redact[1](result)
        self._append(type_, dumps({"args": args, "result": stored}))
        return result

    # Fast paths for ``func() -> <integer>`` (get-random-u64, a clock's resolution, ...),
    # the commonest crossing. They produce and accept exactly the bytes of the general
    # path, ``{"args":{},"result":N}`` (tests/test_boundary_fastpath.py proves it), and
    # hand anything else to the general path.

    def _record_int(
        self, type_: str, sig: FuncSig, live: Callable[..., Any], int_range: tuple[int, int]
    ) -> Callable[..., Any]:
        lo, hi = int_range
        append = bound_append(self.writer, type_) if self.until is None else functools.partial(self._append, type_)
        fmt = _NO_ARGS_INT

        def record_int(store: Any) -> Any:
            try:
                result = live(store)
            except HostRefusal as e:
                raise self._refused(type_, {}, e) from None
            if type(result) is int and lo <= result <= hi:
                append(fmt % result)
            else:  # not an in-range int: the general encoding (raises its CodecError)
                append(dumps({"args": {}, "result": encode_result(sig, result)}))
            return result

        return record_int

    def decode_args(self, store: Any, sig: FuncSig, obj: Any) -> tuple[Any, ...]:
        """An export call's recorded (or given) arguments as values, handles included."""
        return decode_params(sig, obj, resource_decoder=_bind(self.resource_decoder, store))

    def _replay_int(self, type_: str, sig: FuncSig, int_range: tuple[int, int]) -> Callable[..., Any]:
        lo, hi = int_range
        general = self._replay_import(type_, sig)
        ahead, rows = self._ahead, self._source
        assert rows is not None
        prefix = _NO_ARGS_RESULT
        start = len(prefix)
        append = bound_append(self.writer, type_) if self.until is None else functools.partial(self._append, type_)

        def replay_int(store: Any) -> Any:
            row = ahead.popleft() if ahead else next(rows, None)
            if row is not None and row[3] == type_:
                data = row[4]
                # canonical JSON of a non-negative int: digits, no leading zero
                if type(data) is bytes and data.startswith(prefix) and data.endswith(b"}"):
                    digits = data[start:-1]
                    if digits.isdigit() and (digits[0] != 0x30 or len(digits) == 1):
                        value = int(digits)
                        if lo <= value <= hi:
                            append(data)  # the recorded bytes, as the general path does
                            return value
            if row is not None:
                ahead.appendleft(row)
            return general(store)  # a trap, a mismatch, a negative or bad value

        return replay_int

    def _replay_import(self, type_: str, sig: FuncSig, redact: Any = None) -> Callable[..., Any]:
        enc_res, dec_res = self.resource_encoder, self.resource_decoder
        red_args = None if redact is None else redact[0]
        is_shutdown = is_shutdown_call(type_)
        handles = _handle_params(sig)

        def replay(store: Any, *args: Any) -> Any:
            if handles:
                args = _take_handles(store, args, handles)
            enc_args = encode_params(sig, args, resource_encoder=_bind(enc_res, store))
            if red_args is not None:
                enc_args = red_args(enc_args)
            actual = {"type": type_, "args": enc_args}
            ev = self.peek()
            if ev is None or ev.type == END_TYPE:
                raise self._diverge(
                    "extra_call", type_, None, actual,
                    f"the replay called {type_} but the recording has no more crossings here",
                )
            if ev.type != type_:
                after = self.peek(1)
                if ev.type.startswith("export:"):
                    kind, what = "extra_call", f"the recorded call returned here; the replay called {type_}"
                elif after is not None and after.type == type_ and _payload(after).get("args") == enc_args:
                    kind, what = "missing_call", f"the replay skipped the recorded {ev.type} and called {type_}"
                else:
                    kind = "different_call"
                    what = f"expected {ev.type}, the replay called {type_} (an extra or different call)"
                raise self._diverge(kind, type_, {"type": ev.type, **_payload(ev)}, actual, what)
            recorded = _payload(ev)
            if recorded.get("args") != enc_args:
                raise self._diverge(
                    "arguments", type_, {"args": recorded.get("args")}, {"args": enc_args},
                    f"{type_} called with different arguments",
                )
            self.take()
            if is_shutdown:
                self.shutdown_seen = True
            self._append(type_, ev.data)  # identical canonical bytes: same args, recorded result
            if "trap" in recorded:
                self.host_failure = f"{type_}: {recorded['trap']}"
                raise HostTrap(f"{type_}: {recorded['trap']}")
            try:
                return decode_result(sig, recorded.get("result"), resource_decoder=_bind(dec_res, store))
            except CodecError as e:
                raise self._diverge("result_type", type_, recorded.get("result"), None,
                                    f"the recorded result of {type_} does not fit its type: {e}") from None

        return replay

    # -- guest exports --------------------------------------------------------

    def call_export(
        self, store: wasmtime.Store, func: Any, interface: str, function: str, sig: FuncSig,
        args: tuple[Any, ...], *, fuel: int, extra: dict[str, Any] | None = None,
        recorded_args: Any = None, result_of: Callable[[], Any] | None = None,
    ) -> tuple[str, Any]:
        """Call an export through the boundary; returns ``("ok", result)`` or ``("trap", msg)``.

        ``extra`` (a run's ``cause`` link, theater/links.py) is added to the event's data.
        In replay the recorded event's ``cause`` is taken as it is: it is an input, like
        the arguments. Raises :class:`DivergenceSignal` or :class:`StopReplay` during replay.
        """
        type_ = export_type(interface, function)
        try:
            enc_args = recorded_args if recorded_args is not None else encode_params(
                sig, args, resource_encoder=_bind(self.resource_encoder, store))
        except CodecError as e:
            from .errors import ComponentError

            raise ComponentError(f"cannot call {interface}#{function}: its arguments cannot be recorded: {e}") from None
        store.set_fuel(fuel)
        self.host_failure = None
        try:
            result = func(store, *args)
        except (DivergenceSignal, StopReplay):
            raise
        except HostTrap as e:
            outcome: tuple[str, Any] = ("trap", str(e))
        except ActorExit as e:
            outcome = ("exit", e.ok)
        except wasmtime.WasmtimeError as e:
            if self.divergence is not None:
                raise self.divergence from None
            if self.stopped:
                raise StopReplay() from None
            outcome = ("trap", trap_message(e))
        else:
            outcome = ("ok", result)
        if outcome[0] == "ok":
            try:
                body = {"args": enc_args, "result": result_of() if result_of is not None else encode_result(
                    sig, outcome[1], resource_encoder=_bind(self.resource_encoder, store))}
            except CodecError as e:  # a result type theater cannot record: the call ends as a trap
                outcome = ("trap", f"the result of {interface}#{function} cannot be recorded: {e}")
                body = {"args": enc_args, "trap": outcome[1]}
        elif outcome[0] == "exit":
            body = {"args": enc_args, "exit": "ok" if outcome[1] else "err"}
        else:
            body = {"args": enc_args, "trap": outcome[1]}
        if extra:
            body.update(extra)
        if self.redactor is not None and not self.replaying:
            body = self.redactor.scrub(body)  # the actor's state may hold a secret it read
        if self.replaying:
            ev = self.peek()
            if ev is not None and ev.type == type_ and b'"cause"' in ev.data:
                recorded_cause = _payload(ev).get("cause")
                if recorded_cause is not None:  # a run's link is an input, like the arguments
                    body["cause"] = recorded_cause
        data = dumps(body)
        if self.replaying:
            self._check_export(type_, function, body, data, outcome)
        self._append(type_, data)
        return outcome

    def _check_export(self, type_: str, function: str, body: dict[str, Any], data: bytes,
                      outcome: tuple[str, Any]) -> None:
        """Replay mode: take the recorded export event, or raise the divergence."""
        ev = self.peek()
        if ev is None or ev.type != type_:
            if ev is not None and ev.type.startswith("host:") and outcome[0] == "trap":
                raise self._diverge(
                    "trap", type_, {"type": ev.type, **_payload(ev)}, {"type": type_, **body},
                    f"the replayed {function} trapped ({outcome[1]}); the recording went on with {ev.type}",
                )
            if ev is not None and ev.type.startswith("host:"):
                raise self._diverge(
                    "missing_call", ev.type, {"type": ev.type, **_payload(ev)}, {"type": type_, **body},
                    f"the recording calls {ev.type} next, but the replayed {function} returned without it",
                )
            exp = None if ev is None else {"type": ev.type, **_payload(ev)}
            raise self._diverge("different_call", type_, exp, {"type": type_, **body},
                                f"expected {None if ev is None else ev.type}, the replay ran {type_}")
        if ev.data != data:
            recorded = _payload(ev)
            kind = "trap" if ("trap" in recorded) != ("trap" in body) else "result"
            raise self._diverge(kind, type_, recorded, body, f"{type_} returned a different result")
        self.take()


def _int_result(sig: FuncSig) -> tuple[int, int] | None:
    """The value range of an integer result type (u8 .. s64), else None."""
    return INT_RANGES.get(sig.result.kind) if isinstance(sig.result, Prim) else None


def _handle_params(sig: FuncSig) -> tuple[int, ...]:
    """The params that are handles (``i``) or lists of handles (``-1 - i``), such as
    ``wasi:io/poll#poll(in: list<borrow<pollable>>)``."""
    out = []
    for i, (_, t) in enumerate(sig.params):
        if isinstance(t, HandleT):
            out.append(i)
        elif isinstance(t, ListT) and isinstance(t.elem, HandleT):
            out.append(-1 - i)
    return tuple(out)


def _take_handles(store: Any, args: tuple[Any, ...], idx: tuple[int, ...]) -> tuple[Any, ...]:
    """Convert borrowed/owned host resources to ResourceHost exactly once.

    wasmtime requires a host function to end every borrow it receives; converting a
    ResourceAny with ``to_host`` does that, and may be done only once per handle.
    """
    out = list(args)
    for i in idx:
        if i < 0:
            out[-1 - i] = [_to_host(store, v) for v in out[-1 - i]]
        else:
            out[i] = _to_host(store, out[i])
    return tuple(out)


def _to_host(store: Any, v: Any) -> Any:
    return v.to_host(store) if isinstance(v, wasmtime.component.ResourceAny) else v


def _event(row: Row) -> Event:
    """A stored row ``(seq, hash, parent, type, data, written_at)`` as an Event. The
    boundary never reads an event's parent or hash: a replay's rows may leave them
    None (``Store.replay_rows``), given here as empty bytes."""
    seq, h, parent, type_, data, written_at = row[:6]
    return Event(seq, b"" if parent is None else bytes(parent), type_, bytes(data),
                 b"" if h is None else bytes(h), written_at)


def _payload(ev: Event) -> dict[str, Any]:
    p = ev.payload()
    return p if isinstance(p, dict) else {"data": ev.data.hex()}


def _bind(fn: Callable[..., Any] | None, store: Any) -> Callable[..., Any] | None:
    if fn is None:
        return None
    return lambda value, ty: fn(store, value, ty)
