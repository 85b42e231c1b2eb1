"""The SQLite chain store (schema in docs/storage.md).

One database file holds many chains and is a self-contained bundle: chains, events,
checkpoints, and component bytes by SHA-256. Events are appended by a
:class:`ChainWriter` in batched transactions: a crash loses at most the uncommitted
tail and never leaves half an event.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlite_utils

from .chain import END_TYPE, ChainBuilder, Event, canonical_json
from .errors import ChainNotFound, ComponentMismatch, StoreError, UsageError

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

# Added after format v1 shipped, without a change of user_version: an additive table.
# A new database gets it with the others; an older one gets it from the first replay
# that stores an outcome (``Store.record_replay``). Readers treat its absence as "no
# replays recorded".
REPLAYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS replays (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    chain TEXT,
    outcome TEXT NOT NULL,
    seq INTEGER,
    kind TEXT,
    report TEXT,
    component_sha256 TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS replays_source ON replays (source, id);
CREATE INDEX IF NOT EXISTS replays_chain ON replays (chain);
"""

STATUSES = ("recording", "complete", "incomplete")


class ReplayOutcome(StrEnum):
    """How a replay ended, as stored in the ``replays`` table (docs/storage.md)."""

    VERIFIED = "verified"  # reproduced the recording hash for hash
    DIVERGED = "diverged"  # differed at ``seq`` (``kind``, the report beside)
    STOPPED = "stopped"  # stopped by request (--until) after ``seq``
    FAILED = "failed"  # could not go on (``kind`` names the error, ``report`` says it)
    INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM after ``seq`` events


@dataclass(frozen=True)
class ReplayRecord:
    """A row of the replays table: one replay of ``source`` and how it ended.

    ``chain`` is the replay chain, or None when the replay stored no chain of its own."""

    id: int
    source: str
    chain: str | None
    outcome: str
    seq: int | None
    kind: str | None
    report: Any
    component_sha256: str | None
    created: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "chain": self.chain, "outcome": self.outcome,
                "seq": self.seq, "kind": self.kind, "component_sha256": self.component_sha256,
                "created": self.created}
BUSY_TIMEOUT = 30.0  # seconds a writer waits for another's transaction before giving up


MAX_BUSY_TIMEOUT = 86400.0  # a day: SQLite takes the timeout as a C int of milliseconds


def busy_timeout() -> float:
    """Seconds to wait for a lock another process holds: ``$THEATER_BUSY_TIMEOUT``, else 30.

    A value that is not a number of seconds from 0 to a day (``inf``, ``nan``, ``-1``,
    junk) is a usage error (one line, exit 2), not silently replaced."""
    env = os.environ.get("THEATER_BUSY_TIMEOUT")
    if env is None or env.strip() == "":
        return BUSY_TIMEOUT
    try:
        value = float(env)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= MAX_BUSY_TIMEOUT:  # also false for nan
        raise UsageError(f"THEATER_BUSY_TIMEOUT={env!r} is not a number of seconds from 0 to "
                         f"{MAX_BUSY_TIMEOUT:g}; unset it (default {BUSY_TIMEOUT:g}) or set e.g. 30")
    return value


def _busy_timeout_shown() -> str:
    try:
        return f"{busy_timeout():g}"
    except UsageError:
        return "?"


def describe_sqlite_error(e: sqlite3.Error) -> str:
    """SQLite's message, with what it usually means for a theater database."""
    msg = str(e)
    name = getattr(e, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_READONLY") or "readonly" in msg:
        return f"{msg} (the file or its folder is read-only)"
    if name.startswith("SQLITE_BUSY") or "locked" in msg:
        return f"{msg} (another process held it for longer than {_busy_timeout_shown()} s)"
    if name.startswith("SQLITE_CORRUPT") or name == "SQLITE_NOTADB" or "malformed" in msg:
        return f"{msg} (the file is damaged or not a database)"
    if name.startswith("SQLITE_CANTOPEN"):
        return f"{msg} (check that its folder exists and can be written)"
    if name.startswith("SQLITE_FULL"):
        return f"{msg} (the disk is full)"
    return msg


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
        #: True when the file could only be opened read-only and immutable (a WAL
        #: database in a folder we cannot write, with no -wal file: nothing uncommitted)
        self.read_only = False
        self._foreign_checked = False
        self._target: tuple[str, bool] = (str(self.path), False)
        self._reader: sqlite3.Connection | None = None
        if not create and not self.path.exists():
            raise StoreError(f"no database at {self.path} (record a chain first, or pass --db)")
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the folder for {self.path}: {e.strerror}") from e
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect(str(self.path))
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError as e:
                if create or not self._immutable_ok(e):
                    raise
                conn.close()
                self._target = (self.path.resolve().as_uri() + "?mode=ro&immutable=1", True)
                conn = self._connect(self._target[0], uri=True)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                self.read_only = True
            self.db = sqlite_utils.Database(conn)
            self.conn = conn
            if create:
                self._ensure_schema()
                self._check_foreign_objects()
            elif not self.db["chains"].exists():
                raise StoreError(f"{self.path} is not a theater database (no chains table)")
        except sqlite3.Error as e:
            if conn is not None:
                conn.close()
            raise StoreError(f"cannot open {self.path} as a theater database: {describe_sqlite_error(e)}") from e
        except UnicodeDecodeError as e:  # SQLite's message quoted a damaged schema that is not UTF-8
            if conn is not None:
                conn.close()
            raise StoreError(f"cannot open {self.path} as a theater database: its schema is damaged "
                             "(the file is damaged or not a database)") from e
        except StoreError:
            if conn is not None:
                conn.close()
            raise

    @staticmethod
    def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
        timeout = busy_timeout()
        conn = sqlite3.connect(target, timeout=timeout, isolation_level=None, uri=uri)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        return conn

    def _immutable_ok(self, e: sqlite3.OperationalError) -> bool:
        """A WAL database in a read-only folder cannot be opened for reading (SQLite
        must create its -shm file). Reading it immutable is safe when there is no -wal
        file: then everything committed is in the main file."""
        if getattr(e, "sqlite_errorname", "").split("_")[:2] not in (["SQLITE", "READONLY"], ["SQLITE", "CANTOPEN"]):
            return False
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            return not wal.exists() or wal.stat().st_size == 0
        except OSError:
            return False

    def _ensure_schema(self) -> None:
        """Create the tables once, even when several processes open a new file at once.

        Switching a new file to WAL takes an exclusive lock, and two connections doing
        so at once can get SQLITE_BUSY at once, without the busy handler waiting (a lock
        cycle SQLite breaks by failing one side). Creation is idempotent, so a busy
        attempt is retried until the busy timeout has passed."""
        deadline = time.monotonic() + busy_timeout()
        while True:
            try:
                self._create_schema()
                return
            except sqlite3.OperationalError as e:
                name = getattr(e, "sqlite_errorname", "") or ""
                if not (name.startswith("SQLITE_BUSY") or "locked" in str(e)) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def _create_schema(self) -> None:
        if self._has_schema():
            return
        self.db.enable_wal()
        try:
            self.conn.executescript(
                "BEGIN IMMEDIATE;\n" + SCHEMA + REPLAYS_SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;\n"
            )
        except sqlite3.Error:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    #: triggers and views theater creates itself (none): any other is foreign
    OWN_TRIGGERS: frozenset[str] = frozenset()
    OWN_VIEWS: frozenset[str] = frozenset()

    def _check_foreign_objects(self) -> None:
        """Refuse to write to a database holding triggers or views theater did not
        create: a trigger could rewrite the events being recorded or delete checkpoints
        behind theater's back, while the command reports success (issue 11 item 11).
        Checked once per Store, before its first write."""
        if getattr(self, "_foreign_checked", False) or self.read_only:
            return
        rows = self.conn.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY type, name"
        ).fetchall()
        foreign = [(t, n) for t, n in rows
                   if n not in (self.OWN_TRIGGERS if t == "trigger" else self.OWN_VIEWS)]
        if foreign:
            names = ", ".join(f"{t} {_text(n)!r}" for t, n in foreign[:5])
            more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            raise StoreError(f"{self.path} holds {names}{more}, which theater did not create; refusing to write "
                             "to it (they could change what is stored): drop them, or use another database")
        self._foreign_checked = True

    def check_writable(self) -> None:
        """Raise :class:`StoreError` unless this database may be written (see
        :meth:`_check_foreign_objects`); cheap after the first call."""
        try:
            self._check_foreign_objects()
        except sqlite3.Error as e:
            raise StoreError(f"cannot read the schema of {self.path}: {describe_sqlite_error(e)}") from e

    def _has_schema(self) -> bool:
        row = self.conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            " AND name IN ('chains', 'events', 'checkpoints', 'components')"
        ).fetchone()
        return bool(row[0] == 4)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.conn.close()

    @property
    def reader(self) -> sqlite3.Connection:
        """The connection that reads recorded events: a second, query-only connection,
        so that no read of ours is ever a transaction the writing connection must
        upgrade (SQLITE_BUSY_SNAPSHOT once another process has committed). While the
        main connection is inside a transaction, reads join it instead (they must see
        that transaction's snapshot and its own writes)."""
        if self.conn.in_transaction:
            return self.conn
        if self._reader is None:
            target, uri = self._target
            try:
                reader = self._connect(target, uri=uri)
                reader.execute("PRAGMA query_only = ON")
            except sqlite3.Error as e:
                raise StoreError(f"cannot read {self.path}: {describe_sqlite_error(e)}") from e
            self._reader = reader
        return self._reader

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
            raise StoreError(f"cannot write to {self.path}: {describe_sqlite_error(e)}") from e
        return sha

    def get_component(self, sha256: str) -> bytes | None:
        """The stored bytes of the component ``sha256``, None if absent. Bytes that do
        not hash to ``sha256`` are refused (:class:`ComponentMismatch`, exit 1): they
        are not the component a chain recorded, and must never be compiled."""
        row = self.conn.execute("SELECT bytes FROM components WHERE sha256 = ?", (sha256,)).fetchone()
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
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to {self.path}: {describe_sqlite_error(e)}") from e
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
            if self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'replays'").fetchone():
                self.conn.execute("DELETE FROM replays WHERE source = ? OR chain = ?", (chain_id, chain_id))

    # -- replay outcomes ----------------------------------------------------

    def has_replays_table(self) -> bool:
        row = self.reader.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'replays'").fetchone()
        return bool(row[0])

    def record_replay(
        self,
        source: str,
        outcome: ReplayOutcome,
        *,
        chain: str | None,
        seq: int | None = None,
        kind: str | None = None,
        report: Any = None,
        component_sha256: str | None = None,
    ) -> int:
        """Store how one replay of ``source`` ended; returns the row id.

        ``chain`` is the replay chain, or None for a replay that stored none. ``report``
        (JSON-serializable) is kept whole: the divergence report, or the error. Creates
        the replays table in a database made before it existed."""
        import orjson

        body = None if report is None else orjson.dumps(report, option=orjson.OPT_SORT_KEYS).decode()
        try:
            with self.transaction() as conn:
                for stmt in REPLAYS_SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                cur = conn.execute(
                    "INSERT INTO replays (source, chain, outcome, seq, kind, report, component_sha256, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (source, chain, str(ReplayOutcome(outcome)), seq, kind, body, component_sha256, time.time()),
                )
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to {self.path}: {describe_sqlite_error(e)}") from e
        return int(cur.lastrowid or 0)

    _REPLAY_COLS = "id, source, chain, outcome, seq, kind, report, component_sha256, created"

    def replays(self, source: str | None = None) -> list[ReplayRecord]:
        """Every stored replay outcome (of ``source`` only, when given), oldest first."""
        if not self.has_replays_table():
            return []
        sql = f"SELECT {self._REPLAY_COLS} FROM replays"
        rows = (self.reader.execute(sql + " ORDER BY id") if source is None else
                self.reader.execute(sql + " WHERE source = ? ORDER BY id", (source,)))
        return [_replay_record(r) for r in rows.fetchall()]

    def replay_outcomes(self) -> tuple[dict[str, ReplayRecord], dict[str, ReplayRecord]]:
        """``(by_chain, latest_by_source)``: the outcome of each replay chain, and each
        recording's latest replay outcome (one read of the replays table)."""
        by_chain: dict[str, ReplayRecord] = {}
        latest: dict[str, ReplayRecord] = {}
        for r in self.replays():  # oldest first: later rows win
            if r.chain is not None:
                by_chain[r.chain] = r
            latest[r.source] = r
        return by_chain, latest

    # -- events -------------------------------------------------------------

    def event_rows(
        self, chain_id: str, start: int = 0, stop: int | None = None, *, page: int = PAGE,
        written_at: bool = True,
    ) -> Iterator[tuple[Any, ...]]:
        """Raw rows ``(seq, hash, parent, type, data, written_at)`` in seq order, streamed.

        Rows are returned as stored, without any checking (the verifier's input).
        Duplicate seqs (only possible in a tampered file) come in rowid order.
        With ``written_at=False`` rows are ``(seq, hash, parent, type, data)``, what is
        hashed, and the pages are flattened in C: the verifier's input, 0.3 us per row
        cheaper (no unauthenticated time to read, no Python frame per row).
        """
        cols = "seq, hash, parent, type, data" + (", written_at" if written_at else "")
        pages = self._event_pages(cols, "", (), chain_id, start, stop, page)
        if not written_at:
            return itertools.chain.from_iterable(pages)
        return (row for rows in pages for row in rows)

    def _event_pages(
        self, cols: str, where: str, extra: tuple[Any, ...], chain_id: str, start: int, stop: int | None,
        page: int,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of one chain in pages of at most ``page`` rows, each page its own
        statement on :attr:`reader`, stepped to the end at once: a short read
        transaction, so nothing we read stays open while we write, and a concurrent
        writer's commits can neither invalidate a read nor be held up by one.

        Pages follow each other by ``(seq, rowid)`` (keyset paging), so every row is
        read once, in order, whatever seq values a tampered file holds. Events are
        append-only: rows read in later transactions extend what was read before."""
        sql = (
            f"SELECT {cols}, rowid FROM events WHERE chain = ? AND seq >= ?"
            + ("" if stop is None else " AND seq < ?") + where
            + " AND (seq, rowid) > (?, ?) ORDER BY seq, rowid LIMIT ?"
        )
        bounds: tuple[Any, ...] = (chain_id, start) if stop is None else (chain_id, start, stop)
        key: tuple[Any, Any] = (start, -(1 << 63))
        page = max(1, int(page))
        while True:
            rows = self.reader.execute(sql, (*bounds, *extra, *key, page)).fetchall()
            if not rows:
                return
            last = rows[-1]
            key = (last[0], last[-1])
            yield [r[:-1] for r in rows]
            if len(rows) < page:
                return

    def events(self, chain_id: str, start: int = 0, stop: int | None = None) -> Iterator[Event]:
        """Events in seq order (streamed; constant memory). A row whose values have the
        wrong type raises :class:`MalformedEvent` naming its seq (see :func:`checked_row`)."""
        for row in self.event_rows(chain_id, start, stop):
            yield _event(chain_id, row)

    def check_event_types(self, chain_id: str) -> None:
        """Raise :class:`MalformedEvent` for the first row of the chain whose values are
        not of the types theater writes: one scan in SQLite, run by readers that write
        something (replay, export) before they write anything."""
        row = self.conn.execute(
            "SELECT seq, hash, parent, type, data, written_at FROM events WHERE chain = ? AND ("
            "typeof(seq) != 'integer' OR typeof(type) != 'text' OR typeof(hash) != 'blob'"
            " OR typeof(parent) != 'blob' OR typeof(data) != 'blob'"
            " OR typeof(written_at) NOT IN ('real', 'integer', 'null')) LIMIT 1",
            (chain_id,),
        ).fetchone()
        if row is not None:
            checked_row(chain_id, row)

    def checked_rows(self, chain_id: str, start: int = 0, stop: int | None = None) -> Iterator[tuple[Any, ...]]:
        """``event_rows`` with every value of the type theater wrote (see :func:`checked_row`),
        for readers that do not verify (export, replay): a tampered row is an error that
        names its seq, never a crash further on."""
        for row in self.event_rows(chain_id, start, stop):
            yield checked_row(chain_id, row)

    def events_of_type(self, chain_id: str, prefix: str) -> Iterator[Event]:
        """Events whose type starts with ``prefix``, in seq order (streamed)."""
        yield from self.events_of_type_until(chain_id, prefix, None)

    def events_of_type_until(self, chain_id: str, prefix: str, stop: int | None) -> Iterator[Event]:
        """Events whose type starts with ``prefix`` and whose seq is below ``stop``
        (all when None), in seq order, read in short pages (see ``_event_pages``)."""
        pages = self._event_pages("seq, hash, parent, type, data, written_at", " AND substr(type, 1, ?) = ?",
                                  (len(prefix), prefix), chain_id, 0, stop, PAGE)
        for rows in pages:
            for row in rows:
                yield _event(chain_id, row)

    def event(self, chain_id: str, seq: int) -> Event | None:
        for ev in self.events(chain_id, seq, seq + 1):
            return ev
        return None

    def count(self, chain_id: str, stop: int | None = None) -> int:
        """The number of stored events of the chain (those with seq below ``stop``, when given)."""
        if stop is None:
            row = self.reader.execute("SELECT count(*) FROM events WHERE chain = ?", (chain_id,)).fetchone()
        else:
            row = self.reader.execute("SELECT count(*) FROM events WHERE chain = ? AND seq < ?",
                                      (chain_id, stop)).fetchone()
        return int(row[0])

    def last_event(self, chain_id: str) -> Event | None:
        row = self.reader.execute(
            "SELECT seq, hash, parent, type, data, written_at FROM events WHERE chain = ?"
            " ORDER BY seq DESC LIMIT 1",
            (chain_id,),
        ).fetchone()
        if row is None:
            return None
        return _event(chain_id, row)

    def transaction(self) -> _Transaction:
        self.check_writable()
        return _Transaction(self.conn)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            # SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR):
            # a second ROLLBACK would fail and hide the error that caused it
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the original error is the one to report


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
        #: called with the writer after every commit (e.g. to sign a checkpoint)
        self.on_commit: Callable[[ChainWriter], None] | None = None
        # WAL + synchronous=NORMAL: a commit is a write to the -wal file, without an
        # fsync (one per batch cost 0.3 to 6 us per event on the test machine, with the
        # disk's load; docs/performance.md). A process crash still loses only the
        # uncommitted tail; a power loss may also lose the last commits, never half an event.
        store.conn.execute("PRAGMA synchronous = NORMAL")

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
            raise StoreError(f"cannot write events to {self.store.path}: {describe_sqlite_error(e)}") from e
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
        self.store.set_status(self.chain_id, "incomplete")
        self.finished = True


class MalformedEvent(StoreError):
    """A stored event row whose values are not of the types theater writes (only a
    file changed by hand): reported as ``malformed`` with its seq (exit 2)."""


_BLOBS = (bytes, bytearray, memoryview)


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


def _text(v: Any) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else bytes(v).decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _replay_record(row: tuple[Any, ...]) -> ReplayRecord:
    """A replays row; like ``_chain_info``, a value of the wrong type reads as empty."""
    report = _loads(row[6].encode()) if isinstance(row[6], str) else None
    created = row[8]
    return ReplayRecord(
        id=_int(row[0]) or 0,
        source=_text(row[1]) or "",
        chain=_text(row[2]),
        outcome=_text(row[3]) or "",
        seq=_int(row[4]),
        kind=_text(row[5]),
        report=report,
        component_sha256=_text(row[7]),
        created=float(created) if isinstance(created, (int, float)) and abs(created) < 1e11 else 0.0,
    )


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
