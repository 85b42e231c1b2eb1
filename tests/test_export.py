"""`theater export --format jsonl` and `theater import`: lossless, re-verified round trips."""

from __future__ import annotations

import io

import orjson
import pytest
from conftest import run_cli, write_chain

from theater.bundle import read_jsonl, write_jsonl
from theater.errors import UsageError
from theater.legacy import build_legacy
from theater.store import Store
from verify.importer import import_file
from verify.results import FailureKind

COLS = "seq, hash, parent, type, data, written_at"


def rows(store, cid):
    """The stored rows (storage v2 derives the parent: the previous event's hash)."""
    return list(store.event_rows(cid, as_stored=True))


def export_text(store, cid) -> bytes:
    buf = io.BytesIO()
    write_jsonl(store, store.chain(cid), buf)
    return buf.getvalue()


def test_export_format(store):
    cid = write_chain(store, 3)
    lines = export_text(store, cid).splitlines()
    first = orjson.loads(lines[0])
    info = store.chain(cid)
    assert first["kind"] == "theater-chain" and first["version"] == 1 and first["format"] == "v1"
    assert first["id"] == cid and first["events"] == 4 and first["head"] == info.head.hex()
    assert orjson.dumps(first["header"], option=orjson.OPT_SORT_KEYS) == info.header
    ev = [orjson.loads(x) for x in lines[1:]]
    assert [e["seq"] for e in ev] == [0, 1, 2, 3]
    e0 = store.event(cid, 0)
    assert (ev[0]["hash"], ev[0]["parent"], ev[0]["type"], bytes.fromhex(ev[0]["data"])) == (
        e0.hash.hex(), e0.parent.hex(), e0.type, e0.data)
    assert set(ev[0]) == {"seq", "hash", "parent", "type", "data", "written_at"}


@pytest.mark.parametrize("finish", [True, False])
def test_v1_roundtrip_is_lossless(tmp_path, finish):
    src, dst = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    cid = write_chain(src, 30, finish=finish)
    f = tmp_path / "c.jsonl"
    f.write_bytes(export_text(src, cid))
    res = import_file(dst, f)
    assert res.ok and res.chain != cid and res.format == "v1"
    a, b = src.chain(cid), dst.chain(res.chain)
    assert b.header == a.header and b.format == "v1" and (b.length, b.head) == (a.length, a.head)
    assert b.status == ("complete" if finish else "incomplete")
    assert rows(dst, res.chain) == rows(src, cid)
    # and again: export of the import is the same file but for the id
    again = export_text(dst, res.chain).splitlines()
    original = f.read_bytes().splitlines()
    assert again[1:] == original[1:]
    meta = orjson.loads(again[0])
    assert {**meta, "id": cid, "status": "-"} == {**orjson.loads(original[0]), "status": "-"}


def test_legacy_roundtrip_is_lossless(tmp_path):
    up = tmp_path / "up.json"
    up.write_bytes(orjson.dumps(build_legacy([("wasm", b"{}"), ("x/y", b"\x00\x01"), ("wasm", b"[]")])))
    src, dst = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    cid = import_file(src, up).chain
    f = tmp_path / "l.jsonl"
    f.write_bytes(export_text(src, cid))
    res = import_file(dst, f)
    assert res.ok and res.format == "legacy" and dst.chain(res.chain).format == "legacy"
    assert dst.chain(res.chain).header == src.chain(cid).header
    assert rows(dst, res.chain) == rows(src, cid)


def test_non_canonical_header_travels_as_hex(tmp_path):
    src, dst = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    w = src.create_chain(b'{"seed": 1, "actor": "spaced"}')
    w.append("host:x#y", b"{}")
    w.finish("completed")
    text = export_text(src, w.chain_id)
    assert "header_hex" in orjson.loads(text.splitlines()[0])
    f = tmp_path / "h.jsonl"
    f.write_bytes(text)
    res = import_file(dst, f)
    assert res.ok and dst.chain(res.chain).header == b'{"seed": 1, "actor": "spaced"}'


def _doctor(text: bytes, lineno: int, **fields) -> bytes:
    lines = text.splitlines()
    obj = orjson.loads(lines[lineno])
    obj.update(fields)
    lines[lineno] = orjson.dumps(obj)
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("change,kind,seq", [
    (lambda t: _doctor(t, 5, data="7b7d"), FailureKind.HASH_MISMATCH, 4),
    (lambda t: _doctor(t, 3, hash="00" * 32), FailureKind.HASH_MISMATCH, 2),
    (lambda t: _doctor(t, 3, data="zz"), FailureKind.MALFORMED, 2),
    # no parent is trusted (storage v2): event 0 no longer hashes on the doctored header's genesis
    (lambda t: _doctor(t, 0, header={"actor": "x", "format": 1}), FailureKind.HASH_MISMATCH, 0),
    (lambda t: b"\n".join(t.splitlines()[:-2]) + b"\n", FailureKind.TRUNCATED, 9),
    (lambda t: _doctor(t, 0, events=12), FailureKind.TRUNCATED, 11),
    (lambda t: _doctor(t, 0, head="00" * 32), FailureKind.MALFORMED, None),
    (lambda t: b"\n".join(t.splitlines()[:4] + t.splitlines()[5:]) + b"\n", FailureKind.SEQUENCE_GAP, 3),
])
def test_doctored_export_is_refused_and_nothing_stored(tmp_path, change, kind, seq):
    src, dst = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    cid = write_chain(src, 10)
    f = tmp_path / "d.jsonl"
    f.write_bytes(change(export_text(src, cid)))
    res = import_file(dst, f)
    assert not res.ok and (res.result.problem.kind, res.result.problem.seq) == (kind, seq)
    assert dst.chains() == [] and dst.conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0


@pytest.mark.parametrize("text,msg", [
    (b"not json\n", "not JSON"),
    (b'{"kind":"other"}\n', "not a theater chain export"),
    (b'{"kind":"theater-chain","version":2}\n', "version"),
    (b'{"kind":"theater-chain","version":1,"format":"v9","header":{}}\n', "unknown chain format"),
    (b'{"kind":"theater-chain","version":1,"format":"v1"}\n', "no header"),
])
def test_unreadable_exports_are_input_errors(text, msg):
    with pytest.raises(UsageError, match=msg):
        read_jsonl(io.BytesIO(text))


def test_cli_export_import(tmp_path):
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    with Store(a) as s:
        cid = write_chain(s, 5)
    out = tmp_path / "x.jsonl"
    r = run_cli("export", cid, "--db", a, "--out", str(out))
    assert r.returncode == 0 and r.stdout == "" and "exported" in r.stderr
    assert run_cli("export", cid, "--db", a).stdout.encode() == out.read_bytes()
    r = run_cli("import", str(out), "--db", b)
    assert r.returncode == 0
    new = r.stdout.strip()
    assert run_cli("verify", new, "--db", b).returncode == 0
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(out.read_bytes() + b"{oops\n")
    r = run_cli("import", str(broken), "--db", b)
    assert r.returncode == 2 and "line 8" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    out.write_bytes(_doctor(out.read_bytes(), 2, type="host:evil#x"))
    r = run_cli("import", str(out), "--db", b, "--json")
    assert r.returncode == 1
    assert orjson.loads(r.stdout)["verify"]["problem"]["class"] == "hash_mismatch"
    with Store(b) as s:
        assert [c.id for c in s.chains()] == [new]
