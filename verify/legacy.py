"""Verification of chains saved by the Rust Theater runtime (``chains.format = 'legacy'``).

The rule is upstream's (theater/legacy.py): every event's SHA-1 over its JSON form
equals its stored hash, and every parent is the previous event's hash (the first
event has the null parent). Failures use the same classes as format v1. The header
(written at import) records how many events were imported and the last hash; a
stored chain that stops short of that is ``truncated``.

What the SHA-1 rule cannot give: there is no genesis hash, so nothing binds the
header, and SHA-1 is not collision resistant. A signed checkpoint over the imported
chain (``theater checkpoint``) is what makes it evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from theater.legacy import HASH_SIZE, NULL_PARENT, header_expectation, stored_hash

from .results import FailureKind, Problem, VerifyResult
from .walk import OnEvent, hex_or_repr


def verify_legacy_rows(
    chain_id: str,
    header: bytes,
    rows: Iterable[tuple[Any, ...]],
    *,
    progress: Callable[[int], None] | None = None,
    on_event: OnEvent | None = None,
    check_header: bool = True,
) -> VerifyResult:
    """Verify legacy rows ``(seq, hash, parent, type, data, ...)`` in stored order."""
    expect = header_expectation(bytes(header)) if isinstance(header, (bytes, bytearray)) else None
    if check_header and expect is None:
        p = Problem(kind=FailureKind.MALFORMED, seq=None, message="the header is not a legacy import header")
        return VerifyResult(chain=chain_id, events=0, complete=True, head=None, problems=(p,), format="legacy")
    head: bytes | None = None
    expected = 0
    n = 0

    def fail(kind: FailureKind, seq: int | None, msg: str,
             exp: str | None = None, got: str | None = None) -> VerifyResult:
        problem = Problem(kind=kind, seq=seq, message=msg, expected=exp, computed=got)
        return VerifyResult(chain=chain_id, events=n, complete=True, head=head, problems=(problem,), format="legacy")

    for row in rows:
        seq, h, parent, type_, data = row[0], row[1], row[2], row[3], row[4]
        if not isinstance(seq, int) or isinstance(seq, bool):
            return fail(FailureKind.MALFORMED, expected, "seq is not an integer (or the event is not an object)")
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            return fail(FailureKind.MALFORMED, seq, f"hash is not {HASH_SIZE} bytes (or the event is not"
                        " an object of hash, parent_hash, event_type, data)", None, hex_or_repr(h))
        if not isinstance(parent, bytes) or len(parent) != HASH_SIZE:
            return fail(FailureKind.MALFORMED, seq, f"parent_hash is not {HASH_SIZE} bytes", None, hex_or_repr(parent))
        if not isinstance(type_, str):
            return fail(FailureKind.MALFORMED, seq, "event_type is not a string", None, repr(type_))
        if not isinstance(data, bytes):
            return fail(FailureKind.MALFORMED, seq, "data is not an array of bytes")
        if seq != expected:
            if seq == expected - 1:
                return fail(FailureKind.DUPLICATE, seq, f"seq {seq} appears twice", str(expected), str(seq))
            return fail(
                FailureKind.SEQUENCE_GAP, expected,
                f"expected seq {expected}, found seq {seq}: {seq - expected} event(s) missing",
                str(expected), str(seq),
            )
        if h == head:
            return fail(FailureKind.DUPLICATE, seq, f"event {seq} repeats event {seq - 1}", None, h.hex())
        computed = stored_hash(seq, parent, type_, data)
        if computed != h:
            return fail(
                FailureKind.HASH_MISMATCH, seq,
                f"stored SHA-1 of event {seq} ({type_}) is not the hash of its fields",
                h.hex(), computed.hex(),
            )
        link = NULL_PARENT if seq == 0 else head
        if parent != link:
            what = "the first event has a parent" if seq == 0 else (
                f"event {seq} does not link to event {seq - 1} (events reordered, removed or spliced)")
            return fail(FailureKind.PARENT_MISMATCH, seq, what, hex_or_repr(link), parent.hex())
        head = h
        expected = seq + 1
        n += 1
        if on_event is not None:
            on_event(seq, h, type_, data)
        if progress is not None and n % 65536 == 0:
            progress(n)
    if progress is not None:
        progress(n)
    if check_header and expect is not None:
        count, last = expect
        if n < count:
            return fail(
                FailureKind.TRUNCATED, n,
                f"the import recorded {count} events but only {n} are stored", str(count), str(n),
            )
        if n > count or head != last:
            return fail(
                FailureKind.HEADER_MISMATCH, None,
                "the chain does not end where the import header says", hex_or_repr(last), hex_or_repr(head),
            )
    note = ("legacy format (upstream's SHA-1 rule): SHA-1 is not collision resistant, no genesis"
            " hash binds the header, and there is no end event (a cut tail shows only against the"
            " import header or a signed checkpoint)")
    return VerifyResult(chain=chain_id, events=n, complete=True, head=head, format="legacy", notes=(note,))
