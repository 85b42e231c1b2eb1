"""The connection and the schema: opening a theater database (docs/storage.md).

Every connection is set up here when it opens (busy timeout, ``synchronous``,
``query_only``), never by a caller on a shared one, and :func:`store_error` is the
one place a :class:`sqlite3.Error` becomes a :class:`StoreError` with what it
usually means.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import sqlite_utils

from ..errors import StoreError, UsageError
from ..outcomes import ChainStatus

SCHEMA_VERSION = 2
#: the layouts this code reads: 1 (read as is, migrated on the first write) and 2
LAYOUTS = (1, 2)
DEFAULT_BATCH = 1024
PAGE = 4096

# Storage v2 (issue 18 item 1; docs/storage.md). Events are keyed by an integer chain
# key and their seq, in a WITHOUT ROWID table clustered on that key; an event's type is
# a row of ``event_types``; the parent is not stored (it is the previous event's hash,
# recomputed by every reader from the header). Chain ids, what users see, stay text in
# ``chains.id`` and everywhere else (checkpoints, replays, replay_of).
SCHEMA = """
CREATE TABLE IF NOT EXISTS chains (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    format TEXT NOT NULL DEFAULT 'v1',
    header BLOB NOT NULL,
    component_sha256 TEXT,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    replay_of TEXT,
    writer_pid INTEGER,
    length INTEGER NOT NULL DEFAULT 0,
    head BLOB
);
CREATE TABLE IF NOT EXISTS event_types (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS events (
    chain INTEGER NOT NULL REFERENCES chains(key),
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    type INTEGER NOT NULL REFERENCES event_types(id),
    data BLOB NOT NULL,
    written_at REAL,
    PRIMARY KEY (chain, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (
    id INTEGER PRIMARY KEY,
    sha256 BLOB NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    codec TEXT NOT NULL,
    bytes BLOB NOT NULL
);
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

# The first layout (``user_version = 1``, docs/storage.md) is read as is (rows.py's
# ``_cols``) and migrated to :data:`SCHEMA` on the first write (theater/store/migrate.py).

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

STATUSES = tuple(ChainStatus)  # the values of the chains table's status column

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


#: what a store query run lazily (a row iterator, a page read) raises when the file goes
#: bad under it (``sqlite3.Error``): for callers outside the store, which never import
#: sqlite3 themselves; ``except SQLiteError as e: raise store_error(e, ...) from e``
SQLiteError = sqlite3.Error


def store_error(e: sqlite3.Error, doing: str) -> StoreError:
    """The :class:`StoreError` for ``e`` raised while ``doing`` (e.g. ``"cannot write to
    PATH"``): one line, SQLite's message and what it usually means. The one place a
    ``sqlite3.Error`` is turned into theater's error; raise it ``from e``."""
    return StoreError(f"{doing}: {describe_sqlite_error(e)}")


@contextmanager
def sqlite_errors(doing: str) -> Iterator[None]:
    """``with sqlite_errors("cannot read X"):``: any ``sqlite3.Error`` inside becomes
    :func:`store_error` (for callers outside the store that run store queries lazily)."""
    try:
        yield
    except sqlite3.Error as e:
        raise store_error(e, doing) from e


def default_db_path() -> Path:
    """``$THEATER_DB``, else ``theater.db`` in the user data dir (XDG_DATA_HOME)."""
    env = os.environ.get("THEATER_DB")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "theater" / "theater.db"


def _text(v: Any) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else bytes(v).decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def connect(target: str, *, uri: bool = False, query_only: bool = False) -> sqlite3.Connection:
    """A connection to ``target`` set up the way every theater connection is.

    - ``busy_timeout``: wait for another process's lock (:func:`busy_timeout`);
    - ``synchronous = NORMAL``: in WAL mode a commit is a write to the -wal file,
      without an fsync (one per batch cost 0.3 to 6 us per event on the test machine,
      with the disk's load; docs/performance.md). A process crash still loses only
      the uncommitted tail; a power loss may also lose the last commits, never half
      an event;
    - ``query_only`` when asked (a reader that must never write).
    """
    timeout = busy_timeout()
    conn = sqlite3.connect(target, timeout=timeout, isolation_level=None, uri=uri)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        if query_only:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


class Connection:
    """An open theater database: its connections, its schema, its transactions.

    ``Connection(path)`` opens (and with ``create=True`` creates) it; with
    ``query_only=True`` every connection of it refuses to write. The queries live in
    the subclasses (:mod:`.rows`, :mod:`.writer`, :mod:`.replays`), joined by
    :class:`theater.store.Store`."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, query_only: bool = False) -> None:
        self.path = Path(path)
        #: True when the file could only be opened read-only and immutable (a WAL
        #: database in a folder we cannot write, with no -wal file: nothing uncommitted)
        self.read_only = False
        self.query_only = query_only
        self._foreign_checked = False
        #: the storage layout of the file: 2, or 1 for a file an older theater made (read
        #: as is; migrated on the first write, see :meth:`check_writable`)
        self.layout = SCHEMA_VERSION
        #: what the migration on the first write did (a MigrationResult), if it ran
        self.migrated: Any = None
        #: event type -> its id in event_types, for the ids this Store saw committed
        self._type_ids: dict[str, int] = {}
        #: the last few blobs read (RowReader.blob)
        self._blob_cache: dict[bytes, bytes] = {}
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
            try:  # the pragmas set at open read the file too: a read-only folder fails here
                conn = self._connect(str(self.path))
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError as e:
                if create or not self._immutable_ok(e):
                    raise
                if conn is not None:
                    conn.close()
                self._target = (self.path.resolve().as_uri() + "?mode=ro&immutable=1", True)
                conn = self._connect(self._target[0], uri=True)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                self.read_only = True
            self.db = sqlite_utils.Database(conn)
            self.conn = conn
            if create:
                self._ensure_schema()
            elif not self.db["chains"].exists():
                raise StoreError(f"{self.path} is not a theater database (no chains table)")
            self.layout = self._read_layout()
            if create:
                self._check_foreign_objects()
        except sqlite3.Error as e:
            if conn is not None:
                conn.close()
            raise store_error(e, f"cannot open {self.path} as a theater database") from e
        except UnicodeDecodeError as e:  # SQLite's message quoted a damaged schema that is not UTF-8
            if conn is not None:
                conn.close()
            raise StoreError(f"cannot open {self.path} as a theater database: its schema is damaged "
                             "(the file is damaged or not a database)") from e
        except StoreError:
            if conn is not None:
                conn.close()
            raise

    def _connect(self, target: str, *, uri: bool = False) -> sqlite3.Connection:
        return connect(target, uri=uri, query_only=self.query_only)

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
            raise store_error(e, f"cannot read the schema of {self.path}") from e
        if self.layout != SCHEMA_VERSION and not self.conn.in_transaction:
            self._migrate_on_write()

    def _migrate_on_write(self) -> None:
        """A file in the first layout is migrated before its first write (storage v2,
        issue 18 item 2): in one transaction, every chain verified before and after,
        a backup copy kept beside it (:func:`theater.store.migrate.migrate`)."""
        from .migrate import migrate

        self.migrated = migrate(self, backup=True)  # type: ignore[arg-type]  # a Store is the only Connection that writes

    def _read_layout(self) -> int:
        """The file's layout, from ``PRAGMA user_version`` (1: the first layout)."""
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version in LAYOUTS:
            return version
        if version == 0 and self.conn.execute(  # a file some tool rebuilt without the pragma
                "SELECT 1 FROM pragma_table_info('events') WHERE name = 'parent'").fetchone():
            return 1
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has storage layout {version}, made by a newer theater (this one "
                             f"reads layouts {LAYOUTS[0]} to {LAYOUTS[-1]}): upgrade theater")
        return SCHEMA_VERSION

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
                reader = connect(target, uri=uri, query_only=True)
            except sqlite3.Error as e:
                raise store_error(e, f"cannot read {self.path}") from e
            self._reader = reader
        return self._reader

    def chain_key(self, chain_id: str) -> Any:
        """The value ``events.chain`` holds for the chain ``chain_id``: its integer key
        (layout 2; -1 when there is no such chain, which matches no event) or its id."""
        if self.layout == 1:
            return chain_id
        row = self.reader.execute("SELECT key FROM chains WHERE id = ?", (chain_id,)).fetchone()
        return -1 if row is None else row[0]

    def db_file(self) -> str:
        """The file the main connection reads, as SQLite opened it (whatever the cwd now)."""
        for _, name, file in self.conn.execute("PRAGMA database_list"):
            if name == "main" and file:
                return str(file)
        return os.path.abspath(self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> Transaction:
        """``with store.transaction() as conn:`` one ``BEGIN IMMEDIATE`` transaction,
        committed at the end, rolled back on an error."""
        self.check_writable()
        return Transaction(self.conn)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read snapshot of the main connection: every read inside sees the same
        database (a deferred ``BEGIN``, committed at the end; reads on :attr:`reader`
        join it). For a reader that must not see a concurrent writer's commits
        between two reads (verify, then sign what was verified)."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")


class Transaction:
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
