"""Replaying a run: every actor of it from its own chain (issue 19 item 6).

Each chain stands alone: what an actor received is recorded as its export calls'
arguments (with their ``cause``), what its sends, requests and spawns returned as host
results. So a run is replayed actor by actor, each with :func:`replay.replayer.replay`,
and reported per actor; ``components`` replaces one actor's build (the CI upgrade
case inside a system) by its name or id. A replay of a run is not a run: its chains
are replays (``replay_of``), not indexed in ``run_chains``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from theater.errors import UsageError
from theater.runtime import Interrupt
from theater.store import Store
from theater.store.runs import RunInfo, resolve_run

from .replayer import ReplayResult, replay

__all__ = ["ActorReplay", "RunReplayResult", "replay_run"]


@dataclass(frozen=True, kw_only=True)
class ActorReplay:
    """One actor's replay within a run replay."""

    actor: str
    actor_id: str
    chain: str
    component: Path | None
    result: ReplayResult

    def to_json(self) -> dict[str, Any]:
        return {"actor": self.actor, "actor_id": self.actor_id, "chain": self.chain,
                "component": None if self.component is None else str(self.component), **self.result.to_json()}


@dataclass(frozen=True, kw_only=True)
class RunReplayResult:
    """Every actor's replay; ``verified`` when each reproduced its chain hash for hash."""

    run: str
    actors: tuple[ActorReplay, ...]

    @property
    def verified(self) -> bool:
        return all(a.result.verified for a in self.actors)

    @property
    def diverged(self) -> tuple[ActorReplay, ...]:
        return tuple(a for a in self.actors if not a.result.verified)

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "verified": self.verified, "actors": [a.to_json() for a in self.actors]}


def replay_run(store: Store, run: RunInfo | str, *, components: Mapping[str, Path] | None = None,
               interrupt: Interrupt | None = None) -> RunReplayResult:
    """Replay every chain of ``run`` (an id, unique prefix, ``last`` or a
    :class:`RunInfo`), in the order they were recorded. ``components`` maps an actor's
    name or id to a component to replay it with instead of its recorded one."""
    info = run if isinstance(run, RunInfo) else resolve_run(store, run)
    given = dict(components or {})
    known = {c.name for c in info.chains} | {c.actor_id for c in info.chains}
    unknown = sorted(set(given) - known)
    if unknown:
        names = ", ".join(dict.fromkeys(c.name for c in info.chains))
        raise UsageError(f"--component {unknown[0]}=...: no actor of that name or id in run {info.id} "
                         f"(actors: {names})")
    out = []
    for c in info.chains:
        comp = given.get(c.name, given.get(c.actor_id))
        result = replay(store, c.chain, component=comp, interrupt=interrupt)
        out.append(ActorReplay(actor=c.name, actor_id=c.actor_id, chain=c.chain, component=comp, result=result))
    return RunReplayResult(run=info.id, actors=tuple(out))
