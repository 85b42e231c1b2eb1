"""Chain data for the browser, read on demand: pages of rows by seq in an LRU cache.

Nothing here imports textual; the widgets ask a :class:`ChainSource` for the row at
a seq and it fetches the page around it (one indexed range query on ``(chain, seq)``),
so opening a chain of a million events costs a handful of small queries, never a
load of the whole chain. Helpers format hashes, sizes, times and hex dumps.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from theater import decode as _decode
from theater.chain import Event
from theater.store import ReplayRecord, Store
from theater.store.search import Pattern, matching_seqs, parse_pattern, seqs_of_types
from theater.text import inert_line

K = TypeVar("K")
V = TypeVar("V")

PAGE_SIZE = 256
CACHED_PAGES = 64


class LRU(Generic[K, V]):
    """A small least-recently-used map with a fixed number of entries."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True, slots=True)
class Page:
    """The events of one page of seqs; ``repeated`` holds seqs stored more than once."""

    events: dict[int, Event]
    repeated: frozenset[int]


class ChainSource:
    """Random access to one chain's events by seq, for a virtual list.

    ``rows`` is the highest stored seq plus one, so a missing seq (a deleted event in
    a tampered file) shows as a gap at its place rather than shifting later rows.
    Use from one thread only (the store's connection is not shared across threads).
    """

    def __init__(
        self, store: Store, chain_id: str, *, page_size: int = PAGE_SIZE, pages: int = CACHED_PAGES
    ) -> None:
        self.store = store
        self.chain_id = chain_id
        self.page_size = page_size
        self._cache: LRU[int, Page] = LRU(pages)
        self.fetches = 0
        self.rows = 0
        self.reload()

    def reload(self) -> None:
        """Forget cached pages and re-read the chain's extent."""
        self._cache.clear()
        last = self.store.max_seq(self.chain_id)  # a seq that is not an integer is not a row of the list
        self.rows = 0 if last is None else last + 1

    def _page(self, index: int) -> Page:
        page = self._cache.get(index)
        if page is None:
            lo = index * self.page_size
            events: dict[int, Event] = {}
            repeated: set[int] = set()
            for ev in self.store.events(self.chain_id, lo, lo + self.page_size):
                if ev.seq in events:
                    repeated.add(ev.seq)
                else:
                    events[ev.seq] = ev
            page = Page(events, frozenset(repeated))
            self._cache.put(index, page)
            self.fetches += 1
        return page

    def event(self, seq: int) -> Event | None:
        """The event at ``seq`` (the first stored, if repeated), or None for a gap."""
        if seq < 0 or seq >= self.rows:
            return None
        return self._page(seq // self.page_size).events.get(seq)

    def repeated(self, seq: int) -> bool:
        """True when ``seq`` is stored more than once (only in a tampered file)."""
        if seq < 0 or seq >= self.rows:
            return False
        return seq in self._page(seq // self.page_size).repeated


# -- views: which seqs are rows, in which order, at which depth (issue 17 items 2, 3) --


class Noise:
    """What the noise toggle hides: nothing, ``wasi:io/*`` calls, or all but exports."""

    ALL, NO_IO, EXPORTS = "all", "no-io", "exports"
    ORDER = (ALL, NO_IO, EXPORTS)
    WORDS = {ALL: "every event", NO_IO: "wasi:io hidden", EXPORTS: "exports only"}

    @staticmethod
    def keeps(mode: str) -> Callable[[str], bool] | None:
        """A test of an event type for ``mode``, None when every type is kept."""
        if mode == Noise.NO_IO:
            return lambda t: not t.startswith("host:wasi:io/")
        if mode == Noise.EXPORTS:
            return lambda t: not t.startswith("host:")
        return None


class RowView:
    """The rows of the event list: ``seqs[row]`` is the seq shown at a row (None: every
    seq in order, row = seq) and ``depths[row]`` its indent in the call tree (None: flat).

    A row of a seq is found by bisection when the rows are in seq order, else by an
    inverse array made on first use (8 bytes a seq)."""

    def __init__(self, seqs: array[int] | None = None, depths: bytearray | None = None, *,
                 total: int = 0, ordered: bool = True) -> None:
        self.seqs = seqs
        self.depths = depths
        self.total = total
        self.ordered = ordered
        self._inverse: array[int] | None = None

    @property
    def count(self) -> int:
        return self.total if self.seqs is None else len(self.seqs)

    def seq(self, row: int) -> int:
        return row if self.seqs is None else self.seqs[row]

    def depth(self, row: int) -> int:
        return 0 if self.depths is None else self.depths[row]

    def row_of(self, seq: int) -> int | None:
        """The row showing ``seq``, None when this view does not show it."""
        if self.seqs is None:
            return seq if 0 <= seq < self.total else None
        if self.ordered:
            i = bisect_left(self.seqs, seq)
            return i if i < len(self.seqs) and self.seqs[i] == seq else None
        if self._inverse is None:
            inv = array("q", [-1]) * (max(self.seqs, default=-1) + 1)
            for row, s in enumerate(self.seqs):
                inv[s] = row
            self._inverse = inv
        if 0 <= seq < len(self._inverse) and self._inverse[seq] >= 0:
            return self._inverse[seq]
        return None

    def nearest_row(self, seq: int) -> int:
        """The row of ``seq`` or, when it is hidden, of the closest seq shown before it."""
        row = self.row_of(seq)
        if row is not None or self.seqs is None or not self.seqs:
            return max(0, min(row if row is not None else seq, self.count - 1))
        if self.ordered:
            return max(0, bisect_right(self.seqs, seq) - 1)
        best = 0
        for r, s in enumerate(self.seqs):
            if s <= seq:
                best = r
        return best


def build_view(store: Store, chain_id: str, rows: int, *, noise: str = Noise.ALL, tree: bool = False,
               only: array[int] | None = None) -> RowView:
    """The rows for a noise mode, a filter (``only``: the seqs to keep, ascending) and the
    call tree. In the tree each export comes first with the host calls recorded before
    it (since the previous export) nested under it: an export's event is written when
    it returns, after the calls it made; the calls made while the component started are
    nested under the first export. Host calls after the last export, and the end, stay
    at the top."""
    keep = Noise.keeps(noise)
    seqs = None if keep is None else seqs_of_types(store, chain_id, keep=keep)
    if only is not None:
        seqs = only if seqs is None else _intersect(seqs, only)
    if not tree:
        return RowView(seqs, total=rows)
    exports = seqs_of_types(store, chain_id, keep=lambda t: t.startswith("export:"))
    shown: Iterator[int] = iter(range(rows)) if seqs is None else iter(seqs)
    out: array[int] = array("q")
    depths = bytearray()
    pending: array[int] = array("q")
    ex = set(exports)
    for s in shown:
        if s in ex:
            out.append(s)
            depths.append(0)
            out.extend(pending)
            depths.extend(b"\x01" * len(pending))
            pending = array("q")
        else:
            pending.append(s)
    # what no export claimed (calls after the last one, the end) stays at the top
    last_export = exports[-1] if exports else -1
    for s in pending:
        out.append(s)
        depths.append(1 if s < last_export else 0)
    # a call before a hidden export (a filter) is shown at the top
    return RowView(out, depths, total=rows, ordered=False)


def _intersect(a: array[int], b: array[int]) -> array[int]:
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    keep = set(small)
    return array("q", (s for s in big if s in keep))


@dataclass(frozen=True, kw_only=True, slots=True)
class Matches:
    """The rows that match a search, in row order, and where the cursor is among them."""

    pattern: Pattern
    rows: array[int]

    def to_json(self) -> dict[str, object]:
        return {"pattern": self.pattern.to_json(), "matches": len(self.rows)}

    def step(self, cursor: int, *, backwards: bool = False) -> tuple[int, int, bool] | None:
        """``(row, index, wrapped)``: the next match after ``cursor`` (before it,
        ``backwards``), its index among the matches (0-based), and whether the search
        went past the end (the start) to find it. None when nothing matches."""
        if not self.rows:
            return None
        if backwards:
            i = bisect_left(self.rows, cursor) - 1
            wrapped = i < 0
            i = i % len(self.rows)
        else:
            i = bisect_right(self.rows, cursor)
            wrapped = i >= len(self.rows)
            i = 0 if wrapped else i
        return self.rows[i], i, wrapped


def find_matches(store: Store, chain_id: str, text: str, view: RowView) -> Matches:
    """Every row of ``view`` whose event matches ``text`` (plain or ``re:``; raises
    :class:`~theater.errors.UsageError` for a bad one): one SQL scan of the chain
    (theater/store/search.py)."""
    pattern = parse_pattern(text)
    seqs = matching_seqs(store, chain_id, grep=pattern)
    if view.seqs is None:
        rows = array("q", (s for s in seqs if s < view.total))
    else:
        found = (view.row_of(s) for s in seqs)
        rows = array("q", sorted(r for r in found if r is not None))
    return Matches(pattern=pattern, rows=rows)


# -- formatting -----------------------------------------------------------------


def short_hash(h: bytes | None, n: int = 8) -> str:
    """The first ``n`` hex digits of a hash, or ``-``."""
    return "-" if not h else h.hex()[:n]




def utc(ts: float | None) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SS UTC`` (the same on every machine)."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


#: a hex dump and the byte values of a payload: the one decoder's (theater/decode.py)
hexdump = _decode.hexdump
tagged_bytes = _decode.byte_values


def chain_status(status: str, replay_of: str | None, replay: ReplayRecord | None = None,
                 last_replay: ReplayRecord | None = None) -> str:
    """``complete``, ``incomplete``, ``recording``, with ``replay of <id>`` when it is one.

    A replay chain with a stored outcome shows the outcome instead of its status
    (``diverged at 5, replay of ...``); a recording that was replayed adds how its
    latest replay ended (``complete, last replay verified``). Database text, made inert:
    give it to a widget as ``rich.text.Text``, never markup."""
    status = inert_line(status)
    if replay is not None:
        status = outcome_text(replay)
    elif last_replay is not None and not replay_of:
        status += f", last replay {outcome_text(last_replay)}"
    return status + (f", replay of {inert_line(replay_of[:8])}" if replay_of else "")


def outcome_text(r: ReplayRecord) -> str:
    """``verified``, ``diverged at 5``, ``stopped at 3``, ``interrupted at 40``."""
    return inert_line(str(r.outcome)) + ("" if r.seq is None or r.outcome == "verified" else f" at {r.seq}")
