"""Integrity verification: walk a chain in seq order and recompute every hash.

The first failure is reported with a class from :class:`Failure`, the seq where it
was found, and the expected and computed (or found) values. Rows are streamed, so
memory does not grow with the chain's length. A chain with no end event verifies as
a prefix: ``complete`` is False and the result says so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from theater.chain import END_TYPE, HASH_SIZE, event_hash, genesis_hash
from theater.errors import StoreError
from theater.store import ChainInfo, Store


class Failure(StrEnum):
    """The fixed set of failure classes."""

    HASH_MISMATCH = "hash_mismatch"  # an event's stored hash is not the hash of its fields
    PARENT_MISMATCH = "parent_mismatch"  # an event does not link to the one before it
    SEQUENCE_GAP = "sequence_gap"  # a seq is missing (an event was deleted)
    DUPLICATE = "duplicate"  # the same seq, or the same event, twice
    HEADER_MISMATCH = "header_mismatch"  # event 0 does not link to the header's genesis hash
    MALFORMED = "malformed"  # a row or header that cannot be read as format v1
    TRUNCATED = "truncated"  # shorter than a signed checkpoint says
    BAD_SIGNATURE = "bad_signature"  # a checkpoint signature that does not verify
    FORK = "fork"  # two checkpoints that cannot both be true
    RANDOM_MISMATCH = "random_mismatch"  # a recorded random value the seed does not give


# at the same seq, a broken row is reported before what it breaks further on
_ORDER = list(Failure)


@dataclass(frozen=True)
class Problem:
    """The first failure found: its class, where, and what differed."""

    kind: Failure
    seq: int | None
    message: str
    expected: str | None = None
    computed: str | None = None

    evidence: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "class": str(self.kind),
            "seq": self.seq,
            "message": self.message,
            "expected": self.expected,
            "computed": self.computed,
        }
        if self.evidence:
            out["evidence"] = list(self.evidence)
        return out

    def sort_key(self) -> tuple[int, int]:
        """First bad seq first; problems without a seq (signatures) last."""
        return (self.seq if self.seq is not None else 1 << 64, _ORDER.index(self.kind))


@dataclass
class VerifyResult:
    """The outcome of verifying one chain.

    ``ok`` is True when no problem was found; ``complete`` is True when the chain ends
    with an end event (otherwise only the prefix that exists was verified); ``head``
    is the hash of the last verified event (the genesis hash for an empty chain).
    """

    chain: str
    ok: bool
    events: int
    complete: bool
    head: bytes | None
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)
    #: every problem found, first bad seq first (``problem`` is the first of them)
    problems: list[Problem] = field(default_factory=list)
    #: one entry per checkpoint checked: source, size, head, signers, status
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    #: number of random draws audited (None when the audit did not run)
    random_checked: int | None = None
    format: str = "v1"

    def __post_init__(self) -> None:
        if self.problem is not None and not self.problems:
            self.problems.append(self.problem)

    def add(self, *problems: Problem) -> None:
        """Record further problems; ``problem`` becomes the one at the first bad seq."""
        self.problems.extend(problems)
        self.problems.sort(key=Problem.sort_key)
        if self.problems:
            self.ok = False
            self.problem = self.problems[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "format": self.format,
            "ok": self.ok,
            "events": self.events,
            "complete": self.complete,
            "head": None if self.head is None else self.head.hex(),
            "problem": None if self.problem is None else self.problem.to_json(),
            "problems": [p.to_json() for p in self.problems],
            "checkpoints": self.checkpoints,
            "random_checked": self.random_checked,
            "notes": self.notes,
        }

    def summary(self) -> str:
        """One line for humans."""
        if self.problem is not None:
            p = self.problem
            where = "" if p.seq is None else f" at seq {p.seq}"
            return f"FAILED {self.chain}: {p.kind}{where}: {p.message}"
        state = "complete" if self.complete else "incomplete (no end event; verified as a prefix)"
        head = self.head.hex()[:16] if self.head else "-"
        extra = ""
        if self.checkpoints:
            sizes = ", ".join(str(c["size"]) for c in self.checkpoints)
            extra += f"; {len(self.checkpoints)} signed checkpoint(s) hold (size {sizes})"
        if self.random_checked is not None:
            extra += f"; {self.random_checked} random draw(s) match the seed"
        return f"ok {self.chain}: {self.events} events, head {head}, {state}{extra}"


OnEvent = Callable[[int, bytes, str, bytes], None]


def _hex(b: Any) -> str:
    return bytes(b).hex() if isinstance(b, (bytes, bytearray, memoryview)) else repr(b)


def verify_rows(
    chain_id: str,
    header: bytes,
    rows: Iterable[tuple[Any, ...]],
    *,
    progress: Callable[[int], None] | None = None,
    on_event: OnEvent | None = None,
) -> VerifyResult:
    """Verify rows ``(seq, hash, parent, type, data, ...)`` in stored order against a header.

    Per row, in this order: malformed fields; sequence (duplicate seq, gap); an exact
    repeat of the previous event; the stored hash against the recomputed one; the link
    to the previous event (to the genesis hash for seq 0: a header mismatch).
    ``on_event(seq, hash, type, data)`` is called for every event that verified, in
    order (the checkpoint check and the random audit ride along this single pass).
    """
    if not isinstance(header, (bytes, bytearray)) or not header:
        p = Problem(Failure.MALFORMED, None, "the chain has no header")
        return VerifyResult(chain_id, False, 0, False, None, p)
    genesis = genesis_hash(bytes(header))
    head = genesis
    prev_hash: bytes | None = None
    expected = 0
    ended = False
    n = 0

    def fail(kind: Failure, seq: int | None, msg: str, exp: str | None = None, got: str | None = None) -> VerifyResult:
        return VerifyResult(chain_id, False, n, ended, head, Problem(kind, seq, msg, exp, got))

    for row in rows:
        seq, h, parent, type_, data = row[0], row[1], row[2], row[3], row[4]
        if not isinstance(seq, int) or isinstance(seq, bool):
            return fail(Failure.MALFORMED, expected, f"seq is {type(seq).__name__}, not an integer")
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            return fail(Failure.MALFORMED, seq, f"hash is not {HASH_SIZE} bytes", None, _hex(h))
        if not isinstance(parent, bytes) or len(parent) != HASH_SIZE:
            return fail(Failure.MALFORMED, seq, f"parent is not {HASH_SIZE} bytes", None, _hex(parent))
        if not isinstance(type_, str) or not type_:
            return fail(Failure.MALFORMED, seq, "type is not a non-empty text value", None, repr(type_))
        if not isinstance(data, bytes):
            return fail(Failure.MALFORMED, seq, f"data is {type(data).__name__}, not bytes")
        if seq != expected:
            if seq == expected - 1:
                return fail(Failure.DUPLICATE, seq, f"seq {seq} appears twice", str(expected), str(seq))
            return fail(
                Failure.SEQUENCE_GAP, expected,
                f"expected seq {expected}, found seq {seq}: {seq - expected} event(s) missing",
                str(expected), str(seq),
            )
        if ended:
            return fail(Failure.MALFORMED, seq, "an event follows the end event")
        if h == prev_hash:
            return fail(Failure.DUPLICATE, seq, f"event {seq} repeats event {seq - 1}", None, h.hex())
        computed = event_hash(seq, parent, type_, data)
        if computed != h:
            return fail(
                Failure.HASH_MISMATCH, seq,
                f"stored hash of event {seq} ({type_}) is not the hash of its fields",
                h.hex(), computed.hex(),
            )
        if parent != head:
            if seq == 0:
                return fail(
                    Failure.HEADER_MISMATCH, 0,
                    "event 0 does not link to the genesis hash of the header (the header was changed)",
                    genesis.hex(), parent.hex(),
                )
            return fail(
                Failure.PARENT_MISMATCH, seq,
                f"event {seq} does not link to event {seq - 1} (events reordered, removed or spliced)",
                head.hex(), parent.hex(),
            )
        head = h
        prev_hash = h
        expected = seq + 1
        n += 1
        if on_event is not None:
            on_event(seq, h, type_, data)
        if type_ == END_TYPE:
            ended = True
        if progress is not None and n % 65536 == 0:
            progress(n)
    if progress is not None:
        progress(n)
    result = VerifyResult(chain_id, True, n, ended, head)
    if not ended:
        result.notes.append("no end event: the recording did not finish; verified as a prefix")
    return result


def verify_chain(
    store: Store,
    chain: ChainInfo | str,
    *,
    progress: Callable[[int], None] | None = None,
    on_event: OnEvent | None = None,
) -> VerifyResult:
    """Verify one stored chain's integrity (no code is run), by its format.

    A database that cannot be read whole raises :class:`StoreError` (never a pass on a
    partial read). When every stored event verifies but fewer exist than the
    chains table recorded when they were written, the tail was deleted: ``truncated``.
    """
    info = chain if isinstance(chain, ChainInfo) else store.chain(chain)
    try:
        result = verify_format_rows(
            info.format, info.id, info.header, store.event_rows(info.id),
            progress=progress, on_event=on_event,
        )
    except sqlite3.DatabaseError as e:
        raise StoreError(f"cannot read chain {info.id} from {store.path} whole: {e}") from e
    if result.ok and result.events < info.length:
        result.add(Problem(
            Failure.TRUNCATED, result.events,
            f"the database recorded {info.length} events for this chain but only "
            f"{result.events} exist (events deleted from the end)",
            str(info.length), str(result.events),
        ))
    return result


def verify_format_rows(
    fmt: str,
    chain_id: str,
    header: bytes,
    rows: Iterable[tuple[Any, ...]],
    *,
    progress: Callable[[int], None] | None = None,
    on_event: OnEvent | None = None,
) -> VerifyResult:
    """Verify rows by the rule of their chain format (``v1`` or ``legacy``)."""
    if fmt == "v1":
        result = verify_rows(chain_id, header, rows, progress=progress, on_event=on_event)
    elif fmt == "legacy":
        from .legacy import verify_legacy_rows

        result = verify_legacy_rows(chain_id, header, rows, progress=progress, on_event=on_event)
    else:
        p = Problem(Failure.MALFORMED, None, f"unknown chain format {fmt!r} (known: v1, legacy)")
        result = VerifyResult(chain_id, False, 0, False, None, p)
    result.format = fmt
    return result
