"""Checking signed checkpoints against a chain.

A checkpoint counts as evidence only when a trusted key signed it (signed-note
rules, :func:`theater.checkpoint.open_checkpoint`). Then, for a chain verified up to
``n`` events:

- a checkpoint with ``size <= n`` must name the hash of event ``size - 1`` (the
  genesis hash for size 0); otherwise the history was rewritten (``fork``: the stored
  chain and the signed one part at or before that event);
- a checkpoint with ``size > n`` on a chain that verified to its end means events
  were cut off (``truncated``, at seq ``n``);
- two signed checkpoints that cannot both be on one chain (the same size with
  different heads, or a smaller one the chain does not match while a larger one it
  does match commits to the chain's own event there) are a ``fork``, with both as
  evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from theater.chain import genesis_hash
from theater.checkpoint import (
    BadSignature,
    Checkpoint,
    CheckpointError,
    PrivateKey,
    PublicKey,
    open_checkpoint,
    parse_checkpoint,
    sign_verified,
    stored_checkpoints,
)
from theater.errors import UsageError
from theater.store import SQLiteError, Store, store_error

from . import integrity
from .results import FailureKind, Problem, VerifyResult


@dataclass(frozen=True)
class CheckpointItem:
    """A checkpoint and where it came from (``db #id`` or a file name)."""

    checkpoint: Checkpoint
    source: str

    def evidence(self) -> dict[str, Any]:
        cp = self.checkpoint
        return {"source": self.source, "size": cp.size, "head": cp.head.hex(), "note": cp.text}


def load_stored(store: Store, chain_id: str) -> tuple[list[CheckpointItem], list[Problem]]:
    """The chain's stored checkpoints; rows that cannot be read are ``malformed`` problems."""
    items: list[CheckpointItem] = []
    problems: list[Problem] = []
    try:
        rows = stored_checkpoints(store, chain_id)
    except SQLiteError as e:
        raise store_error(e, f"cannot read the checkpoints of {chain_id} from {store.path}") from e
    for row_id, _chain, note in rows:
        source = f"db #{row_id}"
        try:
            cp = parse_checkpoint(note)
        except CheckpointError as e:
            problems.append(Problem(kind=FailureKind.MALFORMED, seq=None,
                message=f"stored checkpoint {source} cannot be read: {e}"))
            continue
        if cp.chain != chain_id:
            problems.append(Problem(
                kind=FailureKind.MALFORMED, seq=None,
                message=f"stored checkpoint {source} is filed under {chain_id} but signs {cp.origin!r}",
            ))
            continue
        items.append(CheckpointItem(cp, source))
    return items, problems


@dataclass
class CheckpointCheck:
    """Checks checkpoints along one verification pass: feed ``on_event``, then ``finish``."""

    chain_id: str
    format: str
    header: bytes
    items: list[CheckpointItem]
    keys: list[PublicKey]
    problems: list[Problem] = field(default_factory=list)
    report: list[dict[str, Any]] = field(default_factory=list)
    valid: list[tuple[CheckpointItem, dict[str, Any]]] = field(default_factory=list)
    heads: dict[int, bytes | None] = field(default_factory=dict)
    #: after ``finish``: the largest size of a valid checkpoint the chain matches (0: none)
    signed: int = 0

    def __post_init__(self) -> None:
        for item in self.items:
            cp = item.checkpoint
            entry: dict[str, Any] = {"source": item.source, "size": cp.size, "head": cp.head.hex(),
                                     "signers": [], "status": "ok"}
            self.report.append(entry)
            if cp.chain != self.chain_id:
                entry["status"] = "malformed"
                self.problems.append(Problem(
                    kind=FailureKind.MALFORMED, seq=None,
                    message=f"checkpoint {item.source} signs {cp.origin!r}, not this chain",
                    evidence=(item.evidence(),),
                ))
                continue
            try:
                signers = open_checkpoint(cp, self.keys)
            except BadSignature as e:
                entry["status"] = "bad_signature"
                self.problems.append(Problem(
                    kind=FailureKind.BAD_SIGNATURE, seq=None,
                    message=f"checkpoint {item.source} (size {cp.size}): {e}",
                    evidence=(item.evidence(),),
                ))
                continue
            entry["signers"] = [f"{k.name}+{k.id.hex()}" for k in signers]
            self.valid.append((item, entry))
            self.heads.setdefault(cp.size, None)
        if 0 in self.heads and self.format == "v1":
            self.heads[0] = genesis_hash(self.header)

    def on_event(self, seq: int, hash_: bytes, type_: str, data: bytes) -> None:
        if seq + 1 in self.heads:
            self.heads[seq + 1] = hash_

    def finish(self, verified: int, walk_ok: bool) -> list[Problem]:
        """Judge every valid checkpoint against the chain verified up to ``verified`` events."""
        problems = list(self.problems)
        by_size: dict[int, list[tuple[CheckpointItem, dict[str, Any]]]] = {}
        for item, entry in self.valid:
            by_size.setdefault(item.checkpoint.size, []).append((item, entry))
        conflicted: set[int] = set()
        for size, group in sorted(by_size.items()):
            distinct = {i.checkpoint.head: (i, e) for i, e in group}
            if len(distinct) > 1:
                (a, ea), (b, eb) = list(distinct.values())[:2]
                conflicted.add(size)
                ea["status"] = eb["status"] = "fork"
                problems.append(Problem(
                    kind=FailureKind.FORK, seq=max(size - 1, 0),
                    message=f"checkpoints {a.source} and {b.source} sign different heads for size {size}",
                    expected=a.checkpoint.head.hex(), computed=b.checkpoint.head.hex(),
                    evidence=(a.evidence(), b.evidence()),
                ))
        matches: list[CheckpointItem] = []
        mismatches: list[tuple[CheckpointItem, bytes | None]] = []
        for item, entry in self.valid:
            cp = item.checkpoint
            if cp.size <= verified:
                actual = self.heads.get(cp.size)
                if actual == cp.head:
                    matches.append(item)
                else:
                    entry["status"] = entry["status"] if entry["status"] == "fork" else "mismatch"
                    mismatches.append((item, actual))
            elif walk_ok:
                entry["status"] = "truncated"
                problems.append(Problem(
                    kind=FailureKind.TRUNCATED, seq=verified,
                    message=f"the chain has {verified} events but checkpoint {item.source} signed {cp.size}"
                    " (events were cut off)",
                    expected=str(cp.size), computed=str(verified), evidence=(item.evidence(),),
                ))
            else:
                entry["status"] = "not_checked"
        self.signed = max((i.checkpoint.size for i in matches if i.checkpoint.size not in conflicted), default=0)
        for item, actual in mismatches:
            cp = item.checkpoint
            if cp.size in conflicted:
                continue
            above = [a for a in matches if a.checkpoint.size > cp.size]
            seq = max(cp.size - 1, 0)
            if above:
                a = above[0]
                problems.append(Problem(
                    kind=FailureKind.FORK, seq=seq,
                    message=f"checkpoints {item.source} (size {cp.size}) and {a.source} (size {a.checkpoint.size})"
                    " cannot both be on one chain",
                    expected=cp.head.hex(), computed=None if actual is None else actual.hex(),
                    evidence=(item.evidence(), a.evidence()),
                ))
            else:
                chain_ev = {"source": "chain", "size": cp.size, "head": None if actual is None else actual.hex()}
                problems.append(Problem(
                    kind=FailureKind.FORK, seq=seq,
                    message=f"history rewritten: at size {cp.size} the chain's head is not the one checkpoint"
                    f" {item.source} signed (the chain parts from it at or before seq {seq})",
                    expected=cp.head.hex(), computed=None if actual is None else actual.hex(),
                    evidence=(item.evidence(), chain_ev),
                ))
        return problems


def verify_and_sign(
    store: Store, ref: str, key: PrivateKey | list[PrivateKey], *, size: int | None = None,
) -> tuple[VerifyResult, Checkpoint | None]:
    """Verify the chain ``ref`` names and sign exactly what verified (``theater checkpoint``).

    The chain row, its header and every event are read in one read transaction, and
    the checkpoint signs the ``(size, head)`` that this verification computed (the
    head at ``size``, default all verified events, is taken from the walk itself):
    nothing is read again between verifying and signing, so a concurrent writer
    cannot get a head signed that was never verified. The walk is serial (parallel
    parts would read in snapshots of their own). The note is stored after the read
    transaction ends. A chain that does not verify is not signed: ``(result, None)``.
    """
    heads: dict[int, bytes] = {}

    def at(seq: int, hash_: bytes, type_: str, data: bytes) -> None:
        if seq + 1 == size:
            heads[size] = hash_

    with store.snapshot():  # deferred BEGIN: one snapshot from the first read to COMMIT
        info = store.resolve(ref)
        result = integrity.verify_chain(store, info, on_event=None if size is None else at, workers=1)
    if not result.ok:
        return result, None
    n = result.events if size is None else size
    if not 0 <= n <= result.events:
        raise UsageError(f"--size {n} is outside the chain (0 to {result.events})")
    if n == result.events and result.head is not None:
        head = result.head  # the genesis hash for an empty v1 chain
    elif n in heads:
        head = heads[n]
    elif n == 0 and info.format == "v1":
        head = genesis_hash(info.header)
    else:
        raise UsageError(f"a checkpoint of size {n} needs format v1 (genesis hash); this chain is {info.format}")
    return result, sign_verified(store, info.id, key, n, head)
