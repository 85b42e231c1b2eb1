"""A chain's rows as stored, lifted out of one database and put into another.

Fleet replay and verify (``replay --all --jobs/--cluster``, docs/ci.md) send each chain
to a worker process that never opens the user's database: the task carries the chain's
row, its event rows and its checkpoint rows exactly as stored (tampered values
included, so a worker sees what a serial verify sees), and the worker puts them into
a scratch database of its own, where the ordinary single-chain replay and verify run.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from ..blobs import refs
from .connection import Connection, store_error
from .rows import _CHAIN_COLS, ChainInfo, _chain_info


@dataclass(frozen=True, kw_only=True)
class ChainRows:
    """One chain as stored: its ``chains`` row (the columns of :class:`ChainInfo`), its
    event rows ``(seq, hash, parent, type, data, written_at)`` (data as stored and
    hashed, blob references kept; the parent is the previous row's hash, storage v2
    stores none), the blobs they refer to ``(sha256, size, codec, bytes)`` and its
    checkpoint rows ``(chain, size, head, key_id, note, created)``, values untouched."""

    chain: tuple[Any, ...]
    events: tuple[tuple[Any, ...], ...]
    checkpoints: tuple[tuple[Any, ...], ...] = ()
    blobs: tuple[tuple[Any, ...], ...] = ()

    @property
    def info(self) -> ChainInfo:
        return _chain_info(self.chain)


def read_chain_rows(store: Any, chain_id: str, *, checkpoints: bool = False) -> ChainRows:
    """The rows of ``chain_id`` in ``store`` (a :class:`theater.store.Store`; one read
    snapshot), for a worker."""
    try:
        with store.snapshot():
            row = store.conn.execute(f"SELECT {_CHAIN_COLS} FROM chains WHERE id = ?", (chain_id,)).fetchone()
            if row is None:
                raise sqlite3.DatabaseError(f"chain {chain_id} vanished")
            events = tuple(store.event_rows(chain_id, as_stored=True))
            shas: dict[bytes, None] = {}
            for _seq, type_, data in store.blob_refs(chain_id, 2**63 - 1):
                if isinstance(type_, str) and isinstance(data, bytes):
                    shas.update(dict.fromkeys(refs(type_, data)))
            blobs = tuple((sha, *b) for sha in shas if (b := store.blob_row(sha)) is not None)
            cps = tuple(store.conn.execute(
                "SELECT chain, size, head, key_id, note, created FROM checkpoints WHERE chain = ? ORDER BY size, id",
                (chain_id,))) if checkpoints else ()
    except sqlite3.Error as e:
        raise store_error(e, f"cannot read chain {chain_id} from {store.path}") from e
    return ChainRows(chain=tuple(row), events=events, checkpoints=cps, blobs=blobs)


def load_chain_rows(store: Any, rows: ChainRows) -> None:
    """Put ``rows`` into ``store`` (a worker's scratch database, storage v2) as they
    were stored."""
    try:
        with store.transaction() as conn:
            cur = conn.execute(f"INSERT INTO chains ({_CHAIN_COLS}) VALUES ({', '.join('?' * 11)})", rows.chain)
            key = cur.lastrowid
            types = {t for r in rows.events if isinstance(t := r[3], str)}
            ids = store.type_ids(conn, types)
            conn.executemany(
                "INSERT INTO events (chain, seq, hash, type, data, written_at) VALUES (?, ?, ?, ?, ?, ?)",
                ((key, r[0], r[1], ids.get(r[3], r[3]) if isinstance(r[3], str) else r[3], r[4], r[5])
                 for r in rows.events))
            conn.executemany("INSERT OR IGNORE INTO blobs (sha256, size, codec, bytes) VALUES (?, ?, ?, ?)",
                             rows.blobs)
            conn.executemany(
                "INSERT INTO checkpoints (chain, size, head, key_id, note, created) VALUES (?, ?, ?, ?, ?, ?)",
                rows.checkpoints)
        store.keep_type_ids(ids)  # committed: the new type ids are the file's now
    except sqlite3.Error as e:
        raise store_error(e, f"cannot load chain {rows.chain[0]} into {store.path}") from e


def clear_chains(store: Connection) -> None:
    """Empty a scratch database of chains, events, checkpoints and replay outcomes
    (its components stay: a worker reuses them)."""
    try:
        with store.transaction() as conn:
            for table in ("events", "blobs", "checkpoints", "replays", "chains"):
                conn.execute(f"DELETE FROM {table}")
    except sqlite3.Error as e:
        raise store_error(e, f"cannot clear {store.path}") from e
