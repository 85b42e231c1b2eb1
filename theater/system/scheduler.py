"""The scheduler of a run: one thread, a FIFO mailbox per actor, one export call at a
time (the rules are in theater/system/__init__.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import wasmtime.component as wc

from ..boundary import Boundary
from ..chain import genesis_hash, header_bytes
from ..convention import ACTOR, MESSAGES, SUPERVISED, apply_result, end_detail, shutdown_requested
from ..errors import ComponentError
from ..handlers import build_handlers
from ..handlers.message_server import RunBound
from ..handlers.random import RandomHandler
from ..handlers.runtime import RuntimeHandler
from ..links import (
    CAUSE,
    TO,
    full_link,
    root_actor_id,
)
from ..manifest import Manifest
from ..outcomes import EndOutcome
from ..recorder import header_for
from ..runtime import (
    ActorInstance,
    Interrupt,
    check_export_signatures,
    load_actor_component,
    resource_codec,
)
from ..store import Store
from ..store.runs import add_run_chain
from .model import (
    _Q,
    SEED_TAG,
    Actor,
    ChainSummary,
    Delivery,
    Limits,
    LinkWriter,
    Prepared,
    Waiting,
)


class Scheduler:
    """The scheduler of one recording: starting actors, export calls, mailboxes, ending
    chains (the host functions are in :mod:`.messaging` and :mod:`.supervision`)."""

    def __init__(self, store: Store, root: Manifest, *, seed: int | None, sink: Callable[[str, str], None] | None,
                 interrupt: Interrupt | None) -> None:
        self.store = store
        self.root_manifest = root
        self.limits = Limits.from_manifest(root)
        self.seed_override = seed
        self.sink = sink
        self.interrupt = interrupt
        self.actors: dict[str, Actor] = {}  # by id: the current incarnation
        self.incarnations: list[Actor] = []  # every chain, in the order started
        self.run_id = ""
        self.root_genesis = b""
        self.run_seed = 0
        self.sent = 0
        self.delivered = 0
        self.depth = 0
        self.stopped_by: str | None = None
        self.channels: dict[str, list[Any]] = {}  # id -> [opener, acceptor, open]
        self.waiting: dict[str, Waiting] = {}
        self.root: Actor | None = None
        #: what the export event of the last call links to (set as it returns)
        self._last_call: tuple[Actor, int, bytes] | None = None

    # -- starting actors -------------------------------------------------------

    def _prepare(self, manifest: Manifest, *, seed_override: int | None) -> Prepared:
        warnings: list[str] = []
        handlers = build_handlers(manifest, seed_override=seed_override, warnings=warnings)
        if self.sink is not None:
            for w in warnings:
                self.sink("warning", w)
        rnd = next((h for h in handlers if isinstance(h, RandomHandler)), None)
        rt = next((h for h in handlers if isinstance(h, RuntimeHandler)), None)
        if rt is not None and self.sink is not None:
            sink, name = self.sink, manifest.name
            rt.sink = lambda kind, text: sink(kind, f"{name}: {text}")
        loaded = load_actor_component(manifest, handlers)
        data, sha, component, plan, exports = loaded.data, loaded.sha, loaded.component, loaded.plan, loaded.exports
        if "init" not in getattr(exports.get(ACTOR), "funcs", {}):
            raise ComponentError(
                f"{manifest.component}: the component does not export {ACTOR}#init; is it a theater actor?")
        try:
            names = {f for iface in (MESSAGES, SUPERVISED) for f in getattr(exports.get(iface), "funcs", {})}
            check_export_signatures(exports, {"init", *names})
        except ComponentError as e:
            raise ComponentError(f"{manifest.component}: {e}") from None
        return Prepared(manifest=manifest, handlers=handlers, sha=sha, data=data, component=component, plan=plan,
                        exports=exports, runtime=rt, seed=None if rnd is None else rnd.seed)

    def _child_seed(self, manifest: Manifest, actor_id: str) -> int | None:
        cfg = manifest.handler("random")
        if cfg is None or "seed" in cfg.settings:
            return None
        digest = hashlib.sha256(SEED_TAG + _Q.pack(self.run_seed) + actor_id.encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def _open(self, prepared: Prepared, *, actor_id: str | None, parent: Actor | None,
              link: dict[str, Any] | None, init_param: str, init_state: bytes | None,
              restart_of: dict[str, Any] | None = None) -> Actor:
        """Create the chain and the live instance; init is called by the caller."""
        m = prepared.manifest
        header = header_for(m, prepared.sha, prepared.handlers, prepared.seed, init_param)
        if parent is not None:
            header["run"] = self.root_genesis.hex()
            header["actor_id"] = actor_id
            header["parent"] = link
            if restart_of is not None:
                header["restart_of"] = restart_of
        hb = header_bytes(header)
        genesis = genesis_hash(hb)
        if actor_id is None:
            actor_id = root_actor_id(genesis)
        self.store.put_component(prepared.data, sha256=prepared.sha)
        writer = self.store.create_chain(hb)
        if parent is None:
            self.run_id = writer.chain_id
            self.root_genesis = genesis
        add_run_chain(self.store, run=self.run_id, chain=writer.chain_id, ord=len(self.incarnations),
                      actor_id=actor_id, name=m.name, parent=None if parent is None else parent.writer.chain_id)
        lw = LinkWriter(writer)
        boundary = Boundary(lw, resources=resource_codec(prepared.plan))
        actor = Actor(id=actor_id, prepared=prepared, writer=writer, lw=lw, genesis=genesis, boundary=boundary,
                      parent=parent, init_state=init_state, state=init_state, store=self.store)
        self.incarnations.append(actor)
        self.actors[actor_id] = actor
        for h in prepared.handlers:
            if isinstance(h, RunBound):
                h.attach(self, actor)
        try:
            actor.instance = ActorInstance(prepared.component, prepared.plan, boundary, fuel=m.fuel,
                                           memory=m.memory, interrupt=self.interrupt)
        except ComponentError as e:
            self._end(actor, EndOutcome.ERROR, str(e))
            raise
        return actor

    def start(self, *, init_param: str | None) -> Actor:
        """Start the root actor and call its init."""
        m = self.root_manifest
        prepared = self._prepare(m, seed_override=self.seed_override)
        self.run_seed = prepared.seed if prepared.seed is not None else (self.seed_override or 0)
        state = m.init_state_bytes()
        param = m.name if init_param is None else init_param
        actor = self._open(prepared, actor_id=None, parent=None, link=None, init_param=param, init_state=state)
        self.root = actor
        self._call(actor, "init", (state, (param,)))
        return actor

    # -- calling exports -------------------------------------------------------

    def _call(self, actor: Actor, fn: str, args: tuple[Any, ...], cause: dict[str, Any] | None = None) -> Any:
        """One export call through the actor's boundary. Returns the response (for
        handle-request / handle-channel-open), or raises nothing: a trap or an err
        ends the actor's chain (and tells its parent)."""
        iface = ACTOR if fn == "init" else SUPERVISED if fn.startswith("handle-child") else MESSAGES
        assert actor.instance is not None
        found = actor.instance.export(iface, fn)
        if found is None:  # checked before delivering: a refused message never gets here
            raise ComponentError(f"{actor.label()} does not export {iface}#{fn}")
        name, func, sig = found
        actor.busy = True
        self.depth += 1
        try:
            status, value = actor.boundary.call_export(
                actor.instance.store, func, name, fn, sig, args, fuel=actor.instance.fuel,
                extra=None if cause is None else {CAUSE: cause})
        finally:
            actor.busy = False
            self.depth -= 1
        self._last_call = actor.head()
        if self.interrupt is not None:
            self.interrupt.check()
        if status == "trap":
            self._fail(actor, EndOutcome.TRAPPED, value)
            return None
        ok, new_state, response, err = apply_result(fn, value)
        if not ok:
            self._fail(actor, EndOutcome.ERROR, err)
            return None
        actor.state = new_state
        rt = actor.prepared.runtime
        if rt is not None and shutdown_requested(rt):
            data = rt.shutdown_requested
            self._exit(actor, data if isinstance(data, bytes) else None)
        return response

    @property
    def last_call(self) -> dict[str, Any]:
        """A full link to the export event of the last call (built when asked: only a
        request's answer and a channel's opening name it)."""
        if self._last_call is None:
            return {}
        actor, seq, head = self._last_call
        return full_link(actor.genesis, seq, head)

    # -- ending chains -----------------------------------------------------------

    def _undelivered(self, actor: Actor, reason: str) -> list[dict[str, Any]]:
        out = [{"cause": d.cause(), "kind": d.kind, "reason": reason} for d in actor.mailbox]
        actor.mailbox.clear()
        for rid, w in list(actor.deferred.items()):
            if not w.settled:
                w.error = f"{actor.label()} ended before answering request {rid}: {reason}"
                w.answer = (-1, actor)
        return out

    def _end(self, actor: Actor, outcome: EndOutcome, error: str | None, *, reason: str | None = None,
             extra: dict[str, Any] | None = None) -> None:
        if actor.done:
            return
        actor.done, actor.outcome, actor.error = True, outcome, error
        for cid in list(actor.children):
            child = self.actors.get(cid)
            if child is not None and not child.done:
                self._end(child, EndOutcome.STOPPED, None, reason=f"its parent {actor.label()} ended")
        detail: dict[str, Any] = dict(end_detail(error))
        lost = self._undelivered(actor, reason or error or str(outcome))
        if lost:
            detail["undelivered"] = lost
        if reason is not None:
            detail["reason"] = reason
        if extra:
            detail.update(extra)
        if actor.prepared.runtime is not None:
            actor.prepared.runtime.flush_partial()
        actor.writer.finish(outcome, **detail)

    def _notify_parent(self, actor: Actor, kind: str, detail: dict[str, Any], payload: Any) -> dict[str, Any]:
        """The ``to`` of a child's end event, and the callback queued to its parent."""
        p = actor.parent
        fn = "handle-child-error" if kind == "child-error" else "handle-child-exit"
        if p is None or p.done or not p.exports(SUPERVISED, fn):
            return detail
        detail[TO] = p.to_ref()
        seq = actor.lw.length  # the end event, appended by _end
        actor.want(seq)
        self._enqueue(p, Delivery(order=0, kind=kind, sender=actor, seq=seq, payload=(actor.id, payload)),
                      check_depth=False)
        return detail

    def _fail(self, actor: Actor, outcome: EndOutcome, error: str | None) -> None:
        extra = self._notify_parent(actor, "child-error", {}, error or "")
        self._end(actor, outcome, error, extra=extra)

    def _exit(self, actor: Actor, data: bytes | None) -> None:
        extra = self._notify_parent(actor, "child-exit", {}, data)
        self._end(actor, EndOutcome.STOPPED, None, extra=extra)

    # -- mailboxes -----------------------------------------------------------------

    def _enqueue(self, to: Actor, d: Delivery, *, check_depth: bool = True) -> str | None:
        """Queue a message; returns an error message instead when it is refused."""
        if to.done:
            return f"actor {to.label()} has ended ({to.outcome})"
        if check_depth and len(to.mailbox) >= self.limits.mailbox:
            return f"the mailbox of {to.label()} is full ({self.limits.mailbox} messages, [limits] mailbox)"
        self.sent += 1
        d.order = self.sent
        to.mailbox.append(d)
        return None

    def _next(self) -> Actor | None:
        best: Actor | None = None
        for a in self.actors.values():
            if a.mailbox and not a.busy and not a.done and (best is None or a.mailbox[0].order < best.mailbox[0].order):
                best = a
        return best

    def _count(self) -> bool:
        """Count one delivery against ``[limits] messages``; False once the run must stop."""
        if self.stopped_by is not None:
            return False
        if self.delivered >= self.limits.messages:
            self.stopped_by = (f"run stopped: {self.limits.messages} messages delivered, the limit "
                               "([limits] messages in the root manifest)")
            return False
        self.delivered += 1
        return True

    def _deliver(self, to: Actor) -> None:
        d = to.mailbox[0]
        if not self._count():
            return
        to.mailbox.popleft()
        cause = d.cause()
        if d.kind == "send":
            self._call(to, "handle-send", (to.state, (d.payload,)), cause)
        elif d.kind == "channel-message":
            self._call(to, "handle-channel-message", (to.state, (d.channel, d.payload)), cause)
        elif d.kind == "channel-close":
            self._call(to, "handle-channel-close", (to.state, (d.channel,)), cause)
        elif d.kind == "child-error":
            child_id, message = d.payload
            err = wc.Record()
            setattr(err, "error-type", "internal")
            setattr(err, "data", message.encode())  # noqa: B010 (a Record's fields are set by name)
            self._call(to, "handle-child-error", (to.state, (child_id, err)), cause)
        elif d.kind == "child-exit":
            self._call(to, "handle-child-exit", (to.state, d.payload), cause)

    def drain(self, until: Callable[[], bool] | None = None) -> None:
        """Deliver messages in send order until none is deliverable (or ``until``)."""
        while self.stopped_by is None:
            if until is not None and until():
                return
            nxt = self._next()
            if nxt is None:
                return
            self._deliver(nxt)

    def _drain_from(self, to: Actor, sender: Actor) -> None:
        """Deliver ``to``'s messages up to the last one from ``sender`` (FIFO per pair)."""
        while (not to.done and self.stopped_by is None
               and any(d.sender is sender for d in to.mailbox)):
            self._deliver(to)

    # -- resolving ids -----------------------------------------------------------

    def resolve(self, ref: str) -> Actor | None:
        a = self.actors.get(ref)
        if a is not None:
            return a
        named = [a for a in self.actors.values() if a.name == ref]
        live = [a for a in named if not a.done]
        if len(live) == 1:
            return live[0]
        return named[-1] if named and not live else None  # an ended actor says so

    def _target(self, caller: Actor, ref: str, *, nested: bool) -> Actor | str:
        to = self.resolve(ref)
        if to is None:
            return f"no actor {ref!r} in this run"
        if to.done:
            return f"actor {to.label()} has ended ({to.outcome})"
        if nested:
            if to.busy:
                return f"request cycle: {to.label()} is already handling a call that led here"
            if self.depth >= self.limits.depth:
                return f"requests nested {self.limits.depth} deep ([limits] depth)"
            if self.stopped_by is not None:
                return self.stopped_by
        return to

    # -- the run's end ---------------------------------------------------------------

    def finish(self) -> None:
        """End every chain still open: completed, or with the reason a limit gave."""
        for a in reversed(self.incarnations):  # children first: each ends as itself, not by its parent
            if not a.done:
                if self.stopped_by is not None:
                    self._end(a, EndOutcome.ERROR, self.stopped_by, reason="run limit")
                else:
                    self._end(a, EndOutcome.COMPLETED, None)

    def flush(self) -> None:
        """Commit every chain's buffered events (between CLI inputs; a chain also commits
        every batch of events as it grows)."""
        for a in self.incarnations:
            if not a.writer.finished:
                a.writer.flush()

    def abandon(self) -> None:
        for a in self.incarnations:
            if not a.writer.finished:
                a.writer.abandon()

    def summaries(self) -> tuple[ChainSummary, ...]:
        return tuple(ChainSummary(chain=a.writer.chain_id, actor=a.name, actor_id=a.id, events=a.lw.length,
                                  head=a.writer.head, outcome=a.outcome if a.writer.finished and a.done else None)
                     for a in self.incarnations)
