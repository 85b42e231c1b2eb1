"""What-if overrides: replay with recorded host results replaced (issue 13 item 3).

``replay_overrides(store, chain, overrides={seq: value})`` replays the recording with
the result of each host call ``seq`` replaced by ``value`` (written as the event's
``result`` is, docs/chain-format.md: an integer for a ``u64``, ``"base64:..."`` for a
``list<u8>``, ...), checked against the function's WIT result type first (a value
that does not fit is a :class:`UsageError` naming the type). At the first point where
the actor then behaves differently from the recording, the run either stops and
reports it (the default; the new chain ends with a ``diverged`` end event) or, with
``then_live``, goes on on live handlers (resumed to where the recording was, as a fork
does) and records the rest: the remaining recorded inputs, with the state the actor
now returns. The new chain's header records the overrides (``overrides``) and, for
the unchanged prefix before the first one, ``fork_of``, which ``theater verify``
checks against the source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from theater.canonical import canonical_json
from theater.chain import HOST_PREFIX, split_type
from theater.codec import decode_result, encode_result
from theater.convention import end_detail
from theater.errors import CodecError, ComponentError, DivergenceSignal, Interrupted, UsageError
from theater.handlers.runtime import RuntimeHandler
from theater.outcomes import EndOutcome
from theater.redact import redactor_for
from theater.runtime import (
    ActorInstance,
    Interrupt,
    Plan,
    resource_codec,
)
from theater.store import ChainInfo, Store
from theater.wittypes import render

from .divergence import Divergence
from .fork import ForkBoundary, handlers_from_header, resume_handlers
from .replayer import CONTEXT, drive_calls, preflight, recorded_header


@dataclass(frozen=True, kw_only=True)
class OverrideResult:
    """The outcome of a replay with overrides.

    ``chain`` is the new chain (its header records ``overrides``); ``difference`` the
    first point where the actor behaved differently from the recording (None: the
    overrides changed nothing the recording shows); ``live_from`` the seq from which
    the run went on live (``then_live``), else None; ``outcome`` and ``error`` how the
    new chain ended (``diverged`` when it stopped at the difference)."""

    chain: str
    source: str
    overrides: tuple[tuple[int, Any], ...]
    events: int
    head: bytes
    outcome: EndOutcome
    error: str | None = None
    difference: Divergence | None = None
    live_from: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "source": self.source,
            "overrides": [{"seq": s, "result": v} for s, v in self.overrides],
            "events": self.events,
            "head": self.head.hex(),
            "outcome": self.outcome,
            "error": self.error,
            "live_from": self.live_from,
            "difference": None if self.difference is None else self.difference.to_json(),
        }


def parse_override(text: str) -> tuple[int, Any]:
    """``"SEQ=JSON"`` -> ``(seq, value)``; :class:`UsageError` otherwise."""
    import orjson

    seq_text, sep, value_text = text.partition("=")
    try:
        seq = int(seq_text)
        if not sep or seq < 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"--override {text!r}: expected SEQ=JSON, e.g. 7=42 or 9='\"base64:AAAA\"'") from None
    try:
        return seq, orjson.loads(value_text)
    except orjson.JSONDecodeError as e:
        raise UsageError(f"--override {seq}: {value_text[:40]!r} is not JSON ({e})") from None


def _override_data(store: Store, info: ChainInfo, plan: Plan, seq: int, value: Any) -> bytes:
    """The event data that replaces the recorded one at ``seq``, the value checked
    against the function's result type."""
    ev = store.event(info.id, seq)
    if ev is None:
        raise UsageError(f"--override {seq}: chain {info.id} has no event {seq}")
    if not ev.type.startswith(HOST_PREFIX):
        raise UsageError(f"--override {seq}: event {seq} is {ev.type}, not a host call: only what the host "
                         "returned can be overridden")
    _, iface, fn = split_type(ev.type)
    sig = next((b.sig for b in plan.bindings if b.interface == iface and b.function == fn), None)
    payload = ev.payload()
    if sig is None or not isinstance(payload, dict):
        raise UsageError(f"--override {seq}: the component does not import {iface}#{fn}")
    expected = render(sig.result)
    try:
        canonical = encode_result(sig, decode_result(sig, value))
    except (CodecError, ComponentError) as e:
        raise UsageError(f"--override {seq}: {iface}#{fn} returns {expected}; {str(value)[:40]!r} does not fit "
                         f"({e})") from None
    return canonical_json({"args": payload.get("args"), "result": canonical})


def _substituted(rows: Iterator[tuple[Any, ...]], data: Mapping[int, bytes]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        new = data.get(row[0])
        yield row if new is None else (*row[:4], new, *row[5:])


def replay_overrides(
    store: Store,
    chain: ChainInfo | str,
    *,
    overrides: Mapping[int, Any],
    then_live: bool = False,
    component: Path | None = None,
    sink: Callable[[str, str], None] | None = None,
    interrupt: Interrupt | None = None,
) -> OverrideResult:
    """Replay ``chain`` with the host results at ``overrides``' seqs replaced; see the
    module docstring and :class:`OverrideResult`."""
    info = chain if isinstance(chain, ChainInfo) else store.resolve(chain)
    header = recorded_header(info)
    if not overrides:
        raise UsageError("no --override given")
    handlers = handlers_from_header(info, header)
    pre = preflight(store, info, header, component, handlers=handlers, live=then_live)
    data, sha, comp, plan, (fuel, memory) = pre.data, pre.sha, pre.component, pre.plan, pre.limits
    replaced = {seq: _override_data(store, info, plan, seq, value) for seq, value in sorted(overrides.items())}
    given = tuple((seq, overrides[seq]) for seq in sorted(overrides))
    rt = next((h for h in handlers if isinstance(h, RuntimeHandler)), None)
    if rt is not None and sink is not None:
        rt.sink = sink

    new_header: dict[str, Any] = {**header, "component_sha256": sha,
                                  "overrides": [{"seq": s, "result": v} for s, v in given]}
    first = given[0][0]
    if first > 0:
        before = store.event(info.id, first - 1)
        if before is not None:
            new_header["fork_of"] = {"chain": info.id, "seq": first - 1, "head": before.hash.hex()}
    last = store.last_event(info.id)
    stop = None if last is None else last.seq + 1
    store.put_component(data, sha256=sha)
    writer = store.create_chain(new_header)
    boundary = ForkBoundary(writer, source=_substituted(store.event_rows(info.id, 0, stop), replaced),
                            resources=resource_codec(plan), then_live=then_live, redactor=redactor_for(handlers),
                            on_live=lambda n: resume_handlers(store, info.id, n, handlers))

    def result(outcome: EndOutcome, error: str | None, d: DivergenceSignal | None) -> OverrideResult:
        diff = None
        if d is not None:
            ctx = list(store.events(info.id, max(0, d.seq - CONTEXT), d.seq))
            diff = Divergence.build(d.seq, d.kind, d.type, d.message, d.expected, d.actual, ctx)
        live = boundary.first_difference
        return OverrideResult(chain=writer.chain_id, source=info.id, overrides=given, events=writer.length,
                              head=writer.head, outcome=outcome, error=error, difference=diff,
                              live_from=None if live is None else live.seq)

    try:
        actor = ActorInstance(comp, plan, boundary, fuel=fuel, memory=memory, interrupt=interrupt)
        try:
            driven = drive_calls(store, info.id, actor, boundary, writer, stop, interrupt=interrupt)
        except DivergenceSignal as signal:
            writer.finish(EndOutcome.DIVERGED, seq=signal.seq, kind=signal.kind)
            return result(EndOutcome.DIVERGED, None, signal)
        if driven.divergence is not None:
            sig = driven.divergence
            writer.finish(EndOutcome.DIVERGED, seq=sig.seq, kind=sig.kind)
            return result(EndOutcome.DIVERGED, None, sig)
        if rt is not None:
            rt.flush_partial()
        writer.finish(driven.outcome, **end_detail(driven.error))
        return result(driven.outcome, driven.error, boundary.first_difference)
    except Interrupted as e:
        writer.abandon()
        raise e.again(f"{e.what}: chain {writer.chain_id} kept as incomplete, {writer.length} events") from None
    finally:
        if not writer.finished:
            writer.abandon()
