"""Processes the fleet's checks leave behind (issue 16): a verify.parallel worker
(`_serve`) whose caller died ends, even when the end of its socket never comes.
Real processes: the caller is a subprocess, a real fork holds the socket's copy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The caller starts a verify worker, then forks: the child holds a copy of every fd
# of the caller, the caller's end of the worker's socket included, and outlives it.
CALLER = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from verify.parallel import _Worker
w = _Worker()
holder = os.fork()
if holder == 0:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)  # not the test's pipes: it reads the caller's output to its end
    time.sleep(600)  # until the test kills it
    os._exit(0)
print(w.proc.pid, holder, flush=True)
os._exit(0)  # the caller dies without closing anything
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_verify_worker_whose_caller_died_ends_though_its_socket_lives_on() -> None:
    """issue 16 (the `_serve` processes that lingered): a verify.parallel worker waits
    for parts on a socket and ended only at its end of file; a process forked from its
    caller keeps a copy of the caller's end, so once the caller died the worker waited
    forever. It now also ends when its parent is no longer the caller."""
    proc = subprocess.run([sys.executable, "-c", CALLER, str(ROOT)], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    serve, holder = map(int, proc.stdout.split())
    try:
        assert _running(holder)  # the socket's copy is still open
        deadline = time.monotonic() + 30
        while _running(serve) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the worker's state until it ends
        assert not _running(serve), "the verify worker outlived its caller"
    finally:
        os.kill(holder, signal.SIGKILL)
        if _running(serve):
            os.kill(serve, signal.SIGKILL)
