"""Writing: new chains and their events, components, checkpoints, bulk imports.

Events are appended by a :class:`ChainWriter` in batched transactions: a crash loses
at most the uncommitted tail and never leaves half an event. A :class:`ChainImport`
stores a whole chain in one transaction (``theater import``): all of it or nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson

from ..blobs import STATE_EXPORTS, compress, externalize, refs, threshold_of
from ..chain import _Q, END_TYPE, EVENT_TAG, ChainBuilder, canonical_json, type_field
from ..errors import ComponentMismatch, StoreError
from ..outcomes import ChainStatus
from .connection import DEFAULT_BATCH, STATUSES, Connection, Transaction, connect, store_error
from .rows import _loads

Row = tuple[Any, Any, Any, Any, Any, Any]  # seq, hash, parent, type, data, written_at

_FIELDS = 6  # values per row of ChainWriter._rows (the events table's columns)
_sha256 = hashlib.sha256
_time = time.time
_INSERT_EVENT = "INSERT INTO events (chain, seq, hash, type, data, written_at) VALUES (?, ?, ?, ?, ?, ?)"


class RowWriter(Connection):
    """The queries that write a theater database (always in layout 2: a file in the
    first layout is migrated before its first write, see :meth:`check_writable`)."""

    def type_ids(self, conn: sqlite3.Connection, types: Iterable[str]) -> dict[str, int]:
        """The ids of ``types`` in event_types, adding the new ones; run inside the
        transaction that inserts their events. Returns every id this Store knows,
        the new ones included; they are kept (:meth:`keep_type_ids`) only once that
        transaction has committed, since a rollback takes a new id back."""
        known = self._type_ids
        new = [t for t in dict.fromkeys(types) if t not in known]
        if not new:
            return known
        out = dict(known)
        for t in new:
            conn.execute("INSERT OR IGNORE INTO event_types (name) VALUES (?)", (t,))
            out[t] = int(conn.execute("SELECT id FROM event_types WHERE name = ?", (t,)).fetchone()[0])
        return out

    def keep_type_ids(self, ids: dict[str, int]) -> None:
        self._type_ids.update(ids)

    def put_blobs(self, conn: sqlite3.Connection, blobs: Iterable[tuple[bytes, bytes]]) -> None:
        """Store blobs ``(sha256, bytes)`` compressed, once each (theater/blobs.py); run
        inside the transaction that inserts the events referring to them."""
        rows = []
        for sha, raw in blobs:
            if conn.execute("SELECT 1 FROM blobs WHERE sha256 = ?", (sha,)).fetchone() is None:
                codec, packed = compress(raw)
                rows.append((sha, len(raw), codec, packed))
        if rows:
            conn.executemany("INSERT OR IGNORE INTO blobs (sha256, size, codec, bytes) VALUES (?, ?, ?, ?)", rows)

    # -- components ---------------------------------------------------------

    def put_component(self, data: bytes, *, sha256: str | None = None) -> str:
        """Store component bytes under their SHA-256 (idempotent); returns the hex digest.

        ``sha256``: the digest of ``data`` the caller already computed (the engine's,
        theater/engine.py ``load_component_hashed``), so a recording hashes its
        component once. A row already stored under the digest is kept as it is: the
        bytes are neither bound to a statement nor hashed again (18 MB for the example
        actor, on every recording). A new row is hashed first, and bytes that do not
        hash to ``sha256`` are refused (:class:`ComponentMismatch`)."""
        self.check_writable()
        sha = sha256 if sha256 is not None else hashlib.sha256(data).hexdigest()
        try:
            if self.conn.execute("SELECT 1 FROM components WHERE sha256 = ?", (sha,)).fetchone() is not None:
                return sha
            if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
                raise ComponentMismatch(f"the component bytes to store do not hash to {sha256}")
            self.conn.execute(
                "INSERT OR IGNORE INTO components (sha256, size, bytes) VALUES (?, ?, ?)",
                (sha, len(data), data),
            )
        except sqlite3.Error as e:
            raise store_error(e, f"cannot write to {self.path}") from e
        return sha

    def create_chain(
        self,
        header: dict[str, Any] | bytes,
        *,
        replay_of: str | None = None,
        format: str = "v1",
        batch: int = DEFAULT_BATCH,
        component_sha256: str | None = None,
        background: bool = False,
    ) -> ChainWriter:
        """Start a new chain and return the writer that appends its events.

        ``component_sha256`` overrides the header's (a replay with ``--component``
        keeps the recorded header but ran another component). With ``background``
        the batches a long call fills are committed by a thread of the writer's own
        (see :class:`ChainWriter`)."""
        hb = header if isinstance(header, bytes) else canonical_json(header)
        hobj = header if isinstance(header, dict) else _loads(hb)
        chain_id = secrets.token_hex(8)
        self.check_writable()
        try:
            cur = self.conn.execute(
                "INSERT INTO chains (id, actor, format, header, component_sha256, created, status,"
                " replay_of, writer_pid) VALUES (?, ?, ?, ?, ?, ?, 'recording', ?, ?)",  # ChainStatus.RECORDING
                (
                    chain_id,
                    str(hobj.get("actor", "?")) if isinstance(hobj, dict) else "?",
                    format,
                    hb,
                    component_sha256 or (hobj.get("component_sha256") if isinstance(hobj, dict) else None),
                    time.time(),
                    replay_of,
                    os.getpid(),
                ),
            )
        except sqlite3.Error as e:
            raise store_error(e, f"cannot write to {self.path}") from e
        return ChainWriter(self, chain_id, hb, batch=batch, key=int(cur.lastrowid or 0),
                           blobs=threshold_of(hobj), background=background)

    def set_status(self, chain_id: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"bad status {status!r}")
        self.conn.execute("UPDATE chains SET status = ? WHERE id = ?", (status, chain_id))

    def delete_chain(self, chain_id: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM events WHERE chain = ?", (self.chain_key(chain_id),))
            self.conn.execute("DELETE FROM checkpoints WHERE chain = ?", (chain_id,))
            self.conn.execute("DELETE FROM chains WHERE id = ?", (chain_id,))
            if self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'replays'").fetchone():
                self.conn.execute("DELETE FROM replays WHERE source = ? OR chain = ?", (chain_id, chain_id))

    # -- checkpoints --------------------------------------------------------

    def add_checkpoint(self, chain_id: str, size: int, head: bytes, key_ids: str, note: str) -> int:
        """Insert a row of the ``checkpoints`` table; returns its row id."""
        self.check_writable()  # no trigger theater did not create may see the insert
        cur = self.conn.execute(
            "INSERT INTO checkpoints (chain, size, head, key_id, note, created) VALUES (?, ?, ?, ?, ?, ?)",
            (chain_id, size, head, key_ids, note, time.time()),
        )
        return int(cur.lastrowid or 0)

    # -- bulk import --------------------------------------------------------

    def begin_import(self, header: bytes, format: str, *, batch: int = DEFAULT_BATCH) -> ChainImport:
        """Start storing a new chain in one transaction (see :class:`ChainImport`)."""
        self.check_writable()
        return ChainImport(self, header, format, batch=batch)


class ChainWriter:
    """Appends events to one chain in batched transactions.

    ``append`` hashes the event at once (the head is always current) and buffers the
    row; every ``batch`` events, and on ``flush``/``finish``, the buffer is committed in
    one transaction together with the chain's cached length and head.

    With ``background`` (``record`` and ``replay --save``: issue 18 item 5) a batch
    that ``append`` fills is handed to a thread of this writer (its own connection to
    the same file), which inserts and commits it while the actor runs on: SQLite
    releases the GIL while it inserts and writes the WAL, so on a second core the
    insert is off the recording's path. One batch at most is in flight: the next
    hand-off, and every ``flush``/``finish``/``abandon``, first waits for it, so an
    explicit ``flush`` has committed everything appended when it returns (what the
    recorder's commit at the end of each export call promises), a store error is
    raised in the caller's thread at the next hand-off or flush (the failed batch kept
    for a retry, as without the thread), and ``on_commit`` is called in the caller's
    thread once its commit is known to be done. A ``flush`` commits what is left on
    the store's own connection, in the caller's thread, as without the thread. The transactions, the rows and their
    order are the same as without the thread, so a crash still loses at most the
    uncommitted tail (now up to two batches: the one in flight and the one filling).
    """

    def __init__(self, store: RowWriter, chain_id: str, header: bytes, *, batch: int = DEFAULT_BATCH,
                 key: int | None = None, blobs: int | None = None, background: bool = False) -> None:
        self.store = store
        self.chain_id = chain_id
        #: the chain's integer key in the events table (chains.key)
        self.key = store.chain_key(chain_id) if key is None else key
        self.builder = ChainBuilder(header)
        self.batch = batch
        #: the buffered events' insert values, six per event (chain key, seq, hash, type,
        #: data, written_at), the type as its name until the flush looks its id up
        self._rows: list[Any] = []
        self._flush_at = batch * _FIELDS
        #: blobs of the buffered events, and the SHA-256s of those already queued or written
        self._blobs: list[tuple[bytes, bytes]] = []
        self._seen: set[bytes] = set()
        #: the header's blob threshold (None: the chain stores every state inline), and
        #: the data length below which no state can exceed it
        self.blobs = blobs
        self._min_data = -1 if blobs is None else blobs * 4 // 3
        self.finished = False
        #: called with the writer after every commit (e.g. to sign a checkpoint); the
        #: connection was opened with synchronous=NORMAL (connection.connect)
        self.on_commit: Callable[[ChainWriter], None] | None = None
        #: with background: the committing thread, its connection, the batch in flight
        self._committer: _Committer | None = _Committer(store) if background else None

    @property
    def background(self) -> bool:
        """True when the batches ``append`` fills are committed by the writer's thread."""
        return self._committer is not None

    @property
    def head(self) -> bytes:
        return self.builder.head

    @property
    def length(self) -> int:
        return self.builder.seq

    def append(self, type_: str, data: bytes) -> bytes:
        """Append one event; returns its hash. In a chain whose header declares a blob
        threshold, a state above it is stored once, as a blob its data refers to
        (theater/blobs.py): the hash is over the data as stored, reference included."""
        if len(data) > self._min_data >= 0:  # cheap test first: only an export's large state is a blob
            data, blobs = externalize(type_, data, threshold=self.blobs or 0)
            for blob in blobs:
                if blob[0] not in self._seen:
                    self._seen.add(blob[0])
                    self._blobs.append(blob)
        # ChainBuilder.append inlined (the recorder's hot path: one Python frame less per
        # event), its state kept in the builder; the bytes hashed are chain.event_hash's
        b = self.builder
        seq = b.seq
        tf = b._types.get(type_)
        if tf is None:
            tf = b._types[type_] = type_field(type_)
        h = _sha256(b"".join((EVENT_TAG, _Q.pack(seq), b.head, tf, _Q.pack(len(data)), data))).digest()
        b.seq = seq + 1
        b.head = h
        rows = self._rows
        # one flat list of the insert's values, the type's name where its id goes (flush)
        rows += (self.key, seq, h, type_, data, _time())
        if len(rows) >= self._flush_at:
            self._batch_full()
        return h

    def _batch_full(self) -> None:
        """A batch is full: commit it, or hand it to the writer's thread."""
        if self._committer is None:
            self.flush()
        else:
            self._hand_off()

    def appender(self, type_: str) -> Callable[[bytes], bytes]:
        """``append`` for events of one type: ``appender(t)(data)`` is ``append(t, data)``
        with the type's hashed field, the chain key and the lookups of ``append`` done
        once (the boundary binds one per host function: its hot path, issue 18 item 5).
        A type whose state may be a blob gets ``append`` itself."""
        if type_ in STATE_EXPORTS:
            return functools.partial(self.append, type_)
        b = self.builder
        tf = b._types.get(type_)
        if tf is None:
            tf = b._types[type_] = type_field(type_)
        key, pack, join, tag, sha256, now = self.key, _Q.pack, b"".join, EVENT_TAG, _sha256, _time

        def append(data: bytes) -> bytes:
            seq = b.seq
            h = sha256(join((tag, pack(seq), b.head, tf, pack(len(data)), data))).digest()
            b.seq = seq + 1
            b.head = h
            rows = self._rows
            rows += (key, seq, h, type_, data, now())
            if len(rows) >= self._flush_at:
                self._batch_full()
            return h

        return append

    def _hand_off(self) -> None:
        """Background: wait for the batch in flight, then hand the buffer to the thread."""
        c = self._committer
        assert c is not None
        self._collect()
        self.store.check_writable()  # what store.transaction() checks first (cheap after the first)
        rows, self._rows = self._rows, []
        blobs, self._blobs = self._blobs, []
        c.submit(self._write, rows, blobs, False)

    def _collect(self) -> None:
        """Background: wait for the batch in flight; its error is raised here (its rows
        put back in front of the buffer, for a retry), its ``on_commit`` called here."""
        c = self._committer
        if c is None or c.pending is None:
            return
        rows, blobs, _ = c.args
        try:
            ids = c.wait()
        except sqlite3.Error as e:
            raise self._put_back(rows, blobs, e) from e
        self._committed(ids)

    def _put_back(self, rows: list[Any], blobs: list[tuple[bytes, bytes]], e: sqlite3.Error) -> StoreError:
        """A batch that was not written goes back in front of the buffer (for a retry);
        returns the error to raise."""
        self._rows = rows + self._rows
        self._blobs = blobs + self._blobs
        return store_error(e, f"cannot write events to {self.store.path}")

    def _committed(self, ids: dict[str, int]) -> None:
        """After a commit: keep the type ids it used, tell ``on_commit``."""
        if ids:
            self.store.keep_type_ids(ids)
        if self.on_commit is not None:
            self.on_commit(self)

    def _write(self, conn: sqlite3.Connection, rows: list[Any], blobs: list[tuple[bytes, bytes]],
               complete: bool) -> dict[str, int]:
        """Store buffered rows and blobs on ``conn``, inside the caller's transaction;
        returns the type ids the rows used (to keep once committed)."""
        ids: dict[str, int] = {}
        if blobs:
            self.store.put_blobs(conn, blobs)
        if rows:
            names = rows[3::_FIELDS]
            ids = self.store.type_ids(conn, set(names))
            values = rows.copy()  # rows stay as they are for a retry after an error
            values[3::_FIELDS] = [ids[t] for t in names]
            self._insert_flat(conn, values)
            conn.execute(
                "UPDATE chains SET length = ?, head = ? WHERE key = ?",
                (rows[-5] + 1, rows[-4], self.key),
            )
        if complete:
            conn.execute(
                "UPDATE chains SET status = 'complete', writer_pid = NULL WHERE id = ?", (self.chain_id,)
            )
        return ids

    def flush(self, *, complete: bool = False) -> None:
        """Commit the buffered events (one transaction: all of them or none).

        With ``complete`` the same transaction marks the chain complete, so no crash
        can leave an ended chain that still says it is being recorded."""
        # background: the batch in flight first; the rest is committed here, on the
        # store's connection (the caller waits for it anyway, and whatever it set on that
        # connection, a max_page_count say, holds for its flushes)
        self._collect()
        if not self._rows and not complete:
            return
        rows, self._rows = self._rows, []
        blobs, self._blobs = self._blobs, []
        try:
            with self.store.transaction() as conn:
                ids = self._write(conn, rows, blobs, complete)
        except sqlite3.Error as e:
            raise self._put_back(rows, blobs, e) from e
        self._committed(ids)

    # One INSERT statement of CHUNK rows costs about 30% less per row than executemany
    # of one-row statements (docs/performance.md): the per-statement work is shared.
    CHUNK = 128
    _INSERT = "INSERT INTO events (chain, seq, hash, type, data, written_at) VALUES "
    _INSERT_CHUNK = _INSERT + ", ".join(["(?, ?, ?, ?, ?, ?)"] * CHUNK)

    @classmethod
    def _insert_flat(cls, conn: sqlite3.Connection, values: list[Any]) -> None:
        """Insert rows given as one flat list of values, six per row, in seq order:
        whole chunks as multi-row statements (slices of the list, no tuple per row),
        then the rest as one statement of as many rows."""
        step = cls.CHUNK * _FIELDS
        whole = len(values) - len(values) % step
        if whole:
            conn.executemany(cls._INSERT_CHUNK, (values[i:i + step] for i in range(0, whole, step)))
        rest = (len(values) - whole) // _FIELDS
        if rest:
            conn.execute(cls._INSERT + ", ".join(["(?, ?, ?, ?, ?, ?)"] * rest), values[whole:])

    def finish(self, outcome: str, **detail: Any) -> bytes:
        """Append the end event (how the recording ended), commit, mark complete."""
        self.append(END_TYPE, canonical_json({"outcome": outcome, **detail}))
        self.flush(complete=True)
        self.finished = True
        self.close()
        return self.head

    def abandon(self) -> None:
        """Commit what was written and mark the chain incomplete (no end event)."""
        try:
            self.flush()
        finally:
            self.close()
        self.store.set_status(self.chain_id, ChainStatus.INCOMPLETE)
        self.finished = True

    def close(self) -> None:
        """Stop the background thread, if any (after the batch in flight), and close its
        connection; the writer commits in the caller's thread from then on."""
        c, self._committer = self._committer, None
        if c is not None:
            try:
                if c.pending is not None:
                    rows, blobs, _ = c.args
                    try:
                        c.wait()
                    except sqlite3.Error:  # kept for a synchronous retry
                        self._rows = rows + self._rows
                        self._blobs = blobs + self._blobs
            finally:
                c.close()


class _Committer:
    """A :class:`ChainWriter`'s committing thread: one job at a time, each one
    transaction on the thread's own connection (opened in the thread, set up as every
    theater connection is: :func:`connect`)."""

    def __init__(self, store: RowWriter) -> None:
        self.path = store.db_file()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="theater-commit")
        self._local = threading.local()
        self.pending: Future[dict[str, int]] | None = None
        self.args: tuple[list[Any], list[tuple[bytes, bytes]], bool] = ([], [], False)

    def submit(self, write: Callable[..., dict[str, int]], rows: list[Any],
               blobs: list[tuple[bytes, bytes]], complete: bool) -> None:
        assert self.pending is None
        self.args = (rows, blobs, complete)
        self.pending = self._pool.submit(self._job, write, rows, blobs, complete)

    def _job(self, write: Callable[..., dict[str, int]], rows: list[Any],
             blobs: list[tuple[bytes, bytes]], complete: bool) -> dict[str, int]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        with Transaction(conn):
            return write(conn, rows, blobs, complete)

    def wait(self) -> dict[str, int]:
        """The result of the job in flight (its ``sqlite3.Error`` raised here)."""
        fut, self.pending = self.pending, None
        assert fut is not None
        return fut.result()

    def close(self) -> None:
        def shut() -> None:
            conn = getattr(self._local, "conn", None)
            if conn is not None:
                self._local.conn = None
                conn.close()

        self._pool.submit(shut).result()
        self._pool.shutdown(wait=True)


class ChainImport:
    """Insert a new chain in one transaction: all of its events, or nothing.

    ``tee(rows)`` passes rows through to a verifier and stores each one only when the
    verifier asks for the next (so after it accepted this one); ``commit`` finishes,
    ``rollback`` leaves the database as it was.
    """

    def __init__(self, store: RowWriter, header: bytes, format: str, *, batch: int = 1024) -> None:
        self.store = store
        self.batch = batch
        self._rows: list[tuple[Any, ...]] = []
        self.events = 0
        #: ``(seq, sha256)`` of every blob reference in the accepted events
        self.refs: list[tuple[int, bytes]] = []
        self._ids: dict[str, int] = {}
        self.head: bytes | None = None
        self.last_type: str | None = None
        try:
            obj = orjson.loads(header)
        except orjson.JSONDecodeError:
            obj = None
        meta = obj if isinstance(obj, dict) else {}
        self.chain_id = secrets.token_hex(8)
        store.conn.execute("BEGIN IMMEDIATE")
        try:  # the chain row in the same transaction as its events: all or nothing
            cur = store.conn.execute(
                "INSERT INTO chains (id, actor, format, header, component_sha256, created, status,"
                " writer_pid) VALUES (?, ?, ?, ?, ?, ?, 'recording', ?)",
                (self.chain_id, str(meta.get("actor", "?")), format, header,
                 meta.get("component_sha256") if isinstance(meta.get("component_sha256"), str) else None,
                 time.time(), os.getpid()),
            )
            self.key = int(cur.lastrowid or 0)
        except BaseException:
            store.conn.execute("ROLLBACK")
            raise
        self.open = True

    def add_blob(self, sha256: bytes, raw: bytes) -> None:
        """Store a blob the imported events may refer to (its hash checked by the caller)."""
        self.store.put_blobs(self.store.conn, [(sha256, raw)])

    def _flush(self) -> None:
        if self._rows:
            conn = self.store.conn
            ids = self._ids = self.store.type_ids(conn, [r[2] for r in self._rows])
            key = self.key
            conn.executemany(_INSERT_EVENT, [(key, s, h, ids[t], d, w)
                                             for s, h, t, d, w in self._rows])
            self._rows = []

    def tee(self, rows: Iterable[Row]) -> Iterator[Row]:
        for row in rows:
            yield row
            seq, h, _, type_, data, written_at = row  # the parent is not stored (the verifier checked it)
            self._rows.append((seq, h, type_, data, written_at))
            if type_ in STATE_EXPORTS:
                self.refs.extend((seq, sha) for sha in refs(type_, data))
            self.events += 1
            self.head, self.last_type = h, type_
            if len(self._rows) >= self.batch:
                self._flush()
        self._flush()

    def commit(self, status: str) -> str:
        """Store what was accepted with ``status`` (complete or incomplete); returns the id."""
        self._flush()
        self.store.conn.execute(
            "UPDATE chains SET status = ?, writer_pid = NULL, length = ?, head = ? WHERE id = ?",
            (status, self.events, self.head, self.chain_id),
        )
        self.store.conn.execute("COMMIT")
        self.open = False
        self.store.keep_type_ids(self._ids)
        return self.chain_id

    def rollback(self) -> None:
        if self.open:
            self.store.conn.execute("ROLLBACK")
            self.open = False
