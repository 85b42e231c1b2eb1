"""The full check behind ``theater verify``: integrity, checkpoints and the seed audit,
in one streamed pass over a chain's events.

:func:`audit_chain` works on a stored chain, :func:`audit_rows` on rows in memory
(the same rules; tests and importers use it). The result is a
:class:`~verify.results.VerifyResult` whose ``problems`` are ordered by first bad
seq; ``problem`` is the first of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from theater.checkpoint import PublicKey
from theater.store import ChainInfo, Store

from .checkpoints import CheckpointCheck, CheckpointItem, load_stored
from .integrity import verify_chain, verify_format_rows
from .random_draws import RandomAudit
from .results import FailureKind, Problem, VerifyResult


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
        allow_unsigned_tail: bool = False,
        unsigned_hint: str = "",
    ) -> None:
        self.keys = list(keys)
        self.require = bool(self.keys) if require_checkpoint is None else require_checkpoint
        self.allow_unsigned_tail = allow_unsigned_tail
        self.unsigned_hint = unsigned_hint
        self.extra: list[Problem] = []
        self.notes: list[str] = []
        self.check = CheckpointCheck(chain_id, fmt, header, list(checkpoints), self.keys) \
            if (self.keys or checkpoints) else None
        self.random: Any = None
        if audit_random:
            if fmt == "v1":
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
            result = replace(result, checkpoints=tuple(self.check.report))
            if self.keys:
                result = replace(result, signed_size=self.check.signed)
            if self.require:  # a chain already failing its checkpoints needs no coverage verdict
                found += self._coverage(result, walk_ok and not found)
        if self.random is not None:
            result = replace(result, random_checked=self.random.checked)
            if self.random.problem is not None:
                found.append(self.random.problem)
            elif walk_ok and self.random.checked == 0:
                self.notes.append("--audit-random audited nothing: the chain has no seeded random draws")
        return result.with_notes(*self.notes).with_problems(*found)


    def _coverage(self, result: VerifyResult, walk_ok: bool) -> list[Problem]:
        """The rule of --key: a chain must have a checkpoint a given key signed, and a
        complete chain must be signed through its end (``unsigned_tail`` otherwise).
        ``allow_unsigned_tail`` accepts both, with a note saying how far the signatures reach."""
        assert self.check is not None
        n, total = self.check.signed, result.events
        how = "sign it with `theater checkpoint CHAIN --key K`, or pass --allow-unsigned-tail" + self.unsigned_hint
        if not self.check.items:
            if self.allow_unsigned_tail:
                self.notes.append(f"not signed: no checkpoint of this chain is signed by a given key"
                                  f" (0 of {total} events; allowed by --allow-unsigned-tail)")
                return []
            return [Problem(
                kind=FailureKind.BAD_SIGNATURE, seq=None,
                message="no checkpoint of this chain is signed by a given key (none stored or given; "
                f"truncation and rewrites cannot be ruled out): {how}",
            )]
        if not (walk_ok and result.complete and n < total):
            return []
        if self.allow_unsigned_tail:
            self.notes.append(f"signed through {n} of {total} events: events {n} to {total - 1} are covered by"
                              " no signed checkpoint (allowed by --allow-unsigned-tail)")
            return []
        return [Problem(
            kind=FailureKind.UNSIGNED_TAIL, seq=n,
            message=f"signed through {n} of {total} events: the chain is complete but events {n} to {total - 1}"
            " (its end included) are covered by no signed checkpoint, so a rewrite of them would not"
            f" show; {how}",
            expected=str(total), computed=str(n),
        )]


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
    allow_unsigned_tail: bool = False,
) -> VerifyResult:
    """Verify rows in memory with every check :func:`audit_chain` makes."""
    aud = Auditor(chain_id, fmt, header, keys=keys, checkpoints=checkpoints,
                  audit_random=audit_random, require_checkpoint=require_checkpoint,
                  allow_unsigned_tail=allow_unsigned_tail)
    return aud.finish(verify_format_rows(fmt, chain_id, header, rows, on_event=aud.on_event))


def audit_chain(
    store: Store,
    chain: ChainInfo | str,
    *,
    keys: Sequence[PublicKey] = (),
    checkpoints: Sequence[CheckpointItem] = (),
    audit_random: bool = False,
    progress: Callable[[int], None] | None = None,
    allow_unsigned_tail: bool = False,
) -> VerifyResult:
    """Verify a stored chain: integrity; with ``keys``, every stored checkpoint and each
    of ``checkpoints`` (given ones, e.g. from files); with ``audit_random``, the seed.

    With keys, a chain that has no checkpoint at all fails (``bad_signature``): an
    auditor who holds a key expects signed evidence, and deleting the checkpoint rows
    must not turn into a pass. A complete chain whose end no valid signed checkpoint
    covers fails ``unsigned_tail`` at the first unsigned seq (deleting the later
    checkpoints and rewriting the tail must not pass either). ``allow_unsigned_tail``
    accepts both, with a note; ``signed_size`` says how far the signatures reach.
    Replay chains get no exception (``chains.replay_of`` is not hashed). Raises
    :class:`theater.errors.StoreError` when the database cannot be read whole.
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
    hint = "" if info.replay_of is None else (
        f" (this chain is a replay of {info.replay_of}: replays are held to the same rule)")
    aud = Auditor(info.id, info.format, info.header, keys=keys, checkpoints=items, audit_random=audit_random,
                  allow_unsigned_tail=allow_unsigned_tail, unsigned_hint=hint)
    aud.extra.extend(bad)
    aud.notes.extend(notes)
    result = aud.finish(verify_chain(store, info, progress=progress, on_event=aud.on_event))
    from .forks import fork_link  # a fork's prefix against its source (issue 13 item 2)

    link, note = fork_link(store, info)
    return result.with_problems(*(() if link is None else (link,))).with_notes(*(() if note is None else (note,)))


def missing_chain(chain_id: str, items: Sequence[CheckpointItem], keys: Sequence[PublicKey]) -> VerifyResult:
    """The result for a chain that signed checkpoints name but the database lacks."""
    check = CheckpointCheck(chain_id, "v1", b"", list(items), list(keys))
    problems = list(check.problems)
    for item, entry in check.valid:
        entry["status"] = "truncated"
        problems.append(Problem(
            kind=FailureKind.TRUNCATED, seq=0,
            message=f"checkpoint {item.source} signs {item.checkpoint.size} events of chain {chain_id},"
            " which is not in the database",
            expected=str(item.checkpoint.size), computed="0", evidence=(item.evidence(),),
        ))
    result = VerifyResult(chain=chain_id, events=0, complete=False, head=None,
                          checkpoints=tuple(check.report), signed_size=0)
    return result.with_problems(*problems)
