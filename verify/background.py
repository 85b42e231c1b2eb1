"""A chain's integrity check run beside other work: what ``theater replay --verify``
relies on to prove the head of a replay that writes nothing (replay/compare.py).

:class:`BackgroundVerify` runs :func:`verify.integrity.verify_chain` on its own
query-only connection in a thread of its own. A chain of :data:`WORKER_MIN_EVENTS`
events or more is walked by worker processes (the thread only waits on them, so it
does not hold the GIL against the caller's work); a shorter one is walked in the
thread, which takes milliseconds.
"""

from __future__ import annotations

import threading
from pathlib import Path

from theater.errors import TheaterError
from theater.store import Store

from .integrity import verify_chain
from .results import VerifyResult

#: chains at least this long are walked in worker processes (two parts at once)
WORKER_MIN_EVENTS = 20_000


class BackgroundVerify:
    """``check = BackgroundVerify(path, chain_id, length)`` starts verifying;
    ``check.problem()`` waits for the result: None when the chain verifies (a complete
    chain, or an incomplete one as a prefix), else the first problem in one line."""

    def __init__(self, path: str | Path, chain_id: str, length: int) -> None:
        self.path = Path(path)
        self.chain_id = chain_id
        self.workers = 2 if length >= WORKER_MIN_EVENTS else 1
        self.result: VerifyResult | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="theater-replay-integrity", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with Store(self.path, create=False, query_only=True) as store:
                self.result = verify_chain(store, self.chain_id, workers=self.workers)
        except TheaterError as e:
            self.error = f"cannot check the recorded chain's integrity: {e}"
        except Exception as e:  # reported as the replay's problem, never lost in the thread
            self.error = f"cannot check the recorded chain's integrity: {type(e).__name__}: {e}"

    def problem(self) -> str | None:
        """Wait for the check; what is wrong with the chain, or None."""
        self._thread.join()
        if self.error is not None:
            return self.error
        r = self.result
        if r is None:
            return "the recorded chain's integrity check did not finish"
        p = r.problem
        if p is None:
            return None
        where = "" if p.seq is None else f" at event {p.seq}"
        return f"the recorded chain fails its integrity check{where} ({p.kind}): {p.message}"
