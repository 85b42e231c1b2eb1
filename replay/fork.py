"""Fork: continue a recording from event N with new inputs or a new build (issue 13 item 2).

``fork(store, chain, at=SEQ, inputs=...)`` replays the recording's prefix up to the
last complete export call at or before ``at``, checking every event against the
recording as a replay does (each replayed event compared, type and data bytes, with
the recorded one), then goes on live: the handlers are built from the recorded
header and resumed to exactly where the recording was at the fork point (the ChaCha20
stream position from the recorded draws, the virtual clock from the recorded reads,
the request ids from the number of export calls), and the new inputs are recorded.

The new chain's header is the recording's with ``fork_of`` (the source chain, the
fork point's seq and the source's hash there) and the ``component_sha256`` of the
component it ran. The header is hashed into every event, so the fork's hashes are its
own, while its prefix events are the source's, type and data byte for byte:
``theater verify`` checks that against the source when it is present
(``broken_link`` otherwise, verify/forks.py). A fork equals, event for event, a
straight recording of the prefix's inputs plus the new ones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from theater.boundary import Boundary
from theater.chain import HOST_PREFIX, split_type
from theater.convention import MESSAGES, end_detail
from theater.errors import ComponentError, DivergenceSignal, Interrupted, ReplayError, UsageError
from theater.handlers import Handler, build_handlers
from theater.handlers.runtime import RuntimeHandler
from theater.manifest import HandlerConfig, Manifest
from theater.outcomes import EndOutcome
from theater.recorder import Input, call_inputs
from theater.redact import redactor_for
from theater.runtime import (
    ActorInstance,
    Interrupt,
    replay_limits,
    resource_codec,
    versionless,
)
from theater.state import last_export
from theater.store import ChainInfo, ChainWriter, Store
from theater.wittypes import HandleT

from .compare import Comparison, tee
from .divergence import Divergence
from .replayer import CONTEXT, drive_calls, preflight, recorded_header


@dataclass(frozen=True, kw_only=True)
class ForkResult:
    """The outcome of a fork.

    ``chain`` is the new chain; ``source`` the recording; ``seq`` the fork point (the
    last complete export call at or before ``at``, the seq asked for); ``head`` and
    ``events`` the new chain's; ``outcome`` and ``error`` how the live run ended;
    ``divergence`` the first event of the prefix the replay did not reproduce (then
    nothing ran live); ``state`` the actor's last state; ``responses`` those of the
    new ``handle-request`` calls. ``ok`` is derived: no divergence, and the run ended
    as the actor meant it to."""

    chain: str
    source: str
    at: int
    seq: int
    head: bytes
    events: int
    outcome: EndOutcome
    error: str | None = None
    divergence: Divergence | None = None
    state: bytes | None = None
    responses: tuple[bytes | None, ...] = ()

    @property
    def ok(self) -> bool:
        return self.divergence is None and self.outcome.ok

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "source": self.source,
            "at": self.at,
            "seq": self.seq,
            "head": self.head.hex(),
            "events": self.events,
            "outcome": self.outcome,
            "error": self.error,
            "ok": self.ok,
            "divergence": None if self.divergence is None else self.divergence.to_json(),
        }


class ForkBoundary(Boundary):
    """A boundary that replays until :meth:`go_live`, then records: every import is
    bound to both wrappers, and calls the one of the current mode.

    With ``then_live`` the first divergence does not stop the run: the crossing where
    the actor first behaved differently is made live and recorded, and so is
    everything after it (``first_difference`` keeps the divergence; ``on_live(seq)``
    is called first, with the number of events replayed, to resume the live
    handlers). A call with resource handles, or a recorded result that does not fit
    its type, still stops the run."""

    def __init__(self, writer: Any, *, then_live: bool = False, on_live: Callable[[int], None] | None = None,
                 **kw: Any) -> None:
        super().__init__(writer, **kw)
        self.then_live = then_live
        self.on_live = on_live
        self.first_difference: DivergenceSignal | None = None

    def wrap_import(self, interface: str, function: str, sig: Any, live: Callable[..., Any]) -> Callable[..., Any]:
        mode = self.replaying
        self.replaying = True
        replayed = super().wrap_import(interface, function, sig, live)
        self.replaying = False
        recorded = super().wrap_import(interface, function, sig, live)
        self.replaying = mode
        handles = any(isinstance(t, HandleT) for _, t in sig.params)

        def either(store: Any, *args: Any) -> Any:
            if not self.replaying:
                return recorded(store, *args)
            if not self.then_live or handles:
                return replayed(store, *args)
            try:
                return replayed(store, *args)
            except DivergenceSignal as d:
                if d.kind == "result_type":
                    raise
                self._switch(d)
            return recorded(store, *args)

        return either

    def _check_export(self, type_: str, function: str, body: dict[str, Any], data: bytes,
                      outcome: tuple[str, Any]) -> None:
        try:
            super()._check_export(type_, function, body, data, outcome)
        except DivergenceSignal as d:
            if not self.then_live:
                raise
            self._switch(d)

    def local_crossing(self, interface: str, function: str, args: Any, live: Callable[[], Any]) -> Any:
        """A wasi:http outgoing request (theater/wasihttp.py): with ``then_live`` a request
        that differs from the recorded one is where the run goes live, and it is sent."""
        if not self.replaying or not self.then_live:
            return super().local_crossing(interface, function, args, live)
        try:
            return super().local_crossing(interface, function, args, live)
        except DivergenceSignal as d:
            if d.kind == "result_type":
                raise
            self._switch(d)
        return super().local_crossing(interface, function, args, live)

    def _switch(self, d: DivergenceSignal) -> None:
        self.first_difference = d
        self.divergence = None
        if self.on_live is not None:
            self.on_live(d.seq)
        self.go_live()

    def go_live(self) -> None:
        """From now on every crossing calls the live handlers and is recorded."""
        self.replaying = False
        self._source = None


class _CheckedWriter:
    """The fork's writer: while ``comparing``, each event is also compared with the
    recorded one (replay/compare.py) before it is appended to the new chain."""

    def __init__(self, writer: ChainWriter, comparison: Comparison) -> None:
        self.writer = writer
        self.comparison = comparison
        self.comparing = True

    @property
    def length(self) -> int:
        return self.writer.length

    def append(self, type_: str, data: bytes) -> bytes:
        if self.comparing:
            self.comparison.append(type_, data)
        return self.writer.append(type_, data)


def handlers_from_header(info: ChainInfo, header: dict[str, Any]) -> list[Handler]:
    """The live handlers a recording ran with, rebuilt from its header's settings
    (the random handler with its recorded seed)."""
    cfgs = []
    for i, h in enumerate(header.get("handlers") or []):
        if not isinstance(h, dict) or not isinstance(h.get("type"), str):
            raise ReplayError(f"chain {info.id} has a malformed header: handlers[{i}] has no type")
        cfgs.append(HandlerConfig(h["type"], {k: v for k, v in h.items() if k != "type"}, i))
    fuel, memory = replay_limits(info.id, header)
    raw = header.get("manifest")
    manifest = Manifest(path=Path(f"<header of chain {info.id}>"), name=str(header.get("actor", "?")),
                        version=str(header.get("version", "0.0.0")), component=Path(), description="",
                        init_state=None, handlers=tuple(cfgs), fuel=fuel, memory=memory,
                        raw=raw if isinstance(raw, dict) else {})
    return build_handlers(manifest)


def resume_handlers(store: Store, chain_id: str, stop: int, handlers: Sequence[Handler]) -> None:
    """Advance each live handler past the recorded host crossings below ``stop``."""
    by_iface: dict[str, Handler] = {}
    for h in handlers:
        for iface in h.interfaces:
            by_iface[iface] = h
    for ev in store.events_of_type_until(chain_id, HOST_PREFIX, stop):
        _, iface, fn = split_type(ev.type)
        handler = by_iface.get(versionless(iface)[0])
        payload = ev.payload()
        if handler is not None and isinstance(payload, dict):
            handler.resume(versionless(iface)[0], fn, payload)


def fork(
    store: Store,
    chain: ChainInfo | str,
    *,
    at: int,
    inputs: Sequence[Input] = (),
    component: Path | None = None,
    sink: Callable[[str, str], None] | None = None,
    interrupt: Interrupt | None = None,
) -> ForkResult:
    """Fork ``chain`` at ``at``: see the module docstring and :class:`ForkResult`."""
    info = chain if isinstance(chain, ChainInfo) else store.resolve(chain)
    header = recorded_header(info)
    if at < 0:
        raise UsageError("--at must be a seq >= 0")
    point = last_export(store, info.id, at)
    if point is None:
        raise UsageError(f"chain {info.id} has no complete export call at or before seq {at}: nothing to fork from")
    body = point.payload()
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict) or "ok" not in result:
        raise UsageError(f"the export call at seq {point.seq} of chain {info.id} did not return ok (the run ended "
                         "there): fork at an earlier seq")
    handlers = handlers_from_header(info, header)
    rt = next((h for h in handlers if isinstance(h, RuntimeHandler)), None)
    if rt is not None and sink is not None:
        rt.sink = sink
    pre = preflight(store, info, header, component, handlers=handlers, live=True)
    data, sha, comp, plan, (fuel, memory) = pre.data, pre.sha, pre.component, pre.plan, pre.limits
    stop = point.seq + 1

    fork_header = {**header, "component_sha256": sha,
                   "fork_of": {"chain": info.id, "seq": point.seq, "head": point.hash.hex()}}
    store.put_component(data, sha256=sha)
    writer = store.create_chain(fork_header)
    taken: deque[tuple[Any, ...]] = deque()
    checked = _CheckedWriter(writer, Comparison(info.header, taken, hashing=False))
    boundary = ForkBoundary(checked, source=tee(store.event_rows(info.id, 0, stop), taken),
                            resources=resource_codec(plan), redactor=redactor_for(handlers))
    try:
        try:
            actor = ActorInstance(comp, plan, boundary, fuel=fuel, memory=memory, interrupt=interrupt)
        except ComponentError as e:
            writer.finish(EndOutcome.ERROR, error=str(e))
            raise
        try:
            driven = drive_calls(store, info.id, actor, boundary, checked, stop, interrupt=interrupt)
            divergence = driven.divergence
        except DivergenceSignal as d:
            divergence, driven = d, None
        if divergence is None and driven is not None and (driven.outcome != EndOutcome.COMPLETED
                                                          or checked.length != stop):
            writer.abandon()
            store.delete_chain(writer.chain_id)  # nothing half-written
            raise UsageError(f"the recording of chain {info.id} ended by seq {point.seq} "
                             f"({driven.outcome}): there is no run to continue; fork at an earlier seq")
        if divergence is not None or driven is None:
            assert divergence is not None
            writer.finish(EndOutcome.DIVERGED, seq=divergence.seq, kind=divergence.kind)
            ctx = list(store.events(info.id, max(0, divergence.seq - CONTEXT), divergence.seq))
            div = Divergence.build(divergence.seq, divergence.kind, divergence.type, divergence.message,
                                   divergence.expected, divergence.actual, ctx)
            return ForkResult(chain=writer.chain_id, source=info.id, at=at, seq=point.seq, head=writer.head,
                              events=writer.length, outcome=EndOutcome.DIVERGED, divergence=div)
        # the prefix is the recording's: go on live from exactly where it was
        checked.comparing = False
        boundary.go_live()
        resume_handlers(store, info.id, stop, handlers)
        exported = {versionless(n)[0]: isig for n, isig in actor.exports.items()}
        for inp in inputs:
            if f"handle-{inp.kind}" not in getattr(exported.get(MESSAGES), "funcs", {}):
                raise UsageError(f"--{inp.kind} needs an actor that exports {MESSAGES}#handle-{inp.kind}")
        live = call_inputs(actor, writer, [(i.kind, i.payload) for i in inputs], driven.state,
                           first=driven.calls, rt=rt, interrupt=interrupt)
        outcome, error, state, responses = live.outcome, live.error, live.state, live.responses
        head = writer.finish(outcome, **end_detail(error))
        return ForkResult(chain=writer.chain_id, source=info.id, at=at, seq=point.seq, head=head,
                          events=writer.length, outcome=outcome, error=error, state=state,
                          responses=responses)
    except Interrupted as e:
        writer.abandon()
        raise e.again(f"{e.what}: fork chain {writer.chain_id} kept as incomplete, {writer.length} events") from None
    finally:
        if not writer.finished:
            writer.abandon()


def fork_of(info: ChainInfo) -> dict[str, Any] | None:
    """A chain's ``fork_of`` header member (``chain``, ``seq``, ``head``), or None."""
    try:
        header = orjson.loads(info.header)
    except orjson.JSONDecodeError:
        return None
    value = header.get("fork_of") if isinstance(header, dict) else None
    return value if isinstance(value, dict) else None


__all__ = ["ForkBoundary", "ForkResult", "fork", "fork_of", "handlers_from_header", "resume_handlers"]
