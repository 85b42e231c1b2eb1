"""The replayer: re-run a recorded chain on recorded host results and check it.

Every host crossing is answered from the recording (the live handlers are never
built, let alone called: no clock, no OS randomness, no environment). The recorded
export calls are driven in order with their recorded arguments. The new run is
stored as its own chain (``replay_of`` = the original); it has the original's header,
so a faithful replay reproduces the chain hash for hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from theater.boundary import Boundary
from theater.chain import END_TYPE, Event, split_type
from theater.codec import decode_params
from theater.convention import apply_result, replayed_end
from theater.engine import is_sha256_hex, load_component, read_component_file
from theater.errors import (
    CodecError,
    ComponentError,
    DivergenceError,
    DivergenceSignal,
    Interrupted,
    ReplayError,
    StopReplay,
    TheaterError,
)
from theater.outcomes import DivergenceKind, EndOutcome
from theater.runtime import (
    ActorInstance,
    Interrupt,
    load_imports,
    plan_imports,
    replay_limits,
    resource_codec,
)
from theater.store import ChainInfo, ChainWriter, ReplayOutcome, Store

from .divergence import Divergence

CONTEXT = 3


@dataclass(frozen=True, kw_only=True)
class ReplayResult:
    """The outcome of a replay.

    ``verified`` is True when the replay reproduced the recording hash for hash: no
    divergence and the same head hash (at ``until`` when given). ``chain`` is the new
    chain's id; ``head`` its head hash; ``expected_head`` the recording's at the same
    position (its head, after a divergence); ``recorded_head`` the recording's head,
    which a whole replay (no ``until``, no ``note``) must also end at.
    """

    chain: str
    original: str
    events: int
    head: bytes
    expected_head: bytes | None
    recorded_head: bytes | None = None
    divergence: Divergence | None = None
    until: int | None = None
    note: str | None = None
    #: the stored outcome, set once the replay ended
    outcome: ReplayOutcome | None = None

    @property
    def verified(self) -> bool:
        """Derived: no divergence, the head hash is the recording's at the same
        position and, for a whole replay, the recording's head."""
        if self.divergence is not None or self.expected_head is None or self.expected_head != self.head:
            return False
        if self.until is None and self.note is None:
            return self.recorded_head is not None and self.recorded_head == self.head
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "original": self.original,
            "verified": self.verified,
            "outcome": self.outcome,
            "events": self.events,
            "head": self.head.hex(),
            "expected_head": None if self.expected_head is None else self.expected_head.hex(),
            "until": self.until,
            "note": self.note,
            "divergence": None if self.divergence is None else self.divergence.to_json(),
        }


def _component(store: Store, header: dict[str, Any], path: Path | None) -> tuple[bytes, str]:
    if path is not None:
        data = read_component_file(path)
        return data, hashlib.sha256(data).hexdigest()
    recorded = header.get("component_sha256")
    if not is_sha256_hex(recorded):
        raise ReplayError(f"the chain's header is malformed: component_sha256 {str(recorded)[:80]!r} "
                          "is not 64 lowercase hex digits")
    sha = str(recorded)
    data_db = store.get_component(sha)  # refused unless the bytes hash to sha
    if data_db is None:
        raise ReplayError(
            f"the recorded component {sha[:16]} is not in {store.path}; pass --component PATH"
        )
    return data_db, sha


def replay(
    store: Store,
    chain: ChainInfo | str,
    *,
    component: Path | None = None,
    until: int | None = None,
    progress: Callable[[int], None] | None = None,
    interrupt: Interrupt | None = None,
    raise_on_divergence: bool = False,
) -> ReplayResult:
    """Replay a recorded chain; see :class:`ReplayResult`.

    With ``interrupt`` (set by a Ctrl-C handler), the replay stops at the next host call
    or export call: the replay chain is kept as incomplete and :class:`Interrupted` is
    raised. With ``raise_on_divergence``, a replay that diverged (stored as such first)
    raises :class:`theater.errors.DivergenceError` carrying the :class:`Divergence` and
    the result, instead of returning it."""
    info = chain if isinstance(chain, ChainInfo) else store.resolve(chain)
    if info.format != "v1":
        raise ReplayError(f"chain {info.id} is in the {info.format} format; only v1 chains can be replayed")
    try:
        header = orjson.loads(info.header)
    except orjson.JSONDecodeError:
        raise ReplayError(f"chain {info.id} has a malformed header") from None
    if not isinstance(header, dict):
        raise ReplayError(f"chain {info.id} has a malformed header: it is not a JSON object")
    if until is not None and until < 0:
        raise ReplayError("--until must be a seq >= 0")
    data, sha = _component(store, header, component)
    comp = load_component(data)
    handler_types = [str(h.get("type")) for h in header.get("handlers", []) if isinstance(h, dict)]
    plan = plan_imports(load_imports(comp), handler_types, None)
    fuel, memory = replay_limits(info.id, header)
    store.check_event_types(info.id)  # a tampered row is refused before the replay chain exists

    last = store.last_event(info.id)  # the recording's last event: it does not change while we replay
    # everything below reads the recording up to that event only, in short read
    # transactions on the store's read connection: another process may be appending
    # to this database (even to this chain) while we replay and write
    stop = last.seq + 1 if last is not None and type(last.seq) is int else None
    incomplete = last is None or last.type != END_TYPE
    writer = store.create_chain(info.header, replay_of=info.id, component_sha256=sha)
    if progress is not None:
        writer.on_commit = lambda w: progress(w.length)  # every batch, also inside a long call
    try:
        result = _drive(store, info, writer, comp, plan, (fuel, memory), until, stop, last, incomplete,
                        progress, interrupt)
    except Interrupted as e:
        _record_failure(store, info, writer, sha, ReplayOutcome.INTERRUPTED, "interrupted", str(e))
        raise
    except Exception as e:
        _record_failure(store, info, writer, sha, ReplayOutcome.FAILED, type(e).__name__, str(e))
        raise
    outcome = _outcome(result)
    result = replace(result, outcome=outcome)
    d = result.divergence
    seq = d.seq if d is not None else until if outcome == ReplayOutcome.STOPPED else None
    kind = d.kind if d is not None else DivergenceKind.HEAD if outcome == ReplayOutcome.DIVERGED else None
    store.record_replay(info.id, outcome, chain=result.chain, seq=seq, kind=kind,
                        report=result.to_json(), component_sha256=sha)
    if raise_on_divergence and outcome == ReplayOutcome.DIVERGED:
        where = (f"at event {d.seq} ({d.kind}): {d.message}" if d is not None
                 else "its head hash is not the recording's")
        raise DivergenceError(f"the replay of chain {info.id} diverged {where}", divergence=d, result=result)
    return result


def _outcome(result: ReplayResult) -> ReplayOutcome:
    """The stored outcome of a replay that ran to its end (or to ``--until``)."""
    if result.divergence is not None:
        return ReplayOutcome.DIVERGED
    if result.until is not None:
        return ReplayOutcome.STOPPED
    if result.verified:
        return ReplayOutcome.VERIFIED
    return ReplayOutcome.DIVERGED  # no event differed, yet the heads do: reported as kind "head"


def _record_failure(store: Store, info: ChainInfo, writer: ChainWriter, sha: str, outcome: ReplayOutcome,
                    kind: str, message: str) -> None:
    """Store a replay that did not finish, where the database still takes a write
    (the error that stopped the replay is the one to report, not a second one)."""
    try:
        store.record_replay(info.id, outcome, chain=writer.chain_id, seq=writer.length, kind=kind,
                            report={"error": message, "events": writer.length}, component_sha256=sha)
    except TheaterError:
        pass


def _drive(
    store: Store,
    info: ChainInfo,
    writer: ChainWriter,
    comp: Any,
    plan: Any,
    limits: tuple[int, int],
    until: int | None,
    stop: int | None,
    last: Event | None,
    incomplete: bool,
    progress: Callable[[int], None] | None,
    interrupt: Interrupt | None,
) -> ReplayResult:
    """Run the replay into ``writer`` and compare; see :func:`replay`."""
    boundary = Boundary(writer, source=store.event_rows(info.id, 0, stop), resources=resource_codec(plan),
                        until=until)
    divergence: DivergenceSignal | None = None
    stopped = False
    outcome: EndOutcome = EndOutcome.COMPLETED
    error: str | None = None
    try:
        fuel, memory = limits
        actor = ActorInstance(comp, plan, boundary, fuel=fuel, memory=memory, interrupt=interrupt)
        for ev in store.events_of_type_until(info.id, "export:", stop):
            if interrupt is not None:
                interrupt.check()
            _, iface, fn = split_type(ev.type)
            payload = ev.payload()
            found = actor.export(iface.partition("@")[0], fn)
            if found is None or not isinstance(payload, dict):
                divergence = DivergenceSignal("signature", writer.length, ev.type, payload, None,
                                              f"the replayed component does not export {iface}#{fn}")
                break
            name, func, sig = found
            try:
                args = decode_params(sig, payload.get("args"), resource_decoder=None)
            except CodecError as e:
                divergence = DivergenceSignal("signature", writer.length, ev.type, payload.get("args"), None,
                                              f"the recorded arguments do not fit {fn}: {e}")
                break
            status, value = boundary.call_export(actor.store, func, name, fn, sig, args, fuel=actor.fuel)
            if progress is not None:
                progress(writer.length)
            if status == "trap":
                outcome, error = EndOutcome.TRAPPED, value
                break
            ok, _state, _resp, err = apply_result(fn, value)
            if not ok:
                outcome, error = EndOutcome.ERROR, err
                break
            if boundary.shutdown_seen:
                outcome = EndOutcome.STOPPED
                break
        if divergence is None and not incomplete:
            nxt = boundary.peek()
            if nxt is not None:  # a run's end fields (links, a stop the run decided) are recorded inputs
                end_bytes = replayed_end(nxt.payload() if nxt.type == END_TYPE else None, outcome, error)
                if nxt.type != END_TYPE:
                    kind = "missing_call" if nxt.type.startswith("host:") else "end"
                    divergence = DivergenceSignal(kind, writer.length, nxt.type, orjson.loads(nxt.data),
                                                  {"type": END_TYPE, **orjson.loads(end_bytes)},
                                                  f"the recording goes on with {nxt.type}; the replay ended")
                elif nxt.data != end_bytes:
                    divergence = DivergenceSignal("end", writer.length, END_TYPE, orjson.loads(nxt.data),
                                                  orjson.loads(end_bytes), "the run ended differently")
                else:
                    boundary.take()
                    writer.append(END_TYPE, end_bytes)
    except DivergenceSignal as d:
        divergence = d
    except StopReplay:
        stopped = True
    except ComponentError:
        writer.abandon()
        raise
    except Interrupted as e:
        writer.abandon()
        raise e.again(f"{e.what}: replay chain {writer.chain_id} kept as incomplete, "
                      f"{writer.length} events") from None
    note = None
    if divergence is not None:
        writer.finish(EndOutcome.DIVERGED, seq=divergence.seq, kind=divergence.kind)
    elif stopped or until is not None:
        writer.abandon()  # a prefix, by request
        note = f"stopped after seq {until}"
    elif incomplete:
        writer.abandon()
        note = ("the recording is incomplete (no end event): replayed its complete export calls, "
                f"{writer.length} of its {store.count(info.id, stop)} events")
    else:
        writer.flush(complete=True)  # the recorded end event, and the status, in one commit
        writer.finished = True

    div_obj = None
    head = writer.head
    if divergence is not None:
        ctx = list(store.events(info.id, max(0, divergence.seq - CONTEXT), divergence.seq))
        div_obj = Divergence.build(divergence.seq, divergence.kind, divergence.type, divergence.message,
                                   divergence.expected, divergence.actual, ctx)
        expected = None if last is None else last.hash
    else:
        # the replayed head against the recorded event at the same position
        at = store.event(info.id, writer.length - 1) if writer.length else None
        expected = None if at is None else at.hash
    return ReplayResult(chain=writer.chain_id, original=info.id, events=writer.length, head=head,
                        expected_head=expected, recorded_head=None if last is None else last.hash,
                        divergence=div_obj, until=until, note=note)
