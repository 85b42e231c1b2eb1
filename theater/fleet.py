"""Running one task per chain on many processes: a local pool, or a Dask cluster.

``replay --all`` and ``verify --all`` (replay/fleet.py, verify/fleet.py) hand this module
a list of :class:`Task` s and a function. Each task is self-contained (the chain's rows,
see theater/store/scratch.py); the component bytes it needs travel once per worker,
keyed by SHA-256, and each worker hashes them before any use. Workers never open the
user's database: each has a scratch database of its own (:func:`scratch_store`).

Faults: a worker process that dies has the chains it held retried (``retries`` times,
then reported failed with the reason); a task with no result ``timeout`` + :data:`GRACE`
seconds after it started (the worker-side timeout did not stop it) has its worker
killed and is reported failed; a cluster that returns nothing for that long has its
pending tasks reported failed. Scratch folders left by a killed process are removed
by the next run (:func:`sweep_scratch`). The caller's :class:`~theater.runtime.Interrupt`
(Ctrl-C) cancels everything and raises :class:`~theater.errors.Interrupted`.

Only one task runs at a time in a worker process (a lock): a replay's timeout stops
wasm through the engine's epoch, which every store of the process shares.
"""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing
import os
import re
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ComponentError, ComponentMismatch, Interrupted, UsageError

if TYPE_CHECKING:
    from .store import Store


class Interrupt(Protocol):
    """What the runners need of :class:`theater.runtime.Interrupt` (not imported here:
    verify's fleet must not pull in wasmtime)."""

    requested: bool

    def error(self) -> Interrupted: ...

#: seconds one chain may take by default (``--timeout``)
DEFAULT_TIMEOUT = 600.0
#: seconds the coordinator waits past a task's timeout before it stops the worker
GRACE = 15.0
#: seconds a new pool's workers may take to start their first task (imports, components)
#: before the tasks they were given count as late too
START_GRACE = 120.0
#: times a chain is tried again after its worker died (``--retries``)
DEFAULT_RETRIES = 2
#: seconds to wait for a Dask scheduler to answer
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, kw_only=True)
class Task:
    """One unit of work: ``args`` for the task function, and the SHA-256 of the
    component bytes it needs (None: none)."""

    key: str
    args: Any
    component: str | None = None


#: ``fn(args, component_bytes)``, run in a worker; returns the result (picklable)
TaskFn = Callable[[Any, "bytes | None"], Any]
#: ``on_result(task, result, attempts)``: called in the coordinator as each task ends
OnResult = Callable[[Task, Any, int], None]
#: ``on_results([(task, result, attempts), ...])``: a batch's results at once (run_local)
OnResults = Callable[[list[tuple[Task, Any, int]]], None]
#: ``failed(task, reason, attempts)``: the result for a task that produced none
Failed = Callable[[Task, str, int], Any]


def cpu_count() -> int:
    """The CPUs this process may use (the default ``--jobs``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# -- the worker side ----------------------------------------------------------------

#: component bytes this worker process received, checked against their SHA-256
_COMPONENTS: dict[str, bytes] = {}
#: components whose bytes did not hash to their name: sha -> what they hashed to
_BAD: dict[str, str] = {}
_LOCK = threading.Lock()
_SCRATCH: dict[str, Any] = {}


def _accept(sha: str, data: bytes) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual == sha:
        _COMPONENTS[sha] = data
    else:
        _BAD[sha] = actual


def _component(sha: str | None) -> bytes | None:
    if sha is None:
        return None
    if sha in _BAD:
        raise ComponentMismatch(f"the component bytes sent as {sha} hash to {_BAD[sha]}: refused")
    data = _COMPONENTS.get(sha)
    if data is None:
        raise ComponentError(f"component {sha[:16]} was not sent to this worker")
    return data


def _pool_init(components: dict[str, bytes], started: Any, root: str,
               setting: tuple[dict[str, str], str] | None = None) -> None:
    """A local worker: Ctrl-C is the coordinator's to handle; take the components, the
    queue that tells the coordinator when a task starts, and the folder to keep the
    scratch database in (the coordinator removes it, even after a worker was killed).
    ``setting`` is the coordinator's environment and working folder now: a worker forked
    from the fork server would otherwise have the server's, from when it started."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if setting is not None:
        env, cwd = setting
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
    for sha, data in components.items():
        _accept(sha, data)
    _SCRATCH["started"] = started
    _SCRATCH["root"] = root


def scratch_store() -> Store:
    """This worker process's scratch database (created on first use, emptied by the
    caller after each task, removed when the process exits)."""
    from .store import Store

    store = _SCRATCH.get("store")
    if store is None:
        root = _SCRATCH.get("root")
        if root is None:  # a Dask worker: nobody removes its folder if it is killed, the next one does
            sweep_scratch()
        folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=root or _scratch_base()))
        atexit.register(shutil.rmtree, folder, True)
        store = Store(folder / "scratch.db")
        _SCRATCH["store"], _SCRATCH["folder"] = store, folder
    return store


#: the scratch folders' names: ``theater-fleet-<pid>-<random>``, the pid of the process
#: that made it (a Dask worker's, or a local coordinator's)
_PREFIX = "theater-fleet-"


def sweep_scratch(base: str | None = None) -> list[Path]:
    """Remove the scratch folders (in ``base``, default /dev/shm or the temp folder)
    left by processes of this user that no longer run: a worker or coordinator killed
    by SIGKILL or the OOM killer runs no exit handler. Returns what it removed. A
    folder whose pid runs again (reused) is left for a later sweep. Folders named
    before the pid was in the name (``theater-fleet-XXXXXXXX``) are removed when
    :func:`_legacy_unused` finds them unused."""
    folder = Path(base or _scratch_base() or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    legacy: list[Path] = []
    for entry in entries:
        pid = entry.name[len(_PREFIX):].partition("-")[0]
        if not entry.name.startswith(_PREFIX):
            continue
        if not pid.isdigit():
            if _LEGACY.fullmatch(entry.name):
                legacy.append(entry)
            continue
        try:
            st = entry.lstat()
            if st.st_uid != os.getuid() or not entry.is_dir() or entry.is_symlink():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
        except (OSError, OverflowError):
            continue  # alive (or not ours to signal): in use
    if legacy:
        in_use = _open_paths()
        for entry in legacy:
            if _legacy_unused(entry, in_use):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


#: a scratch folder named before the pid was in the name: ``tempfile.mkdtemp``'s 8 characters
_LEGACY = re.compile(re.escape(_PREFIX) + r"[a-z0-9_]{8}")
#: what a scratch folder holds (its database, the components written for a worker)
_SCRATCH_FILE = re.compile(r"scratch\.db(-wal|-shm|-journal)?|[0-9a-f]{64}\.(wasm|tmp)")
#: seconds nothing in an old-named scratch folder may have changed before it is removed
LEGACY_AGE = 3600.0


def _open_paths() -> set[str] | None:
    """Every file and working folder the processes we can see hold open (their
    /proc fds and cwd), or None where that cannot be listed (not Linux)."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    held: set[str] = set()
    for pid in pids:
        try:
            held.add(os.readlink(f"/proc/{pid}/cwd"))
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # ended meanwhile, or another user's (whose cannot be in a 0700 folder of ours)
        for fd in fds:
            try:
                held.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
    return held


def _legacy_unused(entry: Path, in_use: set[str] | None) -> bool:
    """An old-named scratch folder is ours and unused when it is a real folder of this
    user holding only what a scratch folder holds (itself, or nested folders of the
    same kind: a coordinator's), nothing in it changed for :data:`LEGACY_AGE`, and no
    live process has a file in it open or works in it. Anything else is left alone."""
    if in_use is None:
        return False
    try:
        st = entry.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            return False
        now = time.time()
        for here, dirs, files in os.walk(entry):
            top = os.lstat(here)
            if not stat.S_ISDIR(top.st_mode) or top.st_uid != os.getuid() or now - top.st_mtime < LEGACY_AGE:
                return False
            if here != str(entry) and not Path(here).name.startswith(_PREFIX):
                return False
            for name in files:
                f = os.lstat(os.path.join(here, name))
                if (not _SCRATCH_FILE.fullmatch(name) or not stat.S_ISREG(f.st_mode) or f.st_uid != os.getuid()
                        or now - f.st_mtime < LEGACY_AGE):
                    return False
            for name in dirs:
                if os.path.islink(os.path.join(here, name)):
                    return False
    except OSError:
        return False
    inside = str(entry.resolve()) + os.sep
    return not any(p == inside[:-1] or p.startswith(inside) for p in in_use)


def _scratch_base() -> str | None:
    """Memory-backed /dev/shm where there is one (a scratch database is rewritten for
    every chain), else the temp folder."""
    return "/dev/shm" if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else None


def component_file(sha: str, data: bytes) -> Path:
    """The component ``sha`` as a file in this worker's scratch folder (written once)."""
    scratch_store()
    path = Path(_SCRATCH["folder"]) / f"{sha}.wasm"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


# -- the coordinator side -----------------------------------------------------------


def describe(exc: BaseException) -> str:
    """One line for an exception a task raised or a pool reported."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _exit_reason(procs: dict[int, Any]) -> tuple[str, set[int]]:
    """Why a broken pool broke, and the pids of the workers that died. The pool sends
    SIGTERM to the others once one has died: a worker ended by SIGTERM counts as one
    that died only when no worker ended otherwise."""
    deadline = time.monotonic() + 2.0  # the pool can report the break before the dead one is reaped
    while not any(p.exitcode not in (None, 0) for p in procs.values()) and time.monotonic() < deadline:
        threading.Event().wait(0.02)
    ended = {pid: p.exitcode for pid, p in procs.items() if p.exitcode not in (None, 0)}
    dead = {pid: code for pid, code in ended.items() if code != -signal.SIGTERM} or ended
    if not dead:
        return "a worker process died", set()
    # a worker killed by a signal is the cause; the others of a broken pool may exit with a
    # code of their own (255 when their pipe to the pool is cut) and are named only if none was
    code = min(dead.values())
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"a worker process was killed by {name}", set(dead)
    return f"a worker process exited with code {code}", set(dead)


def _stop_pool(pool: ProcessPoolExecutor, procs: dict[int, Any]) -> None:
    """Kill a pool's processes and let its manager thread go (never waits on a task)."""
    for p in list(procs.values()):
        if p.is_alive():
            p.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in list(procs.values()):
        p.join(5)


#: the most chains one local task carries (:func:`_batch_size`)
MAX_BATCH = 16


def _batch_size(remaining: int, jobs: int) -> int:
    """How many of the ``remaining`` tasks the next local batch takes: a quarter of
    each worker's share, at most :data:`MAX_BATCH`, so batches shrink to one task as
    the queue empties and every worker is busy to the end (guided self-scheduling)."""
    return max(1, min(MAX_BATCH, -(-remaining // (4 * jobs))))


def _pool_batch(fn: TaskFn, items: list[tuple[Any, str | None, str]]) -> list[tuple[bool, Any]]:
    """A local worker runs a batch of tasks one after the other: ``(True, result)`` or
    ``(False, what it raised)`` for each. It reports each task's start (with its pid)
    as it begins it, so the coordinator knows which task was running if the worker
    dies, and each task's deadline counts from its own start."""
    out: list[tuple[bool, Any]] = []
    with _LOCK:
        started, pid = _SCRATCH["started"], os.getpid()
        for args, sha, key in items:
            started.put((pid, key))
            try:
                out.append((True, fn(args, _component(sha))))
            except Exception as e:  # noqa: BLE001 - one task's error is its own result, not the batch's
                out.append((False, describe(e)))
    return out


@dataclass(kw_only=True)
class _Batch:
    """The coordinator's view of one batch in flight: its tasks, when it was sent,
    and the tasks its worker reported starting (the last one is running)."""

    tasks: list[Task]
    sent: float
    started: list[str] = field(default_factory=list)
    start: float | None = None
    pid: int | None = None

    def running(self) -> Task | None:
        return next(t for t in self.tasks if t.key == self.started[-1]) if self.started else None


def _note_starts(started: Any, batches: dict[str, _Batch], now: float) -> bool:
    """Record the starts the workers reported; True if there were any."""
    seen = False
    try:
        while not started.empty():
            pid, key = started.get()
            batch = batches.get(key)
            if batch is not None:
                batch.started.append(key)
                batch.start, batch.pid = now, pid
            seen = True
    except (OSError, ValueError, EOFError):
        pass
    return seen


def _context(fn: TaskFn) -> Any:
    """How local workers start: forked from multiprocessing's fork server, which imports
    the caller's main module, ``fn``'s module (for a replay: the engine, wasmtime,
    SQLite) and the modules that one names in ``FLEET_PRELOAD`` once,
    so a worker starts in milliseconds with them imported instead of importing them
    itself (about 0.7 s of CPU each). Nothing of the caller's state is inherited: the
    server is a fresh interpreter, started at the first pool of the process and reused.
    Where there is no fork server (not POSIX), spawned workers."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    module = sys.modules.get(fn.__module__)
    ctx.set_forkserver_preload(["__main__", *getattr(module, "FLEET_PRELOAD", ()), fn.__module__])
    return ctx


def run_local(fn: TaskFn, tasks: list[Task], components: dict[str, bytes], *, jobs: int, timeout: float,
              retries: int, on_result: OnResult, failed: Failed, interrupt: Interrupt | None = None,
              on_results: OnResults | None = None) -> None:
    """Run every task in ``jobs`` worker processes (forked from a fresh fork server:
    nothing of the caller's, no open database, is inherited; :func:`_context`).

    Tasks go in batches (:func:`_batch_size`), two per worker in flight (one waits
    while one runs), so the pipe, the pickling and the pool's bookkeeping are paid
    per batch rather than per task. Each worker reports when it starts a task, so a
    task's deadline counts from its own start; when a worker dies, the task it was
    running is charged an attempt, and the other tasks of the lost batches (done
    before it, or not begun) run again uncharged. ``on_results``, when given, gets each
    batch's results at once (to store them in one transaction), else ``on_result``
    each."""
    ctx = _context(fn)
    sweep_scratch()
    root = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=_scratch_base())
    started: Any = None
    progress, moving = time.monotonic(), False  # the last time a worker began or ended a batch; since the pool's start
    queue = deque(tasks)
    tries: Counter[str] = Counter()  # runs of a task that its worker's death cut short
    unstarted: set[str] = set()  # lost in a batch of which nothing was seen to start (once)
    running: dict[Future[Any], _Batch] = {}
    by_key: dict[str, _Batch] = {}
    pool: ProcessPoolExecutor | None = None
    procs: dict[int, Any] = {}

    def deliver(items: list[tuple[Task, Any, int]]) -> None:
        if on_results is not None:
            on_results(items)
        else:
            for task, result, n in items:
                on_result(task, result, n)

    def fail(task: Task, reason: str) -> tuple[Task, Any, int]:
        return task, failed(task, reason, tries[task.key] + 1), tries[task.key] + 1

    try:
        while queue or running:
            if interrupt is not None and interrupt.requested:
                raise interrupt.error()
            if pool is None:
                # a new one with each pool (a killed worker may have held its lock); a simple
                # queue writes at once, with no feeder thread a kill could cut short
                started = ctx.SimpleQueue()
                pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_pool_init,
                                           initargs=(components, started, root, (dict(os.environ), os.getcwd())))
                progress, moving = time.monotonic(), False
                procs = {}
            broken = False
            while queue and len(running) < 2 * jobs:  # one running and one waiting per worker
                batch = _Batch(tasks=[queue.popleft() for _ in range(_batch_size(len(queue), jobs))],
                               sent=time.monotonic())
                try:
                    fut = pool.submit(_pool_batch, fn, [(t.args, t.component, t.key) for t in batch.tasks])
                except BrokenProcessPool:
                    queue.extendleft(reversed(batch.tasks))
                    broken = True
                    break
                running[fut] = batch
                by_key.update((t.key, batch) for t in batch.tasks)
                procs.update(getattr(pool, "_processes", None) or {})
            done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            now = time.monotonic()
            if _note_starts(started, by_key, now) or done:
                progress, moving = now, True
            lost: list[_Batch] = []
            for fut in done:
                batch = running.pop(fut)
                for t in batch.tasks:
                    by_key.pop(t.key, None)
                exc = fut.exception()
                if exc is None:
                    deliver([(t, r, tries[t.key] + 1) if ok else fail(t, r)
                             for t, (ok, r) in zip(batch.tasks, fut.result(), strict=True)])
                elif isinstance(exc, BrokenProcessPool):
                    lost.append(batch)
                    broken = True
                else:
                    deliver([fail(t, describe(exc)) for t in batch.tasks])
            # a batch not begun waits behind others: late only if no worker has moved for that
            # long (and the pool's start is given START_GRACE more)
            wait_from = progress + (0.0 if moving else START_GRACE)
            late = [f for f, b in running.items()
                    if (b.start if b.start is not None else max(b.sent, wait_from)) + timeout + GRACE < now]
            if any(running[f].start is not None for f in late):  # a stuck chain: not the waiting ones' fault
                late = [f for f in late if running[f].start is not None]
            if not (broken or late):
                continue
            procs.update(getattr(pool, "_processes", None) or {})
            reason, dead = _exit_reason(procs) if broken else ("", set())
            _stop_pool(pool, procs)
            pool = None
            again: list[Task] = []
            for fut in late:
                batch = running.pop(fut)
                culprit = batch.running()
                if culprit is None:  # no worker began anything for that long: the pool is stuck
                    deliver([fail(t, f"no worker began it within {timeout + GRACE:g} s of the last start")
                             for t in batch.tasks])
                    continue
                deliver([fail(culprit, f"no result within {timeout + GRACE:g} s: its worker was stopped")])
                again.extend(t for t in batch.tasks if t is not culprit)
            if broken:
                lost.extend(running.values())
            else:  # stopped by us for another's deadline: not their fault, not an attempt
                for batch in running.values():
                    again.extend(batch.tasks)
            running.clear()
            by_key.clear()
            for batch in lost:
                culprit = batch.running()
                if culprit is None:
                    for t in batch.tasks:
                        if t.key in unstarted:  # not its doing the first time (it may be now)
                            tries[t.key] += 1
                        unstarted.add(t.key)
                if culprit is not None and (not dead or batch.pid in dead):
                    tries[culprit.key] += 1  # it was running when its worker died
                for t in batch.tasks:
                    if tries[t.key] > retries:
                        deliver([(t, failed(t, f"{reason} while running it ({tries[t.key]} attempts)",
                                            tries[t.key]), tries[t.key])])
                    else:
                        again.append(t)
            queue.extendleft(reversed(again))
    finally:
        if pool is not None:
            if running or queue:
                procs.update(getattr(pool, "_processes", None) or {})
                _stop_pool(pool, procs)
            else:
                pool.shutdown(wait=True)
        shutil.rmtree(root, ignore_errors=True)


def connect_cluster(address: str, *, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; exit 2 with one line
    when Dask is not installed or the scheduler does not answer."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--cluster needs Dask's distributed: pip install 'theater[cluster]'") from None
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme != "tcp" or not host or not port.isdigit():
        raise UsageError(f"--cluster {address}: give the scheduler's address as tcp://HOST:PORT")
    try:  # a refused connection is known at once; Dask's client would retry until its timeout
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {e.strerror or e} "
                         "(start one with `dask-scheduler`, or check the address)") from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as e:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {describe(e)} "
                         "(start one with `dask-scheduler`, or check the address)") from None


def _dask_batch(fn: TaskFn, items: list[tuple[Any, str | None, str]],
                data: dict[str, Any]) -> list[tuple[bool, Any]]:
    """A batch of self-contained tasks on a Dask worker: ``data`` holds the scattered
    components they need (kept in the worker's memory, sent once), each hashed once
    per worker process; ``(True, result)`` or ``(False, what it raised)`` per task."""
    out: list[tuple[bool, Any]] = []
    with _LOCK:
        for name, d in data.items():
            if name not in _COMPONENTS and name not in _BAD:
                _accept(name, d if isinstance(d, bytes) else b"")
        for args, sha, _key in items:
            try:
                out.append((True, fn(args, _component(sha))))
            except Exception as e:  # noqa: BLE001 - one task's error is its own result, not the batch's
                out.append((False, describe(e)))
    return out


def run_cluster(client: Any, fn: TaskFn, tasks: list[Task], components: dict[str, bytes], *, timeout: float,
                retries: int, on_result: OnResult, failed: Failed, interrupt: Interrupt | None = None) -> None:
    """Run every task on the Dask cluster of ``client``, in batches sized as the local
    ones (:func:`_batch_size`, for the cluster's workers): each Dask task is a few
    self-contained tasks, so the scheduler's round trip is paid per batch. Each
    component is scattered to every worker once; batches name the ones they need,
    and Dask hands each worker its own copy. A worker that dies has its batches
    rescheduled by the scheduler (its ``allowed-failures``); a batch that raised is
    retried ``retries`` times. A run that gets no result for as long as its longest
    batch may take (timeout per task) + GRACE has its pending tasks reported failed."""
    from distributed import as_completed

    token = os.urandom(4).hex()
    try:  # what killed workers left (their exit handlers never ran): removed by each worker
        client.run(sweep_scratch)
    except Exception:  # noqa: BLE001 - a worker that cannot sweep still replays
        pass
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    batches: list[list[Task]] = []
    left = deque(tasks)
    while left:
        batches.append([left.popleft() for _ in range(_batch_size(len(left), workers))])
    silence = timeout * max((len(b) for b in batches), default=1) + GRACE
    scattered = {sha: client.scatter(data, broadcast=True, hash=False) for sha, data in components.items()}
    futures: dict[Any, int] = {}
    resent: Counter[int] = Counter()

    def submit(i: int) -> Any:
        batch = batches[i]
        needs = {t.component for t in batch if t.component is not None and t.component in scattered}
        fut = client.submit(_dask_batch, fn, [(t.args, t.component, t.key) for t in batch],
                            {sha: scattered[sha] for sha in sorted(needs)},
                            key=f"theater-{token}-{i}-{resent[i]}-{batch[0].key}", retries=retries, pure=False)
        futures[fut] = i
        return fut

    for i in range(len(batches)):
        submit(i)
    pending = set(futures)
    last = time.monotonic()
    nap = threading.Event()
    current = client.as_current()  # as_completed finds its client as the current one
    current.__enter__()
    try:
        finished = as_completed(list(futures))  # type: ignore[no-untyped-call]
        while pending:
            if interrupt is not None and interrupt.requested:
                raise interrupt.error()
            ready = finished.has_ready()  # type: ignore[no-untyped-call]
            done = [f for f in finished.next_batch(block=False) if f in pending] if ready else []  # type: ignore[no-untyped-call]
            if not done:
                nap.wait(0.05)
            for fut in done:
                pending.discard(fut)
                i = futures[fut]
                batch = batches[i]
                n = 1 + resent[i]
                if fut.status == "finished":
                    for t, (ok, r) in zip(batch, fut.result(), strict=True):
                        on_result(t, r if ok else failed(t, r, n), n)
                elif fut.status == "cancelled" and resent[i] < retries:
                    # a worker's death can take the scattered components with it (the scheduler
                    # then drops the tasks that needed them): scatter them again, send the batch again
                    resent[i] += 1
                    for sha in {t.component for t in batch if t.component in scattered}:
                        assert sha is not None
                        old, scattered[sha] = scattered[sha], client.scatter(components[sha], broadcast=True,
                                                                             hash=False)
                        old.release()
                    again = submit(i)
                    pending.add(again)
                    finished.add(again)  # type: ignore[no-untyped-call]
                else:
                    exc = fut.exception() if fut.status == "error" else None
                    reason = ("cancelled on the cluster" if exc is None else
                              f"its worker died too often ({describe(exc)})" if type(exc).__name__ == "KilledWorker"
                              else describe(exc))
                    for t in batch:
                        on_result(t, failed(t, reason, 1), 1)
            if done:
                last = time.monotonic()
            elif time.monotonic() - last > silence:
                for fut in pending:
                    for t in batches[futures[fut]]:
                        on_result(t, failed(t, f"no result from the cluster within {silence:g} s", 1), 1)
                client.cancel(list(pending))
                pending.clear()
    except BaseException:
        client.cancel(list(pending))
        raise
    finally:
        current.__exit__(None, None, None)
        for f in scattered.values():
            f.release()


def run(fn: TaskFn, tasks: list[Task], components: dict[str, bytes], *, jobs: int | None, cluster: Any,
        timeout: float, retries: int, on_result: OnResult, failed: Failed,
        interrupt: Interrupt | None = None, on_results: OnResults | None = None) -> None:
    """Run on ``cluster`` (a connected ``distributed.Client``) when given, else locally.
    ``on_results``, when given, gets the results that came back together at once."""
    if cluster is not None:
        run_cluster(cluster, fn, tasks, components, timeout=timeout, retries=retries, on_result=on_result,
                    failed=failed, interrupt=interrupt)
    else:
        run_local(fn, tasks, components, jobs=max(1, min(jobs or cpu_count(), len(tasks))), timeout=timeout,
                  retries=retries, on_result=on_result, failed=failed, interrupt=interrupt, on_results=on_results)


__all__ = ["DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "GRACE", "Interrupted", "Task", "component_file",
           "connect_cluster", "cpu_count", "run", "run_cluster", "run_local", "scratch_store", "sweep_scratch"]
