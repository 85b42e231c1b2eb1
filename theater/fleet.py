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
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
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


def _pool_call(fn: TaskFn, args: Any, sha: str | None, key: str) -> Any:
    with _LOCK:
        _SCRATCH["started"].put(key)  # the task's deadline counts from now, not from its submission
        return fn(args, _component(sha))


def _dask_call(fn: TaskFn, args: Any, sha: str | None, data: bytes | None) -> Any:
    """A task on a Dask worker: ``data`` is the scattered component (kept in the
    worker's memory, sent once); its hash is checked once per worker process."""
    with _LOCK:
        if sha is not None and sha not in _COMPONENTS and sha not in _BAD:
            _accept(sha, data if isinstance(data, bytes) else b"")
        return fn(args, _component(sha))


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
    folder whose pid runs again (reused) is left for a later sweep."""
    folder = Path(base or _scratch_base() or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        pid = entry.name[len(_PREFIX):].partition("-")[0]
        if not entry.name.startswith(_PREFIX) or not pid.isdigit():
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
    return removed


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


def _exit_reason(procs: Iterable[Any]) -> str:
    procs = list(procs)
    deadline = time.monotonic() + 2.0  # the pool can report the break before the dead one is reaped
    while not any(p.exitcode not in (None, 0) for p in procs) and time.monotonic() < deadline:
        threading.Event().wait(0.02)
    codes = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
    if not codes:
        return "a worker process died"
    code = codes[0]
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"a worker process was killed by {name}"
    return f"a worker process exited with code {code}"


def _stop_pool(pool: ProcessPoolExecutor, procs: dict[int, Any]) -> None:
    """Kill a pool's processes and let its manager thread go (never waits on a task)."""
    for p in list(procs.values()):
        if p.is_alive():
            p.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in list(procs.values()):
        p.join(5)


def _note_starts(started: Any, running: dict[Future[Any], tuple[Task, float, float | None]], now: float) -> None:
    """Give the running tasks whose start the workers reported their start time."""
    keys: list[str] = []
    try:
        while not started.empty():
            keys.append(started.get())
    except (OSError, ValueError, EOFError):
        pass
    for key in keys:
        for fut, (task, sent, start) in running.items():
            if task.key == key and start is None:
                running[fut] = (task, sent, now)
                break


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
              retries: int, on_result: OnResult, failed: Failed, interrupt: Interrupt | None = None) -> None:
    """Run every task in ``jobs`` worker processes (forked from a fresh fork server:
    nothing of the caller's, no open database, is inherited; :func:`_context`). Two
    tasks per worker are in flight (one waits while one runs); each worker reports
    when it starts a task, so a task's deadline counts from its start, and only the
    tasks that had started are charged an attempt when a worker dies."""
    ctx = _context(fn)
    sweep_scratch()
    root = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=_scratch_base())
    started: Any = None
    begun = time.monotonic()
    queue = deque(tasks)
    attempts: Counter[str] = Counter()
    unstarted: set[str] = set()  # lost before they were seen to start
    running: dict[Future[Any], tuple[Task, float, float | None]] = {}  # task, submitted, started
    pool: ProcessPoolExecutor | None = None
    procs: dict[int, Any] = {}
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
                begun = time.monotonic()
                procs = {}
            broken = False
            while queue and len(running) < 2 * jobs:  # one running and one waiting per worker
                task = queue.popleft()
                try:
                    fut = pool.submit(_pool_call, fn, task.args, task.component, task.key)
                except BrokenProcessPool:
                    queue.appendleft(task)
                    broken = True
                    break
                attempts[task.key] += 1
                running[fut] = (task, time.monotonic(), None)
                procs.update(getattr(pool, "_processes", None) or {})
            done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            now = time.monotonic()
            _note_starts(started, running, now)
            lost: list[tuple[Task, float, float | None]] = []
            for fut in done:
                entry = running.pop(fut)
                task = entry[0]
                exc = fut.exception()
                if exc is None:
                    on_result(task, fut.result(), attempts[task.key])
                elif isinstance(exc, BrokenProcessPool):
                    lost.append(entry)
                    broken = True
                else:
                    on_result(task, failed(task, describe(exc), attempts[task.key]), attempts[task.key])
            late = [f for f, (_, sent, start) in running.items()
                    if (start if start is not None else max(sent, begun) + START_GRACE) + timeout + GRACE < now]
            if not (broken or late):
                continue
            procs.update(getattr(pool, "_processes", None) or {})
            reason = _exit_reason(procs.values()) if broken else ""
            _stop_pool(pool, procs)
            pool = None
            for fut in late:
                task = running.pop(fut)[0]
                on_result(task, failed(task, f"no result within {timeout + GRACE:g} s: its worker was stopped",
                                       attempts[task.key]), attempts[task.key])
            if broken:
                lost.extend(running.values())
            else:  # stopped by us for another's deadline: not their fault, not an attempt
                for task, _, _ in running.values():
                    attempts[task.key] -= 1
                    queue.appendleft(task)
            running.clear()
            for task, _, start in lost:
                if start is None and task.key not in unstarted:  # not its doing (once: it may be)
                    unstarted.add(task.key)
                    attempts[task.key] -= 1
                    queue.appendleft(task)
                elif attempts[task.key] > retries:
                    on_result(task, failed(task, f"{reason} while running it ({attempts[task.key]} attempts)",
                                           attempts[task.key]), attempts[task.key])
                else:
                    queue.appendleft(task)
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


def run_cluster(client: Any, fn: TaskFn, tasks: list[Task], components: dict[str, bytes], *, timeout: float,
                retries: int, on_result: OnResult, failed: Failed, interrupt: Interrupt | None = None) -> None:
    """Run every task on the Dask cluster of ``client``. Each component is scattered
    to every worker once; tasks name it, and Dask hands each worker its own copy.
    A worker that dies has its tasks rescheduled by the scheduler (its
    ``allowed-failures``); a task that raised is retried ``retries`` times."""
    from distributed import as_completed

    token = os.urandom(4).hex()
    try:  # what killed workers left (their exit handlers never ran): removed by each worker
        client.run(sweep_scratch)
    except Exception:  # noqa: BLE001 - a worker that cannot sweep still replays
        pass
    scattered = {sha: client.scatter(data, broadcast=True, hash=False) for sha, data in components.items()}
    futures: dict[Any, Task] = {}
    resent: Counter[str] = Counter()

    def submit(task: Task, i: int) -> Any:
        fut = client.submit(_dask_call, fn, task.args, task.component,
                            scattered.get(task.component) if task.component else None,
                            key=f"theater-{token}-{i}-{resent[task.key]}-{task.key}", retries=retries, pure=False)
        futures[fut] = task
        return fut

    for i, task in enumerate(tasks):
        submit(task, i)
    index = {task.key: i for i, task in enumerate(tasks)}
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
                task = futures[fut]
                if fut.status == "finished":
                    on_result(task, fut.result(), 1 + resent[task.key])
                elif fut.status == "cancelled" and resent[task.key] < retries:
                    # a worker's death can take the scattered component with it (the scheduler
                    # then drops the tasks that needed it): scatter it again, send the task again
                    resent[task.key] += 1
                    sha = task.component
                    if sha is not None:
                        old, scattered[sha] = scattered[sha], client.scatter(components[sha], broadcast=True,
                                                                             hash=False)
                        old.release()
                    again = submit(task, index[task.key])
                    pending.add(again)
                    finished.add(again)  # type: ignore[no-untyped-call]
                else:
                    exc = fut.exception() if fut.status == "error" else None
                    reason = ("cancelled on the cluster" if exc is None else
                              f"its worker died too often ({describe(exc)})" if type(exc).__name__ == "KilledWorker"
                              else describe(exc))
                    on_result(task, failed(task, reason, 1), 1)
            if done:
                last = time.monotonic()
            elif time.monotonic() - last > timeout + GRACE:
                for fut in pending:
                    on_result(futures[fut], failed(futures[fut], f"no result from the cluster within "
                                                   f"{timeout + GRACE:g} s", 1), 1)
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
        interrupt: Interrupt | None = None) -> None:
    """Run on ``cluster`` (a connected ``distributed.Client``) when given, else locally."""
    if cluster is not None:
        run_cluster(cluster, fn, tasks, components, timeout=timeout, retries=retries, on_result=on_result,
                    failed=failed, interrupt=interrupt)
    else:
        run_local(fn, tasks, components, jobs=max(1, min(jobs or cpu_count(), len(tasks))), timeout=timeout,
                  retries=retries,
                  on_result=on_result, failed=failed, interrupt=interrupt)


__all__ = ["DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "GRACE", "Interrupted", "Task", "component_file",
           "connect_cluster", "cpu_count", "run", "run_cluster", "run_local", "scratch_store", "sweep_scratch"]
