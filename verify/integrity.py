"""Integrity verification: walk a chain in seq order and recompute every hash.

The first failure is reported with a class from :class:`Failure`, the seq where it
was found, and the expected and computed (or found) values. Rows are streamed, so
memory does not grow with the chain's length. A chain with no end event verifies as
a prefix: ``complete`` is False and the result says so. A long chain is walked in
contiguous parts at once, one per process, with the serial walk's result
(:func:`verify_chain`; docs/performance.md).
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from theater.chain import END_TYPE, EVENT_TAG, HASH_SIZE, event_hash, genesis_hash, type_field
from theater.store import PAGE, ChainInfo, Store, store_error

if TYPE_CHECKING:
    pass


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
    UNSIGNED_TAIL = "unsigned_tail"  # with --key, a complete chain whose end no signed checkpoint covers


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
    #: with keys: the largest size a valid signed checkpoint matching the chain covers
    #: (0: none); None when no key was given
    signed_size: int | None = None

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
            "signed_size": self.signed_size,
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
        if self.signed_size is not None:
            extra += f"; signed through {self.signed_size} of {self.events} events"
        if self.random_checked == 0:
            extra += "; no random draws to audit"
        elif self.random_checked is not None:
            extra += f"; {self.random_checked} random draw(s) match the seed"
        return f"ok {self.chain}: {self.events} events, head {head}, {state}{extra}"


OnEvent = Callable[[int, bytes, str, bytes], None]

#: chains at least this long are verified in parallel (``verify_chain(workers=None)``)
PARALLEL_MIN_EVENTS = 200_000
#: at most this many processes verify one chain (the caller's and its workers)
MAX_PARALLEL = 4
#: events the caller's own part gets on top of an equal share (when it walks one): the
#: worker processes start about 0.14 s later (a new interpreter and its imports)
LEAD_EVENTS = 65_536
#: ``THEATER_VERIFY_WORKERS=n``: the number of processes for a long chain (1: serial)
WORKERS_ENV = "THEATER_VERIFY_WORKERS"

_PROGRESS_EVERY = 0xFFFF  # progress is reported when the count is a multiple of 65,536
#: rows per read. Parallel parts start on a multiple of it, so a part reads the pages the
#: serial walk reads, and a read error stops both before the same rows
_PAGE = PAGE
_Q = struct.Struct(">Q")


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
    bad = header_problem(bytes(header))
    if bad is not None:
        return VerifyResult(chain_id, False, 0, False, None, bad)
    genesis = genesis_hash(bytes(header))
    five = ((row[0], row[1], row[2], row[3], row[4]) for row in rows)
    return _finish(_walk(chain_id, genesis, five, genesis, None, 0, False, progress, on_event), progress)


def header_problem(header: bytes) -> Problem | None:
    """A v1 header whose ``component_sha256`` is not 64 lowercase hex is malformed: it
    cannot name the component the chain recorded (and must never reach a path)."""
    import orjson

    try:
        obj = orjson.loads(header)
    except orjson.JSONDecodeError:
        return None  # not JSON: the hash walk still checks what it binds
    if not isinstance(obj, dict) or "component_sha256" not in obj:
        return None  # a header that names no component (replay refuses it)
    sha = obj["component_sha256"]
    if isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
        return None
    return Problem(Failure.MALFORMED, None,
                   f"the header's component_sha256 {str(sha)[:80]!r} is not 64 lowercase hex digits",
                   "64 lowercase hex digits", str(sha)[:80])


def _finish(result: VerifyResult, progress: Callable[[int], None] | None) -> VerifyResult:
    """What follows a walk that found no problem: the last progress call and the prefix note."""
    if result.ok:
        if progress is not None:
            progress(result.events)
        if not result.complete:
            result.notes.append("no end event: the recording did not finish; verified as a prefix")
    return result


def _walk(
    chain_id: str,
    genesis: bytes,
    rows: Iterable[tuple[Any, Any, Any, Any, Any]],
    head: bytes,
    prev_hash: bytes | None,
    expected: int,
    ended: bool,
    progress: Callable[[int], None] | None,
    on_event: OnEvent | None,
) -> VerifyResult:
    """The walk of :func:`verify_rows` over rows ``(seq, hash, parent, type, data)``, from
    a state: the head, the previous row's hash, the next seq, whether the end event was
    seen. The events before are 0 .. expected - 1, all verified, so ``expected`` is also
    their count. A part of a chain is walked from the state its previous row leaves.

    Returns the first problem, or a passing result (without notes) whose ``head``,
    ``events`` and ``complete`` are the state after the last row.

    Every row is judged by the rules in their documented order (the general path
    below). A row that passes them all, as nearly every row does, is taken by a fast
    path first: exact types, the expected seq, the link, no repeat, a type seen
    before (cached as its hashed field; never the end event, and the cache is emptied
    at the end event) and a matching hash. The fast path accepts a row only when the
    general path would, with the same effect.
    """
    types: dict[str, bytes] = {}
    tag, join, pack, sha256 = EVENT_TAG, b"".join, _Q.pack, hashlib.sha256
    type_of, int_, bytes_, str_ = type, int, bytes, str
    for seq, h, parent, type_, data in rows:
        if (type_of(seq) is int_ and seq == expected and type_of(parent) is bytes_ and parent == head
                and type_of(h) is bytes_ and h != prev_hash and type_of(type_) is str_
                and type_of(data) is bytes_):
            tf = types.get(type_)
            if tf is not None and sha256(join((tag, pack(seq), parent, tf, pack(len(data)), data))).digest() == h:
                head = prev_hash = h
                expected = seq + 1
                if on_event is not None:
                    on_event(seq, h, type_, data)
                if progress is not None and not expected & _PROGRESS_EVERY:
                    progress(expected)
                continue
        # the general path: every rule, in the documented order
        if not isinstance(seq, int) or isinstance(seq, bool):
            return _fail(chain_id, expected, ended, head, Failure.MALFORMED, expected,
                         f"seq is {type(seq).__name__}, not an integer")
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            return _fail(chain_id, expected, ended, head, Failure.MALFORMED, seq,
                         f"hash is not {HASH_SIZE} bytes", None, _hex(h))
        if not isinstance(parent, bytes) or len(parent) != HASH_SIZE:
            return _fail(chain_id, expected, ended, head, Failure.MALFORMED, seq,
                         f"parent is not {HASH_SIZE} bytes", None, _hex(parent))
        if not isinstance(type_, str) or not type_:
            return _fail(chain_id, expected, ended, head, Failure.MALFORMED, seq,
                         "type is not a non-empty text value", None, repr(type_))
        if not isinstance(data, bytes):
            return _fail(chain_id, expected, ended, head, Failure.MALFORMED, seq,
                         f"data is {type(data).__name__}, not bytes")
        if seq != expected:
            if seq == expected - 1:
                return _fail(chain_id, expected, ended, head, Failure.DUPLICATE, seq,
                             f"seq {seq} appears twice", str(expected), str(seq))
            return _fail(
                chain_id, expected, ended, head, Failure.SEQUENCE_GAP, expected,
                f"expected seq {expected}, found seq {seq}: {seq - expected} event(s) missing",
                str(expected), str(seq),
            )
        if ended:
            return _fail(chain_id, expected, ended, head, Failure.MALFORMED, seq, "an event follows the end event")
        if h == prev_hash:
            return _fail(chain_id, expected, ended, head, Failure.DUPLICATE, seq,
                         f"event {seq} repeats event {seq - 1}", None, h.hex())
        computed = event_hash(seq, parent, type_, data)
        if computed != h:
            return _fail(
                chain_id, expected, ended, head, Failure.HASH_MISMATCH, seq,
                f"stored hash of event {seq} ({type_}) is not the hash of its fields",
                h.hex(), computed.hex(),
            )
        if parent != head:
            if seq == 0:
                return _fail(
                    chain_id, expected, ended, head, Failure.HEADER_MISMATCH, 0,
                    "event 0 does not link to the genesis hash of the header (the header was changed)",
                    genesis.hex(), parent.hex(),
                )
            return _fail(
                chain_id, expected, ended, head, Failure.PARENT_MISMATCH, seq,
                f"event {seq} does not link to event {seq - 1} (events reordered, removed or spliced)",
                head.hex(), parent.hex(),
            )
        head = prev_hash = h
        expected = seq + 1
        if on_event is not None:
            on_event(seq, h, type_, data)
        if type_ == END_TYPE:
            ended = True
            types.clear()  # whatever follows takes the general path (and fails there)
        elif type(type_) is str:
            if len(types) >= 4096:  # bounded, whatever the chain holds
                types.clear()
            types[type_] = type_field(type_)
        if progress is not None and not expected & _PROGRESS_EVERY:
            progress(expected)
    return VerifyResult(chain_id, True, expected, ended, head)


def _fail(chain_id: str, n: int, ended: bool, head: bytes, kind: Failure, seq: int | None, msg: str,
          exp: str | None = None, got: str | None = None) -> VerifyResult:
    return VerifyResult(chain_id, False, n, ended, head, Problem(kind, seq, msg, exp, got))


def verify_chain(
    store: Store,
    chain: ChainInfo | str,
    *,
    progress: Callable[[int], None] | None = None,
    on_event: OnEvent | None = None,
    workers: int | None = None,
    pool: VerifyPool | None = None,
) -> VerifyResult:
    """Verify one stored chain's integrity (no code is run), by its format.

    A database that cannot be read whole raises :class:`StoreError` (never a pass on a
    partial read). When every stored event verifies but fewer exist than the
    chains table recorded when they were written, the tail was deleted: ``truncated``.

    A v1 chain of :data:`PARALLEL_MIN_EVENTS` or more (without ``on_event``) is walked
    in up to :data:`MAX_PARALLEL` contiguous parts at once, one per process, with the
    same result as the serial walk; ``workers`` sets the number of processes (1:
    serial), ``pool`` lends worker processes to reuse (see :class:`VerifyPool`).
    ``progress`` then gets the sum of the parts' counts.
    """
    info = chain if isinstance(chain, ChainInfo) else store.chain(chain)
    try:
        if info.format == "v1" and isinstance(info.header, (bytes, bytearray)) and info.header:
            result = _verify_v1(store, info, progress, on_event, workers, pool)
        else:
            result = verify_format_rows(
                info.format, info.id, info.header, store.event_rows(info.id),
                progress=progress, on_event=on_event,
            )
    except sqlite3.DatabaseError as e:
        raise store_error(e, f"cannot read chain {info.id} from {store.path} whole") from e
    if result.ok and result.events < info.length:
        result.add(Problem(
            Failure.TRUNCATED, result.events,
            f"the database recorded {info.length} events for this chain but only "
            f"{result.events} exist (events deleted from the end)",
            str(info.length), str(result.events),
        ))
    return result


def _verify_v1(store: Store, info: ChainInfo, progress: Callable[[int], None] | None, on_event: OnEvent | None,
               workers: int | None, pool: VerifyPool | None) -> VerifyResult:
    bad = header_problem(bytes(info.header))
    if bad is not None:
        return VerifyResult(info.id, False, 0, False, None, bad)
    genesis = genesis_hash(bytes(info.header))
    k = _processes(store, info, on_event, workers)
    result = None
    if k > 1:
        result = _verify_parallel(store, info, genesis, k, progress, pool)
    if result is None:  # serial, or the parallel walk could not vouch for its result
        rows = store.event_rows(info.id, page=_PAGE, written_at=False)
        result = _walk(info.id, genesis, rows, genesis, None, 0, False, progress, on_event)
    result.format = "v1"
    return _finish(result, progress)


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


# the parallel walk lives in its own module; re-exported here for callers and tests
from .parallel import VerifyPool, _processes, _verify_parallel, part_bounds  # noqa: E402

__all__ = [
    "Failure", "Problem", "VerifyResult", "VerifyPool", "part_bounds", "verify_chain", "verify_rows",
    "verify_format_rows",
]
