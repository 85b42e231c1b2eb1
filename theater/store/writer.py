"""Writing: new chains and their events, components, checkpoints, bulk imports.

Events are appended by a :class:`ChainWriter` in batched transactions: a crash loses
at most the uncommitted tail and never leaves half an event. A :class:`ChainImport`
stores a whole chain in one transaction (``theater import``): all of it or nothing.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from ..chain import END_TYPE, ChainBuilder, canonical_json
from ..outcomes import ChainStatus
from .connection import DEFAULT_BATCH, STATUSES, Connection, store_error
from .rows import _loads

Row = tuple[Any, Any, Any, Any, Any, Any]  # seq, hash, parent, type, data, written_at


class RowWriter(Connection):
    """The queries that write a theater database."""

    # -- components ---------------------------------------------------------

    def put_component(self, data: bytes) -> str:
        """Store component bytes under their SHA-256 (idempotent); returns the hex digest."""
        sha = hashlib.sha256(data).hexdigest()
        self.check_writable()
        try:
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
    ) -> ChainWriter:
        """Start a new chain and return the writer that appends its events.

        ``component_sha256`` overrides the header's (a replay with ``--component``
        keeps the recorded header but ran another component)."""
        hb = header if isinstance(header, bytes) else canonical_json(header)
        hobj = header if isinstance(header, dict) else _loads(hb)
        chain_id = secrets.token_hex(8)
        self.check_writable()
        try:
            self.conn.execute(
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
        return ChainWriter(self, chain_id, hb, batch=batch)

    def set_status(self, chain_id: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"bad status {status!r}")
        self.conn.execute("UPDATE chains SET status = ? WHERE id = ?", (status, chain_id))

    def delete_chain(self, chain_id: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM events WHERE chain = ?", (chain_id,))
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
        return ChainImport(self, header, format, batch=batch)


class ChainWriter:
    """Appends events to one chain in batched transactions.

    ``append`` hashes the event at once (the head is always current) and buffers the
    row; every ``batch`` events, and on ``flush``/``finish``, the buffer is committed in
    one transaction together with the chain's cached length and head.
    """

    def __init__(self, store: RowWriter, chain_id: str, header: bytes, *, batch: int = DEFAULT_BATCH) -> None:
        self.store = store
        self.chain_id = chain_id
        self.builder = ChainBuilder(header)
        self.batch = batch
        self._rows: list[tuple[str, int, bytes, bytes, str, bytes, float]] = []
        self.finished = False
        #: called with the writer after every commit (e.g. to sign a checkpoint); the
        #: connection was opened with synchronous=NORMAL (connection.connect)
        self.on_commit: Callable[[ChainWriter], None] | None = None

    @property
    def head(self) -> bytes:
        return self.builder.head

    @property
    def length(self) -> int:
        return self.builder.seq

    def append(self, type_: str, data: bytes) -> bytes:
        """Append one event; returns its hash."""
        seq, parent, h = self.builder.append(type_, data)
        rows = self._rows
        rows.append((self.chain_id, seq, h, parent, type_, data, time.time()))
        if len(rows) >= self.batch:
            self.flush()
        return h

    def flush(self, *, complete: bool = False) -> None:
        """Commit the buffered events (one transaction: all of them or none).

        With ``complete`` the same transaction marks the chain complete, so no crash
        can leave an ended chain that still says it is being recorded."""
        if not self._rows and not complete:
            return
        rows, self._rows = self._rows, []
        conn = self.store.conn
        try:
            with self.store.transaction():
                if rows:
                    self._insert(conn, rows)
                    conn.execute(
                        "UPDATE chains SET length = ?, head = ? WHERE id = ?",
                        (rows[-1][1] + 1, rows[-1][2], self.chain_id),
                    )
                if complete:
                    conn.execute(
                        "UPDATE chains SET status = 'complete', writer_pid = NULL WHERE id = ?", (self.chain_id,)
                    )
        except sqlite3.Error as e:
            self._rows = rows + self._rows
            raise store_error(e, f"cannot write events to {self.store.path}") from e
        if self.on_commit is not None:
            self.on_commit(self)

    # One INSERT statement of CHUNK rows costs about 30% less per row than executemany
    # of one-row statements (docs/performance.md): the per-statement work is shared.
    CHUNK = 128
    _INSERT = "INSERT INTO events (chain, seq, hash, parent, type, data, written_at) VALUES "
    _INSERT_ONE = _INSERT + "(?, ?, ?, ?, ?, ?, ?)"
    _INSERT_CHUNK = _INSERT + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * CHUNK)

    @classmethod
    def _insert(cls, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows in seq order: whole chunks as multi-row statements, then the rest."""
        n, whole = cls.CHUNK, len(rows) - len(rows) % cls.CHUNK
        if whole:
            conn.executemany(cls._INSERT_CHUNK, (
                [v for row in rows[i:i + n] for v in row] for i in range(0, whole, n)
            ))
        if whole < len(rows):
            conn.executemany(cls._INSERT_ONE, rows[whole:])

    def finish(self, outcome: str, **detail: Any) -> bytes:
        """Append the end event (how the recording ended), commit, mark complete."""
        self.append(END_TYPE, canonical_json({"outcome": outcome, **detail}))
        self.flush(complete=True)
        self.finished = True
        return self.head

    def abandon(self) -> None:
        """Commit what was written and mark the chain incomplete (no end event)."""
        self.flush()
        self.store.set_status(self.chain_id, ChainStatus.INCOMPLETE)
        self.finished = True


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
            store.conn.execute(
                "INSERT INTO chains (id, actor, format, header, component_sha256, created, status,"
                " writer_pid) VALUES (?, ?, ?, ?, ?, ?, 'recording', ?)",
                (self.chain_id, str(meta.get("actor", "?")), format, header,
                 meta.get("component_sha256") if isinstance(meta.get("component_sha256"), str) else None,
                 time.time(), os.getpid()),
            )
        except BaseException:
            store.conn.execute("ROLLBACK")
            raise
        self.open = True

    def _flush(self) -> None:
        if self._rows:
            self.store.conn.executemany(
                "INSERT INTO events (chain, seq, hash, parent, type, data, written_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                self._rows,
            )
            self._rows = []

    def tee(self, rows: Iterable[Row]) -> Iterator[Row]:
        for row in rows:
            yield row
            seq, h, parent, type_, data, written_at = row
            self._rows.append((self.chain_id, seq, h, parent, type_, data, written_at))
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
        return self.chain_id

    def rollback(self) -> None:
        if self.open:
            self.store.conn.execute("ROLLBACK")
            self.open = False
