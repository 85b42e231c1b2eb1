"""Runs: which chains were recorded together, the ``run_chains`` table.

A run is one ``theater record``: the root actor and every actor it spawned, each on
its own chain. What links the chains is in the hashed data (the headers' ``run`` and
``parent``, the events' ``cause`` and ``to``: theater/links.py); this table is an
index over it, so ``theater runs`` and ``verify --run`` find a run's chains without
reading every header. A run's id is its root chain's id.

Added after format v1 shipped, like ``replays``: an additive table, created by the
first recording that stores a run; readers treat its absence as "no runs".
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from ..errors import ChainNotFound, UsageError
from .connection import Connection, _text, sqlite_errors, store_error
from .rows import _int

RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS run_chains (
    chain TEXT PRIMARY KEY,
    run TEXT NOT NULL,
    ord INTEGER NOT NULL,
    actor_id TEXT NOT NULL,
    name TEXT NOT NULL,
    parent TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS run_chains_run ON run_chains (run, ord);
"""

__all__ = ["RUNS_SCHEMA", "RunChain", "RunInfo", "RunSummary", "add_run_chain", "resolve_run", "run_chains",
           "run_of", "run_summary", "runs"]


@dataclass(frozen=True, kw_only=True)
class RunChain:
    """One chain of a run: its actor (id and name), its parent chain (None for the
    root) and its place in the run (``ord``: the order the chains were started)."""

    run: str
    chain: str
    ord: int
    actor_id: str
    name: str
    parent: str | None

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "chain": self.chain, "ord": self.ord, "actor_id": self.actor_id,
                "name": self.name, "parent": self.parent}


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    """A run: its id (the root chain's), the root actor's name, its chains in order,
    and when it was recorded."""

    id: str
    root: str
    chains: tuple[RunChain, ...]
    created: float

    def to_json(self) -> dict[str, Any]:
        return {"run": self.id, "root": self.root, "actors": len(self.chains), "created": self.created,
                "chains": [c.to_json() for c in self.chains]}


def _has_table(store: Connection) -> bool:
    row = store.reader.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'run_chains'").fetchone()
    return bool(row[0])


def add_run_chain(store: Connection, *, run: str, chain: str, ord: int, actor_id: str, name: str,
                  parent: str | None) -> None:
    """Index ``chain`` as a chain of ``run`` (creates the table in an older database)."""
    try:
        with store.transaction() as conn:
            for stmt in RUNS_SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(
                "INSERT INTO run_chains (chain, run, ord, actor_id, name, parent, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (chain, run, ord, actor_id, name, parent, time.time()),
            )
    except sqlite3.Error as e:
        raise store_error(e, f"cannot write to {store.path}") from e


def _row(r: tuple[Any, ...]) -> RunChain:
    return RunChain(run=_text(r[1]) or "", chain=_text(r[0]) or "", ord=_int(r[2]) or 0,
                    actor_id=_text(r[3]) or "", name=_text(r[4]) or "", parent=_text(r[5]))


_COLS = "chain, run, ord, actor_id, name, parent, created"


def runs(store: Connection) -> list[RunInfo]:
    """Every run, oldest first."""
    if not _has_table(store):
        return []
    by_run: dict[str, list[RunChain]] = {}
    created: dict[str, float] = {}
    with sqlite_errors(f"cannot read {store.path}"):
        for r in store.reader.execute(f"SELECT {_COLS} FROM run_chains ORDER BY rowid").fetchall():
            rc = _row(r)
            by_run.setdefault(rc.run, []).append(rc)
            c = r[6]
            created.setdefault(rc.run, float(c) if isinstance(c, (int, float)) else 0.0)
    out = []
    for run, members in by_run.items():
        members.sort(key=lambda m: m.ord)
        root = next((m.name for m in members if m.chain == run), members[0].name)
        out.append(RunInfo(id=run, root=root, chains=tuple(members), created=created[run]))
    return out


def run_chains(store: Connection, run: str) -> list[RunChain]:
    """The chains of ``run`` in the order they were started (the root first)."""
    if not _has_table(store):
        return []
    with sqlite_errors(f"cannot read {store.path}"):
        rows = store.reader.execute(f"SELECT {_COLS} FROM run_chains WHERE run = ? ORDER BY ord", (run,)).fetchall()
    return [_row(r) for r in rows]


def run_of(store: Connection) -> dict[str, RunChain]:
    """Every indexed chain's run entry, by chain id (for ``theater chains --json``)."""
    if not _has_table(store):
        return {}
    with sqlite_errors(f"cannot read {store.path}"):
        rows = store.reader.execute(f"SELECT {_COLS} FROM run_chains").fetchall()
    return {rc.chain: rc for rc in map(_row, rows)}


def resolve_run(store: Connection, ref: str) -> RunInfo:
    """A run by id (its root chain's), unique id prefix, or ``last`` (the newest run)."""
    all_runs = runs(store)
    if ref == "last":
        if not all_runs:
            raise ChainNotFound(f"no runs in {store.path} (a run is made by `theater record`)")
        return all_runs[-1]
    if not ref or any(c in ref for c in "%_"):
        raise UsageError(f"{ref!r} is not a run id (use an id, a unique id prefix, or 'last')")
    exact = [r for r in all_runs if r.id == ref]
    if exact:
        return exact[0]
    found = [r for r in all_runs if r.id.startswith(ref)]
    if not found:
        raise ChainNotFound(f"no run matches {ref!r} in {store.path} (see `theater runs`)")
    if len(found) > 1:
        raise ChainNotFound(f"run prefix {ref!r} is ambiguous: {', '.join(r.id for r in found[:5])}; "
                            "give more characters")
    return found[0]


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """What ``theater runs`` shows of a run: its root, how many actors (chains) and
    events, its status (``recording`` while a chain is being written, ``incomplete`` if
    a chain has no end event, else ``complete``) and the root's end outcome."""

    run: RunInfo
    events: int
    status: str
    outcome: str | None

    def to_json(self) -> dict[str, Any]:
        return {**self.run.to_json(), "events": self.events, "status": self.status, "outcome": self.outcome}


def run_summary(store: Any, run: RunInfo) -> RunSummary:
    """The summary of ``run`` (``store``: a :class:`theater.store.Store`)."""
    from ..outcomes import ChainStatus

    infos = []
    for c in run.chains:
        try:
            infos.append(store.chain(c.chain))
        except ChainNotFound:  # a chain deleted by hand: the run is incomplete
            continue
    statuses = {i.display_status for i in infos}
    if ChainStatus.RECORDING in statuses:
        status = str(ChainStatus.RECORDING)
    elif len(infos) < len(run.chains) or ChainStatus.INCOMPLETE in statuses:
        status = str(ChainStatus.INCOMPLETE)
    else:
        status = str(ChainStatus.COMPLETE)
    outcome = None
    last = store.last_event(run.id) if any(i.id == run.id for i in infos) else None
    if last is not None and last.type == "end":
        payload = last.payload()
        outcome = payload.get("outcome") if isinstance(payload, dict) else None
    return RunSummary(run=run, events=sum(i.length for i in infos), status=status,
                      outcome=outcome if isinstance(outcome, str) else None)
