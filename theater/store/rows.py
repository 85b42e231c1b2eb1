"""Reading rows: chains, events and components as stored, checked before use.

SQLite does not enforce column types, so every value read from a (possibly tampered)
file is checked here: a chains row of the wrong types reads as empty, an events row
as :class:`MalformedEvent` naming its seq. Events are read in short pages on the
store's query-only reader (docs/storage.md).
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..blobs import STATE_EXPORTS, decompress, internalize
from ..chain import Event, genesis_hash
from ..errors import ChainNotFound, ComponentMismatch, MalformedEvent, UsageError
from ..outcomes import ChainStatus
from .connection import PAGE, Connection, _text


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class ChainInfo:
    """A row of the chains table. ``length`` and ``head`` are a cache, not evidence."""

    id: str
    actor: str
    format: str
    header: bytes
    component_sha256: str | None
    created: float
    status: str
    replay_of: str | None
    writer_pid: int | None
    length: int
    head: bytes | None

    @property
    def display_status(self) -> str:
        """``recording`` only while the writing process lives; a dead writer means incomplete."""
        if self.status == ChainStatus.RECORDING and not _pid_alive(self.writer_pid):
            return ChainStatus.INCOMPLETE
        return self.status

    def header_json(self) -> Any:
        import orjson

        return orjson.loads(self.header)


_CHAIN_COLS = (
    "id, actor, format, header, component_sha256, created, status, replay_of, writer_pid, "
    "length, head"
)



class RowReader(Connection):
    """The queries that read a theater database (chains, events, components, checkpoints)."""

    # -- components ---------------------------------------------------------

    def get_component(self, sha256: str) -> bytes | None:
        """The stored bytes of the component ``sha256``, None if absent. Bytes that do
        not hash to ``sha256`` are refused (:class:`ComponentMismatch`, exit 1): they
        are not the component a chain recorded, and must never be compiled."""
        # CAST: the column's raw bytes whatever type a hand-edited file gave them (TEXT
        # that is not UTF-8 would not even decode), so they are judged by their hash
        row = self.conn.execute("SELECT CAST(bytes AS BLOB) FROM components WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None:
            return None
        data = bytes(row[0]) if isinstance(row[0], (bytes, bytearray, memoryview)) else b""
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ComponentMismatch(
                "the database's component bytes are not the component the chain recorded: "
                f"the chain recorded sha256 {sha256}, the stored bytes hash to {actual}"
            )
        return data

    # -- chains -------------------------------------------------------------

    def chains(self) -> list[ChainInfo]:
        """Every chain, oldest first."""
        rows = self.conn.execute(f"SELECT {_CHAIN_COLS} FROM chains ORDER BY created, rowid")
        return [_chain_info(r) for r in rows]

    def chain(self, chain_id: str) -> ChainInfo:
        row = self.conn.execute(f"SELECT {_CHAIN_COLS} FROM chains WHERE id = ?", (chain_id,)).fetchone()
        if row is None:
            raise ChainNotFound(f"no chain {chain_id!r} in {self.path}")
        return _chain_info(row)

    def resolve(self, ref: str) -> ChainInfo:
        """A chain by full id, unique id prefix, or ``last`` (the newest chain that is not a replay)."""
        if ref == "last":  # the newest recording: replays are not counted
            row = self.conn.execute(
                f"SELECT {_CHAIN_COLS} FROM chains WHERE replay_of IS NULL"
                " ORDER BY created DESC, rowid DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise ChainNotFound(f"no chains in {self.path}")
            return _chain_info(row)
        if not ref or any(c in ref for c in "%_"):
            raise UsageError(f"{ref!r} is not a chain id (use an id, a unique id prefix, or 'last')")
        rows = self.conn.execute(
            f"SELECT {_CHAIN_COLS} FROM chains WHERE id LIKE ? ORDER BY created LIMIT 6", (ref + "%",)
        ).fetchall()
        if not rows:
            raise ChainNotFound(f"no chain matches {ref!r} in {self.path} (see `theater chains`)")
        exact = [r for r in rows if r[0] == ref]
        if exact:
            return _chain_info(exact[0])
        if len(rows) > 1:
            ids = ", ".join(r[0] for r in rows[:5])
            raise ChainNotFound(f"chain prefix {ref!r} is ambiguous: {ids}; give more characters")
        return _chain_info(rows[0])

    def chain_exists(self, chain_id: str) -> bool:
        """True when a chain with exactly this id is stored."""
        return self.conn.execute("SELECT 1 FROM chains WHERE id = ?", (chain_id,)).fetchone() is not None

    # -- checkpoints --------------------------------------------------------

    def checkpoint_rows(self, chain_id: str | None = None) -> list[tuple[int, str, str]]:
        """Rows ``(id, chain, note)`` of stored checkpoints (all, or one chain's), by size."""
        sql = "SELECT id, chain, note FROM checkpoints"
        params: tuple[str, ...] = ()
        if chain_id is not None:
            sql, params = sql + " WHERE chain = ?", (chain_id,)
        return [(int(r[0]), str(r[1]), str(r[2])) for r in self.conn.execute(sql + " ORDER BY size, id", params)]

    # -- events -------------------------------------------------------------
    #
    # Two layouts are read (docs/storage.md): 2, events keyed by (chain key, seq) with
    # their type in event_types and no stored parent; and 1, the first layout (a file
    # an older theater made, read as is until its first write migrates it). Every query
    # below is written once, over the column names of :meth:`_cols`.

    def _cols(self) -> dict[str, str]:
        """The SQL of each logical events column in this file's layout."""
        if self.layout == 1:
            return {"seq": "e.seq", "hash": "e.hash", "type": "e.type", "data": "e.data",
                    "written_at": "e.written_at", "from": "events e"}
        return {"seq": "e.seq", "hash": "e.hash", "type": "t.name", "data": "e.data",
                "written_at": "e.written_at", "from": "events e LEFT JOIN event_types t ON t.id = e.type"}

    def _sql(self, template: str) -> str:
        return template.format(**self._cols())

    def events_keyed(self) -> bool:
        """Whether the events table is keyed by (chain, seq) as theater made it: then a
        seq cannot repeat. A tamperer can rebuild it without the key (checked per read,
        as it can happen while the file is open)."""
        rows = self.reader.execute(
            "SELECT name FROM pragma_table_info('events') WHERE pk > 0 ORDER BY pk").fetchall()
        return [r[0] for r in rows] == ["chain", "seq"]

    def _first_parent(self, chain_id: str) -> bytes:
        """The parent of a chain's first event: the genesis hash of its header (the null
        parent for a legacy chain)."""
        row = self.reader.execute("SELECT format, header FROM chains WHERE id = ?", (chain_id,)).fetchone()
        if row is not None and row[0] == "legacy":
            from ..legacy import NULL_PARENT

            return NULL_PARENT
        header = row[1] if row is not None and isinstance(row[1], (bytes, bytearray)) else b""
        return genesis_hash(bytes(header))

    def event_rows(
        self, chain_id: str, start: int = 0, stop: int | None = None, *, page: int = PAGE,
        written_at: bool = True, as_stored: bool = False,
    ) -> Iterator[tuple[Any, ...]]:
        """Rows ``(seq, hash, parent, type, data, written_at)`` in seq order, streamed.

        Values are returned as stored, without any checking. ``parent`` is the previous
        row's hash (the first row's: the hash of the row before ``start``, or the chain's
        genesis hash), as storage v2 keeps no parent; a layout-1 file gives its stored
        column. With ``written_at=False`` rows are ``(seq, hash, parent, type, data)``.
        ``data`` is what the codec produced: a state stored as a blob is put back in
        (theater/blobs.py); with ``as_stored`` it is the data as stored and hashed, its
        blob references kept (what an export writes). The verifier reads
        :meth:`hashed_rows` instead: exactly what is hashed.
        """
        rows = self._parented_rows(chain_id, start, stop, page, not as_stored)
        if not written_at:
            return (r[:5] for r in rows)
        return rows

    def _parented_rows(self, chain_id: str, start: int, stop: int | None, page: int,
                       inline: bool) -> Iterator[tuple[Any, ...]]:
        if self.layout == 1:
            pages = self._event_pages("e.seq, e.hash, e.parent, e.type, e.data, e.written_at", "", (),
                                      chain_id, start, stop, page)
            for rows in pages:
                yield from rows
            return
        prev: Any = None
        mark = _BLOB_MARK
        for rows in self._event_pages(self._sql("{seq}, {hash}, {type}, {data}, {written_at}"), "", (),
                                      chain_id, start, stop, page):
            if prev is None:
                before = self.state_before(chain_id, rows[0][0], "") if start > 0 or rows[0][0] != 0 else None
                prev = before[1] if before is not None else self._first_parent(chain_id)
            out = []
            for seq, h, type_, data, at in rows:
                if inline and type(data) is bytes and mark in data and type_ in STATE_EXPORTS:
                    data = self._inline(chain_id, seq, type_, data)
                out.append((seq, h, prev, type_, data, at))
                prev = h
            yield from out

    def replay_rows(self, chain_id: str, start: int = 0, stop: int | None = None, *,
                    page: int = PAGE, hashes: bool = True) -> Iterator[tuple[Any, ...]]:
        """The rows of :meth:`event_rows` for a replay's boundary, which never reads a
        row's parent or its time: ``(seq, hash, None, type, data, None)``, each page as
        SQLite returned it (no Python loop per row, issue 18 item 3), the states stored
        as blobs put back in on the pages that hold a convention export. With
        ``hashes=False`` the hash is None too (a comparison that takes the recorded
        hashes as given reads the one it ends at: :meth:`event`). A file in the first
        layout, or an events table rebuilt without its key, gives :meth:`event_rows`."""
        if self.layout == 1 or not self.events_keyed():
            return self.event_rows(chain_id, start, stop, page=page)
        return itertools.chain.from_iterable(self._replay_pages(chain_id, start, stop, page, hashes))

    def _replay_pages(self, chain_id: str, start: int, stop: int | None,
                      page: int, hashes: bool) -> Iterator[list[tuple[Any, ...]]]:
        mark, states = _BLOB_MARK, STATE_EXPORTS
        cols = self._sql("{seq}, " + ("{hash}" if hashes else "NULL") + ", NULL, {type}, {data}, NULL")
        for rows in self._event_pages(cols, "", (), chain_id, start, stop, page):
            if not states.isdisjoint([r[3] for r in rows]):
                rows = [r if not (type(r[4]) is bytes and mark in r[4] and r[3] in states)
                        else (*r[:4], self._inline(chain_id, r[0], r[3], r[4]), *r[5:]) for r in rows]
            yield rows

    # -- blobs --------------------------------------------------------------

    def blob(self, sha256: bytes) -> bytes | None:
        """The bytes of the blob ``sha256`` as stored (decompressed), None when absent.
        Not checked against its hash: the verifier does that (verify/blobs.py)."""
        cache = self._blob_cache
        if sha256 in cache:
            return cache[sha256]
        row = self.reader.execute("SELECT codec, bytes FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None or not isinstance(row[1], bytes):
            return None
        try:
            raw = decompress(str(row[0]), row[1])
        except ValueError:
            return None
        if len(cache) >= 4:  # a state passed in is the one returned before: a few suffice
            cache.pop(next(iter(cache)))
        cache[sha256] = raw
        return raw

    def blob_refs(self, chain_id: str, stop: int) -> Iterator[tuple[Any, Any, Any]]:
        """``(seq, type, data)`` of the chain's events below ``stop`` whose data may refer
        to a blob (a convention export whose data holds ``"blob:``), in seq order, as
        stored: what the verifier reads to check every referenced blob."""
        names = sorted(STATE_EXPORTS)
        marks = ", ".join("?" * len(names))
        rows = self.reader.execute(self._sql(
            f"SELECT {{seq}}, {{type}}, {{data}} FROM {{from}} WHERE e.chain = ? AND {{seq}} < ?"
            f" AND {{type}} IN ({marks}) AND instr({{data}}, CAST('\"blob:' AS BLOB)) > 0 ORDER BY {{seq}}"),
            (self.chain_key(chain_id), stop, *names))
        yield from rows

    def blob_row(self, sha256: bytes) -> tuple[Any, Any, Any] | None:
        """``(size, codec, bytes)`` of a stored blob as stored, None when absent."""
        row = self.reader.execute("SELECT size, codec, bytes FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def _inline(self, chain_id: str, seq: Any, type_: str, data: bytes) -> bytes:
        """An event's data with its blobs put back (what the codec produced)."""
        def get(sha: bytes) -> bytes:
            raw = self.blob(sha)
            if raw is None:
                raise MalformedEvent(f"chain {chain_id}: event {seq} refers to blob {sha.hex()}, which the "
                                     "database does not hold (or cannot read); `theater verify` reports the chain")
            return raw

        return internalize(type_, data, get)

    def hashed_rows(self, chain_id: str, start: int = 0, stop: int | None = None, *,
                    page: int = PAGE) -> Iterator[tuple[Any, ...]]:
        """Rows ``(seq, hash, type, data)`` in seq order, exactly as stored and as
        hashed (no parent: the walk links each event to the hash before it), flattened
        in C: the verifier's input."""
        pages = self._event_pages(self._sql("{seq}, {hash}, {type}, {data}"), "", (),
                                  chain_id, start, stop, page)
        return itertools.chain.from_iterable(pages)

    def typed_rows(self, chain_id: str, start: int = 0, stop: int | None = None, *,
                   page: int = PAGE) -> tuple[dict[int, Any], Iterator[tuple[Any, ...]]] | None:
        """The verifier's fast read (issue 18 item 6): ``(names, rows)``, rows ``(seq,
        hash, type, data)`` as :meth:`hashed_rows` gives them except that ``type`` is the
        stored type id, not its name (no join, and no new str per row); ``names`` maps
        each id of ``event_types`` to its stored name. For an id that is an int found in
        ``names``, ``names[id]`` is exactly the name :meth:`hashed_rows` would give;
        for any other stored value :meth:`joined_type` gives it. None when this file's
        layout does not promise that: layout 1, an events table not keyed by (chain,
        seq), or an event_types table whose ids are not distinct integers."""
        if self.layout == 1 or not self.events_keyed():
            return None
        bad, ids, distinct = self.reader.execute(
            "SELECT sum(typeof(id) != 'integer'), count(id), count(DISTINCT id) FROM event_types").fetchone()
        if bad or ids != distinct:
            return None
        names = {i: n for i, n in self.reader.execute("SELECT id, name FROM event_types")}
        return names, itertools.chain.from_iterable(self._typed_pages(chain_id, start, stop, page))

    def _typed_pages(self, chain_id: str, start: int, stop: int | None, page: int) -> Iterator[list[tuple[Any, ...]]]:
        """Pages as :meth:`_event_pages` reads them in layout 2 (each its own short
        statement, following each other by seq), from the events table alone."""
        page = max(1, int(page))
        tail: tuple[Any, ...] = () if stop is None else (stop,)
        key_ref = self.chain_key(chain_id)
        first = ("SELECT e.seq, e.hash, e.type, e.data FROM events e WHERE e.chain = ? AND e.seq >= ?"
                 + ("" if stop is None else " AND e.seq < ?") + " ORDER BY e.seq LIMIT ?")
        yield from self._seq_pages(first, key_ref, start, tail, (), page)

    def joined_type(self, chain_id: str, seq: Any) -> Any:
        """The type name :meth:`hashed_rows` gives for the row ``seq`` of a keyed events
        table (the left join's value: None when no event_types row matches)."""
        row = self.reader.execute(
            "SELECT t.name FROM events e LEFT JOIN event_types t ON t.id = e.type WHERE e.chain = ? AND e.seq = ?",
            (self.chain_key(chain_id), seq)).fetchone()
        return None if row is None else row[0]

    def _event_pages(
        self, cols: str, where: str, extra: tuple[Any, ...], chain_id: str, start: int, stop: int | None,
        page: int,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of one chain in pages of at most ``page`` rows, each page its own
        statement on :attr:`reader`, stepped to the end at once: a short read
        transaction, so nothing we read stays open while we write, and a concurrent
        writer's commits can neither invalidate a read nor be held up by one.

        Pages follow each other by seq (layout 2: the primary key, so each seq is one
        row) or by ``(seq, rowid)`` (layout 1, or an events table someone rebuilt
        without its primary key, where a seq can repeat), so every row is read once, in
        order. Events are append-only: rows read in later
        transactions extend what was read before."""
        page = max(1, int(page))
        tail: tuple[Any, ...] = () if stop is None else (stop,)
        key_ref = self.chain_key(chain_id)
        if self.layout == 1 or not self.events_keyed():
            sql = self._sql(
                f"SELECT {cols}, e.rowid FROM {{from}} WHERE e.chain = ? AND e.seq >= ?"
                + ("" if stop is None else " AND e.seq < ?") + where
                + " AND (e.seq, e.rowid) > (?, ?) ORDER BY e.seq, e.rowid LIMIT ?"
            )
            # ``seq >= ?`` is bound to the last seq read, not to ``start``: the row-value
            # comparison alone does not bound the index search (quadratic otherwise)
            key: tuple[Any, Any] = (start, -(1 << 63))
            while True:
                rows = self.reader.execute(sql, (key_ref, key[0], *tail, *extra, *key, page)).fetchall()
                if not rows:
                    return
                last = rows[-1]
                key = (last[0], last[-1])
                yield [r[:-1] for r in rows]
                if len(rows) < page:
                    return
        first = self._sql(
            f"SELECT {cols} FROM {{from}} WHERE e.chain = ? AND e.seq >= ?"
            + ("" if stop is None else " AND e.seq < ?") + where + " ORDER BY e.seq LIMIT ?")
        yield from self._seq_pages(first, key_ref, start, tail, extra, page)

    def _seq_pages(self, first: str, key_ref: Any, start: int, tail: tuple[Any, ...], extra: tuple[Any, ...],
                   page: int) -> Iterator[list[tuple[Any, ...]]]:
        """Pages of ``first`` (a statement bounded by ``e.seq >= ?``) that follow each
        other by seq: each later page starts after the last seq read (layout 2, where a
        seq is one row)."""
        more = first.replace("e.seq >= ?", "e.seq > ?", 1)
        sql, at = first, start
        while True:
            rows = self.reader.execute(sql, (key_ref, at, *tail, *extra, page)).fetchall()
            if not rows:
                return
            yield rows
            if len(rows) < page:
                return
            sql, at = more, rows[-1][0]

    def events(self, chain_id: str, start: int = 0, stop: int | None = None) -> Iterator[Event]:
        """Events in seq order (streamed; constant memory). A row whose values have the
        wrong type raises :class:`MalformedEvent` naming its seq (see :func:`checked_row`)."""
        for row in self.event_rows(chain_id, start, stop):
            yield _event(chain_id, row)

    def check_event_types(self, chain_id: str) -> None:
        """Raise :class:`MalformedEvent` for the first row of the chain whose values are
        not of the types theater writes: one scan in SQLite, run by readers that write
        something (replay, export) before they write anything."""
        parent = " OR typeof(e.parent) != 'blob'" if self.layout == 1 else ""
        row = self.reader.execute(self._sql(
            "SELECT {seq}, {hash}, {type}, {data}, {written_at} FROM {from} WHERE e.chain = ? AND ("
            "typeof({seq}) != 'integer' OR typeof({type}) IS NOT 'text' OR typeof({hash}) != 'blob'"
            + parent + " OR typeof({data}) != 'blob'"
            " OR typeof({written_at}) NOT IN ('real', 'integer', 'null')) ORDER BY {seq} LIMIT 1"),
            (self.chain_key(chain_id),),
        ).fetchone()
        if row is not None:
            seq, h, type_, data, at = row
            checked_row(chain_id, (seq, h, b"", type_, data, at))

    def events_of_type(self, chain_id: str, prefix: str) -> Iterator[Event]:
        """Events whose type starts with ``prefix``, in seq order (streamed)."""
        yield from self.events_of_type_until(chain_id, prefix, None)

    def events_of_type_until(self, chain_id: str, prefix: str, stop: int | None) -> Iterator[Event]:
        """Events whose type starts with ``prefix`` and whose seq is below ``stop``
        (all when None), in seq order, read in short pages (see ``_event_pages``).
        Their ``parent`` is not read (the events between are skipped): it is empty."""
        cols = self._sql("{seq}, {hash}, {type}, {data}, {written_at}")
        # layout 2: the types' ids looked up once, not the name of every row (issue 18 item 3)
        where = (" AND substr({type}, 1, ?) = ?" if self.layout == 1 else
                 " AND e.type IN (SELECT id FROM event_types WHERE substr(name, 1, ?) = ?)")
        pages = self._event_pages(cols, self._sql(where), (len(prefix), prefix), chain_id, 0, stop, PAGE)
        for rows in pages:
            for seq, h, type_, data, at in rows:
                if type(data) is bytes and _BLOB_MARK in data and type_ in STATE_EXPORTS:
                    data = self._inline(chain_id, seq, type_, data)
                yield _event(chain_id, (seq, h, b"", type_, data, at))

    def event(self, chain_id: str, seq: int) -> Event | None:
        for ev in self.events(chain_id, seq, seq + 1):
            return ev
        return None

    def count(self, chain_id: str, stop: int | None = None) -> int:
        """The number of stored events of the chain (those with seq below ``stop``, when given)."""
        if stop is None:
            row = self.reader.execute("SELECT count(*) FROM events WHERE chain = ?",
                                      (self.chain_key(chain_id),)).fetchone()
        else:
            row = self.reader.execute("SELECT count(*) FROM events WHERE chain = ? AND seq < ?",
                                      (self.chain_key(chain_id), stop)).fetchone()
        return int(row[0])

    def last_event(self, chain_id: str) -> Event | None:
        row = self.reader.execute(self._sql(
            "SELECT {seq} FROM {from} WHERE e.chain = ? ORDER BY {seq} DESC LIMIT 1"),
            (self.chain_key(chain_id),),
        ).fetchone()
        if row is None:
            return None
        seq = row[0]
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise MalformedEvent(f"chain {chain_id}: malformed event at seq {_text(seq)!r}: its seq is "
                                 f"{_kind(seq)}, not an integer (the database was changed outside theater; "
                                 "`theater verify` reports the chain)")
        return self.event(chain_id, seq)

    def max_seq(self, chain_id: str) -> int | None:
        """The highest integer seq stored for the chain, None when it has none (a seq
        that is not an integer, only in a tampered row, is not counted)."""
        row = self.reader.execute(
            "SELECT max(seq) FROM events WHERE chain = ? AND typeof(seq) = 'integer'", (self.chain_key(chain_id),)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def find_type(self, chain_id: str, needle: str, start: int, *, backwards: bool = False,
                  wrap: bool = False) -> int | None:
        """The first seq after ``start`` (before it, ``backwards``) whose type contains
        ``needle`` (compared with the type lowercased); with ``wrap`` the other side of
        ``start`` instead (``start`` included): the second half of a search that wraps."""
        op = (">=" if wrap else "<") if backwards else ("<=" if wrap else ">")
        order = "DESC" if backwards else "ASC"
        row = self.reader.execute(self._sql(
            f"SELECT {{seq}} FROM {{from}} WHERE e.chain = ? AND {{seq}} {op} ? AND instr(lower({{type}}), ?) > 0"
            f" ORDER BY {{seq}} {order} LIMIT 1"), (self.chain_key(chain_id), start, needle)
        ).fetchone()
        return None if row is None else int(row[0])

    def state_before(self, chain_id: str, start: int, end_type: str) -> tuple[Any, Any, Any] | None:
        """``(seq, hash, is_end)`` of the last row (by seq, then rowid) of the chain with
        ``0 <= seq < start``, as stored (unchecked), or None; ``is_end`` is whether its
        type is ``end_type``. A parallel walk's starting state (verify/parallel.py)."""
        order = "{seq} DESC" + (", e.rowid DESC" if self.layout == 1 or not self.events_keyed() else "")
        row = self.reader.execute(self._sql(
            "SELECT {seq}, {hash}, {type} IS ? FROM {from} WHERE e.chain = ? AND {seq} >= 0 AND {seq} < ?"
            f" ORDER BY {order} LIMIT 1"), (end_type, self.chain_key(chain_id), start)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])


_BLOBS = (bytes, bytearray, memoryview)
_BLOB_MARK = b'"blob:'


def checked_row(chain_id: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """An events row ``(seq, hash, parent, type, data[, written_at])`` with each value of
    the type theater writes (INTEGER seq, BLOB hash/parent/data, TEXT type, REAL or NULL
    written_at); raises :class:`MalformedEvent` naming the seq and the column otherwise.
    SQLite does not enforce column types, so a tampered row can hold anything."""
    seq, h, parent, type_, data = row[:5]
    problem = None
    if not isinstance(seq, int) or isinstance(seq, bool):
        problem = f"its seq is {_kind(seq)}, not an integer"
    elif not isinstance(type_, str):
        problem = f"its type is {_kind(type_)}, not text"
    elif not all(isinstance(v, _BLOBS) for v in (h, parent, data)):
        col, v = next((c, v) for c, v in (("hash", h), ("parent", parent), ("data", data)) if not isinstance(v, _BLOBS))
        problem = f"its {col} is {_kind(v)}, not a BLOB"
    elif len(row) > 5 and row[5] is not None and (not isinstance(row[5], (int, float)) or isinstance(row[5], bool)):
        problem = f"its written_at is {_kind(row[5])}, not a time"
    if problem is not None:
        where = f"seq {seq}" if isinstance(seq, int) else f"seq {_text(seq)!r}"
        raise MalformedEvent(f"chain {chain_id}: malformed event at {where}: {problem} (the database was changed "
                             "outside theater; `theater verify` reports the chain)")
    return row


def _kind(v: Any) -> str:
    names = {str: "text", bytes: "a BLOB", memoryview: "a BLOB", float: "a real", int: "an integer"}
    return "NULL" if v is None else names.get(type(v), type(v).__name__)


def _event(chain_id: str, row: tuple[Any, ...]) -> Event:
    seq, h, parent, type_, data, written_at = checked_row(chain_id, row)
    return Event(seq, bytes(parent), type_, bytes(data), bytes(h), None if written_at is None else float(written_at))


def _loads(b: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(b)
    except orjson.JSONDecodeError:
        return None


def _blob(v: Any) -> bytes | None:
    return bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _chain_info(row: tuple[Any, ...]) -> ChainInfo:
    """A chains row as a ChainInfo. SQLite does not enforce column types, so a tampered
    row can hold anything: a value of the wrong type reads as empty (a header that is
    not a BLOB as no header, which verification reports as malformed), never as a crash."""
    created = row[5]
    return ChainInfo(
        id=_text(row[0]) or "",
        actor=_text(row[1]) or "?",
        format=_text(row[2]) or "",
        header=_blob(row[3]) or b"",
        component_sha256=_text(row[4]),
        created=float(created) if isinstance(created, (int, float)) and abs(created) < 1e11 else 0.0,
        status=_text(row[6]) or "",
        replay_of=_text(row[7]),
        writer_pid=_int(row[8]),
        length=_int(row[9]) or 0,
        head=_blob(row[10]),
    )
