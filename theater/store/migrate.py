"""Migrating a file of the first layout (schema v1) to storage v2 (issue 18 item 2).

One transaction: every chain is checked first (its events and head recomputed by its
format's rule), the rows are copied into the v2 tables (integer chain keys, a table of
event types, events WITHOUT ROWID, no stored parent), the v1 tables dropped, and every
chain checked again; the transaction commits only when each chain has the same
number of verified events, the same head and the same verdict as before. A backup
copy of the file (the SQLite backup API, inside the same lock) is kept beside it
unless ``backup=False``. Nothing else changes: chain ids, headers, hashes, data,
checkpoints, components and replay outcomes are copied as they were.

A :class:`~theater.store.Store` runs it before its first write to a v1 file
(``Connection.check_writable``); ``theater migrate DB`` runs it on demand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..chain import HASH_SIZE, event_hash, genesis_hash
from ..errors import StoreError
from .connection import REPLAYS_SCHEMA, SCHEMA, SCHEMA_VERSION, store_error

if TYPE_CHECKING:
    from . import Store
    from .rows import ChainInfo


@dataclass(frozen=True, kw_only=True)
class ChainCheck:
    """What a check of one chain found: verified events, the head after them, and
    whether the whole chain verified."""

    events: int
    head: bytes | None
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {"events": self.events, "head": None if self.head is None else self.head.hex(), "ok": self.ok}


#: ``check(store, chain)``: the check run on each chain before and after
Check = Callable[["Store", "ChainInfo"], ChainCheck]


@dataclass(frozen=True, kw_only=True)
class MigrationResult:
    """A migration: the file, its backup (None without one), and each chain's check,
    the same before and after (``chains``: id -> check). ``migrated`` is False when the
    file already had layout 2. ``dropped`` counts events that belonged to no chain."""

    path: Path
    migrated: bool
    backup: Path | None = None
    chains: tuple[tuple[str, ChainCheck], ...] = ()
    events: int = 0
    dropped: int = 0

    @property
    def failing(self) -> tuple[str, ...]:
        """The chains that did not verify (before, and so after: the same verdict)."""
        return tuple(cid for cid, c in self.chains if not c.ok)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "migrated": self.migrated, "layout": SCHEMA_VERSION,
                "backup": None if self.backup is None else str(self.backup), "events": self.events,
                "dropped": self.dropped, "chains": {cid: c.to_json() for cid, c in self.chains}}


def recheck(store: Store, info: ChainInfo) -> ChainCheck:
    """The store's own check of a chain: every hash recomputed from its header by the
    chain format's rule (theater/chain.py for v1, theater/legacy.py for legacy), up to
    the first event that does not verify. verify/ does the same and reports why; this
    says how far, which is what a migration must keep."""
    legacy = info.format == "legacy"
    if legacy:
        from ..legacy import NULL_PARENT, stored_hash

        head: bytes = NULL_PARENT
    elif info.format == "v1" and info.header:
        head = genesis_hash(info.header)
    else:  # a format this check cannot hash: the rows must at least be kept as they were
        n, last = 0, None
        for row in store.hashed_rows(info.id):
            n, last = n + 1, row[1]
        return ChainCheck(events=n, head=last, ok=False)
    size = 20 if legacy else HASH_SIZE
    n = 0
    for seq, h, type_, data in store.hashed_rows(info.id):
        if (type(seq) is not int or seq != n or type(h) is not bytes or len(h) != size
                or type(type_) is not str or type(data) is not bytes):
            return ChainCheck(events=n, head=head if n else None, ok=False)
        computed = stored_hash(seq, head, type_, data) if legacy else event_hash(seq, head, type_, data)
        if computed != h:
            return ChainCheck(events=n, head=head if n else None, ok=False)
        head, n = h, n + 1
    return ChainCheck(events=n, head=head if n else None, ok=True)


def backup_path(path: Path) -> Path:
    """The first free name ``DB.v1.bak``, ``DB.v1.1.bak``, ... beside ``path``."""
    candidate = path.with_name(path.name + ".v1.bak")
    i = 0
    while candidate.exists():
        i += 1
        candidate = path.with_name(f"{path.name}.v1.{i}.bak")
    return candidate


def _v2_tables(renamed: str) -> str:
    """The v2 chains and events tables under temporary names (``<name>_v2``)."""
    out = []
    for stmt in SCHEMA.split(";"):
        s = stmt.strip()
        for name in ("chains", "events"):
            if s.startswith(f"CREATE TABLE IF NOT EXISTS {name} ("):
                out.append(s.replace(f"IF NOT EXISTS {name} (", f"{name}{renamed} (", 1))
    return ";\n".join(out) + ";\n"


def migrate(store: Store, *, backup: bool = True, check: Check = recheck) -> MigrationResult:
    """Migrate ``store``'s file from layout 1 to layout 2 in one transaction (see the
    module's docstring). Raises :class:`StoreError` (nothing changed) when a chain's
    check differs after the copy, or the file cannot be written."""
    if store.layout == SCHEMA_VERSION:
        return MigrationResult(path=store.path, migrated=False)
    conn = store.conn
    copy: Path | None = None
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as e:
        raise store_error(e, f"cannot migrate {store.path} to storage layout {SCHEMA_VERSION}") from e
    try:
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION:  # another process did it
            conn.execute("COMMIT")
            store.layout = SCHEMA_VERSION
            return MigrationResult(path=store.path, migrated=False)
        chains = store.chains()
        before = [(info.id, check(store, info)) for info in chains]
        if backup:
            # copied on a connection of its own (a connection inside a transaction cannot
            # be a backup's source): what it reads is what we hold the write lock over
            copy = backup_path(store.path)
            source, target = sqlite3.connect(store.db_file()), sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
        total = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        for stmt in _v2_tables("_v2").split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute(
            "INSERT INTO chains_v2 (key, id, actor, format, header, component_sha256, created, status, replay_of,"
            " writer_pid, length, head) SELECT rowid, id, actor, format, header, component_sha256, created,"
            " status, replay_of, writer_pid, length, head FROM chains ORDER BY rowid")
        conn.execute("CREATE TABLE IF NOT EXISTS event_types (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        conn.execute("INSERT INTO event_types (name) SELECT type FROM events GROUP BY type ORDER BY min(rowid)")
        try:
            conn.execute(
                "INSERT INTO events_v2 (chain, seq, hash, type, data, written_at)"
                " SELECT c.key, e.seq, e.hash, t.id, e.data, e.written_at FROM events e"
                " JOIN chains_v2 c ON c.id = e.chain JOIN event_types t ON t.name IS e.type ORDER BY c.key, e.seq")
        except sqlite3.IntegrityError as e:
            raise store_error(e, f"cannot migrate {store.path}: a chain holds two events with one seq, which "
                              "storage v2 cannot (the file was changed outside theater; `theater verify --all` "
                              "names the chain); nothing was changed") from e
        copied = int(conn.execute("SELECT count(*) FROM events_v2").fetchone()[0])
        conn.execute("DROP TABLE events")
        conn.execute("DROP TABLE chains")
        conn.execute("ALTER TABLE chains_v2 RENAME TO chains")
        conn.execute("ALTER TABLE events_v2 RENAME TO events")
        for stmt in (SCHEMA + REPLAYS_SCHEMA).split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        store.layout = SCHEMA_VERSION
        after = {info.id: check(store, info) for info in store.chains()}
        changed = [cid for cid, c in before if after.get(cid) != c]
        if changed:
            raise StoreError(f"cannot migrate {store.path}: chain {changed[0]} would not verify as it did "
                             f"before ({dict(before)[changed[0]].to_json()}, after: "
                             f"{None if after.get(changed[0]) is None else after[changed[0]].to_json()}); "
                             "nothing was changed")
        conn.execute("COMMIT")
    except sqlite3.Error as e:
        _undo(store, copy)
        raise store_error(e, f"cannot migrate {store.path} to storage layout {SCHEMA_VERSION} (nothing was "
                          "changed)") from e
    except BaseException:
        _undo(store, copy)
        raise
    return MigrationResult(path=store.path, migrated=True, backup=copy, chains=tuple(before),
                           events=copied, dropped=total - copied)


def _undo(store: Store, copy: Path | None) -> None:
    store.layout = 1
    conn = store.conn
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
    if copy is not None:
        copy.unlink(missing_ok=True)
