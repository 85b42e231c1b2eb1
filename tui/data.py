"""Chain data for the browser, read on demand: pages of rows by seq in an LRU cache.

Nothing here imports textual; the widgets ask a :class:`ChainSource` for the row at
a seq and it fetches the page around it (one indexed range query on ``(chain, seq)``),
so opening a chain of a million events costs a handful of small queries, never a
load of the whole chain. Helpers format hashes, sizes, times and hex dumps.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from theater import decode as _decode
from theater.chain import Event
from theater.store import ReplayRecord, Store
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


def find_type(store: Store, chain_id: str, text: str, start: int, *, backwards: bool = False) -> int | None:
    """The next seq after ``start`` (or before it, ``backwards``) whose type contains
    ``text``, case-insensitive; wraps around the chain once."""
    needle = text.lower()
    for wrap in (False, True):
        seq = store.find_type(chain_id, needle, start, backwards=backwards, wrap=wrap)
        if seq is not None:
            return seq
    return None


# -- formatting -----------------------------------------------------------------


def short_hash(h: bytes | None, n: int = 8) -> str:
    """The first ``n`` hex digits of a hash, or ``-``."""
    return "-" if not h else h.hex()[:n]


def human_size(n: int) -> str:
    """A byte count for a narrow column: ``812 B``, ``12.5 KB``, ``3.0 MB``."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


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
