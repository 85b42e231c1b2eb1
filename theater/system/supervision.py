"""``theater:simple/supervisor`` served by the run: children on chains of their own,
linked to the spawn, stop and restart events."""

from __future__ import annotations

from typing import Any

import wasmtime.component as wc

from ..errors import Interrupted, TheaterError
from ..links import (
    ACTOR_ID_TAG,
    CAUSE,
    TO,
    derive_id,
    pending_link,
)
from ..manifest import Manifest, load_manifest, load_manifest_text
from ..outcomes import EndOutcome
from .model import (
    Actor,
    _err_tagged,
    _ok,
)
from .scheduler import Scheduler


class Supervision(Scheduler):
    """The supervisor host functions (``fn(actor, *args)``, called by
    theater/handlers/supervisor.py)."""

    # -- theater:simple/supervisor ----------------------------------------------

    def _child_manifest(self, a: Actor, text: str) -> Manifest:
        folder = a.prepared.manifest.path.parent
        if "\n" in text or text.lstrip().startswith("name"):
            return load_manifest_text(text, folder=folder)
        return load_manifest(folder / text)

    def _start_child(self, p: Actor, manifest_ref: str, state: bytes | None, *, actor_id: str | None = None,
                     manifest: Manifest | None = None, restart_of: dict[str, Any] | None = None) -> Actor | str:
        if len(self.incarnations) >= self.limits.actors:
            return f"the run has {self.limits.actors} actors, the limit ([limits] actors in the root manifest)"
        seq, parent = p.lw.length, p.writer.head
        aid = actor_id or derive_id(ACTOR_ID_TAG, p.genesis, seq)
        started = len(self.incarnations)
        try:
            m = manifest or self._child_manifest(p, manifest_ref)
            prepared = self._prepare(m, seed_override=self._child_seed(m, aid))
            if state is None:
                state = m.init_state_bytes()
            child = self._open(prepared, actor_id=aid, parent=p, link=pending_link(p.genesis, seq, parent),
                               init_param=aid, init_state=state, restart_of=restart_of)
        except Interrupted:
            raise
        except (TheaterError, OSError) as e:
            if len(self.incarnations) > started:  # the chain exists (instantiation failed): link it
                made = self.incarnations[-1]
                p.boundary.annotation = {TO: {"chain": made.genesis.hex(), "actor": aid}}
            return f"cannot start {manifest_ref[:200]!r}: {e}"
        p.children.append(aid)
        p.boundary.annotation = {TO: {"chain": child.genesis.hex(), "actor": aid}}
        self._call(child, "init", (state, (aid,)))
        if child.done and child.outcome in (EndOutcome.TRAPPED, EndOutcome.ERROR):
            return f"the child {child.label()} failed in init: {child.error}"
        return child

    def spawn(self, p: Actor, manifest: str, init_bytes: bytes | None) -> Any:
        child = self._start_child(p, manifest, None if init_bytes is None else bytes(init_bytes))
        return _err_tagged(child) if isinstance(child, str) else _ok(child.id)

    def resume(self, p: Actor, manifest: str, init_state: bytes | None) -> Any:
        return self.spawn(p, manifest, init_state)

    def list_children(self, p: Actor) -> Any:
        return [c for c in p.children if c in self.actors and not self.actors[c].done]

    def _child(self, p: Actor, ref: str) -> Actor | str:
        """A child of ``p`` by id (or by name, when one child has it)."""
        cid = ref if ref in self.actors else next(
            (c for c in p.children if c in self.actors and self.actors[c].name == ref), ref)
        if cid not in p.children or cid not in self.actors:
            return f"{ref!r} is not a child of {p.label()}"
        c = self.actors[cid]
        if c.busy:
            return f"the child {c.label()} is handling a call that led here"
        return c

    def _stop_linked(self, p: Actor, c: Actor, why: str) -> dict[str, Any]:
        """End ``c``'s chain as stopped by the event of ``p`` being made; returns the
        full link to ``c``'s end event."""
        seq, parent = p.lw.length, p.writer.head
        self._end(c, EndOutcome.STOPPED, None, reason=why, extra={CAUSE: pending_link(p.genesis, seq, parent)})
        return c.head_link()

    def stop_child(self, p: Actor, cid: str) -> Any:
        c = self._child(p, cid)
        if isinstance(c, str):
            return c
        if c.done:
            return f"the child {c.label()} has already ended ({c.outcome})"
        p.boundary.annotation = {TO: self._stop_linked(p, c, f"stopped by its parent {p.label()}")}
        return None

    def restart_child(self, p: Actor, ref: str) -> Any:
        c = self._child(p, ref)
        if isinstance(c, str):
            return c
        cid = c.id
        stopped = None
        if not c.done:
            stopped = self._stop_linked(p, c, f"restarted by its parent {p.label()}")
        p.children.remove(cid)
        child = self._start_child(p, c.prepared.manifest.name, c.init_state, actor_id=cid,
                                  manifest=c.prepared.manifest, restart_of=c.head_link())
        if isinstance(child, str):
            return child
        annotation = dict(p.boundary.annotation or {})
        if stopped is not None:
            annotation["stopped"] = stopped
        p.boundary.annotation = annotation
        return None

    def get_child_state(self, p: Actor, cid: str) -> Any:
        c = self._child(p, cid)
        if isinstance(c, str):
            return c
        return c.state

    def get_child_events(self, p: Actor, cid: str) -> Any:
        c = self._child(p, cid)
        if isinstance(c, str):
            return c
        c.writer.flush()
        out = []
        for ev in self.store.events(c.writer.chain_id):
            rec = wc.Record()
            fields = {"hash": ev.hash, "parent-hash": ev.parent, "event-type": ev.type, "data": ev.data,
                      "timestamp": 0,  # only deterministic content crosses into an actor
                      "description": None}
            for k, v in fields.items():
                setattr(rec, k, v)
            out.append(rec)
        return out
