"""Verifying one long chain in several processes (used by verify.integrity).

The chain is split into contiguous parts whose starts line up with the read pages;
each part is walked by its own process on its own query-only connection, starting
from the state left by the stored row just before it. The earliest problem in seq
order wins, each clean part must end where the next one started, and anything
unexpected (a worker error, a read error, a state mismatch) falls back to the serial
walk, so the result is always the serial walk's.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from theater.chain import END_TYPE, HASH_SIZE
from theater.store import PAGE, ChainInfo, SQLiteError, Store

from .results import VerifyResult
from .walk import OnEvent, walk_store

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

#: chains at least this long are verified in parallel (``verify_chain(workers=None)``)
PARALLEL_MIN_EVENTS = 200_000
#: at most this many processes verify one chain (the caller's and its workers)
MAX_PARALLEL = 4
#: events the caller's own part gets on top of an equal share (when it walks one): the
#: worker processes start about 0.14 s later (a new interpreter and its imports)
LEAD_EVENTS = 65_536
#: ``THEATER_VERIFY_WORKERS=n``: the number of processes for a long chain (1: serial)
WORKERS_ENV = "THEATER_VERIFY_WORKERS"
#: rows per read of the verifier's walk (``verify_chain(page=...)``): larger than the
#: store's usual page, as reading the 32-byte hash of every row in pages of 4,096 costs a
#: fifth more (measured: docs/performance.md); about 5 MB of rows per read
VERIFY_PAGE = 16_384


def _processes(store: Store, info: ChainInfo, on_event: OnEvent | None, workers: int | None) -> int:
    """How many processes walk this chain: ``workers`` when given; else 1 below
    :data:`PARALLEL_MIN_EVENTS`, and above it $THEATER_VERIFY_WORKERS or the usable CPUs
    (at most :data:`MAX_PARALLEL`). Always 1 where worker processes could not see the
    same rows (an open transaction, a database that is not a file) or ``on_event``
    needs every event in order."""
    if on_event is not None or os.name != "posix" or not sys.executable or getattr(sys, "frozen", False):
        return 1
    if store.conn.in_transaction or not store.path.is_file():
        return 1
    if workers is not None:
        return max(1, workers)
    if info.length < PARALLEL_MIN_EVENTS:
        return 1
    try:
        return max(1, int(os.environ[WORKERS_ENV]))
    except (KeyError, ValueError):
        pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_PARALLEL))


def part_bounds(length: int, k: int, *, page: int = PAGE, lead: bool = True) -> list[int]:
    """The first seq of each of ``k`` parts of a chain of ``length`` events: ``[0, b1, ...]``.

    Part i holds the rows with ``b_i <= seq < b_(i+1)``, the last one every row from
    ``b_(k-1)`` on (whatever its length). With ``lead`` the first part, walked by the
    calling process at once, gets :data:`LEAD_EVENTS` more. Every part starts on a
    multiple of ``page``, the rows per read of the serial walk."""
    extra = min(LEAD_EVENTS, length // (2 * k)) if lead else 0
    step = (length - extra) // k
    return [0] + [(extra + i * step) // page * page for i in range(1, k)]


def _db_file(store: Store) -> str:
    """The file the store's connection reads, as SQLite opened it (whatever the cwd now)."""
    return store.db_file()


def _state_before(store: Store, chain_id: str, start: int, genesis: bytes) -> tuple[bytes, bytes | None, int, bool]:
    """The walk's state after the row before ``start`` (the last row the serial walk
    reads before it), assuming every row up to it verified; the start state when there
    is none. A row that cannot have verified gives the start state too: then the part
    that holds it fails at or before it, and this state is never used."""
    row = store.state_before(chain_id, start, END_TYPE)
    if row is not None:
        seq, h, is_end = row
        if type(seq) is int and type(h) is bytes and len(h) == HASH_SIZE:
            return h, h, seq + 1, bool(is_end)
    return genesis, None, 0, False


def _verify_parallel(store: Store, info: ChainInfo, genesis: bytes, k: int,
                     progress: Callable[[int], None] | None, pool: VerifyPool | None,
                     page: int = PAGE) -> tuple[VerifyResult, list[tuple[int, str, bytes]]] | None:
    """Walk ``k`` parts at once, reading ``page`` rows at a time, each in a worker process from the state its previous
    row leaves; in the main thread, the caller walks the first part itself (in another
    thread it only waits: its walk would hold the GIL against the program's other
    threads, e.g. the TUI's). Returns the first part's problem, else the next part's,
    ..., else the last part's result: the serial walk's result, as long as each clean
    part ends in the state the next one started from (checked), with the rows that may
    refer to a blob among the events it verified (``walk(blob_rows=...)``). Returns
    None (walk serially) when a worker fails, a read fails, or a check does not hold."""
    import threading
    from multiprocessing.connection import Connection, wait

    own = threading.current_thread() is threading.main_thread()
    first = 1 if own else 0  # the first part a worker walks
    bounds = part_bounds(info.length, k, page=page, lead=own)
    lender = VerifyPool() if pool is None else pool
    started: list[_Worker] = []
    busy: dict[Connection, int] = {}  # the workers still walking, by part
    results: list[Any] = [None] * k  # per part: (VerifyResult, its blob rows), or why there is none
    counts = [0] * k

    def drain(timeout: float | None) -> bool:
        """Take the workers' messages (waiting up to ``timeout``); True on progress."""
        moved = False
        for ready in wait(list(busy), timeout):
            c = cast(Connection, ready)
            i = busy[c]
            try:
                kind, value = c.recv()
            except (EOFError, OSError):
                kind, value = "error", "the worker process ended"
            if kind == "progress":
                counts[i] = value
                moved = True
            else:  # done, error, stopped
                results[i] = value
                del busy[c]
        return moved

    def own_progress(n: int) -> None:
        counts[0] = n
        drain(0)
        if progress is not None:
            progress(sum(counts))

    def run() -> tuple[VerifyResult, list[tuple[int, str, bytes]]] | None:
        try:
            started.extend(lender._take(k - first))
            states = [(genesis, None, 0, False)] + [_state_before(store, info.id, b, genesis) for b in bounds[1:]]
            path = _db_file(store)
            for i, w in enumerate(started, first):
                stop = bounds[i + 1] if i + 1 < k else None
                w.conn.send((path, info.id, genesis, bounds[i], stop, page, states[i]))
                busy[w.conn] = i
            if own:
                mine: list[tuple[int, str, bytes]] = []
                results[0] = (walk_store(store, info.id, genesis, 0, bounds[1], page, (genesis, None, 0, False),
                                         own_progress, None, mine), mine)
        except (OSError, ValueError, SQLiteError):
            return None
        blobs: list[tuple[int, str, bytes]] = []
        for i in range(k):
            while results[i] is None:
                if drain(None) and progress is not None:
                    progress(sum(counts))
            done = results[i]
            if not (isinstance(done, tuple) and isinstance(done[0], VerifyResult)):
                return None  # the worker could not read its part: the serial walk says what that means
            r, part_blobs = done
            blobs.extend(part_blobs)
            if not r.ok:
                return r, blobs
            if i + 1 < k and (r.head, r.events, r.complete) != (states[i + 1][0], states[i + 1][2], states[i + 1][3]):
                return None
        return cast(VerifyResult, results[k - 1][0]), blobs

    finished = False
    try:
        result = run()
        finished = True
        return result
    finally:
        if finished and pool is not None and busy:
            # a lent pool keeps its workers: stop the ones whose parts are not needed
            for c in busy:
                try:
                    c.send("stop")
                except OSError:
                    pass
            deadline = time.monotonic() + 10.0
            while busy and (left := deadline - time.monotonic()) > 0:
                drain(left)
        for w in started:
            if w.conn in busy:
                w.kill()  # still walking a part whose result is not needed
            else:
                lender._release(w)
        if pool is None:
            lender.close()


# -- worker processes ----------------------------------------------------------------

# A worker is a new interpreter (like multiprocessing's "spawn", without re-running the
# caller's __main__) that walks the parts it is sent over a socket, each on a query-only
# connection of its own, streaming rows in constant memory. It ignores SIGINT (the
# caller stops it) and ends when the caller's end of the socket closes.
_BOOT = (
    "import signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "from multiprocessing.connection import Connection\n"
    "conn = Connection(int(sys.argv[1]))\n"
    "sys.path[:] = conn.recv()\n"
    "from verify.parallel import _serve\n"
    "_serve(conn, int(sys.argv[2]))\n"
)


class _Stopped(Exception):
    """The caller no longer needs the part being walked."""


def _serve(conn: Connection, parent: int) -> None:
    """A worker's loop: walk each part sent, report progress and the part's result.
    It also ends when its caller (pid ``parent``) has died, even before it started:
    a process forked from the caller may hold a copy of the caller's end of the
    socket, and then the end of the file never comes."""
    while True:
        try:
            while not conn.poll(1.0):
                if os.getppid() != parent:
                    return
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        if task == "stop":  # it came after the part was done
            continue
        path, chain_id, genesis, start, stop, page, (head, prev_hash, expected, ended) = task

        def report(n: int, first: int = expected) -> None:
            if os.getppid() != parent:  # nobody reads the progress any more
                raise _Stopped
            conn.send(("progress", n - first))
            if conn.poll() and conn.recv() == "stop":
                raise _Stopped

        try:
            with Store(path, create=False, query_only=True) as store:
                found: list[tuple[int, str, bytes]] = []
                result = walk_store(store, chain_id, genesis, start, stop, page,
                                    (head, prev_hash, expected, ended), report, None, found)
                msg: tuple[str, Any] = ("done", (result, found))
        except _Stopped:
            msg = ("stopped", None)
        except Exception as e:  # noqa: BLE001 - any failure: the caller walks serially
            msg = ("error", f"{type(e).__name__}: {e}")
        if os.getppid() != parent:
            return
        try:
            conn.send(msg)
        except OSError:
            return


class _Worker:
    """One worker process and the caller's end of its socket."""

    def __init__(self) -> None:
        import socket
        import subprocess
        from multiprocessing.connection import Connection

        here, there = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(there.fileno()), str(os.getpid())], pass_fds=(there.fileno(),),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        except BaseException:
            here.close()
            raise
        finally:
            there.close()
        self.conn = Connection(here.detach())
        try:
            self.conn.send(sys.path)
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.conn.close()

    def stop(self) -> None:
        import subprocess

        try:
            self.conn.send(None)
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.conn.close()


class VerifyPool:
    """Worker processes for :func:`verify_chain`, kept between calls.

    Each call without a pool starts its workers and stops them at the end (about
    0.15 s per chain, while the caller already walks its own part). A program that
    verifies many long chains can lend one pool to every call::

        with VerifyPool() as pool:
            for info in store.chains():
                verify_chain(store, info, pool=pool)
    """

    def __init__(self) -> None:
        self._idle: list[_Worker] = []

    def _take(self, n: int) -> list[_Worker]:
        taken: list[_Worker] = []
        try:
            while len(taken) < n:
                w = self._idle.pop() if self._idle else _Worker()
                if w.proc.poll() is None:
                    taken.append(w)
                else:
                    w.kill()
        except BaseException:
            for w in taken:
                self._release(w)
            raise
        return taken

    def _release(self, w: _Worker) -> None:
        if w.proc.poll() is None:
            self._idle.append(w)
        else:
            w.kill()

    def close(self) -> None:
        """Stop the idle workers."""
        idle, self._idle = self._idle, []
        for w in idle:
            w.stop()

    def __enter__(self) -> VerifyPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
