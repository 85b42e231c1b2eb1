"""Verifying many chains at once: ``theater verify --all --jobs N`` or ``--cluster``.

Each chain goes to a worker as its rows (chain, events, checkpoints: as stored,
tampered values included; theater/store/scratch.py); the worker puts them in its
scratch database and runs the ordinary :func:`verify.audit.audit_chain` there, so the
results are the serial command's, chain for chain. Workers never open the user's
database and run no code (no component is sent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from theater import fleet
from theater.checkpoint import PublicKey
from theater.errors import StoreError
from theater.store import ChainInfo, Store
from theater.store.scratch import ChainRows, clear_chains, load_chain_rows, read_chain_rows

from .audit import audit_chain
from .results import VerifyResult


@dataclass(frozen=True, kw_only=True)
class VerifyTask:
    """What a worker needs to verify one chain."""

    rows: ChainRows
    keys: tuple[PublicKey, ...] = ()
    audit_random: bool = False
    allow_unsigned_tail: bool = False


@dataclass(frozen=True, kw_only=True)
class Unverified:
    """A chain no worker could verify (its worker died, or its rows could not be
    read whole): the serial command's exit 2, per chain."""

    chain: str
    reason: str


def verify_task(task: VerifyTask, component: bytes | None) -> VerifyResult:
    """Verify one chain in this worker's scratch database (runs in a worker)."""
    scratch = fleet.scratch_store()
    clear_chains(scratch)
    load_chain_rows(scratch, task.rows)
    try:
        return audit_chain(scratch, task.rows.info, keys=task.keys, audit_random=task.audit_random,
                           allow_unsigned_tail=task.allow_unsigned_tail)
    finally:
        clear_chains(scratch)


def verify_all(
    *,
    store: Store,
    infos: Sequence[ChainInfo],
    keys: Sequence[PublicKey] = (),
    audit_random: bool = False,
    allow_unsigned_tail: bool = False,
    jobs: int | None = None,
    cluster: Any = None,
    timeout: float = fleet.DEFAULT_TIMEOUT,
    retries: int = fleet.DEFAULT_RETRIES,
    interrupt: fleet.Interrupt | None = None,
) -> list[VerifyResult | Unverified]:
    """Verify ``infos`` in ``jobs`` local processes (default: the CPUs) or on
    ``cluster`` (a connected ``distributed.Client``); results in the order given."""
    tasks = [fleet.Task(key=i.id, args=VerifyTask(rows=read_chain_rows(store, i.id, checkpoints=True),
                                                  keys=tuple(keys), audit_random=audit_random,
                                                  allow_unsigned_tail=allow_unsigned_tail))
             for i in infos]
    done: dict[str, VerifyResult | Unverified] = {}

    def got(task: fleet.Task, result: Any, attempts: int) -> None:
        done[task.key] = result

    def failed(task: fleet.Task, reason: str, attempts: int) -> Unverified:
        return Unverified(chain=task.key, reason=reason)

    fleet.run(verify_task, tasks, {}, jobs=jobs, cluster=cluster, timeout=timeout, retries=retries,
              on_result=got, failed=failed, interrupt=interrupt)
    return [done.get(i.id) or Unverified(chain=i.id, reason="no result") for i in infos]


__all__ = ["StoreError", "Unverified", "VerifyTask", "verify_all", "verify_task"]
