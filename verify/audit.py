"""The full check behind ``theater verify``: integrity, checkpoints and the seed audit,
in one streamed pass over a chain's events.

:func:`audit_chain` works on a stored chain, :func:`audit_rows` on rows in memory
(the same rules; tests and importers use it). The result is a
:class:`~verify.integrity.VerifyResult` whose ``problems`` are ordered by first bad
seq; ``problem`` is the first of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from theater.checkpoint import PublicKey
from theater.store import ChainInfo, Store

from .checkpoints import CheckpointCheck, CheckpointItem, load_stored
from .integrity import Failure, Problem, VerifyResult, verify_chain, verify_format_rows


class Auditor:
    """Rides along one verification pass and adds checkpoint and random-audit findings."""

    def __init__(
        self,
        chain_id: str,
        fmt: str,
        header: bytes,
        *,
        keys: Sequence[PublicKey] = (),
        checkpoints: Sequence[CheckpointItem] = (),
        audit_random: bool = False,
        require_checkpoint: bool | None = None,
    ) -> None:
        self.keys = list(keys)
        self.require = bool(self.keys) if require_checkpoint is None else require_checkpoint
        self.extra: list[Problem] = []
        self.notes: list[str] = []
        self.check = CheckpointCheck(chain_id, fmt, header, list(checkpoints), self.keys) \
            if (self.keys or checkpoints) else None
        self.random: Any = None
        if audit_random:
            if fmt == "v1":
                from .random_audit import RandomAudit

                self.random = RandomAudit(header)
            else:
                self.notes.append(f"random audit not possible for {fmt} chains (no seed recorded)")
        hooks = [h for h in (self.check and self.check.on_event, self.random and self.random.feed) if h]
        self.on_event: Callable[[int, bytes, str, bytes], None] | None
        if not hooks:
            self.on_event = None
        elif len(hooks) == 1:
            self.on_event = hooks[0]
        else:
            first, second = hooks

            def both(seq: int, h: bytes, t: str, d: bytes) -> None:
                first(seq, h, t, d)
                second(seq, h, t, d)

            self.on_event = both

    def finish(self, result: VerifyResult) -> VerifyResult:
        """Add the findings to ``result`` (integrity already in it) and return it."""
        walk_ok = result.problem is None
        found = list(self.extra)
        if self.check is not None:
            found += self.check.finish(result.events, walk_ok)
            result.checkpoints = self.check.report
            if self.require and not self.check.items:
                found.append(Problem(
                    Failure.BAD_SIGNATURE, None,
                    "no checkpoint of this chain is signed by a given key (none stored or given; "
                    "truncation and rewrites cannot be ruled out)",
                ))
        if self.random is not None:
            result.random_checked = self.random.checked
            if self.random.problem is not None:
                found.append(self.random.problem)
        result.notes.extend(self.notes)
        if found:
            result.add(*found)
        return result


def audit_rows(
    chain_id: str,
    fmt: str,
    header: bytes,
    rows: Iterable[tuple[Any, ...]],
    *,
    keys: Sequence[PublicKey] = (),
    checkpoints: Sequence[CheckpointItem] = (),
    audit_random: bool = False,
    require_checkpoint: bool | None = None,
) -> VerifyResult:
    """Verify rows in memory with every check :func:`audit_chain` makes."""
    aud = Auditor(chain_id, fmt, header, keys=keys, checkpoints=checkpoints,
                  audit_random=audit_random, require_checkpoint=require_checkpoint)
    return aud.finish(verify_format_rows(fmt, chain_id, header, rows, on_event=aud.on_event))


def audit_chain(
    store: Store,
    chain: ChainInfo | str,
    *,
    keys: Sequence[PublicKey] = (),
    checkpoints: Sequence[CheckpointItem] = (),
    audit_random: bool = False,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Verify a stored chain: integrity; with ``keys``, every stored checkpoint and each
    of ``checkpoints`` (given ones, e.g. from files); with ``audit_random``, the seed.

    With keys, a chain that has no checkpoint at all fails (``bad_signature``): an
    auditor who holds a key expects signed evidence, and deleting the checkpoint rows
    must not turn into a pass. Raises :class:`theater.errors.StoreError` when the
    database cannot be read whole.
    """
    info = chain if isinstance(chain, ChainInfo) else store.chain(chain)
    items = list(checkpoints)
    bad: list[Problem] = []
    notes: list[str] = []
    if keys:
        stored, bad = load_stored(store, info.id)
        items = stored + items
    else:
        n = len(load_stored(store, info.id)[0])
        if n:
            notes.append(f"{n} stored checkpoint(s) not checked: pass --key to check them")
    aud = Auditor(info.id, info.format, info.header, keys=keys, checkpoints=items, audit_random=audit_random)
    aud.extra.extend(bad)
    aud.notes.extend(notes)
    return aud.finish(verify_chain(store, info, progress=progress, on_event=aud.on_event))


def missing_chain(chain_id: str, items: Sequence[CheckpointItem], keys: Sequence[PublicKey]) -> VerifyResult:
    """The result for a chain that signed checkpoints name but the database lacks."""
    check = CheckpointCheck(chain_id, "v1", b"", list(items), list(keys))
    result = VerifyResult(chain_id, True, 0, False, None)
    result.checkpoints = check.report
    problems = list(check.problems)
    for item, entry in check.valid:
        entry["status"] = "truncated"
        problems.append(Problem(
            Failure.TRUNCATED, 0,
            f"checkpoint {item.source} signs {item.checkpoint.size} events of chain {chain_id},"
            " which is not in the database",
            str(item.checkpoint.size), "0", (item.evidence(),),
        ))
    result.add(*problems)
    return result
