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

from .connection import Connection, store_error
from .rows import _CHAIN_COLS, ChainInfo, _chain_info


@dataclass(frozen=True, kw_only=True)
class ChainRows:
    """One chain as stored: its ``chains`` row (the columns of :class:`ChainInfo`), its
    event rows ``(seq, hash, parent, type, data, written_at)`` and checkpoint rows
    ``(chain, size, head, key_id, note, created)``, values untouched."""

    chain: tuple[Any, ...]
    events: tuple[tuple[Any, ...], ...]
    checkpoints: tuple[tuple[Any, ...], ...] = ()

    @property
    def info(self) -> ChainInfo:
        return _chain_info(self.chain)


def read_chain_rows(store: Connection, chain_id: str, *, checkpoints: bool = False) -> ChainRows:
    """The rows of ``chain_id`` in ``store`` (one read snapshot), for a worker."""
    try:
        with store.snapshot():
            row = store.conn.execute(f"SELECT {_CHAIN_COLS} FROM chains WHERE id = ?", (chain_id,)).fetchone()
            if row is None:
                raise sqlite3.DatabaseError(f"chain {chain_id} vanished")
            events = tuple(store.conn.execute(
                "SELECT seq, hash, parent, type, data, written_at FROM events WHERE chain = ? ORDER BY seq, rowid",
                (chain_id,)))
            cps = tuple(store.conn.execute(
                "SELECT chain, size, head, key_id, note, created FROM checkpoints WHERE chain = ? ORDER BY size, id",
                (chain_id,))) if checkpoints else ()
    except sqlite3.Error as e:
        raise store_error(e, f"cannot read chain {chain_id} from {store.path}") from e
    return ChainRows(chain=tuple(row), events=events, checkpoints=cps)


def load_chain_rows(store: Connection, rows: ChainRows) -> None:
    """Put ``rows`` into ``store`` (a worker's scratch database) as they were stored."""
    try:
        with store.transaction() as conn:
            conn.execute(f"INSERT INTO chains ({_CHAIN_COLS}) VALUES ({', '.join('?' * 11)})", rows.chain)
            conn.executemany(
                "INSERT INTO events (chain, seq, hash, parent, type, data, written_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((rows.chain[0], *r) for r in rows.events))
            conn.executemany(
                "INSERT INTO checkpoints (chain, size, head, key_id, note, created) VALUES (?, ?, ?, ?, ?, ?)",
                rows.checkpoints)
    except sqlite3.Error as e:
        raise store_error(e, f"cannot load chain {rows.chain[0]} into {store.path}") from e


def clear_chains(store: Connection) -> None:
    """Empty a scratch database of chains, events, checkpoints and replay outcomes
    (its components stay: a worker reuses them)."""
    try:
        with store.transaction() as conn:
            for table in ("events", "checkpoints", "replays", "chains"):
                conn.execute(f"DELETE FROM {table}")
    except sqlite3.Error as e:
        raise store_error(e, f"cannot clear {store.path}") from e
