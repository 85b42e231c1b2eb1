"""Chain diff: align two chains by seq and find where they part.

Two chains are compared event by event on what the actor did, ``(type, data)``, not on
hashes: a replay under another seed, or a recording against a replay, has a different
header and so different hashes throughout, yet the same events up to some point.
Whether the headers and the head hashes are equal is reported beside.

::

    d = diff_chains(store, "a1b2...", "c3d4...")
    d.identical          # same events, same length (headers may still differ)
    d.common_prefix      # leading events with equal type and data
    d.first              # EventDiff at the first differing seq, or None
    d.first.differences  # structural, from theater.jsondiff: "result: expected 1, got 2"

Rows are streamed by seq from both chains together (a merge on seq, so a tampered
chain with a gap or a repeated seq still aligns), in constant memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from theater.chain import genesis_hash
from theater.jsondiff import Difference, differences
from theater.store import ChainInfo, Store

Row = tuple[Any, ...]  # (seq, hash, parent, type, data, written_at) as stored
Progress = Callable[[int], None]  # called with a count now and then; may raise to stop

_UNDECODABLE = object()


def _decode(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _UNDECODABLE


def _payload(data: bytes | None) -> Any:
    """JSON data as a value; bytes that are not JSON as ``{"hex": ...}``; absent as None."""
    if data is None:
        return None
    value = _decode(data)
    return {"hex": bytes(data).hex()} if value is _UNDECODABLE else value


@dataclass(frozen=True)
class EventDiff:
    """The events at one seq in both chains, and how they differ.

    ``type_a``/``type_b`` is None when that chain has no event at ``seq`` (it ended, or
    the seq is missing). ``differences`` compares the decoded data (chain A is the
    expected side); it is empty when only the type differs or an event is absent.
    """

    seq: int
    type_a: str | None
    type_b: str | None
    data_a: Any
    data_b: Any
    differences: list[Difference] = field(default_factory=list)
    same_json_other_bytes: bool = False

    @property
    def equal(self) -> bool:
        """True when both events exist with the same type and identical data bytes."""
        return (
            self.type_a is not None
            and self.type_a == self.type_b
            and not self.differences
            and not self.same_json_other_bytes
        )

    def describe(self) -> list[str]:
        """Human lines: what differs at this seq, most telling first."""
        if self.type_a is None and self.type_b is None:
            return [f"event {self.seq}: in neither chain"]
        if self.type_a is None:
            return [f"event {self.seq}: only in B ({self.type_b})"]
        if self.type_b is None:
            return [f"event {self.seq}: only in A ({self.type_a})"]
        lines = []
        if self.type_a != self.type_b:
            lines.append(f"type: expected {self.type_a}, got {self.type_b}")
        lines.extend(d.describe() for d in self.differences)
        if self.same_json_other_bytes:
            lines.append("data: the same JSON value, encoded as different bytes")
        return lines or ["equal"]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type_a": self.type_a,
            "type_b": self.type_b,
            "data_a": self.data_a,
            "data_b": self.data_b,
            "differences": [d.to_json() for d in self.differences],
            "same_json_other_bytes": self.same_json_other_bytes,
            "describe": self.describe(),
        }


@dataclass(frozen=True)
class ChainDiff:
    """The outcome of :func:`diff_chains`.

    ``identical`` means the same events (type and data) in the same order and number;
    the headers may still differ (another seed), see ``same_header`` and
    ``header_differences``. ``same_head`` compares the stored head hashes, which are
    equal only when the headers and every event are. ``tail_a``/``tail_b`` count the
    events after the common prefix in each chain.
    """

    chain_a: str
    chain_b: str
    identical: bool
    common_prefix: int
    first: EventDiff | None
    length_a: int
    length_b: int
    same_header: bool
    header_differences: list[Difference]
    head_a: bytes | None
    head_b: bytes | None

    @property
    def tail_a(self) -> int:
        return self.length_a - self.common_prefix

    @property
    def tail_b(self) -> int:
        return self.length_b - self.common_prefix

    @property
    def same_head(self) -> bool:
        return self.head_a is not None and self.head_a == self.head_b

    def summary(self) -> list[str]:
        """Human lines for the CLI and the TUI."""
        out = [
            f"A {self.chain_a}: {self.length_a} events",
            f"B {self.chain_b}: {self.length_b} events",
        ]
        if self.same_header:
            out.append("headers: equal")
        else:
            diffs = "; ".join(d.describe() for d in self.header_differences[:3]) or "different bytes"
            out.append(f"headers: differ ({diffs})")
        out.append(f"head hashes: {'equal' if self.same_head else 'differ'}")
        if self.identical:
            out.append(f"identical: all {self.common_prefix} events have equal type and data")
            return out
        out.append(f"common prefix: {self.common_prefix} events")
        if self.first is not None:
            f = self.first
            out.append(f"first difference at seq {f.seq}:")
            out.append(f"  A: {f.type_a or '(no event)'}")
            out.append(f"  B: {f.type_b or '(no event)'}")
            out.extend("  " + line for line in f.describe())
        out.append(f"tails after the common prefix: A {self.tail_a}, B {self.tail_b} events")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_a": self.chain_a,
            "chain_b": self.chain_b,
            "identical": self.identical,
            "common_prefix": self.common_prefix,
            "first": None if self.first is None else self.first.to_json(),
            "length_a": self.length_a,
            "length_b": self.length_b,
            "tail_a": self.tail_a,
            "tail_b": self.tail_b,
            "same_header": self.same_header,
            "header_differences": [d.to_json() for d in self.header_differences],
            "same_head": self.same_head,
            "head_a": None if self.head_a is None else self.head_a.hex(),
            "head_b": None if self.head_b is None else self.head_b.hex(),
        }


def _info(store: Store, chain: ChainInfo | str) -> ChainInfo:
    return chain if isinstance(chain, ChainInfo) else store.chain(chain)


def aligned(
    store: Store, chain_a: str, chain_b: str, start: int = 0, stop: int | None = None,
    *, stops: tuple[int | None, int | None] = (None, None),
) -> Iterator[tuple[int, Row | None, Row | None]]:
    """``(seq, row_a, row_b)`` for every seq present in either chain, in seq order.

    A row is None where that chain has no event at the seq. A repeated seq (tampered
    file) keeps its first row. Streamed in short pages from each chain; constant
    memory. ``stops`` bounds each chain on its own (the extent it had when a diff
    began, so a chain still being recorded is compared as one consistent prefix).
    """
    ia = store.event_rows(chain_a, start, _lower(stop, stops[0]))
    ib = store.event_rows(chain_b, start, _lower(stop, stops[1]))
    ra, rb = next(ia, None), next(ib, None)
    while ra is not None or rb is not None:
        if ra is not None and (rb is None or ra[0] <= rb[0]):
            seq = int(ra[0])
        else:
            assert rb is not None
            seq = int(rb[0])
        a = ra if ra is not None and ra[0] == seq else None
        b = rb if rb is not None and rb[0] == seq else None
        yield seq, a, b
        if a is not None:
            ra = next(ia, None)
            while ra is not None and ra[0] == seq:
                ra = next(ia, None)
        if b is not None:
            rb = next(ib, None)
            while rb is not None and rb[0] == seq:
                rb = next(ib, None)


def _lower(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _extent(store: Store, chain_id: str) -> tuple[int | None, Any]:
    """``(stop, last event)``: the seq bound of what a chain holds now (None when its
    last seq is not an integer, in a tampered file: then read it unbounded)."""
    last = store.last_event(chain_id)
    return (0 if last is None else last.seq + 1 if type(last.seq) is int else None), last


def rows_equal(a: Row | None, b: Row | None) -> bool:
    """Equal type and data bytes (hashes are not compared)."""
    return a is not None and b is not None and a[3] == b[3] and bytes(a[4]) == bytes(b[4])


def compare_rows(seq: int, a: Row | None, b: Row | None) -> EventDiff:
    """The :class:`EventDiff` of two aligned rows (either may be None)."""
    da = None if a is None else bytes(a[4])
    db = None if b is None else bytes(b[4])
    diffs: list[Difference] = []
    other_bytes = False
    if da is not None and db is not None and da != db:
        diffs = differences(_payload(da), _payload(db))
        other_bytes = not diffs
    return EventDiff(
        seq,
        None if a is None else a[3],
        None if b is None else b[3],
        _payload(da),
        _payload(db),
        diffs,
        other_bytes,
    )


def event_diff(store: Store, chain_a: str, chain_b: str, seq: int) -> EventDiff:
    """Compare the events at ``seq`` in two chains."""
    a = next(store.event_rows(chain_a, seq, seq + 1), None)
    b = next(store.event_rows(chain_b, seq, seq + 1), None)
    return compare_rows(seq, a, b)


def differing_seqs(
    store: Store,
    chain_a: str,
    chain_b: str,
    start: int = 0,
    stop: int | None = None,
    *,
    progress: Progress | None = None,
) -> Iterator[int]:
    """Every seq in ``[start, stop)`` where the chains' events differ, in order (streamed).

    ``progress`` is called with the number of seqs examined every 65536 of them (it may
    raise to stop a long scan).
    """
    for n, (seq, a, b) in enumerate(aligned(store, chain_a, chain_b, start, stop), 1):
        if progress is not None and n % 65536 == 0:
            progress(n)
        if not rows_equal(a, b):
            yield seq


def next_difference(
    store: Store, chain_a: str, chain_b: str, after: int, *, progress: Progress | None = None
) -> int | None:
    """The first differing seq greater than ``after``, or None."""
    return next(differing_seqs(store, chain_a, chain_b, after + 1, progress=progress), None)


def previous_difference(
    store: Store,
    chain_a: str,
    chain_b: str,
    before: int,
    *,
    floor: int = 0,
    progress: Progress | None = None,
) -> int | None:
    """The last differing seq in ``[floor, before)``, or None (scans forward from ``floor``)."""
    last = None
    for seq in differing_seqs(store, chain_a, chain_b, floor, before, progress=progress):
        last = seq
    return last


def diff_chains(
    store: Store,
    chain_a: ChainInfo | str,
    chain_b: ChainInfo | str,
    *,
    progress: Progress | None = None,
) -> ChainDiff:
    """Align two chains by seq and report their common prefix and first difference.

    Chain A is the expected side (a recording), chain B the actual one (its replay).
    ``progress`` is called with the number of events compared, now and then.
    """
    ia, ib = _info(store, chain_a), _info(store, chain_b)
    # each chain as it is now: events appended while we compare (by a recorder in
    # another process) are not read, so lengths, heads and the scan agree
    (stop_a, last_a), (stop_b, last_b) = _extent(store, ia.id), _extent(store, ib.id)
    prefix = 0
    first: EventDiff | None = None
    for seq, a, b in aligned(store, ia.id, ib.id, stops=(stop_a, stop_b)):
        if seq == prefix and rows_equal(a, b):
            prefix += 1
            if progress is not None and prefix % 65536 == 0:
                progress(prefix)
            continue
        first = compare_rows(seq, a, b) if seq == prefix else compare_rows(prefix, None, None)
        break
    if progress is not None:
        progress(prefix)
    length_a, length_b = store.count(ia.id, stop_a), store.count(ib.id, stop_b)
    identical = first is None and length_a == length_b == prefix
    same_header = ia.header == ib.header
    header_diffs = [] if same_header else differences(_payload(ia.header), _payload(ib.header))
    return ChainDiff(
        chain_a=ia.id,
        chain_b=ib.id,
        identical=identical,
        common_prefix=prefix,
        first=first,
        length_a=length_a,
        length_b=length_b,
        same_header=same_header,
        header_differences=header_diffs,
        head_a=last_a.hash if last_a else genesis_hash(ia.header),
        head_b=last_b.hash if last_b else genesis_hash(ib.header),
    )
