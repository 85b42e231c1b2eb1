"""Recording: run an actor from its manifest and store every crossing as a chain.

``record(manifest, store, ...)`` calls ``init`` and then each input (``handle-send`` /
``handle-request``) in order, threading the actor's state from each call into the
next. The chain ends with an end event saying how the run ended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .blobs import blob_header
from .boundary import Boundary
from .calls import Call, manifest_calls
from .chain import make_header
from .codec import decode_params
from .convention import ACTOR, MESSAGES, apply_result, end_detail, exit_outcome, export_args, shutdown_requested
from .errors import CodecError, ComponentError, Interrupted, UsageError
from .handlers import build_handlers
from .handlers.random import RandomHandler
from .handlers.runtime import RuntimeHandler
from .manifest import Manifest
from .outcomes import EndOutcome
from .redact import redactor_for
from .runtime import (
    ActorInstance,
    Interrupt,
    check_export_signatures,
    load_actor_component,
    resource_codec,
)
from .store import Store


@dataclass(frozen=True)
class Input:
    """One export call after init: ``send`` (handle-send), ``request`` (handle-request)
    or ``call`` (any export, :class:`theater.calls.Call`; ``payload`` unused)."""

    kind: str
    payload: bytes
    call: Call | None = None


@dataclass(frozen=True, kw_only=True)
class RecordResult:
    """The outcome of a recording: the chain's id, its length and head hash, how the run
    ended (completed, stopped, trapped or error, with the error message), the actor's
    last state and the responses of its ``handle-request`` calls."""

    chain: str
    events: int
    head: bytes
    outcome: EndOutcome
    error: str | None = None
    state: bytes | None = None
    responses: list[bytes | None] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The actor completed, or stopped by request: derived from ``outcome``."""
        return self.outcome.ok

    def to_json(self) -> dict[str, Any]:
        """What ``theater record --json`` prints (beside the database's path)."""
        return {
            "chain": self.chain,
            "events": self.events,
            "head": self.head.hex(),
            "outcome": self.outcome,
            "error": self.error,
        }


def close_handlers(handlers: Sequence[Any]) -> None:
    """Release what live handlers hold open (the http-client's connection pool)."""
    for h in handlers:
        close = getattr(h, "close", None)
        if close is not None:
            close()


def header_for(manifest: Manifest, component_sha: str, handlers: Sequence[Any], seed: int | None,
               init_param: str) -> dict[str, Any]:
    return make_header(
        actor=manifest.name,
        component_sha256=component_sha,
        manifest=manifest.raw,
        seed=seed,
        handlers=[h.header_settings() for h in handlers],
        version=manifest.version,
        init_param=init_param,
        limits={"fuel": manifest.fuel, "memory": manifest.memory},
        **blob_header(),  # storage v2: states above the threshold are stored once (theater/blobs.py)
    )


def _index_run(store: Store, chain_id: str, header: dict[str, Any], name: str) -> None:
    """A single recording is a run of one chain (theater/store/runs.py)."""
    from .chain import genesis_hash, header_bytes
    from .links import root_actor_id
    from .store.runs import add_run_chain

    add_run_chain(store, run=chain_id, chain=chain_id, ord=0, name=name, parent=None,
                  actor_id=root_actor_id(genesis_hash(header_bytes(header))))


def _periodic_checkpoints(store: Store, key: Any, every: int) -> Callable[[Any], None]:
    from .checkpoint import sign_checkpoint

    signed = [0]

    def on_commit(writer: Any) -> None:
        if writer.length // every > signed[0]:
            signed[0] = writer.length // every
            sign_checkpoint(store, writer.chain_id, key, size=writer.length, head=writer.head)

    return on_commit


def _check_calls(exports: dict[str, Any], calls: Sequence[Call]) -> None:
    """Every ``--call``/``[[call]]`` names an export with arguments of the right names
    (their values are checked against the types when the call is made)."""
    for c in calls:
        isig = exports.get(c.interface)
        sig = None if isig is None else isig.funcs.get(c.function)
        if sig is None:
            known = sorted(f"{i}#{f}" for i, s in exports.items() for f in s.funcs)
            raise UsageError(f"the component does not export {c.name} (it exports {', '.join(known) or 'nothing'})")
        named = c.named_args(sig.param_names)
        try:  # the values' types, before any chain exists (a handle only by its shape)
            decode_params(sig, named, resource_decoder=_handle_shape)
        except CodecError as e:
            raise UsageError(f"{c.name}: the arguments do not fit {sig.render()}: {e}") from None


def _handle_shape(obj: Any, ty: Any) -> Any:
    if isinstance(obj, dict) and len(obj) == 1 and type(obj.get("resource", obj.get("rep"))) is int:
        return None
    raise CodecError(f'{ty.kind}<{ty.resource}>: expected {{"resource": N}}, the N-th handle the actor returned')


def _call(actor: ActorInstance, call: Call) -> tuple[str, Any]:
    """Make one ``--call``: its arguments decoded to the export's types (a handle the
    actor returned earlier named by its id), through the boundary."""
    found = actor.export(call.interface, call.function)
    if found is None:
        raise UsageError(f"the component does not export {call.name}")
    _, _, sig = found
    try:
        args = actor.boundary.decode_args(actor.store, sig, call.named_args(sig.param_names))
    except CodecError as e:
        raise UsageError(f"{call.name}: the arguments do not fit {sig.render()}: {e}") from None
    return actor.call(call.interface, call.function, args)


@dataclass(frozen=True, kw_only=True)
class LiveCalls:
    """How a run of live export calls ended (:func:`call_inputs`)."""

    outcome: EndOutcome
    error: str | None
    state: bytes | None
    responses: tuple[bytes | None, ...]
    #: set when the run, not the actor, ended it: ``"input"`` when a call's arguments
    #: could not be made (a handle the actor had not returned); the end event says so
    #: and a replay takes that end as recorded (theater.convention.replayed_end)
    reason: str | None = None


def call_inputs(actor: ActorInstance, writer: Any, calls: Sequence[tuple[str, Any]], state: bytes | None, *,
                first: int = 0, rt: Any = None, interrupt: Interrupt | None = None,
                on_event: Callable[[int], None] | None = None) -> LiveCalls:
    """Call ``actor``'s exports live for ``calls`` (``(kind, payload)``: ``init``, ``send``,
    ``request``, or ``call`` with a :class:`theater.calls.Call`), threading the state from
    call to call and committing after each; the n-th call is numbered ``first + n``.
    Stops at a trap, an exit, an ``err`` or a shutdown (``rt``, the runtime handler).
    The one live export loop: ``record`` and ``theater fork``'s live part use it."""
    outcome, error, reason = EndOutcome.COMPLETED, None, None
    responses: list[bytes | None] = []
    for n, (kind, payload) in enumerate(calls, first):
        if kind == "call":
            try:
                status, value = _call(actor, payload)
            except UsageError as e:  # known only now (the handles the actor returned so far)
                outcome, error, reason = EndOutcome.ERROR, str(e), "input"
                break
        else:
            iface, fn, args = export_args(kind, state, payload, n)
            status, value = actor.call(iface, fn, args)
        writer.flush()
        if interrupt is not None:
            interrupt.check()
        if on_event is not None:
            on_event(writer.length)
        if status == "trap":
            outcome, error = EndOutcome.TRAPPED, value
            break
        if status == "exit":
            outcome, error = exit_outcome(value)
            break
        if kind == "call":
            continue  # recorded; not read by the theater:simple convention
        ok, new_state, response, err = apply_result(fn, value)
        if not ok:
            outcome, error = EndOutcome.ERROR, err
            break
        state = new_state
        if fn == "handle-request":
            responses.append(response)
        if shutdown_requested(rt):
            outcome = EndOutcome.STOPPED
            break
    if rt is not None:
        rt.flush_partial()
    return LiveCalls(outcome=outcome, error=error, state=state, responses=tuple(responses), reason=reason)


def start_actor(writer: Any, component: Any, plan: Any, boundary: Boundary, manifest: Manifest,
                interrupt: Interrupt | None) -> ActorInstance:
    """Instantiate the manifest's component for a live run (``record``, ``theater
    serve``); one that cannot be instantiated ends the chain first (outcome error,
    wasmtime's cause) and the :class:`ComponentError` goes on."""
    try:
        return ActorInstance(component, plan, boundary, fuel=manifest.fuel, memory=manifest.memory,
                             interrupt=interrupt)
    except ComponentError as e:
        writer.finish(EndOutcome.ERROR, error=str(e))
        raise


def record(
    manifest: Manifest,
    store: Store,
    *,
    seed: int | None = None,
    init_param: str | None = None,
    inputs: Sequence[Input] = (),
    sink: Callable[[str, str], None] | None = None,
    on_event: Callable[[int], None] | None = None,
    sign_key: Any = None,
    checkpoint_every: int | None = None,
    interrupt: Interrupt | None = None,
    stdin: bytes | None = None,
) -> RecordResult:
    """Run the actor and record its chain into ``store``.

    With ``sign_key`` (an Ed25519 private key, theater.checkpoint.load_private_key) a
    signed checkpoint is stored when the recording ends, and after every commit that
    crosses a multiple of ``checkpoint_every`` events. With ``interrupt`` (set by a
    signal handler) the run stops at the next host call or export boundary: what was
    written is committed, the chain is marked incomplete, and :class:`Interrupted` is
    raised. ``stdin`` is what the actor reads from wasi:cli/stdin (default: nothing)."""
    warnings: list[str] = []
    handlers = build_handlers(manifest, seed_override=seed, warnings=warnings)
    if sink is not None:
        for w in warnings:
            sink("warning", w)
    rnd = next((h for h in handlers if isinstance(h, RandomHandler)), None)
    rt = next((h for h in handlers if isinstance(h, RuntimeHandler)), None)
    if rt is not None and sink is not None:
        rt.sink = sink
    if rt is not None and stdin is not None:
        rt.stdin = stdin
    loaded = load_actor_component(manifest, handlers)
    data, component, plan, exports = loaded.data, loaded.component, loaded.plan, loaded.exports
    param = manifest.name if init_param is None else init_param
    header = header_for(manifest, loaded.sha, handlers, None if rnd is None else rnd.seed, param)

    inputs = [Input("call", b"", c) for c in manifest_calls(manifest.raw, str(manifest.path))] + list(inputs)
    calls_only = any(i.kind == "call" for i in inputs)
    has_init = "init" in getattr(exports.get(ACTOR), "funcs", {})
    if not has_init and not calls_only:
        raise ComponentError(
            f"{manifest.component}: the component does not export {ACTOR}#init; is it a theater actor?"
        )
    _check_calls(exports, [i.call for i in inputs if i.call is not None])
    messages = [i for i in inputs if i.kind != "call"]
    if messages and "handle-send" not in getattr(exports.get(MESSAGES), "funcs", {}):
        raise UsageError(f"--send/--request need an actor that exports {MESSAGES}; this one does not")
    if any(i.kind == "request" for i in inputs) and "handle-request" not in exports[MESSAGES].funcs:
        raise UsageError(f"--request needs an actor that exports {MESSAGES}#handle-request; this one does not")
    try:
        check_export_signatures(exports, {"init", *("handle-" + i.kind for i in messages)})
    except ComponentError as e:
        raise ComponentError(f"{manifest.component}: {e}") from None
    # every check that can refuse runs before the chain row exists (issue 11 item 10)
    state = manifest.init_state_bytes()
    redactor = redactor_for(handlers)

    store.put_component(data, sha256=loaded.sha)  # the engine's digest: hashed once
    # a long call's batches are committed by the writer's thread (issue 18 item 5), unless
    # checkpoints are signed at commits: each must name a head that is already committed
    writer = store.create_chain(header)
    _index_run(store, writer.chain_id, header, manifest.name)
    if sign_key is not None and checkpoint_every:
        writer.on_commit = _periodic_checkpoints(store, sign_key, checkpoint_every)
    boundary = Boundary(writer, resources=resource_codec(plan), redactor=redactor)
    try:
        actor = start_actor(writer, component, plan, boundary, manifest, interrupt)
        calls: list[tuple[str, Any]] = ([("init", param)] if has_init else []) + [
            (i.kind, i.call if i.kind == "call" else i.payload) for i in inputs]
        live = call_inputs(actor, writer, calls, state, rt=rt, interrupt=interrupt, on_event=on_event)
        outcome, error, state, responses = live.outcome, live.error, live.state, list(live.responses)
        writer.on_commit = None  # the final checkpoint is signed below
        head = writer.finish(outcome, **end_detail(error), **({"reason": live.reason} if live.reason else {}))
        if sign_key is not None:
            from .checkpoint import sign_checkpoint

            sign_checkpoint(store, writer.chain_id, sign_key, size=writer.length, head=writer.head)
        if live.reason == "input":  # bad input: exit 2, and the chain is complete up to it
            raise UsageError(f"{error} (chain {writer.chain_id} ends there: {writer.length} events, "
                             "outcome error; it verifies and replays)")
        return RecordResult(chain=writer.chain_id, events=writer.length, head=head, outcome=outcome,
                            error=error, state=state, responses=responses)
    except Interrupted as e:
        writer.abandon()
        raise e.again(f"{e.what}: chain {writer.chain_id} kept as incomplete, {writer.length} events "
                      "(it verifies as a prefix)") from None
    finally:
        if not writer.finished:
            writer.abandon()
        close_handlers(handlers)
