"""Chains saved by the Rust Theater runtime: SHA-1 rule, import, verify, tamper."""

from __future__ import annotations

import hashlib
import random

import orjson
import pytest
from conftest import SHARED, run_cli
from tamper import delete_events, set_chain, set_event

from theater.errors import UsageError
from theater.legacy import NULL_PARENT, build_legacy, legacy_hash
from theater.store import Store
from verify.importer import import_file
from verify.integrity import verify_chain
from verify.results import FailureKind

CHAINS = SHARED / "theater-chains"
FILES = sorted(CHAINS.glob("*.json")) if CHAINS.is_dir() else []
needs_shared = pytest.mark.skipif(not FILES, reason="../shared/theater-chains/ is absent")

EVENTS = [
    ("wasm", b'{"category":"Wasm","WasmCall":{"function_name":"init","params":[]}}'),
    ("wasi:random/random@0.2.3/get-random-u64", b'{"category":"HostFunction","output":[1,2]}'),
    ('odd "type" \\ caf\u00e9\n', b"\x00\xff raw"),
    ("wasm", b'{"category":"Wasm","WasmResult":{}}'),
]


def write_legacy(path, events=EVENTS, mutate=None):
    chain = build_legacy(events)
    if mutate:
        mutate(chain)
    path.write_bytes(orjson.dumps(chain, option=orjson.OPT_INDENT_2))
    return path


def test_hash_rule_serializes_like_upstream():
    """Compact JSON, keys hash/parent_hash/event_type/data, hash emptied, bytes as numbers."""
    expect = b'{"hash":[],"parent_hash":null,"event_type":"a\\"b\\\\c\\n\xc3\xa9","data":[1,255]}'
    assert legacy_hash(None, 'a"b\\c\n\u00e9', b"\x01\xff") == hashlib.sha1(expect).digest()
    expect = b'{"hash":[],"parent_hash":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19],"event_type":"x","data":[]}'
    assert legacy_hash(bytes(range(20)), "x", b"") == hashlib.sha1(expect).digest()


@needs_shared
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_upstream_chain_imports_and_verifies(path, tmp_path):
    raw = orjson.loads(path.read_bytes())
    with Store(tmp_path / "u.db") as s:
        res = import_file(s, path)
        assert res.ok and res.format == "legacy" and res.result.events == len(raw)
        info = s.chain(res.chain)
        assert info.format == "legacy" and info.status == "complete" and info.length == len(raw)
        header = orjson.loads(info.header)
        assert header["format"] == "legacy-sha1" and header["source"] == path.name
        assert header["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        events = list(s.events(res.chain))
        assert [e.hash for e in events] == [bytes(e["hash"]) for e in raw]
        assert [e.data for e in events] == [bytes(e["data"]) for e in raw]
        assert [e.type for e in events] == [e["event_type"] for e in raw]
        assert events[0].parent == NULL_PARENT and events[1].parent == events[0].hash
        r = verify_chain(s, res.chain)
        assert r.ok and r.format == "legacy" and r.events == len(raw)


@needs_shared
def test_upstream_chains_through_the_cli(tmp_path):
    db = str(tmp_path / "cli.db")
    ids = []
    for path in FILES:
        r = run_cli("import", str(path), "--db", db)
        assert r.returncode == 0, r.stderr
        ids.append(r.stdout.strip())
    r = run_cli("verify", "--all", "--db", db, "--json")
    assert r.returncode == 0 and [c["format"] for c in orjson.loads(r.stdout)["chains"]] == ["legacy"] * 6
    r = run_cli("events", ids[0], "--db", db, "--json")
    first = orjson.loads(r.stdout)[0]
    assert first["type"] == "wasm" and first["data"]["category"] == "Wasm" and len(first["hash"]) == 40


@needs_shared
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_a_flipped_byte_in_an_upstream_file_is_caught(path, tmp_path):
    """Every sampled single-bit flip is refused (input error or verification failure)."""
    raw = path.read_bytes()
    rng = random.Random(path.name)
    positions = sorted(rng.sample(range(len(raw)), 60))
    s = Store(tmp_path / "f.db")
    f = tmp_path / path.name
    refused = {"input": 0, "verify": 0}
    for pos in positions:
        b = bytearray(raw)
        b[pos] ^= 1 << rng.randrange(8)
        f.write_bytes(bytes(b))
        try:
            res = import_file(s, f)
        except UsageError:
            refused["input"] += 1
            continue
        assert not res.ok, f"flip at byte {pos} not caught"
        refused["verify"] += 1
    assert s.chains() == [] and refused["verify"] > 0
    s.close()


def test_own_chain_roundtrip_and_odd_types(tmp_path):
    f = write_legacy(tmp_path / "own.json")
    with Store(tmp_path / "o.db") as s:
        res = import_file(s, f, actor="mine")
        assert res.ok and s.chain(res.chain).actor == "mine"
        assert [e.type for e in s.events(res.chain)] == [t for t, _ in EVENTS]
        assert verify_chain(s, res.chain).ok


def _set(i, key, value):
    def m(chain):
        chain[i][key] = value
    return m


@pytest.mark.parametrize("mutate,kind,seq", [
    (_set(2, "data", [1, 2, 3]), FailureKind.HASH_MISMATCH, 2),
    (_set(1, "event_type", "wasm"), FailureKind.HASH_MISMATCH, 1),
    (_set(3, "hash", [0] * 20), FailureKind.HASH_MISMATCH, 3),
    (_set(0, "parent_hash", [7] * 20), FailureKind.HASH_MISMATCH, 0),
    (_set(2, "hash", [1] * 19), FailureKind.MALFORMED, 2),
    (_set(2, "data", [256]), FailureKind.MALFORMED, 2),
    (_set(2, "parent_hash", None), FailureKind.MALFORMED, 2),
    (lambda c: c[1].update(extra=1), FailureKind.MALFORMED, 1),
    (lambda c: c.pop(1), FailureKind.PARENT_MISMATCH, 1),
    (lambda c: c.insert(2, c[1]), FailureKind.DUPLICATE, 2),
    (lambda c: c.__setitem__(slice(1, 3), [c[2], c[1]]), FailureKind.PARENT_MISMATCH, 1),
])
def test_own_chain_tampered_before_import(tmp_path, mutate, kind, seq):
    f = write_legacy(tmp_path / "t.json", mutate=mutate)
    with Store(tmp_path / "t.db") as s:
        res = import_file(s, f)
        assert not res.ok and (res.result.problem.kind, res.result.problem.seq) == (kind, seq)
        assert s.chains() == []


def test_relinked_splice_is_a_parent_mismatch(tmp_path):
    """An event re-hashed with a wrong parent hashes fine but does not link."""
    chain = build_legacy(EVENTS)
    other = build_legacy([("wasm", b"x"), ("wasm", b"y")])
    chain[2] = other[1]
    f = tmp_path / "s.json"
    f.write_bytes(orjson.dumps(chain))
    with Store(tmp_path / "s.db") as s:
        res = import_file(s, f)
        assert (res.result.problem.kind, res.result.problem.seq) == (FailureKind.PARENT_MISMATCH, 2)


def test_invalid_json_is_an_input_error(tmp_path):
    f = tmp_path / "bad.json"
    f.write_bytes(b"[{")
    db = str(tmp_path / "b.db")
    r = run_cli("import", str(f), "--db", db)
    assert r.returncode == 2 and "invalid JSON" in r.stderr and len(r.stderr.splitlines()) == 1
    f.write_bytes(orjson.dumps(build_legacy(EVENTS))[:-1] + b',{"hash":[]}]')
    r = run_cli("import", str(f), "--db", db)
    assert r.returncode == 1 and "malformed at seq 4" in r.stderr and "nothing imported" in r.stderr


def test_stored_legacy_chain_tampering(tmp_path):
    f = write_legacy(tmp_path / "own.json")
    db = tmp_path / "s.db"
    with Store(db) as s:
        cid = import_file(s, f).chain
        set_event(s, cid, 1, data=b"\x00")
        r = verify_chain(s, cid)
        assert (r.problem.kind, r.problem.seq) == (FailureKind.HASH_MISMATCH, 1)
    with Store(db) as s:
        cid = import_file(s, f).chain
        delete_events(s, cid, 3)
        set_chain(s, cid, length=3)
        r = verify_chain(s, cid)  # the import header remembers 4 events
        assert (r.problem.kind, r.problem.seq, r.problem.expected) == (FailureKind.TRUNCATED, 3, "4")
        set_chain(s, cid, header=b"{}")
        assert verify_chain(s, cid).problem.kind == FailureKind.MALFORMED
