"""Parallel verification gives the serial walk's result, exactly.

A long chain is walked in contiguous parts, one per process, each from the state its
previous row leaves (verify/parallel.py). Here parallelism is forced on small chains
(``workers=k``) and every mutated chain is verified both ways: the whole result (class,
first bad seq, expected and computed values, counts, head, notes) must be the same.
Mutations are of every kind, at random positions and exactly at the part boundaries
(the first row of a part, and the rows either side), where the serial walk's verdict
on a part's first row depends on the row before it. One pool of worker processes
serves all calls (starting them is what costs). Reads are pages of 16 rows here
(``page=PAGE_ROWS``; 4,096 in use), so that parts of small chains start on page boundaries as they do in use: then
even a damaged file gives the same result both ways (a read error stops both walks
before the same rows).
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_chain

from theater.chain import END_TYPE, canonical_json, event_hash, genesis_hash, make_header
from theater.errors import ChainNotFound, StoreError
from theater.store import PAGE, Store
from verify import integrity, parallel
from verify.integrity import VerifyPool, part_bounds, verify_chain

N = 300  # host events; the chain has N + 1 with the end event


PAGE_ROWS = 16  # rows per read in these tests (verify_chain's and part_bounds' page)


@pytest.fixture(scope="module")
def pool():
    with VerifyPool() as p:
        yield p


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A database with two complete chains (the second is where moved rows go)."""
    path = tmp_path_factory.mktemp("par") / "base.db"
    with Store(path) as s:
        cid = write_chain(s, N, batch=512)
        other = write_chain(s, 20, seed=9)
    return path, cid, other


@pytest.fixture
def used(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per call, whether the parallel walk gave the result (no serial fallback)."""
    calls: list[bool] = []
    real = integrity._verify_parallel

    def spy(*args, **kwargs):
        r = real(*args, **kwargs)
        calls.append(r is not None)
        return r

    monkeypatch.setattr(integrity, "_verify_parallel", spy)
    return calls


# Storage v2: the mutations run on a copy whose events table was rebuilt without its
# primary key (as a tamperer can), so rows have a rowid and a seq may repeat; ``cid``
# below is the chain's integer key, the value of ``events.chain``; an event's type is
# an event_types id, and no parent is stored (a row's parent is the hash before it).
ROW = "SELECT e.rowid, e.seq, e.hash, NULL, t.name, e.data FROM events e LEFT JOIN event_types t ON t.id = e.type"


def rows(conn: sqlite3.Connection, cid: int) -> list[tuple]:
    return conn.execute(ROW + " WHERE e.chain = ? ORDER BY e.seq", (cid,)).fetchall()


def type_id(conn: sqlite3.Connection, name) -> object:
    if not isinstance(name, str):
        return name
    conn.execute("INSERT OR IGNORE INTO event_types (name) VALUES (?)", (name,))
    return conn.execute("SELECT id FROM event_types WHERE name = ?", (name,)).fetchone()[0]


def chain_id(conn: sqlite3.Connection, key: int) -> str:
    return conn.execute("SELECT id FROM chains WHERE key = ?", (key,)).fetchone()[0]


def parent_of(conn: sqlite3.Connection, cid: int, seq) -> bytes:
    """The hash of the row before ``seq`` (the genesis hash for the first): its parent."""
    row = conn.execute("SELECT hash FROM events WHERE chain = ? AND seq < ? ORDER BY seq DESC, rowid DESC LIMIT 1",
                       (cid, seq)).fetchone()
    if row is not None:
        return row[0]
    return genesis_hash(conn.execute("SELECT header FROM chains WHERE key = ?", (cid,)).fetchone()[0])


def rehash_from(conn: sqlite3.Connection, cid: str, p: int, change: Callable[[int, str, bytes], tuple[str, bytes]]):
    """Rewrite every event from seq p on, consistently (each re-hashed on its new parent)."""
    all_rows = rows(conn, cid)
    if not all(isinstance(r[1], int) and isinstance(r[2], bytes) and isinstance(r[4], str)
               and isinstance(r[5], bytes) for r in all_rows) or [r[1] for r in all_rows] != list(range(len(all_rows))):
        return  # an earlier edit left nothing consistent to rewrite
    if p > len(all_rows):
        return
    head = all_rows[p - 1][2] if p else genesis_hash(conn.execute("SELECT header FROM chains WHERE key = ?",
                                                                  (cid,)).fetchone()[0])
    new = []
    for rid, seq, _h, _parent, type_, data in all_rows[p:]:
        type_, data = change(seq, type_, data)
        h = event_hash(seq, head, type_, data)
        new.append((h, type_id(conn, type_), data, rid))
        head = h
    conn.executemany("UPDATE events SET hash = ?, type = ?, data = ? WHERE rowid = ?", new)


def _at(conn, cid, p):
    row = conn.execute(ROW + " WHERE e.chain = ? AND e.seq = ?", (cid, p)).fetchone()
    return None if row is None else (*row[:3], parent_of(conn, cid, p), *row[4:])


def m_flip_data(conn, cid, p, rng):
    row = _at(conn, cid, p)
    if row is None or not isinstance(row[5], bytes) or not row[5]:
        return
    rid, *_, data = row
    b = bytearray(data)
    b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    conn.execute("UPDATE events SET data = ? WHERE rowid = ?", (bytes(b), rid))


def m_type(conn, cid, p, rng):
    value = rng.choice(["host:evil#x", "", "end", 7, b"host:x#y", 1.5, 10_000])
    conn.execute("UPDATE events SET type = ? WHERE chain = ? AND seq = ?", (type_id(conn, value), cid, p))


def m_hash(conn, cid, p, rng):
    value = rng.choice([b"\x00", bytes(32), "text", 12])
    conn.execute("UPDATE events SET hash = ? WHERE chain = ? AND seq = ?", (value, cid, p))


def m_data_text(conn, cid, p, rng):
    conn.execute("UPDATE events SET data = CAST(data AS TEXT) WHERE chain = ? AND seq = ?", (cid, p))


def m_delete(conn, cid, p, rng):
    conn.execute("DELETE FROM events WHERE chain = ? AND seq = ?", (cid, p))


def m_truncate(conn, cid, p, rng):
    conn.execute("DELETE FROM events WHERE chain = ? AND seq >= ?", (cid, p))


def m_duplicate(conn, cid, p, rng):
    conn.execute("INSERT INTO events SELECT * FROM events WHERE chain = ? AND seq = ?", (cid, p))


def m_duplicate_shifted(conn, cid, p, rng):
    conn.execute("UPDATE events SET seq = seq + 1 WHERE chain = ? AND seq > ?", (cid, p))
    conn.execute("INSERT INTO events (chain, seq, hash, type, data, written_at)"
                 " SELECT chain, seq + 1, hash, type, data, written_at FROM events"
                 " WHERE chain = ? AND seq = ?", (cid, p))


def m_renumber(conn, cid, p, rng):
    conn.execute("UPDATE events SET seq = seq + ? WHERE chain = ? AND seq >= ?", (rng.choice([-1, 1, 2]), cid, p))


def m_seq_value(conn, cid, p, rng):
    value = rng.choice([p + 0.5, p - 0.5, "seven", b"\x07", -1, p + 1, p - 1])
    conn.execute("UPDATE events SET seq = ? WHERE chain = ? AND seq = ?", (value, cid, p))


def m_swap(conn, cid, p, rng):
    a, b = _at(conn, cid, p), _at(conn, cid, p + 1)
    if a is None or b is None:
        return
    rehashed = rng.random() < 0.5
    for target, src, seq in ((a[0], b, p), (b[0], a, p + 1)):
        h = event_hash(seq, src[3], src[4], src[5]) if rehashed else src[2]
        conn.execute("UPDATE events SET hash = ?, type = ?, data = ? WHERE rowid = ?",
                     (h, type_id(conn, src[4]), src[5], target))


def m_self_consistent(conn, cid, p, rng):
    """Row p re-hashed with other data on its own parent: verifies alone, not in place."""
    row = _at(conn, cid, p)
    if row is None or not isinstance(row[3], bytes) or not isinstance(row[4], str):
        return
    rid, seq, _h, parent, type_, _data = row
    data = canonical_json({"forged": rng.randrange(100)})
    conn.execute("UPDATE events SET hash = ?, data = ? WHERE rowid = ?",
                 (event_hash(seq, parent, type_, data), data, rid))


def m_end_inside(conn, cid, p, rng):
    """An end event at p, everything re-hashed: the next event follows the end."""
    rehash_from(conn, cid, p, lambda seq, t, d: (END_TYPE, canonical_json({"outcome": "completed"})) if seq == p
                else (t, d))


def m_rewrite(conn, cid, p, rng):
    """A consistent rewrite from p on (only a checkpoint could tell): verifies."""
    rehash_from(conn, cid, p, lambda seq, t, d: (t, d + b" ") if seq == p else (t, d))


def m_drop_end(conn, cid, p, rng):
    """The end event removed and the length cache lowered: an incomplete prefix, or a
    prefix that still ends, when the end event is added at p instead."""
    conn.execute("DELETE FROM events WHERE chain = ? AND seq >= ?", (cid, p))
    if rng.random() < 0.5:
        last = conn.execute("SELECT hash FROM events WHERE chain = ? AND seq = ?", (cid, p - 1)).fetchone()
        if last is not None:
            data = canonical_json({"outcome": "stopped"})
            conn.execute("INSERT INTO events (chain, seq, hash, type, data, written_at)"
                         " VALUES (?, ?, ?, ?, ?, 0)", (cid, p, event_hash(p, last[0], END_TYPE, data),
                                                        type_id(conn, END_TYPE), data))
    conn.execute("UPDATE chains SET length = (SELECT count(*) FROM events WHERE chain = ?) WHERE key = ?", (cid, cid))


def m_move(conn, cid, p, rng):
    conn.execute("UPDATE events SET chain = (SELECT key FROM chains WHERE key != ? LIMIT 1)"
                 " WHERE chain = ? AND seq = ?", (cid, cid, p))


def m_header(conn, cid, p, rng):
    header = canonical_json(make_header(actor="test-actor", component_sha256="cd" * 32, seed=p))
    conn.execute("UPDATE chains SET header = ? WHERE key = ?", (header, cid))


MUTATIONS = [m_flip_data, m_type, m_hash, m_data_text, m_delete, m_truncate, m_duplicate,
             m_duplicate_shifted, m_renumber, m_seq_value, m_swap, m_self_consistent, m_end_inside, m_rewrite,
             m_drop_end, m_move, m_header]


def positions(k: int, rng: random.Random) -> list[int]:
    """Each part boundary, the rows either side of it, and two random rows."""
    at = {p for b in part_bounds(N + 1, k, page=PAGE_ROWS)[1:] for p in (b - 1, b, b + 1)}
    at |= {rng.randrange(N + 1) for _ in range(2)}
    return sorted(p for p in at if 0 <= p <= N)


def mutated(base: tuple[Path, str, str], tmp: Path, name: str,
            edits: list[tuple[Callable[..., None], int]], rng: random.Random) -> Path:
    src, cid, _ = base
    db = tmp / f"{name}.db"
    shutil.copyfile(src, db)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        # a tamperer can drop constraints: the events table rebuilt without its primary key
        conn.execute("CREATE TABLE events_loose AS SELECT * FROM events")
        conn.execute("DROP TABLE events")
        conn.execute("ALTER TABLE events_loose RENAME TO events")
        key = conn.execute("SELECT key FROM chains WHERE id = ?", (cid,)).fetchone()[0]
        for mutate, p in edits:
            mutate(conn, key, p, rng)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return db


def both(db: Path, cid: str, k: int, pool: VerifyPool) -> tuple[dict, dict]:
    with Store(db, create=False) as s:
        serial = verify_chain(s, cid, workers=1, page=PAGE_ROWS)
        parallel = verify_chain(s, cid, workers=k, pool=pool, page=PAGE_ROWS)
    return serial.to_json(), parallel.to_json()


@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda m: m.__name__[2:])
def test_parallel_equals_serial_for_each_kind_at_boundaries(base, tmp_path, pool, used, mutate):
    rng = random.Random(mutate.__name__)
    cid = base[1]
    seen = set()
    for k in (2, 3, 4):
        for p in positions(k, rng):
            db = mutated(base, tmp_path, f"{k}-{p}", [(mutate, p)], rng)
            serial, parallel = both(db, cid, k, pool)
            assert parallel == serial, (mutate.__name__, k, p, part_bounds(N + 1, k, page=PAGE_ROWS))
            seen.add(serial["problem"]["class"] if serial["problem"] else "ok")
            db.unlink()
    assert used and all(used)  # every result came from the parallel walk, none from a fallback
    assert seen  # what the kinds produce is the tamper tests' business; here only equality


def test_parallel_equals_serial_for_random_combinations(base, tmp_path, pool, used):
    rng = random.Random(20240611)
    cid = base[1]
    seen: set[str] = set()
    for i in range(40):
        k = rng.choice((2, 3, 4))
        bounds = part_bounds(N + 1, k, page=PAGE_ROWS)
        edits = []
        for _ in range(rng.choice((1, 2, 2, 3))):
            p = rng.choice([rng.randrange(N + 1), rng.choice(bounds[1:]) + rng.choice((-1, 0, 1))])
            edits.append((rng.choice(MUTATIONS), p))
        db = mutated(base, tmp_path, f"c{i}", edits, rng)
        serial, parallel = both(db, cid, k, pool)
        assert parallel == serial, ([(m.__name__, p) for m, p in edits], k, bounds)
        seen.add(serial["problem"]["class"] if serial["problem"] else "ok")
        db.unlink()
    assert all(used)
    assert len(seen) >= 4, seen


def test_from_another_thread_workers_walk_every_part(base, tmp_path, pool, used):
    """Off the main thread (the TUI verifies in one) the caller only waits: every part,
    the first too, is a worker's, and the parts are equal (no lead)."""
    rng = random.Random(5)
    cid = base[1]
    cases = []
    for k in (2, 3):
        bounds = part_bounds(N + 1, k, page=PAGE_ROWS, lead=False)
        for b in bounds[1:]:
            for mutate in (m_flip_data, m_delete, m_duplicate, m_end_inside, m_seq_value):
                cases.append((k, mutate, b + rng.choice((-1, 0, 1))))
    cases += [(k, m_rewrite, 0) for k in (2, 3, 4)]  # clean results too
    out: list[tuple] = []

    def check() -> None:
        for n, (k, mutate, p) in enumerate(cases):
            db = mutated(base, tmp_path, f"t{n}", [(mutate, p)], rng)
            out.append((mutate.__name__, k, p, *both(db, cid, k, pool)))

    t = threading.Thread(target=check)
    t.start()
    t.join()
    assert len(out) == len(cases)
    for name, k, p, serial, par in out:
        assert par == serial, (name, k, p)
    assert len(used) == len(cases) and all(used)


def test_clean_and_incomplete_chains(tmp_path, pool, used):
    with Store(tmp_path / "c.db") as s:
        for n in (0, 1, 2, 50):  # short ones too: then some parts are empty
            for finish in (True, False):
                cid = write_chain(s, n, finish=finish)
                for k in (2, 3, 4):
                    r = verify_chain(s, cid, workers=k, pool=pool, page=PAGE_ROWS)
                    assert r.to_json() == verify_chain(s, cid, workers=1, page=PAGE_ROWS).to_json()
                    assert r.ok and r.complete is finish and r.events == n + finish
    assert len(used) == 24 and all(used)


@pytest.fixture(scope="module")
def long_chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    """A chain long enough for progress reports (every 65,536 events), written directly."""
    n = 2 * 65536 + 5000
    path = tmp_path_factory.mktemp("long") / "long.db"
    with Store(path) as s:
        w = s.create_chain(make_header(actor="long", component_sha256="ab" * 32, seed=1), batch=1 << 20)
        for i in range(n - 1):
            w.append("host:wasi:random/random@0.2.3#get-random-u64", b'{"args":{},"result":%d}' % i)
        w.finish("completed")
        return path, w.chain_id, n


def test_progress_is_aggregated(long_chain, pool):
    """Progress counts the events of every part, never goes back, and ends at the total."""
    path, cid, n = long_chain
    with Store(path, create=False) as s:
        calls: list[int] = []
        r = verify_chain(s, cid, workers=2, pool=pool, progress=calls.append, page=PAGE_ROWS)
        assert r.ok and r.events == n
        assert calls[-1] == n and len(calls) >= 2
        assert calls == sorted(calls)
        serial: list[int] = []
        verify_chain(s, cid, workers=1, progress=serial.append, page=PAGE_ROWS)
        assert serial == [65536, 131072, n]


def test_a_raising_progress_callback_stops_the_workers(long_chain, pool):
    class Cancelled(Exception):
        pass

    def cancel(n: int) -> None:
        raise Cancelled

    path, cid, _ = long_chain
    with Store(path, create=False) as s:
        with pytest.raises(Cancelled):
            verify_chain(s, cid, workers=3, pool=pool, progress=cancel, page=PAGE_ROWS)
        assert all(w.proc.poll() is None for w in pool._idle)  # the busy ones were stopped, not kept
        assert verify_chain(s, cid, workers=3, pool=pool, page=PAGE_ROWS).ok  # the pool still works


def test_fallbacks_give_the_serial_result(base, tmp_path, monkeypatch):
    """No worker process can start; or a part does not start where the one before
    ended (here: a wrong boundary state): the serial walk gives the result."""
    rng = random.Random(3)
    db = mutated(base, tmp_path, "fb", [(m_flip_data, 150)], rng)
    cid = base[1]
    with Store(db, create=False) as s:
        want = verify_chain(s, cid, workers=1, page=PAGE_ROWS).to_json()
        monkeypatch.setattr(parallel, "_state_before", lambda *a: (bytes(32), bytes(32), 7, False))
        assert verify_chain(s, cid, workers=2, page=PAGE_ROWS).to_json() == want
        monkeypatch.undo()
        monkeypatch.setattr("sys.executable", str(tmp_path / "no-such-python"))
        assert verify_chain(s, cid, workers=3, page=PAGE_ROWS).to_json() == want


def test_unreadable_database_raises_like_the_serial_walk(tmp_path, pool):
    path = tmp_path / "big.db"
    with Store(path) as s:
        cid = write_chain(s, 3000, batch=1000)
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2)
        f.write(b"\xff" * 8192)
    with Store(path, create=False) as s:
        with pytest.raises(StoreError, match="whole"):
            verify_chain(s, cid, workers=1, page=PAGE_ROWS)
        with pytest.raises(StoreError, match="whole"):
            verify_chain(s, cid, workers=3, pool=pool, page=PAGE_ROWS)


def test_automatic_parallelism_above_the_threshold(tmp_path, monkeypatch, used):
    with Store(tmp_path / "a.db") as s:
        cid = write_chain(s, 200)
        monkeypatch.setattr(parallel, "PARALLEL_MIN_EVENTS", 150)
        monkeypatch.setenv(parallel.WORKERS_ENV, "2")
        assert verify_chain(s, cid, page=PAGE_ROWS).ok and used == [True]
        assert verify_chain(s, cid, on_event=lambda *ev: None, page=PAGE_ROWS).ok and used == [True]  # in order: serial
        monkeypatch.setenv(parallel.WORKERS_ENV, "1")
        assert verify_chain(s, cid, page=PAGE_ROWS).ok and used == [True]
        monkeypatch.setattr(parallel, "PARALLEL_MIN_EVENTS", 500)
        monkeypatch.delenv(parallel.WORKERS_ENV)
        assert verify_chain(s, cid, page=PAGE_ROWS).ok and used == [True]


def test_unreadable_rows_in_a_damaged_file(tmp_path, pool):
    """Bytes flipped in the file: both walks raise StoreError, or give the same result."""
    src = tmp_path / "src.db"
    with Store(src) as s:
        cid = write_chain(s, 1500, batch=1000)
    clean = src.read_bytes()
    outcomes = set()
    for seed in range(60):
        rng = random.Random(seed)
        data = bytearray(clean)
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(100, len(data))] ^= 1 << rng.randrange(8)
        db = tmp_path / f"flip{seed}.db"
        db.write_bytes(bytes(data))
        try:
            s = Store(db, create=False)
        except StoreError:
            continue
        try:
            try:
                info = s.chain(cid)
            except (ChainNotFound, sqlite3.DatabaseError):
                continue  # the chains row is what was damaged
            got = []
            for k in (1, rng.choice((2, 3, 4))):
                try:
                    got.append(verify_chain(s, info, workers=k, pool=pool, page=PAGE_ROWS).to_json())
                except StoreError:
                    got.append("unreadable")
            assert got[0] == got[1], seed
            outcomes.add(got[0] if isinstance(got[0], str) else got[0]["ok"])
        finally:
            s.close()
    assert "unreadable" in outcomes and False in outcomes


def test_part_bounds():
    assert part_bounds(1_000_000, 2) == [0, 532_480]
    for length in (0, 1, 5, 301, 10_000, 1_000_000):
        for k in (2, 3, 4):
            b = part_bounds(length, k)
            assert len(b) == k and b[0] == 0 and b == sorted(b) and b[-1] <= length
            assert all(x % PAGE == 0 for x in b)
