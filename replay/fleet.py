"""Replaying many recordings at once: ``theater replay --all`` (docs/ci.md).

:func:`replay_all` selects recordings (never replays of replays), sends each to a
worker (local processes or a Dask cluster, :mod:`theater.fleet`) as a self-contained
task: the chain's rows and the SHA-256 of its component, whose bytes travel once per
worker. The worker puts the rows into its scratch database and runs the ordinary
single-chain :func:`replay.replayer.replay` there, so a fleet replay reports exactly
what ``theater replay CHAIN --verify`` reports. Each outcome is stored in the user's
database as it comes back (the replays table, no replay chain: ``chain`` is NULL).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from theater import fleet
from theater.engine import is_sha256_hex, keep_compiled, load_component, read_component_file
from theater.errors import ComponentError, Interrupted, TheaterError, UsageError
from theater.outcomes import ReplayOutcome
from theater.runtime import Interrupt
from theater.store import ChainInfo, Store
from theater.store.connection import SCHEMA_VERSION
from theater.store.scratch import ChainRows, clear_chains, load_chain_rows, read_chain_rows

from .replayer import ReplayResult, replay


@dataclass(frozen=True, kw_only=True)
class ChainReplay:
    """How the replay of one recording ended.

    ``report`` is what the replays table stores: the single-chain replay's
    ``ReplayResult.to_json()`` (its ``chain`` None: the worker's replay chain is not
    kept), or ``{"error": ..., "events": ...}`` for a replay that failed. ``result`` is
    the :class:`ReplayResult` itself (None when it failed)."""

    chain: str
    actor: str
    outcome: ReplayOutcome
    seq: int | None = None
    kind: str | None = None
    events: int = 0
    component_sha256: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    attempts: int = 1
    result: ReplayResult | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == ReplayOutcome.VERIFIED

    def text(self) -> str:
        """The human report: the divergence report, or what stopped the replay."""
        if self.result is not None and self.result.divergence is not None:
            return self.result.divergence.report()
        if self.outcome == ReplayOutcome.DIVERGED:
            return "no event differed, yet the replay's head hash is not the recording's"
        return self.error or ""

    def to_json(self) -> dict[str, Any]:
        return {"chain": self.chain, "actor": self.actor, "outcome": self.outcome, "seq": self.seq,
                "kind": self.kind, "events": self.events, "component_sha256": self.component_sha256,
                "error": self.error, "seconds": round(self.seconds, 6), "attempts": self.attempts,
                "report": self.report}


@dataclass(frozen=True, kw_only=True)
class ReplayResults:
    """Every recording's :class:`ChainReplay`, in selection order; ``skipped`` the
    recordings not replayed (a format replay cannot run: imported legacy chains)."""

    results: tuple[ChainReplay, ...]
    skipped: tuple[str, ...] = ()
    where: str = "local"
    workers: int = 1
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def count(self, outcome: ReplayOutcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    def summary(self) -> str:
        n = len(self.results)
        parts = [f"{self.count(ReplayOutcome.VERIFIED)} verified", f"{self.count(ReplayOutcome.DIVERGED)} diverged",
                 f"{self.count(ReplayOutcome.FAILED)} failed"]
        skipped = f", {len(self.skipped)} skipped (not v1)" if self.skipped else ""
        return (f"replayed {n} recording{'s' * (n != 1)}: {', '.join(parts)}{skipped} "
                f"in {self.seconds:.1f} s on {self.where} ({self.workers} worker{'s' * (self.workers != 1)})")

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "total": len(self.results),
                "verified": self.count(ReplayOutcome.VERIFIED), "diverged": self.count(ReplayOutcome.DIVERGED),
                "failed": self.count(ReplayOutcome.FAILED), "skipped": list(self.skipped), "where": self.where,
                "workers": self.workers, "seconds": round(self.seconds, 6),
                "chains": [r.to_json() for r in self.results]}


@dataclass(frozen=True, kw_only=True)
class ReplayTask:
    """What a worker needs to replay one recording: its rows, and whether the
    component it is sent is a new build (``--component``) or the recorded one.

    A local worker is sent no rows: ``source`` names the user's database, which it
    reads the chain ``chain`` from itself (a query-only connection; the coordinator
    then reads nothing per chain). A Dask task always carries its rows (its workers
    never open the database)."""

    rows: ChainRows | None
    given: bool
    timeout: float
    chain: str = ""
    source: str | None = None


# -- the worker ------------------------------------------------------------------

#: imported once by the local workers' fork server (theater/fleet.py) before any worker
#: starts: what a first replay would otherwise import in each worker
FLEET_PRELOAD = ("theater._fleet_preload",)


#: the user's databases this local worker reads chains from (query-only), by path
_SOURCES: dict[str, Store] = {}


def _rows(task: ReplayTask) -> ChainRows:
    if task.rows is not None:
        return task.rows
    assert task.source is not None
    source = _SOURCES.get(task.source)
    if source is None:
        source = _SOURCES[task.source] = Store(task.source, create=False, query_only=True)
    return read_chain_rows(source, task.chain)


class _Deadline:
    """One watchdog thread per worker process for the replays' timeouts: arming it
    for each chain costs a wakeup, not a new thread (a ``threading.Timer`` each)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._due: float | None = None
        self._fire: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, fire: Callable[[], None]) -> None:
        with self._cv:
            self._due, self._fire = time.monotonic() + seconds, fire
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="theater-replay-deadline", daemon=True)
                self._thread.start()
            self._cv.notify()

    def disarm(self) -> None:
        with self._cv:
            self._due = self._fire = None

    def _watch(self) -> None:
        with self._cv:
            while True:
                due = self._due
                if due is None:
                    self._cv.wait()
                elif time.monotonic() >= due:
                    fire, self._due, self._fire = self._fire, None, None
                    if fire is not None:
                        fire()
                else:
                    self._cv.wait(due - time.monotonic())


_DEADLINE = _Deadline()


def replay_task(task: ReplayTask, component: bytes | None) -> ChainReplay:
    """Replay one recording in this worker's scratch database (runs in a worker)."""
    start = time.perf_counter()
    rows_in = _rows(task)
    info = rows_in.info
    keep_compiled(8)  # a worker replays many chains of few components: compile (or read) each once
    scratch = fleet.scratch_store()
    clear_chains(scratch)
    path: Path | None = None
    if component is not None:
        sha = hashlib.sha256(component).hexdigest()
        if task.given:
            path = fleet.component_file(sha, component)
        else:
            scratch.put_component(component)
    load_chain_rows(scratch, rows_in)
    stop = Interrupt()
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        stop.request()

    _DEADLINE.arm(task.timeout, expire)
    result: ReplayResult | None = None
    error: tuple[str, str] | None = None
    try:
        result = replay(scratch, info.id, component=path, interrupt=stop)
    except Interrupted:
        error = ("timeout", f"stopped after the timeout of {task.timeout:g} s") if timed_out.is_set() else (
            "interrupted", "interrupted")
    except TheaterError as e:
        error = (type(e).__name__, str(e))
    except Exception as e:  # the replay of one chain must not take the others down
        error = (type(e).__name__, fleet.describe(e))
    finally:
        _DEADLINE.disarm()
    seconds = time.perf_counter() - start
    rows = scratch.replays(info.id)
    clear_chains(scratch)
    if result is not None and rows:
        rec = rows[-1]
        report = dict(rec.report) if isinstance(rec.report, dict) else result.to_json()
        report["chain"] = None
        return ChainReplay(chain=info.id, actor=info.actor, outcome=ReplayOutcome(rec.outcome), seq=rec.seq,
                           kind=rec.kind, events=result.events, component_sha256=rec.component_sha256,
                           report=report, seconds=seconds, result=result)
    kind, message = error or ("error", "the replay stored no outcome")
    events = rows[-1].seq if rows and rows[-1].seq is not None else 0
    sha_used = rows[-1].component_sha256 if rows else None
    return ChainReplay(chain=info.id, actor=info.actor, outcome=ReplayOutcome.FAILED, kind=kind, seq=events,
                       events=events, component_sha256=sha_used, report={"error": message, "events": events},
                       error=message, seconds=seconds)


# -- the coordinator ---------------------------------------------------------------


def parse_components(values: Sequence[str]) -> tuple[Path | None, dict[str, Path]]:
    """``--component PATH`` (every recording) and ``--component ACTOR=PATH`` (that
    actor's): the default and the per-actor builds. A value naming an existing file
    is a PATH even if it holds ``=``."""
    default: Path | None = None
    by_actor: dict[str, Path] = {}
    for v in values:
        actor, eq, path = v.partition("=")
        if eq and actor and path and not Path(v).exists():
            if actor in by_actor:
                raise UsageError(f"--component {actor}=... given twice")
            by_actor[actor] = Path(path)
        else:
            if default is not None:
                raise UsageError("--component PATH given twice (use ACTOR=PATH for per-actor builds)")
            default = Path(v)
    return default, by_actor


def _load_build(path: Path) -> tuple[str, bytes]:
    """A ``--component`` file, read and compiled once here (before any work, and so
    cached for the local workers): exit 2 with one line if it is not a component."""
    data = read_component_file(path)
    try:
        load_component(data)
    except ComponentError as e:
        raise ComponentError(f"--component {path}: {e}") from None
    except Exception as e:
        raise ComponentError(f"--component {path} is not a usable component: {fleet.describe(e)}") from None
    return hashlib.sha256(data).hexdigest(), data


def select(store: Store, *, actors: Sequence[str] = (), chains: Sequence[str] = ()) -> tuple[list[ChainInfo],
                                                                                            list[str]]:
    """The recordings to replay and the ids skipped. ``chains`` named by id or prefix
    (each must be a recording, not a replay); else every recording. ``actors`` keeps
    those of the actors named. Unnamed chains of another format than v1 are skipped."""
    if chains:
        infos = []
        for ref in chains:
            info = store.resolve(ref)
            if info.replay_of is not None:
                raise UsageError(f"chain {info.id} is a replay of {info.replay_of}: name the recording")
            infos.append(info)
        infos = list({i.id: i for i in infos}.values())
        skipped: list[str] = []
    else:
        every = [i for i in store.chains() if i.replay_of is None]
        infos = [i for i in every if i.format == "v1"]
        skipped = [i.id for i in every if i.format != "v1" and (not actors or i.actor in actors)]
    if actors:
        unknown = [a for a in actors if not any(i.actor == a for i in infos)]
        if unknown:
            raise UsageError(f"no recording of actor {unknown[0]!r} is selected in {store.path}")
        infos = [i for i in infos if i.actor in actors]
    if not infos:
        raise UsageError(f"no recording to replay in {store.path}")
    return infos, skipped


def replay_all(
    *,
    store: Store,
    actors: Sequence[str] = (),
    chains: Sequence[str] = (),
    component: Path | None = None,
    components: Mapping[str, Path] | None = None,
    jobs: int | None = None,
    cluster: Any = None,
    timeout: float = fleet.DEFAULT_TIMEOUT,
    retries: int = fleet.DEFAULT_RETRIES,
    interrupt: Interrupt | None = None,
    on_result: Callable[[ChainReplay], None] | None = None,
) -> ReplayResults:
    """Replay every selected recording (see :func:`select`) and store each outcome.

    ``component`` replays every recording against that build, ``components`` maps an
    actor to its build (ahead of ``component``); else each runs its recorded
    component, taken from the database (checked by its hash). ``jobs`` local worker
    processes (default: the CPU count), or ``cluster``, a connected
    ``distributed.Client`` (:func:`theater.fleet.connect_cluster`). ``timeout`` bounds
    each replay, ``retries`` the tries after a worker died. ``on_result`` sees each
    :class:`ChainReplay` as it is stored. A bad build is refused (exit 2) before any
    work; Ctrl-C (``interrupt``) cancels the rest and raises ``Interrupted``."""
    begun = time.perf_counter()
    infos, skipped = select(store, actors=actors, chains=chains)
    components = dict(components or {})
    stray = [a for a in components if not any(i.actor == a for i in infos)]
    if stray:
        raise UsageError(f"--component {stray[0]}=...: no selected recording is of actor {stray[0]!r}")
    builds: dict[Path, tuple[str, bytes]] = {}
    for p in [*components.values(), *([component] if component is not None else [])]:
        if p not in builds:
            builds[p] = _load_build(p)
    sent: dict[str, bytes] = {sha: data for sha, data in builds.values()}
    tasks: list[fleet.Task] = []
    done: dict[str, ChainReplay] = {}

    def store_outcomes(batch: Sequence[ChainReplay]) -> None:
        """Stored in one transaction, then shown: a batch's results all or none."""
        store.record_replays([{"source": r.chain, "outcome": r.outcome, "seq": r.seq, "kind": r.kind,
                               "report": r.report, "component_sha256": r.component_sha256} for r in batch])
        for r in batch:
            done[r.chain] = r
            if on_result is not None:
                on_result(r)

    # local workers read their chains from this file themselves (query-only): not one
    # whose layout the first stored outcome would migrate under them, nor one opened immutable
    source = _readable_source(store) if cluster is None else None
    early: list[ChainReplay] = []
    for info in infos:
        build = components.get(info.actor, component)
        sha: str | None
        if build is not None:
            sha = builds[build][0]
        else:
            sha, problem = _recorded(store, info, sent)
            if problem is not None:
                kind, message = problem
                early.append(ChainReplay(chain=info.id, actor=info.actor, outcome=ReplayOutcome.FAILED, kind=kind,
                                         report={"error": message, "events": 0}, error=message))
                continue
        rows = None if source is not None else read_chain_rows(store, info.id)
        tasks.append(fleet.Task(key=info.id, args=ReplayTask(rows=rows, given=build is not None, timeout=timeout,
                                                             chain=info.id, source=source), component=sha))
    if early:
        store_outcomes(early)
    actor_of = {i.id: i.actor for i in infos}

    def failed(task: fleet.Task, reason: str, attempts: int) -> ChainReplay:
        return ChainReplay(chain=task.key, actor=actor_of[task.key], outcome=ReplayOutcome.FAILED, kind="worker",
                           report={"error": reason, "events": 0}, error=reason, attempts=attempts)

    def got(items: list[tuple[fleet.Task, Any, int]]) -> None:
        store_outcomes([replace(result, attempts=attempts) for _, result, attempts in items])

    workers = 0 if cluster is not None else max(1, min(jobs or fleet.cpu_count(), len(tasks)))
    if cluster is not None:
        workers = len(cluster.scheduler_info().get("workers", {}))
    fleet.run(replay_task, tasks, sent, jobs=workers, cluster=cluster, timeout=timeout, retries=retries,
              on_result=lambda task, result, attempts: got([(task, result, attempts)]), on_results=got,
              failed=failed, interrupt=interrupt)
    where = "local" if cluster is None else str(getattr(cluster, "scheduler", None) and cluster.scheduler.address)
    return ReplayResults(results=tuple(done[i.id] for i in infos if i.id in done), skipped=tuple(skipped),
                         where=where, workers=workers, seconds=time.perf_counter() - begun)


def _readable_source(store: Store) -> str | None:
    """The file local workers may read the chains of ``store`` from, or None (they are
    then sent the rows): a file in the current layout that SQLite opened normally."""
    if store.read_only or store.layout != SCHEMA_VERSION:
        return None
    path = Path(store.db_file())
    return str(path) if path.is_file() else None


def _recorded(store: Store, info: ChainInfo,
              sent: dict[str, bytes]) -> tuple[str | None, tuple[str, str] | None]:
    """The recorded component's SHA-256 (its bytes added to ``sent``), or why it
    cannot be had. A header that does not parse goes to the worker as it is: the
    replay there refuses it with the single-chain message."""
    try:
        header = info.header_json()
    except ValueError:
        return None, None
    recorded = header.get("component_sha256") if isinstance(header, dict) else None
    if not is_sha256_hex(recorded):
        return None, None
    sha = str(recorded)
    if sha in sent:
        return sha, None
    try:
        data = store.get_component(sha)
    except TheaterError as e:
        return None, (type(e).__name__, str(e))
    if data is None:
        return None, ("ReplayError", f"the recorded component {sha[:16]} is not in {store.path}; "
                                     "pass --component PATH")
    sent[sha] = data
    return sha, None
