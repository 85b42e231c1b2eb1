"""The SQLite chain store (schema in docs/storage.md).

One database file holds many chains and is a self-contained bundle: chains, events,
checkpoints, and component bytes by SHA-256. Events are appended by a
:class:`ChainWriter` in batched transactions: a crash loses at most the uncommitted
tail and never leaves half an event.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from .chain import END_TYPE, ChainBuilder, Event, canonical_json
from .errors import ChainNotFound, StoreError, UsageError

SCHEMA_VERSION = 1
DEFAULT_BATCH = 1024
PAGE = 4096

SCHEMA = """
CREATE TABLE IF NOT EXISTS chains (
    id TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    format TEXT NOT NULL DEFAULT 'v1',
    header BLOB NOT NULL,
    component_sha256 TEXT,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    replay_of TEXT REFERENCES chains(id),
    writer_pid INTEGER,
    length INTEGER NOT NULL DEFAULT 0,
    head BLOB
);
CREATE TABLE IF NOT EXISTS events (
    chain TEXT NOT NULL REFERENCES chains(id),
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    parent BLOB NOT NULL,
    type TEXT NOT NULL,
    data BLOB NOT NULL,
    written_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_chain_seq ON events (chain, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    chain TEXT NOT NULL,
    size INTEGER NOT NULL,
    head BLOB NOT NULL,
    key_id TEXT,
    note TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_chain ON checkpoints (chain, size);
CREATE TABLE IF NOT EXISTS components (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    bytes BLOB NOT NULL
);
"""

STATUSES = ("recording", "complete", "incomplete")


def default_db_path() -> Path:
    """``$THEATER_DB``, else ``theater.db`` in the user data dir (XDG_DATA_HOME)."""
    env = os.environ.get("THEATER_DB")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "theater" / "theater.db"


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
        if self.status == "recording" and not _pid_alive(self.writer_pid):
            return "incomplete"
        return self.status

    def header_json(self) -> Any:
        import orjson

        return orjson.loads(self.header)


_CHAIN_COLS = (
    "id, actor, format, header, component_sha256, created, status, replay_of, writer_pid, "
    "length, head"
)


class Store:
    """A theater database. ``Store(path)`` opens (and with ``create=True`` creates) it."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"no database at {self.path} (record a chain first, or pass --db)")
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the folder for {self.path}: {e.strerror}") from e
        try:
            conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 30000")
            self.db = sqlite_utils.Database(conn)
            self.conn = conn
            if create:
                self._ensure_schema()
            else:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                if not self.db["chains"].exists():
                    raise StoreError(f"{self.path} is not a theater database (no chains table)")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open {self.path} as a theater database: {e}") from e

    def _ensure_schema(self) -> None:
        if self.db["chains"].exists():
            return
        self.db.enable_wal()
        self.conn.executescript(SCHEMA)
        self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- components ---------------------------------------------------------

    def put_component(self, data: bytes) -> str:
        """Store component bytes under their SHA-256 (idempotent); returns the hex digest."""
        sha = hashlib.sha256(data).hexdigest()
        self.conn.execute(
            "INSERT OR IGNORE INTO components (sha256, size, bytes) VALUES (?, ?, ?)",
            (sha, len(data), data),
        )
        return sha

    def get_component(self, sha256: str) -> bytes | None:
        row = self.conn.execute("SELECT bytes FROM components WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else bytes(row[0])

    # -- chains -------------------------------------------------------------

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
        self.conn.execute(
            "INSERT INTO chains (id, actor, format, header, component_sha256, created, status,"
            " replay_of, writer_pid) VALUES (?, ?, ?, ?, ?, ?, 'recording', ?, ?)",
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
        return ChainWriter(self, chain_id, hb, batch=batch)

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

    def set_status(self, chain_id: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"bad status {status!r}")
        self.conn.execute("UPDATE chains SET status = ? WHERE id = ?", (status, chain_id))

    def delete_chain(self, chain_id: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM events WHERE chain = ?", (chain_id,))
            self.conn.execute("DELETE FROM checkpoints WHERE chain = ?", (chain_id,))
            self.conn.execute("DELETE FROM chains WHERE id = ?", (chain_id,))

    # -- events -------------------------------------------------------------

    def event_rows(
        self, chain_id: str, start: int = 0, stop: int | None = None, *, page: int = PAGE
    ) -> Iterator[tuple[Any, ...]]:
        """Raw rows ``(seq, hash, parent, type, data, written_at)`` in seq order, streamed.

        Rows are returned as stored, without any checking (the verifier's input).
        Duplicate seqs (only possible in a tampered file) come in rowid order.
        """
        sql = (
            "SELECT seq, hash, parent, type, data, written_at FROM events"
            " WHERE chain = ? AND seq >= ?" + ("" if stop is None else " AND seq < ?")
            + " ORDER BY seq, rowid"
        )
        params: tuple[Any, ...] = (chain_id, start) if stop is None else (chain_id, start, stop)
        cur = self.conn.execute(sql, params)
        while True:
            rows = cur.fetchmany(page)
            if not rows:
                return
            yield from rows

    def events(self, chain_id: str, start: int = 0, stop: int | None = None) -> Iterator[Event]:
        """Events in seq order (streamed; constant memory)."""
        for seq, h, parent, type_, data, written_at in self.event_rows(chain_id, start, stop):
            yield Event(seq, bytes(parent), type_, bytes(data), bytes(h), written_at)

    def events_of_type(self, chain_id: str, prefix: str) -> Iterator[Event]:
        """Events whose type starts with ``prefix``, in seq order (streamed)."""
        cur = self.conn.execute(
            "SELECT seq, hash, parent, type, data, written_at FROM events"
            " WHERE chain = ? AND substr(type, 1, ?) = ? ORDER BY seq",
            (chain_id, len(prefix), prefix),
        )
        while rows := cur.fetchmany(PAGE):
            for seq, h, parent, type_, data, written_at in rows:
                yield Event(seq, bytes(parent), type_, bytes(data), bytes(h), written_at)

    def event(self, chain_id: str, seq: int) -> Event | None:
        for ev in self.events(chain_id, seq, seq + 1):
            return ev
        return None

    def count(self, chain_id: str) -> int:
        return int(self.conn.execute("SELECT count(*) FROM events WHERE chain = ?", (chain_id,)).fetchone()[0])

    def last_event(self, chain_id: str) -> Event | None:
        row = self.conn.execute(
            "SELECT seq, hash, parent, type, data, written_at FROM events WHERE chain = ?"
            " ORDER BY seq DESC LIMIT 1",
            (chain_id,),
        ).fetchone()
        if row is None:
            return None
        seq, h, parent, type_, data, written_at = row
        return Event(seq, bytes(parent), type_, bytes(data), bytes(h), written_at)

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


class ChainWriter:
    """Appends events to one chain in batched transactions.

    ``append`` hashes the event at once (the head is always current) and buffers the
    row; every ``batch`` events, and on ``flush``/``finish``, the buffer is committed in
    one transaction together with the chain's cached length and head.
    """

    def __init__(self, store: Store, chain_id: str, header: bytes, *, batch: int = DEFAULT_BATCH) -> None:
        self.store = store
        self.chain_id = chain_id
        self.builder = ChainBuilder(header)
        self.batch = batch
        self._rows: list[tuple[str, int, bytes, bytes, str, bytes, float]] = []
        self.finished = False

    @property
    def head(self) -> bytes:
        return self.builder.head

    @property
    def length(self) -> int:
        return self.builder.seq

    def append(self, type_: str, data: bytes) -> bytes:
        """Append one event; returns its hash."""
        seq, parent, h = self.builder.append(type_, data)
        self._rows.append((self.chain_id, seq, h, parent, type_, data, time.time()))
        if len(self._rows) >= self.batch:
            self.flush()
        return h

    def flush(self) -> None:
        """Commit the buffered events (one transaction: all of them or none)."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        conn = self.store.conn
        try:
            with self.store.transaction():
                conn.executemany(
                    "INSERT INTO events (chain, seq, hash, parent, type, data, written_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                conn.execute(
                    "UPDATE chains SET length = ?, head = ? WHERE id = ?",
                    (rows[-1][1] + 1, rows[-1][2], self.chain_id),
                )
        except sqlite3.Error as e:
            self._rows = rows + self._rows
            raise StoreError(f"cannot write events to {self.store.path}: {e}") from e

    def finish(self, outcome: str, **detail: Any) -> bytes:
        """Append the end event (how the recording ended), commit, mark complete."""
        self.append(END_TYPE, canonical_json({"outcome": outcome, **detail}))
        self.flush()
        self.store.conn.execute(
            "UPDATE chains SET status = 'complete', writer_pid = NULL WHERE id = ?", (self.chain_id,)
        )
        self.finished = True
        return self.head

    def abandon(self) -> None:
        """Commit what was written and mark the chain incomplete (no end event)."""
        self.flush()
        self.store.set_status(self.chain_id, "incomplete")
        self.finished = True


def _loads(b: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(b)
    except orjson.JSONDecodeError:
        return None


def _chain_info(row: tuple[Any, ...]) -> ChainInfo:
    return ChainInfo(
        id=row[0],
        actor=row[1],
        format=row[2],
        header=bytes(row[3]),
        component_sha256=row[4],
        created=row[5],
        status=row[6],
        replay_of=row[7],
        writer_pid=row[8],
        length=row[9] or 0,
        head=None if row[10] is None else bytes(row[10]),
    )
