"""The seed audit: recorded random values are regenerated from the header's seed.

``synth_events`` writes events exactly as the recorder's random handler does (one
ChaCha20 stream shared by wasi:random/random, insecure and insecure-seed; a refused
request is a trap event that draws nothing); the tamper corpus builds on it.
"""

from __future__ import annotations

import base64

import orjson
import pytest
from conftest import run_cli

from theater import ChaCha20Rng
from theater.chain import ChainBuilder, canonical_json, export_type, host_type, make_header
from theater.store import Store
from verify.audit import audit_rows
from verify.random_draws import RandomAudit, audit_draws
from verify.results import FailureKind

R = "wasi:random/random@0.2.3"
R9 = "wasi:random/random@0.2.9"
INSECURE = "wasi:random/insecure@0.2.3"
SEED_IFACE = "wasi:random/insecure-seed@0.2.9"
LOG = "theater:simple/runtime"

#: a recording's worth of operations: every random function, both versions, a refusal
OPS: list[tuple] = [
    ("bytes", R, 16), ("u64", R), ("log", "hello"), ("bytes", R9, 5), ("insecure-u64",),
    ("refused", R, 1 << 21), ("insecure-bytes", 3), ("seed",), ("bytes", R, 0), ("u64", R9),
    ("export",), ("bytes", R, 33), ("insecure-bytes", 64), ("u64", R), ("log", "bye"), ("seed",),
]


def synth_events(seed: int, ops: list[tuple] = OPS) -> list[tuple[str, bytes]]:
    """``(type, data)`` pairs as the recorder writes them, values from ChaCha20Rng(seed)."""
    rng = ChaCha20Rng.seed_from_u64(seed)
    out: list[tuple[str, bytes]] = []

    def b64(b: bytes) -> str:
        return "base64:" + base64.b64encode(b).decode()

    for op in ops:
        kind = op[0]
        if kind == "bytes":
            out.append((host_type(op[1], "get-random-bytes"),
                        canonical_json({"args": {"len": op[2]}, "result": b64(rng.fill_bytes(op[2]))})))
        elif kind == "u64":
            out.append((host_type(op[1], "get-random-u64"), canonical_json({"args": {}, "result": rng.next_u64()})))
        elif kind == "insecure-bytes":
            out.append((host_type(INSECURE, "get-insecure-random-bytes"),
                        canonical_json({"args": {"len": op[1]}, "result": b64(rng.fill_bytes(op[1]))})))
        elif kind == "insecure-u64":
            out.append((host_type(INSECURE, "get-insecure-random-u64"),
                        canonical_json({"args": {}, "result": rng.next_u64()})))
        elif kind == "seed":
            out.append((host_type(SEED_IFACE, "insecure-seed"),
                        canonical_json({"args": {}, "result": [rng.next_u64(), rng.next_u64()]})))
        elif kind == "refused":
            out.append((host_type(op[1], "get-random-bytes"), canonical_json(
                {"args": {"len": op[2]}, "trap": f"requested {op[2]} random bytes, more than max_bytes"})))
        elif kind == "log":
            out.append((host_type(LOG, "log"), canonical_json({"args": {"msg": op[1]}, "result": None})))
        elif kind == "export":
            out.append((export_type("theater:simple/actor", "init"),
                        canonical_json({"args": {"params": ["x"], "state": None}, "result": {"ok": [None]}})))
    out.append(("end", canonical_json({"outcome": "completed"})))
    return out


def synth_header(seed: int | None, actor: str = "audited") -> bytes:
    return canonical_json(make_header(actor=actor, component_sha256="cd" * 32, seed=seed,
                                      handlers=[{"type": "random", "seed": seed}]))


def rows_of(header: bytes, events: list[tuple[str, bytes]]) -> list[tuple]:
    """Hash ``events`` into stored rows ``(seq, hash, parent, type, data, written_at)``."""
    b = ChainBuilder(header)
    rows = []
    for type_, data in events:
        seq, parent, h = b.append(type_, data)
        rows.append((seq, h, parent, type_, data, None))
    return rows


def store_events(store: Store, header: bytes, events: list[tuple[str, bytes]]) -> str:
    w = store.create_chain(header)
    for type_, data in events:
        w.append(type_, data)
    w.flush()
    store.set_status(w.chain_id, "complete")
    return w.chain_id


def doctor(events: list[tuple[str, bytes]], seq: int, result) -> list[tuple[str, bytes]]:
    """Replace the result of event ``seq`` (a re-hash of the chain follows in rows_of)."""
    type_, data = events[seq]
    body = orjson.loads(data)
    body["result"] = result
    return events[:seq] + [(type_, canonical_json(body))] + events[seq + 1:]


def first_random(events, fn: str) -> int:
    return next(i for i, (t, d) in enumerate(events) if t.endswith("#" + fn) and b'"result"' in d)


def test_clean_synthetic_chain_passes_the_audit():
    header, events = synth_header(12345), synth_events(12345)
    r = audit_rows("c", "v1", header, rows_of(header, events), audit_random=True)
    assert r.ok, r.problem
    draws = sum(1 for t, d in events if t.startswith("host:wasi:random/") and b'"result"' in d)
    assert r.random_checked == draws == 12


def test_known_upstream_value_seed_42():
    """rand_chacha's seed_from_u64(42) first u64 is 9482535800248027256 (UPSTREAM.md)."""
    header = synth_header(42)
    ev = [(host_type(R, "get-random-u64"), canonical_json({"args": {}, "result": 9482535800248027256}))]
    assert audit_rows("c", "v1", header, rows_of(header, ev), audit_random=True).ok
    bad = [(ev[0][0], canonical_json({"args": {}, "result": 9482535800248027257}))]
    r = audit_rows("c", "v1", header, rows_of(header, bad), audit_random=True)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.RANDOM_MISMATCH, 0)
    assert r.problem.expected == "9482535800248027256" and r.problem.computed == "9482535800248027257"


@pytest.mark.parametrize("fn,value", [
    ("get-random-bytes", "base64:" + base64.b64encode(bytes(16)).decode()),
    ("get-random-u64", 1),
    ("get-insecure-random-u64", 2),
    ("get-insecure-random-bytes", "base64:AAAA"),
    ("insecure-seed", [1, 2]),
])
def test_doctored_value_rehashed_end_to_end_is_caught(fn, value):
    header, events = synth_header(7), synth_events(7)
    k = first_random(events, fn)
    rows = rows_of(header, doctor(events, k, value))
    plain = audit_rows("c", "v1", header, rows)
    assert plain.ok  # integrity alone cannot see it: the chain was re-hashed
    r = audit_rows("c", "v1", header, rows, audit_random=True)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.RANDOM_MISMATCH, k)
    assert r.problem.expected != r.problem.computed


def test_a_refused_request_draws_nothing():
    header = synth_header(9)
    events = synth_events(9, [("u64", R), ("refused", R, 8), ("u64", R)])
    assert audit_rows("c", "v1", header, rows_of(header, events), audit_random=True).ok
    # had the refusal drawn from the stream, the next value would be a different one
    rng = ChaCha20Rng.seed_from_u64(9)
    first = rng.next_u64()
    rng.fill_bytes(8)
    wrong = events[:2] + [(events[2][0], canonical_json({"args": {}, "result": rng.next_u64()}))] + events[3:]
    assert orjson.loads(wrong[0][1])["result"] == first
    r = audit_rows("c", "v1", header, rows_of(header, wrong), audit_random=True)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.RANDOM_MISMATCH, 2)


def test_one_stream_across_interfaces_order_matters():
    header = synth_header(3)
    events = synth_events(3, [("u64", R), ("insecure-u64",)])
    swapped = [(events[0][0], events[1][1]), (events[1][0], events[0][1]), events[2]]
    r = audit_rows("c", "v1", header, rows_of(header, swapped), audit_random=True)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.RANDOM_MISMATCH, 0)


def test_wrong_seed_in_a_rehashed_header():
    events = synth_events(100)
    header = synth_header(101)
    r = audit_rows("c", "v1", header, rows_of(header, events), audit_random=True)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.RANDOM_MISMATCH, 0)


def test_byte_count_must_match_len():
    header = synth_header(5)
    events = synth_events(5, [("bytes", R, 8)])
    short = doctor(events, 0, "base64:" + base64.b64encode(ChaCha20Rng.seed_from_u64(5).fill_bytes(4)).decode())
    r = audit_rows("c", "v1", header, rows_of(header, short), audit_random=True)
    assert (r.problem.kind, r.problem.seq, r.problem.expected) == (FailureKind.RANDOM_MISMATCH, 0, "8")


@pytest.mark.parametrize("type_,data,what", [
    (host_type(R, "get-random-thing"), b'{"args":{},"result":1}', "knows"),
    (host_type("wasi:random/random@0.3.0", "get-random-u64"), b'{"args":{},"result":1}', "knows"),
    (host_type(R, "get-random-u64"), b'{"args":{}}', "result | trap"),
    (host_type(R, "get-random-bytes"), b'{"args":{"len":-1},"result":"base64:"}', "len"),
    (host_type(R, "get-random-bytes"), b'{"args":{"len":1},"result":"AA=="}', "base64"),
])
def test_unauditable_random_events_are_malformed(type_, data, what):
    header = synth_header(1)
    r = audit_rows("c", "v1", header, rows_of(header, [(type_, data)]), audit_random=True)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.MALFORMED, 0) and what in r.problem.message


def test_random_events_without_a_seed_are_malformed_none_are_fine():
    header = synth_header(None)
    events = synth_events(1, [("u64", R)])
    r = audit_rows("c", "v1", header, rows_of(header, events), audit_random=True)
    assert (r.problem.kind, r.problem.seq) == (FailureKind.MALFORMED, 0) and "seed" in r.problem.message
    quiet = synth_events(1, [("log", "x")])
    r = audit_rows("c", "v1", header, rows_of(header, quiet), audit_random=True)
    assert r.ok and r.random_checked == 0


def test_audit_covers_only_the_verified_prefix():
    header, events = synth_header(8), synth_events(8)
    rows = rows_of(header, events)
    k = first_random(events, "get-random-u64")
    rows[k] = rows[k][:4] + (rows[k][4] + b" ",) + rows[k][5:]  # breaks the hash of k
    r = audit_rows("c", "v1", header, rows, audit_random=True)
    assert [p.kind for p in r.problems] == [FailureKind.HASH_MISMATCH] and r.problem.seq == k


def test_standalone_helpers():
    header, events = synth_header(11), synth_events(11)
    assert audit_draws(header, rows_of(header, events)) == (None, 12)
    a = RandomAudit(header)
    a.feed(0, b"", "host:wasi:random/random@0.2.3#get-random-u64", b'{"args":{},"result":0}')
    assert a.problem is not None and a.checked == 1


def test_cli_audit_random(tmp_path):
    db = tmp_path / "r.db"
    with Store(db) as s:
        header = synth_header(2024)
        good = store_events(s, header, synth_events(2024))
        events = synth_events(2024)
        k = first_random(events, "insecure-seed")
        bad = store_events(s, header, doctor(events, k, [1, 2]))
    r = run_cli("verify", good, "--db", str(db), "--audit-random")
    assert r.returncode == 0, r.stderr
    assert "12 random draw(s) match the seed" in r.stdout
    assert run_cli("verify", bad, "--db", str(db)).returncode == 0  # re-hashed: integrity holds
    r = run_cli("verify", bad, "--db", str(db), "--audit-random", "--json")
    assert r.returncode == 1
    out = orjson.loads(r.stdout)
    assert out["problem"]["class"] == "random_mismatch" and out["problem"]["seq"] == k
    assert out["problem"]["computed"] == "[1, 2]"


def test_cli_audit_random_on_a_legacy_chain_notes_it(tmp_path):
    from theater.legacy import build_legacy

    f = tmp_path / "up.json"
    f.write_bytes(orjson.dumps(build_legacy([("wasm", b"{}"), ("wasi:random/random@0.2.3/get-random-u64", b"{}")])))
    db = str(tmp_path / "l.db")
    assert run_cli("import", str(f), "--db", db).returncode == 0
    r = run_cli("verify", "--db", db, "--audit-random", "--json")
    assert r.returncode == 0
    assert any("random audit not possible" in n for n in orjson.loads(r.stdout)["notes"])
