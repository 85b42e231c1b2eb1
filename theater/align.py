"""Align two chains by content: an edit script over their events' ``(type, data)``.

``theater diff`` compared chains seq by seq, so one inserted or missing call made every
later event differ. Here each event becomes a key: its type and its data bytes as
stored (a 128-bit BLAKE2b of them when longer than 32 bytes); hashes and seqs are not
compared, as another seed changes every hash. The two key sequences are aligned by a
shortest edit script (Myers' O(ND) algorithm) after their common prefix and suffix are
stripped. Reading the rows costs most of the time: two chains of 100,000 events with a
few differences align in a few seconds (tests/bench/test_bench_align.py, against a
seq-by-seq scan of the same rows).

The result is a list of :class:`Hunk` s over the chains' rows in seq order: ``equal``
runs, ``changed`` events (same type, other data, paired one to one), ``missing`` events
(only in A, the expected side) and ``inserted`` ones (only in B). When the chains
differ in more than ``max_edits`` places, an exact script would cost too much
(O(N*D)); the rest of the differing middle is then paired by position and the
alignment says ``approximate``.

::

    al = align_chains(store, "a1b2...", "c3d4...")
    al.identical                 # the same events in the same order
    al.counts                    # {"changed": 1, "missing": 1, "inserted": 1}
    al.row(i)                    # (kind, seq in A or None, seq in B or None): the i-th aligned row
    for d in differences(store, al): print(d.describe())
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from .jsondiff import Difference
from .jsondiff import differences as value_differences
from .store import Store

__all__ = ["AlignKind", "AlignedDifference", "Alignment", "Hunk", "MAX_EDITS", "align_chains",
           "differences", "edit_script"]

#: edits beyond which the middle is paired by position (see the module's docstring)
MAX_EDITS = 2000

Progress = Callable[[int], None]  # called with a count now and then; may raise to stop


class AlignKind(StrEnum):
    """What one aligned row is."""

    EQUAL = "equal"  # the same type and data in both chains
    CHANGED = "changed"  # the same type, other data
    MISSING = "missing"  # only in A (expected, not there)
    INSERTED = "inserted"  # only in B (there, not expected)


@dataclass(frozen=True, kw_only=True, slots=True)
class Hunk:
    """Rows ``[a_start, a_stop)`` of A against ``[b_start, b_stop)`` of B (indexes in
    each chain's rows in seq order, not seqs). ``equal`` and ``changed`` hunks have as
    many rows on both sides; ``missing`` has none in B, ``inserted`` none in A."""

    kind: AlignKind
    a_start: int
    a_stop: int
    b_start: int
    b_stop: int

    @property
    def rows(self) -> int:
        return max(self.a_stop - self.a_start, self.b_stop - self.b_start)

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "a": [self.a_start, self.a_stop], "b": [self.b_start, self.b_stop]}


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    lo, hi = 0, n  # binary search on slices: C-speed comparisons instead of a Python loop
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    lo, hi = 0, limit
    la, lb = len(a), len(b)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid:] == b[lb - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _myers(a: Sequence[int], b: Sequence[int], max_edits: int) -> list[tuple[str, int, int, int]] | None:
    """A shortest edit script of ``a`` into ``b`` as steps ``("=", x, y, n)`` (a[x:x+n]
    equals b[y:y+n]), ``("-", x, y, 1)`` (a[x] deleted) and ``("+", x, y, 1)`` (b[y]
    inserted), in order; None when it needs more than ``max_edits`` edits."""
    n, m = len(a), len(b)
    limit = min(n + m, max_edits)
    off = limit + 1
    v = [0] * (2 * limit + 3)
    trace: list[list[int]] = []
    end_d = -1
    for d in range(limit + 1):
        trace.append(v[off - d - 1: off + d + 2])  # the diagonals round d reads, k in [-d-1, d+1]
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[off + k - 1] < v[off + k + 1]):
                x = v[off + k + 1]
            else:
                x = v[off + k - 1] + 1
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x += 1
                y += 1
            v[off + k] = x
            if x >= n and y >= m:
                end_d = d
                break
        if end_d >= 0:
            break
    if end_d < 0:
        return None
    steps: list[tuple[str, int, int, int]] = []
    x, y = n, m
    for d in range(end_d, 0, -1):
        vp = trace[d]
        k = x - y
        down = k == -d or (k != d and vp[k - 1 + d + 1] < vp[k + 1 + d + 1])
        pk = k + 1 if down else k - 1
        px = vp[pk + d + 1]
        py = px - pk
        sx, sy = (px, py + 1) if down else (px + 1, py)
        run = min(x - sx, y - sy)
        if run > 0:
            steps.append(("=", x - run, y - run, run))
        steps.append(("+", px, py, 1) if down else ("-", px, py, 1))
        x, y = px, py
    if min(x, y) > 0:
        steps.append(("=", x - min(x, y), y - min(x, y), min(x, y)))
    steps.reverse()
    return steps


def _add(hunks: list[Hunk], kind: AlignKind, a0: int, a1: int, b0: int, b1: int) -> None:
    if a1 == a0 and b1 == b0:
        return
    last = hunks[-1] if hunks else None
    if last is not None and last.kind == kind and last.a_stop == a0 and last.b_stop == b0:
        hunks[-1] = Hunk(kind=kind, a_start=last.a_start, a_stop=a1, b_start=last.b_start, b_stop=b1)
    else:
        hunks.append(Hunk(kind=kind, a_start=a0, a_stop=a1, b_start=b0, b_stop=b1))


def _gap(hunks: list[Hunk], a0: int, a1: int, b0: int, b1: int, types_a: Sequence[int],
         types_b: Sequence[int]) -> None:
    """Hunks for one replaced block, rows ``[a0, a1)`` of A against ``[b0, b1)`` of B:
    pairs of the same type, in order, are ``changed``; the others missing or inserted."""
    left: dict[int, int] = {}
    for j in range(b0, b1):
        left[types_b[j]] = left.get(types_b[j], 0) + 1
    i, j = a0, b0
    while i < a1 or j < b1:
        if i < a1 and j < b1 and types_a[i] == types_b[j]:
            _add(hunks, AlignKind.CHANGED, i, i + 1, j, j + 1)
            left[types_b[j]] -= 1
            i, j = i + 1, j + 1
        elif i < a1 and (j >= b1 or not left.get(types_a[i])):
            _add(hunks, AlignKind.MISSING, i, i + 1, j, j)
            i += 1
        else:
            _add(hunks, AlignKind.INSERTED, i, i, j, j + 1)
            left[types_b[j]] -= 1
            j += 1


def edit_script(
    a: Sequence[int], b: Sequence[int], *, types_a: Sequence[int] | None = None,
    types_b: Sequence[int] | None = None, max_edits: int = MAX_EDITS,
) -> tuple[list[Hunk], bool]:
    """``(hunks, approximate)``: how key sequence ``a`` becomes ``b``. ``types_*`` (the
    keys' event types, default the keys themselves) decide which replaced events are
    ``changed`` rather than missing and inserted."""
    ta = a if types_a is None else types_a
    tb = b if types_b is None else types_b
    pre = _common_prefix(a, b)
    suf = _common_suffix(a, b, min(len(a), len(b)) - pre)
    hunks: list[Hunk] = []
    _add(hunks, AlignKind.EQUAL, 0, pre, 0, pre)
    ma, mb = a[pre: len(a) - suf], b[pre: len(b) - suf]
    steps = _myers(ma, mb, max_edits)
    approximate = steps is None
    if steps is None:  # too many differences for an exact script: pair by position
        n = min(len(ma), len(mb))
        for i in range(n):
            kind = AlignKind.EQUAL if ma[i] == mb[i] else AlignKind.CHANGED
            if kind is AlignKind.CHANGED and ta[pre + i] != tb[pre + i]:
                _add(hunks, AlignKind.MISSING, pre + i, pre + i + 1, pre + i, pre + i)
                _add(hunks, AlignKind.INSERTED, pre + i + 1, pre + i + 1, pre + i, pre + i + 1)
            else:
                _add(hunks, kind, pre + i, pre + i + 1, pre + i, pre + i + 1)
        _add(hunks, AlignKind.MISSING, pre + n, pre + len(ma), pre + n, pre + n)
        _add(hunks, AlignKind.INSERTED, pre + len(ma), pre + len(ma), pre + n, pre + len(mb))
    else:
        gap: list[int] | None = None  # [a0, b0] where the current replaced block began
        for op, x, y, n in steps:
            if op == "=":
                if gap is not None:
                    _gap(hunks, gap[0], pre + x, gap[1], pre + y, ta, tb)
                    gap = None
                _add(hunks, AlignKind.EQUAL, pre + x, pre + x + n, pre + y, pre + y + n)
            elif gap is None:
                gap = [pre + x, pre + y]
        if gap is not None:
            _gap(hunks, gap[0], pre + len(ma), gap[1], pre + len(mb), ta, tb)
    _add(hunks, AlignKind.EQUAL, len(a) - suf, len(a), len(b) - suf, len(b))
    return hunks, approximate


@dataclass(frozen=True, kw_only=True)
class Alignment:
    """Two chains aligned by content (:func:`align_chains`). ``seqs_a``/``seqs_b`` are
    each chain's seqs in order (row ``i`` of A is seq ``seqs_a[i]``); ``hunks`` cover
    both chains' rows in order. Display row ``r`` (0 .. ``rows``) is :meth:`row`."""

    chain_a: str
    chain_b: str
    seqs_a: tuple[int, ...]
    seqs_b: tuple[int, ...]
    hunks: tuple[Hunk, ...]
    approximate: bool
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts, at = [], 0
        for h in self.hunks:
            starts.append(at)
            at += h.rows
        object.__setattr__(self, "_starts", tuple(starts))

    @property
    def rows(self) -> int:
        """Aligned rows: one for each equal or changed pair, missing or inserted event."""
        return (self._starts[-1] + self.hunks[-1].rows) if self.hunks else 0

    @property
    def identical(self) -> bool:
        return all(h.kind is AlignKind.EQUAL for h in self.hunks)

    @property
    def counts(self) -> dict[str, int]:
        """Rows of each kind but equal (only kinds that occur)."""
        out: dict[str, int] = {}
        for h in self.hunks:
            if h.kind is not AlignKind.EQUAL:
                out[str(h.kind)] = out.get(str(h.kind), 0) + h.rows
        return out

    def row(self, index: int) -> tuple[AlignKind, int | None, int | None]:
        """``(kind, seq in A, seq in B)`` of display row ``index`` (None: not in that chain)."""
        h_i = bisect.bisect_right(self._starts, index) - 1
        h = self.hunks[h_i]
        off = index - self._starts[h_i]
        sa = self.seqs_a[h.a_start + off] if h.a_stop > h.a_start else None
        sb = self.seqs_b[h.b_start + off] if h.b_stop > h.b_start else None
        return h.kind, sa, sb

    def row_of_seq(self, seq: int, *, side: str = "a") -> int | None:
        """The display row showing ``seq`` of chain A (``side="b"``: of chain B)."""
        seqs = self.seqs_a if side == "a" else self.seqs_b
        i = bisect.bisect_left(seqs, seq)
        if i >= len(seqs) or seqs[i] != seq:
            return None
        for h, start in zip(self.hunks, self._starts, strict=True):
            lo, hi = (h.a_start, h.a_stop) if side == "a" else (h.b_start, h.b_stop)
            if lo <= i < hi:
                return start + i - lo
        return None

    def next_difference(self, index: int) -> int | None:
        """The first display row after ``index`` that is not equal, or None."""
        h_i = max(0, bisect.bisect_right(self._starts, index) - 1)
        for h, start in zip(self.hunks[h_i:], self._starts[h_i:], strict=True):
            if h.kind is not AlignKind.EQUAL and start + h.rows - 1 > index:
                return max(start, index + 1)
        return None

    def previous_difference(self, index: int) -> int | None:
        """The last display row before ``index`` that is not equal, or None."""
        h_i = min(len(self.hunks) - 1, bisect.bisect_right(self._starts, index - 1) - 1)
        for i in range(h_i, -1, -1):
            h, start = self.hunks[i], self._starts[i]
            if h.kind is not AlignKind.EQUAL and start < index:
                return min(start + h.rows - 1, index - 1)
        return None

    def differing_rows(self) -> Iterator[int]:
        """Every display row that is not equal, in order."""
        for h, start in zip(self.hunks, self._starts, strict=True):
            if h.kind is not AlignKind.EQUAL:
                yield from range(start, start + h.rows)

    def to_json(self) -> dict[str, Any]:
        return {"chain_a": self.chain_a, "chain_b": self.chain_b, "length_a": len(self.seqs_a),
                "length_b": len(self.seqs_b), "identical": self.identical, "approximate": self.approximate,
                "counts": self.counts, "hunks": [h.to_json() for h in self.hunks if h.kind is not AlignKind.EQUAL]}


def _keys(store: Store, chain_id: str, stop: int | None, progress: Progress | None,
          types: dict[str, int], interned: dict[tuple[str, bytes], int]) -> tuple[list[int], list[int], list[int]]:
    """Each row's seq, content key and type id, in seq order: the data as stored and
    hashed (a state kept as a blob is its reference, the SHA-256 of its bytes)."""
    seqs: list[int] = []
    keys: list[int] = []
    tids: list[int] = []
    last = None
    blake = hashlib.blake2b
    n = 0
    for seq, _hash, t, data in store.hashed_rows(chain_id, 0, stop, page=8192):
        if seq == last:  # a repeated seq (tampered file): the first row counts, as in verify.diff
            continue
        last = seq
        # short data is its own key (most events: a number, a short string); longer
        # data its 128-bit BLAKE2b (finding two datas with one digest is a preimage attack)
        k = (t, data if len(data) <= 32 else blake(data, digest_size=16).digest())
        key = interned.get(k)
        if key is None:
            key = interned[k] = len(interned)
        seqs.append(seq)
        keys.append(key)
        tid = types.get(t)
        if tid is None:
            tid = types[t] = len(types)
        tids.append(tid)
        n += 1
        if progress is not None and n % 65536 == 0:
            progress(n)
    return seqs, keys, tids


def align_chains(store: Store, chain_a: str, chain_b: str, *, max_edits: int = MAX_EDITS,
                 progress: Progress | None = None) -> Alignment:
    """Align chains ``chain_a`` (expected) and ``chain_b`` (actual) by content: each
    chain as it is now (events appended meanwhile are not read). ``progress`` is called
    with a count of rows read now and then (it may raise to stop)."""
    types: dict[str, int] = {}
    interned: dict[tuple[str, bytes], int] = {}
    sides = []
    for cid in (chain_a, chain_b):
        last = store.last_event(cid)
        stop = 0 if last is None else last.seq + 1 if type(last.seq) is int else None
        sides.append(_keys(store, cid, stop, progress, types, interned))
    (seqs_a, keys_a, types_a), (seqs_b, keys_b, types_b) = sides
    hunks, approximate = edit_script(keys_a, keys_b, types_a=types_a, types_b=types_b, max_edits=max_edits)
    return Alignment(chain_a=chain_a, chain_b=chain_b, seqs_a=tuple(seqs_a), seqs_b=tuple(seqs_b),
                     hunks=tuple(hunks), approximate=approximate)


@dataclass(frozen=True, kw_only=True)
class AlignedDifference:
    """One aligned row that is not equal: its kind, its seq in each chain (None where
    absent), the types, and for ``changed`` the structural differences of the data."""

    kind: AlignKind
    seq_a: int | None
    seq_b: int | None
    type_a: str | None
    type_b: str | None
    differences: tuple[Difference, ...] = ()
    same_json_other_bytes: bool = False

    def describe(self) -> str:
        """One line: ``changed A 9 / B 9 wasi:...#get-random-u64: result: expected 2, got 42``."""
        if self.kind is AlignKind.MISSING:
            return f"missing   A {self.seq_a}: {self.type_a} (not in B)"
        if self.kind is AlignKind.INSERTED:
            return f"inserted  B {self.seq_b}: {self.type_b} (not in A)"
        what = "; ".join(d.describe() for d in self.differences[:3])
        if len(self.differences) > 3:
            what += f"; {len(self.differences) - 3} more"
        if self.same_json_other_bytes:
            what = "the same JSON value, encoded as different bytes"
        return f"changed   A {self.seq_a} / B {self.seq_b}: {self.type_a}: {what or 'data differs'}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "seq_a": self.seq_a, "seq_b": self.seq_b, "type_a": self.type_a,
                "type_b": self.type_b, "differences": [d.to_json() for d in self.differences],
                "same_json_other_bytes": self.same_json_other_bytes, "describe": self.describe()}


def _payload(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return {"(not JSON)": data.hex()}


def _event(store: Store, chain_id: str, seq: int | None) -> tuple[str | None, bytes | None]:
    if seq is None:
        return None, None
    row = next(store.event_rows(chain_id, seq, seq + 1, written_at=False), None)
    return (None, None) if row is None else (str(row[3]), bytes(row[4]))


def differences(store: Store, alignment: Alignment) -> Iterator[AlignedDifference]:
    """Every row of ``alignment`` that is not equal, in order, read from ``store``."""
    for index in alignment.differing_rows():
        kind, sa, sb = alignment.row(index)
        ta, da = _event(store, alignment.chain_a, sa)
        tb, db = _event(store, alignment.chain_b, sb)
        diffs: tuple[Difference, ...] = ()
        other_bytes = False
        if kind is AlignKind.CHANGED and da is not None and db is not None:
            diffs = tuple(value_differences(_payload(da), _payload(db)))
            other_bytes = not diffs
        yield AlignedDifference(kind=kind, seq_a=sa, seq_b=sb, type_a=ta, type_b=tb, differences=diffs,
                                same_json_other_bytes=other_bytes)
