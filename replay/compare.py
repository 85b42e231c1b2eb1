"""Replaying without writing: the replayed events are compared with the recorded ones.

A replay that is not saved (``replay(..., save=False)``, ``theater replay --verify``
without ``--save``) gives the boundary a :class:`Comparison` instead of a chain
writer. Each event the replay produces is compared, type and data bytes, with the
recorded row at the same seq (the row the boundary took for that crossing), and
nothing is stored but the replay's outcome (the ``replays`` table).

What proves the head: a replay that reproduced the recorded bytes of events
``0 .. n-1`` has, as head, the hash the recording stored for event ``n-1`` *if* the
recording's stored hashes are the hashes of its events from its header. Either the
comparison recomputes them as it goes (``hashing=True``: the replayed bytes hashed
from the header's genesis, the head compared with the recorded one, as a saved
replay does) or the caller has the recorded chain's integrity checked
(``theater replay --verify`` runs ``verify_chain`` on it at the same time, in other
processes for a long chain) and the comparison takes the recorded hashes as given.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from theater.blobs import externalize, threshold_of
from theater.chain import ChainBuilder, genesis_hash
from theater.errors import ReplayError

Row = tuple[Any, ...]

#: the comparison reports progress every this many events (a power of two, minus 1)
PROGRESS_MASK = 0xFFF


def tee(rows: Iterable[Row], taken: deque[Row]) -> Iterator[Row]:
    """``rows``, each also put in ``taken`` as it is read (the boundary's source)."""
    put = taken.append
    for row in rows:
        put(row)
        yield row


class Comparison:
    """The writer of a replay that stores nothing (:class:`theater.boundary.Writer`).

    ``taken`` holds the recorded rows ``(seq, hash, parent, type, data, ...)`` the
    boundary has read and not yet seen appended, oldest first (:func:`tee`): in replay
    mode every event the boundary appends answers the next recorded row, so the row
    to compare with is the oldest one. ``head`` is the hash of the last event
    compared: recomputed from the header with ``hashing`` (and each recomputed hash
    compared with the stored one: :attr:`bad_hash`), else the recorded one.
    """

    chain_id: str | None = None  # no chain is written

    def __init__(self, header: bytes, taken: deque[Row] | Iterator[Row], *, hashing: bool,
                 hash_of: Callable[[int], bytes | None] | None = None) -> None:
        #: the next recorded row to compare with: the oldest of ``taken`` (a deque the
        #: boundary's source fills, :func:`tee`), or the next of an iterator that yields
        #: the boundary's rows in the same order (a branch of ``itertools.tee``: no
        #: Python frame per row, what :func:`replay.replayer.replay` gives)
        self._next: Callable[[], Row] = taken.popleft if isinstance(taken, deque) else taken.__next__
        self._builder = ChainBuilder(header) if hashing else None
        try:  # a chain whose header declares a blob threshold hashes its large states by reference
            self._blobs = threshold_of(orjson.loads(header)) if hashing else None
        except orjson.JSONDecodeError:
            self._blobs = None
        self._head = genesis_hash(header)
        #: without hashing, rows may leave the hash None (``Store.replay_rows(hashes=False)``):
        #: the head is then the recorded hash of the last row compared, ``hash_of(seq)``
        self._hash_of = hash_of
        self._last: Row | None = None
        self.length = 0
        self.finished = False
        #: with hashing: the first seq whose stored hash is not the hash recomputed
        self.bad_hash: int | None = None
        #: called with the comparison every 4096 events (progress of a long call)
        self.on_commit: Callable[[Comparison], None] | None = None

    @property
    def head(self) -> bytes:
        if self._builder is not None:
            return self._builder.head
        last = self._last
        if last is not None and last[1] is None:  # read once, at the end, not per row
            h = None if self._hash_of is None else self._hash_of(last[0])
            if h is None:
                raise ReplayError(f"the recorded event {last[0]} has no hash to compare the replay's head with")
            self._head, self._last = h, None
        elif last is not None:
            self._head, self._last = last[1], None
        return self._head

    @property
    def hashing(self) -> bool:
        return self._builder is not None

    def append(self, type_: str, data: bytes) -> bytes:
        """Compare one replayed event with the recorded row at its seq; returns the hash
        (without hashing: the recorded one, None when the rows carry none)."""
        try:
            row = self._next()
        except (IndexError, StopIteration):
            raise self._none(type_) from None
        if row[4] != data or row[3] != type_:
            raise self._differs(type_, row)
        n = self.length = self.length + 1
        builder = self._builder
        if builder is None:
            self._last = row
            h: bytes = row[1]
        else:
            if self._blobs is not None:  # hashed as a ChainWriter stores it (theater/blobs.py)
                data = externalize(type_, data, threshold=self._blobs)[0]
            h = builder.append(type_, data)[2]
            if h != row[1] and self.bad_hash is None:
                self.bad_hash = row[0]
        if not n & PROGRESS_MASK and self.on_commit is not None:
            self.on_commit(self)
        return h

    def appender(self, type_: str) -> Callable[[bytes], bytes]:
        """``append`` for one event type (the boundary's hot path binds one per host
        function, theater/boundary.py::bound_append): without hashing, the recorded
        row taken, its type and bytes compared, its hash taken as the head."""
        if self._builder is not None:
            return functools.partial(self.append, type_)
        nxt = self._next

        def append(data: bytes) -> bytes:
            try:
                row = nxt()
            except (IndexError, StopIteration):
                raise self._none(type_) from None
            if row[3] != type_ or (row[4] is not data and row[4] != data):
                raise self._differs(type_, row)
            n = self.length = self.length + 1
            self._last = row
            if not n & PROGRESS_MASK and self.on_commit is not None:
                self.on_commit(self)
            h: bytes = row[1]
            return h

        return append

    def _none(self, type_: str) -> ReplayError:
        return ReplayError(f"the replay produced event {self.length} ({type_}) with no recorded event "
                           "to compare it with")

    def _differs(self, type_: str, row: Row) -> ReplayError:
        return ReplayError(f"the replayed event {self.length} ({type_}) is not the recorded event "
                           f"{row[0]} ({row[3]}) byte for byte")

    # the rest of the writer interface the replayer uses: there is nothing to store

    def flush(self, *, complete: bool = False) -> None:
        pass

    def abandon(self) -> None:
        self.finished = True

    def close(self) -> None:
        pass

    def finish(self, outcome: str, **detail: Any) -> bytes:
        """A diverged replay ends here: nothing to compare its end event with."""
        self.finished = True
        return self.head
