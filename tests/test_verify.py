"""Integrity verification: a clean chain passes; each kind of tampering is caught
with the right class at the right seq."""

import tracemalloc

import pytest
from conftest import write_chain
from tamper import delete_events, insert_rows, key, loose_events, set_chain, set_event, swap_events

from theater.chain import canonical_json, make_header
from verify.integrity import verify_chain
from verify.results import FailureKind
from verify.walk import verify_rows


def test_clean_chain_verifies(store):
    cid = write_chain(store, 20)
    r = verify_chain(store, cid)
    assert r.ok and r.complete and r.events == 21 and r.problem is None
    assert r.head == store.last_event(cid).hash


def test_incomplete_chain_verifies_as_prefix(store):
    cid = write_chain(store, 5, finish=False)
    r = verify_chain(store, cid)
    assert r.ok and not r.complete and r.events == 5
    assert "prefix" in r.summary()


def test_flipped_byte_in_data(store):
    cid = write_chain(store, 10)
    data = bytearray(store.event(cid, 4).data)
    data[3] ^= 0x01
    set_event(store, cid, 4, data=bytes(data))
    r = verify_chain(store, cid)
    assert not r.ok and r.problem.kind == FailureKind.HASH_MISMATCH and r.problem.seq == 4
    assert r.problem.expected == store.event(cid, 4).hash.hex()
    assert r.problem.computed != r.problem.expected


def test_changed_type(store):
    cid = write_chain(store, 10)
    set_event(store, cid, 6, type="host:evil#x")
    r = verify_chain(store, cid)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.HASH_MISMATCH, 6)


def test_swapped_pair(store):
    cid = write_chain(store, 10)
    swap_events(store, cid, 3, 4)
    r = verify_chain(store, cid)
    assert not r.ok
    # each row is self-consistent apart from its seq, which is hashed
    assert (r.problem.kind, r.problem.seq) == (FailureKind.HASH_MISMATCH, 3)


def test_swapped_pair_rehashed_rows(store):
    """A cleverer swap: contents exchanged and each row re-hashed at its new seq, on its
    own parent. Storage v2 keeps no parent (issue 18 item 1): the walk hashes each event
    on the hash before it, so the first moved event is a hash mismatch, not a parent one."""
    from theater.chain import event_hash

    cid = write_chain(store, 10)
    e3, e4 = store.event(cid, 3), store.event(cid, 4)
    for seq, src in ((3, e4), (4, e3)):
        h = event_hash(seq, src.parent, src.type, src.data)
        set_event(store, cid, seq, hash=h, parent=src.parent, type=src.type, data=src.data)
    r = verify_chain(store, cid)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.HASH_MISMATCH, 3)
    assert "removed, reordered or spliced" in r.problem.message


def test_deleted_middle_event(store):
    cid = write_chain(store, 10)
    delete_events(store, cid, 5)
    r = verify_chain(store, cid)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.SEQUENCE_GAP, 5)
    assert r.problem.computed == "6"


def test_duplicated_event_same_seq(store):
    cid = write_chain(store, 10)
    loose_events(store)  # a tamperer can drop constraints
    store.conn.execute("INSERT INTO events SELECT * FROM events WHERE chain=? AND seq=7", (key(store, cid),))
    r = verify_chain(store, cid)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.DUPLICATE, 7)


def test_duplicated_event_shifted(store):
    cid = write_chain(store, 10)
    k = key(store, cid)
    store.conn.execute("UPDATE events SET seq = seq + 1000 WHERE chain=? AND seq > 7", (k,))
    store.conn.execute("UPDATE events SET seq = seq - 999 WHERE chain=? AND seq > 1000", (k,))
    store.conn.execute("INSERT INTO events (chain, seq, hash, type, data, written_at)"
                       " SELECT chain, 8, hash, type, data, written_at FROM events WHERE chain=? AND seq=7", (k,))
    r = verify_chain(store, cid)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.DUPLICATE, 8)


def test_changed_header(store):
    """Without a stored parent, a changed header shows where event 0 no longer hashes
    on its genesis hash (issue 18 item 1): hash_mismatch at 0, the message naming both."""
    cid = write_chain(store, 10)
    header = make_header(actor="test-actor", component_sha256="cd" * 32, seed=7)
    set_chain(store, cid, header=canonical_json(header))
    r = verify_chain(store, cid)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.HASH_MISMATCH, 0)
    assert "event 0 or the header was changed" in r.problem.message


def test_malformed_rows():
    good = (0, b"x" * 32, b"y" * 32, "t", b"d")
    for row, what in [((0, b"short", b"y" * 32, "t", b"d"), "hash"),
                      ((0, b"x" * 32, b"y" * 32, 5, b"d"), "type"),
                      ((0, b"x" * 32, b"y" * 32, "t", "text"), "data"),
                      (("0",) + good[1:], "seq")]:
        r = verify_rows("c", b'{"format":1}', [row])
        assert r.problem.kind == FailureKind.MALFORMED and what in r.problem.message
    assert verify_rows("c", b"", []).problem.kind == FailureKind.MALFORMED


def test_event_after_end(store):
    from theater.chain import event_hash

    cid = write_chain(store, 3)
    last = store.last_event(cid)
    h = event_hash(last.seq + 1, last.hash, "host:x#y", b"{}")
    insert_rows(store, cid, [(last.seq + 1, h, last.hash, "host:x#y", b"{}", 0.0)])
    r = verify_chain(store, cid)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.MALFORMED, last.seq + 1)


@pytest.mark.slow
def test_memory_does_not_grow_with_length(tmp_path):
    from theater.store import Store

    s = Store(tmp_path / "big.db")
    peaks = []
    for n in (10_000, 100_000):
        cid = write_chain(s, n, batch=5000)
        tracemalloc.start()
        r = verify_chain(s, cid, page=1000)  # 10 and 100 pages (the default page, 16,384 rows, holds all 10,000)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert r.ok and r.events == n + 1
    # 10x the events must not need more memory: rows are streamed in pages
    assert peaks[1] < peaks[0] * 1.5, peaks


# -- reading whole, or not at all ------------------------------------------------


def _big_db(tmp_path):
    from theater.store import Store

    path = tmp_path / "big.db"
    with Store(path) as s:
        write_chain(s, 3000, batch=1000)
    return path


@pytest.mark.parametrize("damage", ["overwrite", "truncate"])
def test_unreadable_database_is_exit_2_never_a_pass(tmp_path, damage):
    from conftest import run_cli

    path = _big_db(tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        if damage == "overwrite":  # garbage over pages in the middle of the events
            f.seek(size // 2)
            f.write(b"\xff" * 8192)
        else:
            f.truncate(size // 2)
    r = run_cli("verify", "--db", str(path))
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "malformed" in r.stderr


def test_mid_read_error_raises_store_error(tmp_path):
    """The iteration itself fails half way (not the open): a StoreError, not a result."""
    from theater.errors import StoreError
    from theater.store import Store

    path = _big_db(tmp_path)
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2)
        f.write(b"\xff" * 8192)
    s = Store(path, create=False)
    info = s.chains()[0]
    with pytest.raises(StoreError, match="whole"):
        verify_chain(s, info)


def test_tail_deleted_behind_the_cache_is_truncated(store):
    cid = write_chain(store, 10)
    delete_events(store, cid, from_seq=8)
    r = verify_chain(store, cid)
    assert (r.problem.kind, r.problem.seq, r.problem.expected, r.problem.computed) == (
        FailureKind.TRUNCATED, 8, "11", "8")


def test_unknown_format_is_malformed(store):
    cid = write_chain(store, 2)
    set_chain(store, cid, format="v7")
    r = verify_chain(store, cid)
    assert r.problem.kind == FailureKind.MALFORMED and "v7" in r.problem.message


def test_json_report_shape(tmp_path):
    import orjson
    from conftest import run_cli

    from theater.store import Store

    db = tmp_path / "j.db"
    with Store(db) as s:
        cid = write_chain(s, 4)
        set_event(s, cid, 2, data=b"\x00")
    r = run_cli("verify", "--db", str(db), "--json")
    assert r.returncode == 1
    out = orjson.loads(r.stdout)
    assert set(out) >= {"chain", "format", "ok", "events", "complete", "head", "problem", "problems",
                        "checkpoints", "random_checked", "notes"}
    assert out["problem"] == out["problems"][0]
    assert set(out["problem"]) >= {"class", "seq", "message", "expected", "computed"}
    assert (out["problem"]["class"], out["problem"]["seq"], out["events"]) == ("hash_mismatch", 2, 2)


def test_verify_does_not_import_cryptography_unless_asked():
    """`theater verify` (no --key, no --audit-random) starts without cryptography."""
    import subprocess
    import sys

    code = ("import sys; from theater.cli import cli; from theater.commands import register; register(cli); "
            "import verify.integrity, verify.audit; "
            "print(sorted(m for m in sys.modules if m.startswith('cryptography')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
