"""What verification finds: the failure classes, a problem, the result of one chain.

Every check in ``verify/`` reports through these. They are frozen and keyword-only:
a check that finds more returns a new result (:meth:`VerifyResult.with_problems`,
:meth:`VerifyResult.with_notes`, :func:`dataclasses.replace`), and ``ok`` and
``problem`` are derived from ``problems``, so they cannot disagree with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class FailureKind(StrEnum):
    """The fixed set of failure classes (the values are the JSON output's ``class``)."""

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
    BROKEN_LINK = "broken_link"  # a link between chains does not hold: a run's (verify --run), a fork's prefix
    UNDELIVERED = "undelivered"  # a message sent in a completed run, neither delivered nor recorded lost
    MISSING_BLOB = "missing_blob"  # an event refers to a blob the database does not hold
    BLOB_MISMATCH = "blob_mismatch"  # a referenced blob's bytes do not hash to its reference


#: the former name of :class:`FailureKind`, kept for callers that import it
Failure = FailureKind

# at the same seq, a broken row is reported before what it breaks further on
_ORDER = list(FailureKind)


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A failure found: its class, where, and what differed."""

    kind: FailureKind
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


@dataclass(frozen=True, kw_only=True)
class VerifyResult:
    """The outcome of verifying one chain.

    ``ok`` is True when no problem was found; ``complete`` is True when the chain ends
    with an end event (otherwise only the prefix that exists was verified); ``head``
    is the hash of the last verified event (the genesis hash for an empty chain).
    """

    chain: str
    events: int
    complete: bool
    head: bytes | None
    #: every problem found, first bad seq first (``problem`` is the first of them)
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()
    #: one entry per checkpoint checked: source, size, head, signers, status
    checkpoints: tuple[dict[str, Any], ...] = ()
    #: number of random draws audited (None when the audit did not run)
    random_checked: int | None = None
    format: str = "v1"
    #: with keys: the largest size a valid signed checkpoint matching the chain covers
    #: (0: none); None when no key was given
    signed_size: int | None = None

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def problem(self) -> Problem | None:
        """The problem at the first bad seq (None when the chain verified)."""
        return self.problems[0] if self.problems else None

    def with_problems(self, *problems: Problem) -> VerifyResult:
        """This result with further problems, all ordered by :meth:`Problem.sort_key`."""
        if not problems:
            return self
        return replace(self, problems=tuple(sorted((*self.problems, *problems), key=Problem.sort_key)))

    def with_notes(self, *notes: str) -> VerifyResult:
        """This result with further notes (after its own)."""
        return replace(self, notes=(*self.notes, *notes)) if notes else self

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
            "checkpoints": list(self.checkpoints),
            "random_checked": self.random_checked,
            "signed_size": self.signed_size,
            "notes": list(self.notes),
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


__all__ = ["Failure", "FailureKind", "Problem", "VerifyResult"]
