"""The replayer: re-run a recorded chain on recorded host results and check it.

Every host crossing is answered from the recording (the live handlers are never
built, let alone called: no clock, no OS randomness, no environment). The recorded
export calls are driven in order with their recorded arguments.

By default nothing is written but the outcome (the ``replays`` table): each replayed
event is compared, type and data bytes, with the recorded one (replay/compare.py).
With ``save=True`` the run is stored as its own chain (``replay_of`` = the original)
with the original's header, so a faithful replay reproduces the chain hash for hash
(what ``theater diff`` and the TUI compare).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from theater.boundary import Boundary
from theater.chain import END_TYPE, Event, split_type
from theater.convention import NOTE_PREFIX, apply_result, continues_after_error, exit_outcome, replayed_end
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
from theater.redact import redactor_from_header
from theater.runtime import (
    ActorInstance,
    Interrupt,
    check_import_signatures,
    handler_functions,
    load_imports,
    plan_imports,
    replay_limits,
    resource_codec,
)
from theater.store import ChainInfo, ChainWriter, ReplayOutcome, Store
from theater.wasihttp import INCOMING, attach_for_replay, http_state_of, serve_call

from .compare import Comparison
from .divergence import Divergence

CONTEXT = 3

#: ``integrity()``: the recorded chain's integrity check, run by the caller (perhaps
#: while the replay runs): None when its stored hashes are those of its events, else
#: what is wrong. See :func:`replay`.
Integrity = Callable[[], "str | None"]


@dataclass(frozen=True, kw_only=True)
class ReplayResult:
    """The outcome of a replay.

    ``verified`` is True when the replay reproduced the recording hash for hash: no
    divergence, the same head hash (at ``until`` when given) and nothing wrong with
    the recorded chain's integrity. ``chain`` is the saved replay chain's id (None when
    the replay was not saved); ``head`` the head hash the replay reproduced (recomputed
    from the header, or with an ``integrity`` check the recorded hash that check
    proves); ``expected_head`` the recording's at the same position (its head, after a
    divergence); ``recorded_head`` the recording's head, which a whole replay (no
    ``until``, no ``note``) must also end at. ``integrity`` is what the recorded
    chain's integrity check found wrong, if anything.
    """

    chain: str | None
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
    integrity: str | None = None

    @property
    def saved(self) -> bool:
        """Derived: the replay was stored as a chain of its own."""
        return self.chain is not None

    @property
    def verified(self) -> bool:
        """Derived: no divergence, nothing wrong with the recording's integrity, the
        head hash is the recording's at the same position and, for a whole replay, the
        recording's head."""
        if self.divergence is not None or self.integrity is not None:
            return False
        if self.expected_head is None or self.expected_head != self.head:
            return False
        if self.until is None and self.note is None:
            return self.recorded_head is not None and self.recorded_head == self.head
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "original": self.original,
            "saved": self.saved,
            "verified": self.verified,
            "outcome": self.outcome,
            "events": self.events,
            "head": self.head.hex(),
            "expected_head": None if self.expected_head is None else self.expected_head.hex(),
            "until": self.until,
            "note": self.note,
            "integrity": self.integrity,
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


@dataclass(frozen=True, kw_only=True)
class Preflight:
    """What every run over a recording (replay, fork, what-if) prepares before it
    writes anything: the component's bytes and SHA-256 (the recorded one from the
    store, or ``--component``), the compiled component, its import plan, and the
    recording's fuel and memory limits."""

    data: bytes
    sha: str
    component: Any
    plan: Any
    limits: tuple[int, int]


def preflight(store: Store, info: ChainInfo, header: dict[str, Any], path: Path | None,
              *, handlers: list[Any] | None = None, live: bool = False, check_types: bool = True) -> Preflight:
    """The shared pre-flight of :func:`replay`, ``replay.fork.fork`` and
    ``replay.whatif.replay_with_overrides``. The imports are planned by the types of
    ``handlers`` (without them, the handler types the header names): every host result
    is recorded. With ``live`` (a run that goes on live) the handlers' functions are
    bound and their signatures checked. The chain's rows are checked for event types a tampered
    database may hold before anything is written (unless ``check_types`` is False: a caller
    that writes nothing before it has the result of :class:`TypeCheck`)."""
    data, sha = _component(store, header, path)
    comp = load_component(data)
    if handlers is None:
        types = [str(h.get("type")) for h in header.get("handlers", []) if isinstance(h, dict)]
    else:
        types = [h.type for h in handlers]
    functions = handler_functions(handlers) if live and handlers is not None else None
    plan = plan_imports(load_imports(comp), types, functions)
    if live and handlers is not None:  # the handlers' host-local tables (wasi:http), as record has them
        plan.local.extend(s for h in handlers if (s := getattr(h, "local_state", None)) is not None)
    else:
        attach_for_replay(plan, handler_types=types)  # the same tables, granted by the recording
    if live:
        check_import_signatures(plan)
    limits = replay_limits(info.id, header)
    if check_types:
        store.check_event_types(info.id)
    return Preflight(data=data, sha=sha, component=comp, plan=plan, limits=limits)


class TypeCheck:
    """``Store.check_event_types`` of a chain run beside a replay that writes nothing
    until it ends (issue 18 item 3): one scan in SQLite on a connection of its own, in a
    thread, which holds no GIL while SQLite scans; :meth:`raise_found` joins it and
    raises what it found (the :class:`MalformedEvent` the preflight would have raised),
    before the replay stores anything."""

    def __init__(self, path: str, chain_id: str) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path, chain_id), daemon=True,
                                        name="theater-replay-types")
        self._thread.start()

    def _run(self, path: str, chain_id: str) -> None:
        try:
            with Store(path, create=False, query_only=True) as s:
                s.check_event_types(chain_id)
        except BaseException as e:  # raised in the replay's thread by raise_found
            self._error = e

    def raise_found(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def replay(
    store: Store,
    chain: ChainInfo | str,
    *,
    component: Path | None = None,
    until: int | None = None,
    save: bool = False,
    integrity: Integrity | None = None,
    progress: Callable[[int], None] | None = None,
    interrupt: Interrupt | None = None,
    raise_on_divergence: bool = False,
) -> ReplayResult:
    """Replay a recorded chain; see :class:`ReplayResult`.

    Without ``save`` nothing is written but the outcome: each replayed event is
    compared, type and data bytes, with the recorded one (replay/compare.py). What
    proves the head is then the recorded chain's integrity: ``integrity`` is that
    check, run by the caller (``theater replay`` runs ``verify_chain`` beside the
    replay), called once the replay ended; without it the replayed bytes are hashed
    from the header as they are compared, as a saved replay does. With ``save`` the
    run is stored as a chain of its own (``replay_of`` = the recording).

    With ``interrupt`` (set by a Ctrl-C handler), the replay stops at the next host call
    or export call: a saved replay chain is kept as incomplete and :class:`Interrupted`
    is raised. With ``raise_on_divergence``, a replay that diverged (stored as such
    first) raises :class:`theater.errors.DivergenceError` carrying the
    :class:`Divergence` and the result, instead of returning it."""
    info = chain if isinstance(chain, ChainInfo) else store.resolve(chain)
    header = recorded_header(info)
    if until is not None and until < 0:
        raise ReplayError("--until must be a seq >= 0")
    # a tampered row is refused before anything is written; a replay that writes only
    # its outcome checks the rows' types beside the replay, and before that outcome
    types = None if save else TypeCheck(store.db_file(), info.id)
    pre = preflight(store, info, header, component, check_types=types is None)
    sha, comp, plan, (fuel, memory) = pre.sha, pre.component, pre.plan, pre.limits
    handler_settings = [h for h in header.get("handlers", []) if isinstance(h, dict)]

    last = store.last_event(info.id)  # the recording's last event: it does not change while we replay
    # everything below reads the recording up to that event only, in short read
    # transactions on the store's read connection: another process may be appending
    # to this database (even to this chain) while we replay and write
    stop = last.seq + 1 if last is not None and type(last.seq) is int else None
    incomplete = last is None or last.type != END_TYPE
    # the boundary reads no parent: the rows come as SQLite gives them, page by page;
    # only a comparison that recomputes the hashes reads the recorded ones (a saved
    # replay hashes its own chain; a comparison that takes the recorded hashes as given,
    # the integrity check proving them, reads only the one it ends at)
    rows = store.replay_rows(info.id, 0, stop, hashes=not save and integrity is None)
    writer: ChainWriter | Comparison
    if save:
        writer = store.create_chain(info.header, replay_of=info.id, component_sha256=sha)
    else:
        # the comparison takes each recorded row from a second branch of the same rows
        # (itertools.tee, in C): the row the boundary took for the event it appends
        rows, recorded = itertools.tee(rows)
        writer = Comparison(info.header, recorded, hashing=integrity is None,
                            hash_of=lambda seq: _hash_at(store, info.id, seq))
    if progress is not None:
        writer.on_commit = lambda w: progress(w.length)  # every batch, also inside a long call
    try:
        result = _drive(store, info, writer, rows=rows, comp=comp, plan=plan, limits=(fuel, memory), until=until,
                        stop=stop, last=last, incomplete=incomplete, progress=progress, interrupt=interrupt,
                        redactor=redactor_from_header(handler_settings))
    except Interrupted as e:
        _record_failure(store, info, writer, sha, ReplayOutcome.INTERRUPTED, "interrupted", str(e))
        raise
    except Exception as e:
        if types is not None:  # a malformed row is what to report, as the preflight would have
            types.raise_found()
        _record_failure(store, info, writer, sha, ReplayOutcome.FAILED, type(e).__name__, str(e))
        raise
    if types is not None:
        types.raise_found()
    problem = integrity() if integrity is not None else None
    if problem is None and isinstance(writer, Comparison) and writer.bad_hash is not None:
        problem = (f"the recorded chain fails its integrity check at event {writer.bad_hash} (hash_mismatch): "
                   "its stored hash is not the hash of its fields")
    if problem is not None:
        result = replace(result, integrity=problem)
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


def _hash_at(store: Store, chain_id: str, seq: int) -> bytes | None:
    ev = store.event(chain_id, seq)
    return None if ev is None else ev.hash


def recorded_header(info: ChainInfo) -> dict[str, Any]:
    """The header of a chain that can be replayed (a v1 chain whose header is a JSON
    object); :class:`ReplayError` otherwise."""
    if info.format != "v1":
        raise ReplayError(f"chain {info.id} is in the {info.format} format; only v1 chains can be replayed")
    try:
        header = orjson.loads(info.header)
    except orjson.JSONDecodeError:
        raise ReplayError(f"chain {info.id} has a malformed header") from None
    if not isinstance(header, dict):
        raise ReplayError(f"chain {info.id} has a malformed header: it is not a JSON object")
    return header


def _outcome(result: ReplayResult) -> ReplayOutcome:
    """The stored outcome of a replay that ran to its end (or to ``--until``)."""
    if result.divergence is not None:
        return ReplayOutcome.DIVERGED
    if result.until is not None:
        return ReplayOutcome.STOPPED
    if result.verified:
        return ReplayOutcome.VERIFIED
    return ReplayOutcome.DIVERGED  # no event differed, yet the heads do: reported as kind "head"


def _record_failure(store: Store, info: ChainInfo, writer: ChainWriter | Comparison, sha: str,
                    outcome: ReplayOutcome,
                    kind: str, message: str) -> None:
    """Store a replay that did not finish, where the database still takes a write
    (the error that stopped the replay is the one to report, not a second one)."""
    try:
        store.record_replay(info.id, outcome, chain=writer.chain_id, seq=writer.length, kind=kind,
                            report={"error": message, "events": writer.length}, component_sha256=sha)
    except TheaterError:
        pass


@dataclass(frozen=True, kw_only=True)
class DrivenCalls:
    """What driving a recording's export calls gave: how the run ended (``outcome``,
    ``error``), the divergence that stopped it, if any, the number of export calls
    made and the state the last one returned (for a run that goes on live)."""

    outcome: EndOutcome
    error: str | None = None
    divergence: DivergenceSignal | None = None
    calls: int = 0
    state: bytes | None = None


def drive_calls(
    store: Store,
    chain_id: str,
    actor: ActorInstance,
    boundary: Boundary,
    writer: Any,
    stop: int | None,
    progress: Callable[[int], None] | None = None,
    interrupt: Interrupt | None = None,
) -> DrivenCalls:
    """Call ``actor``'s exports as the recorded export events below ``stop`` say, with
    their recorded arguments, through ``boundary`` (which answers every host call from
    the recording). Stops at a divergence in the export itself (a missing export,
    arguments that do not fit), a trap, an ``err`` or a shutdown; a divergence inside
    a call propagates as :class:`DivergenceSignal` (or :class:`StopReplay`)."""
    outcome: EndOutcome = EndOutcome.COMPLETED
    calls, state = 0, None
    for ev in store.events_of_type_until(chain_id, "export:", stop):
        if interrupt is not None:
            interrupt.check()
        _, iface, fn = split_type(ev.type)
        boundary.carry(NOTE_PREFIX)
        payload = ev.payload()
        found = actor.export(iface.partition("@")[0], fn)
        if found is None or not isinstance(payload, dict):
            return DrivenCalls(outcome=outcome, calls=calls, state=state, divergence=DivergenceSignal(
                "signature", writer.length, ev.type, payload, None,
                f"the replayed component does not export {iface}#{fn}"))
        name, func, sig = found
        http = http_state_of(actor.plan) if iface.partition("@")[0] == INCOMING else None
        if http is not None:  # wasi:http/incoming-handler: the recorded request, whole (theater/wasihttp.py)
            request = payload.get("args", {}).get("request") if isinstance(payload.get("args"), dict) else None
            if not isinstance(request, dict):
                return DrivenCalls(outcome=outcome, calls=calls, state=state, divergence=DivergenceSignal(
                    "signature", writer.length, ev.type, payload.get("args"), None,
                    f"the recorded arguments of {fn} hold no request"))
            status, value = serve_call(actor, state=http, request=request)
            calls += 1
            if progress is not None:
                progress(writer.length)
            if status == "trap":
                return DrivenCalls(outcome=EndOutcome.TRAPPED, error=value, calls=calls, state=state)
            continue
        try:
            args = boundary.decode_args(actor.store, sig, payload.get("args"))
            if not boundary.replaying and args:  # gone live (replay --then-live): the live state
                args = (state, *args[1:])
        except CodecError as e:
            return DrivenCalls(outcome=outcome, calls=calls, state=state, divergence=DivergenceSignal(
                "signature", writer.length, ev.type, payload.get("args"), None,
                f"the recorded arguments do not fit {fn}: {e}"))
        status, value = boundary.call_export(actor.store, func, name, fn, sig, args, fuel=actor.fuel)
        calls += 1
        if progress is not None:
            progress(writer.length)
        if status == "trap":
            return DrivenCalls(outcome=EndOutcome.TRAPPED, error=value, calls=calls, state=state)
        if status == "exit":
            exit_end, exit_error = exit_outcome(value)
            return DrivenCalls(outcome=exit_end, error=exit_error, calls=calls, state=state)
        ok, new_state, _resp, err = apply_result(fn, value, iface)
        if not ok and not continues_after_error(iface):
            return DrivenCalls(outcome=EndOutcome.ERROR, error=err, calls=calls, state=state)
        state = new_state
        if boundary.shutdown_seen:
            return DrivenCalls(outcome=EndOutcome.STOPPED, calls=calls, state=state)
    return DrivenCalls(outcome=outcome, calls=calls, state=state)


def _drive(
    store: Store,
    info: ChainInfo,
    writer: ChainWriter | Comparison,
    *,
    rows: Iterator[tuple[Any, ...]],
    comp: Any,
    plan: Any,
    limits: tuple[int, int],
    until: int | None,
    stop: int | None,
    last: Event | None,
    incomplete: bool,
    progress: Callable[[int], None] | None,
    interrupt: Interrupt | None,
    redactor: Any = None,
) -> ReplayResult:
    """Run the replay into ``writer`` and compare; see :func:`replay`."""
    boundary = Boundary(writer, source=rows, resources=resource_codec(plan), until=until, redactor=redactor)
    divergence: DivergenceSignal | None = None
    stopped = False
    outcome: EndOutcome = EndOutcome.COMPLETED
    error: str | None = None
    try:
        fuel, memory = limits
        actor = ActorInstance(comp, plan, boundary, fuel=fuel, memory=memory, interrupt=interrupt)
        calls = drive_calls(store, info.id, actor, boundary, writer, stop, progress, interrupt)
        divergence, outcome, error = calls.divergence, calls.outcome, calls.error
        if divergence is None and not incomplete:
            boundary.carry(NOTE_PREFIX)
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
        if writer.chain_id is None:
            raise e.again(f"{e.what}: after {writer.length} replayed events (nothing was written)") from None
        raise e.again(f"{e.what}: replay chain {writer.chain_id} kept as incomplete, "
                      f"{writer.length} events") from None
    note = None
    # what the replay reproduced, before a saved replay's own end event is appended: a
    # diverged replay reports the same events and head whether it was saved or not
    events, head = writer.length, writer.head
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
        writer.close()  # a saved replay's committing thread (theater/store/writer.py)

    div_obj = None
    if divergence is not None:
        ctx = list(store.events(info.id, max(0, divergence.seq - CONTEXT), divergence.seq))
        div_obj = Divergence.build(divergence.seq, divergence.kind, divergence.type, divergence.message,
                                   divergence.expected, divergence.actual, ctx)
        expected = None if last is None else last.hash
    else:
        events, head = writer.length, writer.head  # a whole replay's head includes its end event
        # the replayed head against the recorded event at the same position
        at = store.event(info.id, writer.length - 1) if writer.length else None
        expected = None if at is None else at.hash
    return ReplayResult(chain=writer.chain_id, original=info.id, events=events, head=head,
                        expected_head=expected, recorded_head=None if last is None else last.hash,
                        divergence=div_obj, until=until, note=note)
