"""Tampering with a theater database the way an attacker (or a bad disk) would: by
writing its SQLite file behind the store's back. One place for the tests' tamper
SQL, so a schema change is made here once (issue 12 item 8).

Every helper takes a :class:`theater.store.Store` or a ``sqlite3.Connection`` and
runs on its connection; wrap the calls in ``store.transaction()`` (or use a store
opened for the test only) as the test needs. The mutation operators of the fuzz,
tamper-corpus and parallel-verify tests stay beside their corpora: they are the
subject of those tests, not helpers.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from theater.chain import event_hash
from theater.store import Store

EVENT_COLUMNS = frozenset({"seq", "hash", "type", "data", "written_at"})
CHAIN_COLUMNS = frozenset({"id", "actor", "format", "header", "component_sha256", "created", "status",
                           "replay_of", "writer_pid", "length", "head"})


def _conn(db: Store | sqlite3.Connection) -> sqlite3.Connection:
    return db.conn if isinstance(db, Store) else db


def key(db: Store | sqlite3.Connection, chain: str) -> int:
    """The chain's integer key in the events table (storage v2: ``chains.key``)."""
    row = _conn(db).execute("SELECT key FROM chains WHERE id = ?", (chain,)).fetchone()
    assert row is not None, f"no chain {chain}"
    return int(row[0])


def type_id(db: Store | sqlite3.Connection, name: Any) -> Any:
    """The event_types id of ``name`` (added when new); a value that is not text is
    stored as it is, as a tamperer writing the column directly would."""
    if not isinstance(name, str):
        return name
    c = _conn(db)
    c.execute("INSERT OR IGNORE INTO event_types (name) VALUES (?)", (name,))
    return c.execute("SELECT id FROM event_types WHERE name = ?", (name,)).fetchone()[0]


def insert_rows(db: Store | sqlite3.Connection, chain: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert raw rows ``(seq, hash, parent, type, data, written_at)`` (the parent is not
    stored) into the chain, as they are: the chain must not hold their seqs."""
    k = key(db, chain)
    _conn(db).executemany("INSERT INTO events (chain, seq, hash, type, data, written_at) VALUES (?, ?, ?, ?, ?, ?)",
                          [(k, r[0], r[1], type_id(db, r[3]), r[4], r[5]) for r in rows])


def loose_events(db: Store | sqlite3.Connection) -> None:
    """A tamperer can drop constraints: rebuild the events table without its primary key,
    so a chain can hold a seq twice (layout 2 keys events by chain and seq)."""
    c = _conn(db)
    c.execute("CREATE TABLE events_loose AS SELECT * FROM events")
    c.execute("DROP TABLE events")
    c.execute("ALTER TABLE events_loose RENAME TO events")


def _assignments(cols: dict[str, Any], allowed: frozenset[str]) -> tuple[str, list[Any]]:
    unknown = set(cols) - allowed
    if unknown or not cols:
        raise ValueError(f"not columns to set: {sorted(unknown) or 'none'}")
    return ", ".join(f"{c} = ?" for c in cols), list(cols.values())


def set_event(db: Store | sqlite3.Connection, chain: str, at: int, /, **cols: Any) -> None:
    """Overwrite columns of event ``at`` (e.g. ``data=b"..."``, ``type="host:evil#x"``, ``seq=-1``).
    A ``parent`` is accepted and ignored: storage v2 keeps none (readers derive it)."""
    cols.pop("parent", None)
    if "type" in cols:
        cols["type"] = type_id(db, cols["type"])
    sets, values = _assignments(cols, EVENT_COLUMNS)
    cur = _conn(db).execute(f"UPDATE events SET {sets} WHERE chain = ? AND seq = ?", (*values, key(db, chain), at))
    assert cur.rowcount == 1, f"no event {at} in chain {chain}"


def flip_data_byte(db: Store | sqlite3.Connection, chain: str, seq: int, at: int | None = None) -> None:
    """Flip the low bit of one byte of an event's data (the middle one by default)."""
    row = _conn(db).execute("SELECT data FROM events WHERE chain = ? AND seq = ?", (key(db, chain), seq)).fetchone()
    data = bytearray(row[0])
    data[len(data) // 2 if at is None else at] ^= 0x01
    set_event(db, chain, seq, data=bytes(data))


def delete_events(db: Store | sqlite3.Connection, chain: str, seq: int | None = None, *,
                  from_seq: int | None = None) -> None:
    """Delete event ``seq``, or every event from ``from_seq`` on (the chains row is left alone)."""
    if (seq is None) == (from_seq is None):
        raise ValueError("give seq or from_seq")
    if seq is not None:
        _conn(db).execute("DELETE FROM events WHERE chain = ? AND seq = ?", (key(db, chain), seq))
    else:
        _conn(db).execute("DELETE FROM events WHERE chain = ? AND seq >= ?", (key(db, chain), from_seq))


def move_event(db: Store | sqlite3.Connection, chain: str, seq: int, new_seq: int) -> None:
    """Give event ``seq`` another seq (its hash, which covers the seq, is left as it was)."""
    set_event(db, chain, seq, seq=new_seq)


def swap_events(db: Store | sqlite3.Connection, chain: str, a: int, b: int) -> None:
    """Exchange the seqs of two events."""
    move_event(db, chain, a, -1)
    move_event(db, chain, b, a)
    move_event(db, chain, -1, b)


def truncate(db: Store | sqlite3.Connection, chain: str, n: int) -> None:
    """A careful tamperer: keep the first ``n`` events, and fix the chains row's cached
    length and head to match."""
    c = _conn(db)
    delete_events(c, chain, from_seq=n)
    c.execute("UPDATE chains SET length = ?, head = (SELECT hash FROM events WHERE chain = ? AND seq = ?)"
              " WHERE id = ?", (n, key(c, chain), n - 1, chain))


def set_chain(db: Store | sqlite3.Connection, chain: str, /, **cols: Any) -> None:
    """Overwrite columns of a chains row (e.g. ``header=...``, ``length=3``, ``format="v7"``)."""
    sets, values = _assignments(cols, CHAIN_COLUMNS)
    cur = _conn(db).execute(f"UPDATE chains SET {sets} WHERE id = ?", (*values, chain))
    assert cur.rowcount == 1, f"no chain {chain}"


def rename_chain(db: Store | sqlite3.Connection, old: str, new: str) -> str:
    """Give a chain another id (its events follow: they are keyed by the chain's key)."""
    set_chain(_conn(db), old, id=new)
    return new


def rewrite_from(store: Store, chain: str, first: int) -> bytes:
    """A careful forger: change event ``first``'s data (a space before its first ``}``)
    and re-hash it and every later event, and the cached head; returns the new head."""
    evs = list(store.events(chain))
    head = evs[first - 1].hash
    for ev in evs[first:]:
        data = ev.data.replace(b"}", b" }", 1) if ev.seq == first else ev.data
        h = event_hash(ev.seq, head, ev.type, data)
        set_event(store, chain, ev.seq, data=data, parent=head, hash=h)
        head = h
    set_chain(store, chain, head=head)
    return head


def reforge(store: Store, chain: str, events: list[tuple[str, bytes]]) -> bytes:
    """A forger with write access: replace a chain's events with ``events`` (type,
    data), every one re-hashed from the header's genesis so the chain verifies on its
    own, and the cached length and head fixed; returns the new head."""
    from theater.chain import genesis_hash

    info = store.chain(chain)
    head = genesis_hash(bytes(info.header))
    c = _conn(store)
    c.execute("DELETE FROM events WHERE chain = ?", (key(c, chain),))
    rows = []
    for seq, (type_, data) in enumerate(events):
        h = event_hash(seq, head, type_, data)
        rows.append((seq, h, head, type_, data, 0))
        head = h
    insert_rows(c, chain, rows)
    set_chain(c, chain, head=head, length=len(events))
    return head


def delete_checkpoints(db: Store | sqlite3.Connection, *, size: int | None = None) -> None:
    """Drop the stored checkpoints (all, or those of one size)."""
    if size is None:
        _conn(db).execute("DELETE FROM checkpoints")
    else:
        _conn(db).execute("DELETE FROM checkpoints WHERE size = ?", (size,))
