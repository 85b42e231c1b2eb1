"""Fuzzing the value codec and the verifier with hypothesis.

Codec: hypothesis draws a random nested WIT type (records, variants, enums, flags,
options, results, tuples, lists, every primitive), builds a component for it whose
guest export forwards a value to a host import of the same type, and checks that a
random value of the type survives Python -> wasm -> host codec (encode, bytes,
decode) -> wasm -> Python, NaN payloads and nested options included; the same
round trip is checked in pure Python with many more examples.

Verifier: a real chain recorded from a real component is stored in a real SQLite
file, then corrupted at random: bytes flipped in any column, columns set to random
values or types, rows deleted, duplicated, moved or swapped, the header edited, raw
bytes of the file flipped. ``verify_chain`` must never crash (a damaged file may only
raise :class:`StoreError`, "cannot read whole"), must never pass a chain whose
authenticated content changed, and must pass one whose content did not change.
"""

from __future__ import annotations

import functools
import math
import random
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import wasmtime
import witvalues
from actors import wat_manifest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_codec import MEM_MODULE
from wasmtime import component as wc

from theater.codec import (
    decode,
    decode_params,
    decode_result,
    dumps,
    encode,
    encode_params,
    encode_result,
    loads,
)
from theater.errors import CodecError, StoreError
from theater.manifest import load_manifest
from theater.recorder import Input, record
from theater.store import Store
from theater.wittypes import (
    EnumT,
    FlagsT,
    ListT,
    Prim,
    RecordT,
    TupleT,
    VariantT,
    WitType,
    component_imports,
    variant,
)
from verify.integrity import verify_chain
from verify.results import FailureKind
from verify.walk import verify_rows

# ------------------------------------------------------------------ random types

PRIMS = ["bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char", "string"]
NAMES = ["a", "b", "c-d", "e", "f-g-h", "i", "j", "k"]


def _names(n_min: int, n_max: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(NAMES), min_size=n_min, max_size=n_max, unique=True)


@functools.cache
def wit_types(max_leaves: int = 8) -> st.SearchStrategy[WitType]:
    """The strategy of random types (built once per ``max_leaves``: a new recursive
    strategy per example is validated anew, which cost most of these tests' time)."""
    prim = st.sampled_from(PRIMS).map(Prim)

    def compound(inner: st.SearchStrategy[WitType]) -> st.SearchStrategy[WitType]:
        opt_inner = st.none() | inner
        return st.one_of(
            inner.map(ListT),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: TupleT(tuple(xs))),
            inner.map(lambda t: variant("option", (("none", None), ("some", t)))),
            st.tuples(opt_inner, opt_inner).map(lambda p: variant("result", (("ok", p[0]), ("err", p[1])))),
            _names(1, 4).flatmap(lambda ns: st.lists(inner, min_size=len(ns), max_size=len(ns)).map(
                lambda ts: RecordT(tuple(zip(ns, ts, strict=True))))),
            _names(1, 4).flatmap(lambda ns: st.lists(opt_inner, min_size=len(ns), max_size=len(ns)).map(
                lambda ts: variant("variant", tuple(zip(ns, ts, strict=True))))),
        )

    leaves = st.one_of(prim, _names(1, 5).map(lambda ns: EnumT(tuple(ns))),
                       _names(1, 6).map(lambda ns: FlagsT(tuple(ns))))
    return st.recursive(leaves, compound, max_leaves=max_leaves)


f32, f64 = witvalues.f32, witvalues.f64


@functools.cache
def values(t: WitType | None) -> st.SearchStrategy[Any]:
    """Python values of ``t`` exactly as wasmtime-py lifts them (NaNs with payloads too);
    one strategy per type (types repeat across examples)."""
    return witvalues.values(t, edges=True, max_list=3, max_text=6, max_bytes=8)


def canonical(t: WitType, v: Any) -> bytes:
    return dumps(encode(t, v))


def decodable(t: WitType, v: Any) -> bool:
    """False only for the documented wasmtime-py limit: an untagged variant value that
    wasmtime-py would lower as another case (``b(true)`` in ``variant { a(u32), b(bool) }``)."""
    try:
        decode(t, loads(canonical(t, v)))
    except CodecError as e:
        assert "would lower" in str(e), str(e)
        return False
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_codec_round_trips_random_nested_types(data: st.DataObject) -> None:
    t = data.draw(wit_types(), label="type")
    v = data.draw(values(t), label="value")
    obj = encode(t, v)
    blob = dumps(obj)
    assert dumps(loads(blob)) == blob  # canonical bytes are a fixed point
    assume(decodable(t, v))
    back = decode(t, loads(blob))
    assert canonical(t, back) == blob  # equal down to NaN payload bits


# ------------------------------------------------ the same, through real wasmtime

_FLAT = {"bool": "i32", "s8": "i32", "u8": "i32", "s16": "i32", "u16": "i32", "s32": "i32", "u32": "i32",
         "char": "i32", "s64": "i64", "u64": "i64", "f32": "f32", "f64": "f64"}


def flat(t: WitType | None) -> list[str]:
    """The canonical ABI's flattening of a type (core value types)."""
    if t is None:
        return []
    if isinstance(t, Prim):
        return ["i32", "i32"] if t.kind == "string" else [_FLAT[t.kind]]
    if isinstance(t, ListT):
        return ["i32", "i32"]
    if isinstance(t, TupleT):
        return [x for i in t.items for x in flat(i)]
    if isinstance(t, RecordT):
        return [x for _, f in t.fields for x in flat(f)]
    if isinstance(t, EnumT):
        return ["i32"]
    if isinstance(t, FlagsT):
        return ["i32"] * ((len(t.names) + 31) // 32)
    assert isinstance(t, VariantT)
    joined: list[str] = []
    for _, c in t.cases:
        for i, x in enumerate(flat(c)):
            if i == len(joined):
                joined.append(x)
            elif joined[i] != x:
                joined[i] = "i32" if {joined[i], x} == {"i32", "f32"} else "i64"
    return ["i32", *joined]


class TypeText:
    """Renders WitTypes as component WAT; records, variants, enums and flags are named
    types exported from the host instance type, as the component model requires."""

    def __init__(self) -> None:
        self.defs: list[str] = []
        self.names: list[str] = []

    def __call__(self, t: WitType | None) -> str:
        if t is None:
            raise AssertionError("no payload")
        if isinstance(t, Prim):
            return t.kind
        if isinstance(t, ListT):
            return f"(list {self(t.elem)})"
        if isinstance(t, TupleT):
            return "(tuple " + " ".join(self(i) for i in t.items) + ")"
        if isinstance(t, VariantT) and t.kind == "option":
            return f"(option {self(t.cases[1][1])})"
        if isinstance(t, VariantT) and t.kind == "result":
            ok, er = t.cases[0][1], t.cases[1][1]
            return ("(result" + ("" if ok is None else f" {self(ok)}")
                    + ("" if er is None else f" (error {self(er)})") + ")")
        if isinstance(t, RecordT):
            body = "(record " + " ".join(f'(field "{n}" {self(f)})' for n, f in t.fields) + ")"
        elif isinstance(t, VariantT):
            body = "(variant " + " ".join(f'(case "{n}")' if c is None else f'(case "{n}" {self(c)})'
                                         for n, c in t.cases) + ")"
        elif isinstance(t, EnumT):
            body = "(enum " + " ".join(f'"{n}"' for n in t.names) + ")"
        else:
            assert isinstance(t, FlagsT)
            body = "(flags " + " ".join(f'"{n}"' for n in t.names) + ")"
        k = len(self.names)
        self.defs.append(f'    (type $t{k}-def {body})\n    (export "t{k}" (type $t{k} (eq $t{k}-def)))')
        self.names.append(f"t{k}")
        return f"$t{k}"


MEM = MEM_MODULE  # the bump allocator the codec tests share


def echo_wat(t: WitType) -> str:
    """A component whose export `echo: func(x: T) -> T` forwards x to the host import
    of the same name and returns what the host returned."""
    text = TypeText()
    ty = text(t)
    params = flat(t)
    if len(params) > 16:  # MAX_FLAT_PARAMS: passed through memory
        params = ["i32"]
    results = flat(t)
    gets = " ".join(f"(local.get {i})" for i in range(len(params)))
    ps = f"(param {' '.join(params)})" if params else ""
    if len(results) > 1:  # MAX_FLAT_RESULTS: through a return area (lowered: by the caller)
        imp = f'(import "h" "echo" (func $i (param {" ".join(params + ["i32"])})))'
        body = f'(func (export "echo") {ps} (result i32) (call $i {gets} (i32.const 64)) (i32.const 64))'
    else:
        rs = f"(result {results[0]})" if results else ""
        imp = f'(import "h" "echo" (func $i {ps} {rs}))'
        body = f'(func (export "echo") {ps} {rs} (call $i {gets}))'
    aliases = "\n".join(f'  (alias export $h "{n}" (type ${n}))' for n in text.names)
    texports = " ".join(f'(export "{n}" (type ${n}))' for n in text.names)
    return f"""(component
  (type $host-t (instance
{chr(10).join(text.defs)}
    (export "echo" (func (param "x" {ty}) (result {ty})))
  ))
  (import "test:fuzz/host" (instance $h (type $host-t)))
{aliases}
{MEM}
  (alias export $h "echo" (func $hf))
  (core func $lo (canon lower (func $hf) (memory $mem) (realloc $realloc)))
  (core module $Main
    {imp}
    {body}
  )
  (core instance $main (instantiate $Main (with "h" (instance (export "echo" (func $lo))))))
  (alias core export $main "echo" (core func $cf))
  (func $x (param "x" {ty}) (result {ty}) (canon lift (core func $cf) (memory $mem) (realloc $realloc)))
  (instance $g {texports} (export "echo" (func $x)))
  (export "test:fuzz/guest" (instance $g))
)"""


_ENGINE = wasmtime.Engine()


@dataclass
class EchoRun:
    sig_type: WitType
    seen: list[bytes]
    call: Callable[[Any], Any]


def echo_for(t: WitType) -> EchoRun:
    component = wc.Component(_ENGINE, echo_wat(t))
    sig = component_imports(_ENGINE, component)["test:fuzz/host"].funcs["echo"]
    seen: list[bytes] = []

    def host(_store: Any, x: Any) -> Any:
        blob = dumps(encode_params(sig, (x,)))
        seen.append(blob)
        (back,) = decode_params(sig, loads(blob))
        return decode_result(sig, loads(dumps(encode_result(sig, back))))

    linker = wc.Linker(_ENGINE)
    with linker.root() as root:
        with root.add_instance("test:fuzz/host") as inst:
            inst.add_func("echo", host)
    store = wasmtime.Store(_ENGINE)
    instance = linker.instantiate(store, component)
    g = instance.get_export_index(store, "test:fuzz/guest")
    f = instance.get_func(store, instance.get_export_index(store, "echo", g))
    assert f is not None and sig.params[0][1] == t and sig.result == t  # wittypes reads back what we wrote
    return EchoRun(sig.params[0][1], seen, lambda v: f(store, v))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_nested_types_round_trip_through_wasmtime(data: st.DataObject) -> None:
    t = data.draw(wit_types(max_leaves=6), label="type")
    echo = echo_for(t)
    for v in data.draw(st.lists(values(t), min_size=1, max_size=3), label="values"):
        if not decodable(t, v):
            continue
        blob = canonical(t, v)
        out = echo.call(v)
        assert canonical(t, out) == blob
        assert echo.seen[-1] == dumps({"x": loads(blob)})  # the host saw exactly that value


def test_flattening_helper_matches_wasmtime() -> None:
    """The test's own canonical-ABI flattening, checked on types where joins matter
    (a wrong flattening would make wasmtime reject the component)."""
    u = variant("variant", (("a", Prim("f32")), ("b", Prim("u32")), ("c", Prim("f64")), ("d", None)))
    big = TupleT(tuple(Prim("u8") for _ in range(17)))
    for t in (u, big, variant("result", (("ok", None), ("err", None))), FlagsT(("a",))):
        echo_for(t)
    assert flat(u) == ["i32", "i64"]


# ------------------------------------------------------------------ the verifier

# Storage v2: no stored parent; an event's type is an event_types id (mutating it makes
# another name, or none); ``events.chain`` is the chain's integer key.
ROW_COLS = ("seq", "hash", "type", "data")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A database with two real recordings (counter and random_loop)."""
    d = tmp_path_factory.mktemp("fuzz")
    db = d / "chains.db"
    store = Store(db)
    ids = []
    for name, kw in (("counter", {"inputs": [Input("send", b"abc"), Input("send", b"hello")]}),
                     ("random_loop", {"init_param": "12"})):
        r = record(load_manifest(wat_manifest(d, name)), store, **kw)
        assert r.outcome == "completed"
        ids.append(r.chain)
    store.close()
    return db, ids


def content(db: Path, chain: str) -> tuple[Any, list[tuple[Any, ...]]]:
    """What the hashes authenticate: the header and every (seq, hash, type name, data),
    in an order that does not depend on the table's layout (rowid or none)."""
    conn = sqlite3.connect(db)
    try:
        header = conn.execute("SELECT header, key FROM chains WHERE id = ?", (chain,)).fetchone()
        if header is None:
            return None, []
        rows = conn.execute("SELECT e.seq, e.hash, t.name, e.data FROM events e LEFT JOIN event_types t"
                            " ON t.id = e.type WHERE e.chain = ? ORDER BY 1, 2, 3, 4", (header[1],)).fetchall()
        return header[0], rows
    finally:
        conn.close()


def random_value(rng: random.Random) -> Any:
    return rng.choice([
        None, rng.randrange(-3, 100), rng.randrange(-(2**63), 2**63), rng.random(), "", "end",
        "host:wasi:random/random@0.2.3#get-random-u64", rng.randbytes(rng.choice([0, 1, 31, 32, 33])),
        "x" * rng.randrange(0, 40), bytes(32),
    ])


def flip(value: Any, rng: random.Random) -> Any:
    """Flip one random bit of a blob, text or integer."""
    if isinstance(value, bytes):
        if not value:
            return b"\x00"
        b = bytearray(value)
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
        return bytes(b)
    if isinstance(value, str):
        return flip(value.encode(), rng).decode("utf-8", "replace") if value else "x"
    if isinstance(value, int):
        return value ^ (1 << rng.randrange(8))
    return value


def mutate(conn: sqlite3.Connection, chain: str, rng: random.Random) -> str:
    """Apply one random corruption to the stored rows of ``chain``; returns what it did.

    The (chain, seq) primary key goes first: a tampered file need not keep it (the
    events table rebuilt without it, with rowids)."""
    if conn.execute("SELECT count(*) FROM pragma_table_info('events') WHERE pk > 0").fetchone()[0]:
        conn.execute("CREATE TABLE events_loose AS SELECT * FROM events")
        conn.execute("DROP TABLE events")
        conn.execute("ALTER TABLE events_loose RENAME TO events")
    cid, chain = chain, conn.execute("SELECT key FROM chains WHERE id = ?", (chain,)).fetchone()[0]
    rowids = [r[0] for r in conn.execute("SELECT rowid FROM events WHERE chain = ? ORDER BY seq", (chain,))]
    rid = rng.choice(rowids)
    op = rng.choice(["flip", "flip", "set", "delete", "duplicate", "swap", "move", "header", "renumber"])
    col = rng.choice(ROW_COLS)
    if op == "flip":
        (v,) = conn.execute(f"SELECT {col} FROM events WHERE rowid = ?", (rid,)).fetchone()
        conn.execute(f"UPDATE events SET {col} = ? WHERE rowid = ?", (flip(v, rng), rid))
    elif op == "set":
        value = random_value(rng)
        while value is None:  # every event column is NOT NULL
            value = random_value(rng)
        conn.execute(f"UPDATE events SET {col} = ? WHERE rowid = ?", (value, rid))
    elif op == "delete":
        conn.execute("DELETE FROM events WHERE rowid = ?", (rid,))
    elif op == "duplicate":  # a tampered file need not keep the unique index
        conn.execute("INSERT INTO events (chain, seq, hash, type, data, written_at)"
                     " SELECT chain, seq, hash, type, data, written_at FROM events WHERE rowid = ?", (rid,))
    elif op == "swap":
        other = rng.choice(rowids)
        a = conn.execute("SELECT hash, type, data FROM events WHERE rowid = ?", (rid,)).fetchone()
        b = conn.execute("SELECT hash, type, data FROM events WHERE rowid = ?", (other,)).fetchone()
        for target, vals in ((rid, b), (other, a)):
            conn.execute("UPDATE events SET hash = ?, type = ?, data = ? WHERE rowid = ?", (*vals, target))
    elif op == "move":  # the event is moved to the other chain
        conn.execute("UPDATE events SET chain = (SELECT key FROM chains WHERE key != ? LIMIT 1) WHERE rowid = ?",
                     (chain, rid))
    elif op == "header":
        (h,) = conn.execute("SELECT header FROM chains WHERE id = ?", (cid,)).fetchone()
        new = flip(h, rng) if rng.random() < 0.7 else random_value(rng)
        new = b"" if new is None else new  # NOT NULL
        conn.execute("UPDATE chains SET header = ? WHERE id = ?", (new, cid))
    else:  # renumber: shift the seqs from some point on
        (seq,) = conn.execute("SELECT seq FROM events WHERE rowid = ?", (rid,)).fetchone()
        conn.execute("UPDATE events SET seq = seq + ? WHERE chain = ? AND seq >= ?",
                     (rng.choice([-1, 1, 2]), chain, seq))
    return f"{op} {col} rowid {rid}"


def check(db: Path, chains: list[str], before: dict[str, Any], what: str) -> None:
    """Never crash; never pass changed content; pass unchanged content."""
    with Store(db, create=False) as s:
        for c in chains:
            try:
                res = verify_chain(s, c)
            except StoreError:
                continue  # "cannot read whole" is a refusal, never a pass
            changed = content(db, c) != before[c]
            if changed:
                assert not res.ok, f"{what}: chain {c} changed and still verified: {res.summary()}"
                assert res.problem is not None and res.problem.kind in set(FailureKind)
            else:
                assert res.ok, f"{what}: chain {c} did not change but failed: {res.summary()}"


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3))
def test_verifier_never_passes_corrupted_rows(recorded: tuple[Path, list[str]], tmp_path: Path, seed: int,
                                              n: int) -> None:
    src, chains = recorded
    db = tmp_path / f"m{seed}.db"
    shutil.copyfile(src, db)
    before = {c: content(db, c) for c in chains}
    rng = random.Random(seed)
    target = rng.choice(chains)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        done = [mutate(conn, target, rng) for _ in range(n)]
    finally:
        conn.close()
    check(db, chains, before, "; ".join(done))
    db.unlink()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), flips=st.integers(1, 8))
def test_verifier_on_raw_byte_flips_in_the_file(recorded: tuple[Path, list[str]], tmp_path: Path, seed: int,
                                                flips: int) -> None:
    """Bytes flipped anywhere in the SQLite file: the store refuses the file, or every
    chain that still verifies has exactly its recorded content."""
    src, chains = recorded
    db = tmp_path / f"raw{seed}.db"
    shutil.copyfile(src, db)
    before = {c: content(src, c) for c in chains}
    data = bytearray(db.read_bytes())
    rng = random.Random(seed)
    for _ in range(flips):
        i = rng.randrange(100, len(data))  # past the file header, which only breaks opening
        data[i] ^= 1 << rng.randrange(8)
    db.write_bytes(bytes(data))
    try:
        store = Store(db, create=False)
    except StoreError:
        return
    try:
        infos = {c.id: c for c in store.chains()}
        for c in chains:
            if c not in infos:
                continue  # the chains row itself is gone or unreadable: nothing passes
            vouched: list[tuple[Any, ...]] = []
            try:
                res = verify_chain(store, infos[c], on_event=lambda *ev, out=vouched: out.append(ev))
            except StoreError:
                continue
            if res.ok:  # what the verifier vouches for is exactly what was recorded
                header, rows = before[c]
                original = [(seq, h, t, d) for seq, h, t, d in rows]
                assert infos[c].header == header
                assert vouched == original[: len(vouched)] and len(vouched) == res.events
                if res.complete:
                    assert len(vouched) == len(original)
    except sqlite3.DatabaseError:
        pass  # the chains table itself is damaged (listing chains is not verification)
    finally:
        store.close()


CHAIN_COLS = ("id", "actor", "format", "header", "component_sha256", "created", "status", "replay_of",
              "writer_pid", "length", "head")
ODD = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.text(max_size=20),
                st.binary(max_size=40), st.sampled_from([1e300, -1.0, 2**62, "recording", "legacy", "v1"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(CHAIN_COLS), ODD), min_size=1, max_size=3))
def test_tampered_chains_table_never_crashes_the_store(recorded: tuple[Path, list[str]], tmp_path: Path,
                                                      edits: list[tuple[str, Any]]) -> None:
    """SQLite does not enforce column types: any value in any chains column must read
    back as a ChainInfo, list, resolve and verify without an exception, and a changed
    header never verifies."""
    src, chains = recorded
    db = tmp_path / "t.db"
    shutil.copyfile(src, db)
    conn = sqlite3.connect(db, isolation_level=None)
    for col, value in edits:
        try:
            conn.execute(f"UPDATE chains SET {col} = ? WHERE id = ?", (value, chains[0]))
        except sqlite3.IntegrityError:
            pass  # NOT NULL: that edit cannot be stored
    conn.close()
    changed = content(db, chains[0])[0] not in (None, content(src, chains[0])[0])
    with Store(db, create=False) as s:
        infos = s.chains()
        assert len(infos) == 2
        for info in infos:
            assert isinstance(info.header, bytes) and isinstance(info.created, float)
            assert info.display_status in ("recording", "complete", "incomplete") or info.status == info.display_status
            res = verify_chain(s, info)
            if info.id == chains[1]:
                assert res.ok  # the other chain is untouched
            elif changed:
                assert not res.ok
        s.resolve("last")


JUNK = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.text(max_size=40),
                 st.binary(max_size=40), st.booleans(), st.binary(min_size=32, max_size=32))


@settings(max_examples=300, deadline=None)
@given(header=JUNK, rows=st.lists(st.tuples(JUNK, JUNK, JUNK, JUNK, JUNK, JUNK), max_size=6))
def test_verify_rows_never_crashes_on_junk(header: Any, rows: list[tuple[Any, ...]]) -> None:
    res = verify_rows("junk", header, rows)
    if rows:  # random rows are never a valid chain
        assert not res.ok and res.problem is not None
    assert isinstance(res.summary(), str) and res.to_json()["ok"] == res.ok


def test_fuzz_helpers_detect_what_they_should(recorded: tuple[Path, list[str]], tmp_path: Path) -> None:
    """Controls: an untouched copy passes the check; a written_at change (not
    authenticated) passes; a one-bit data flip fails with hash_mismatch."""
    src, chains = recorded
    db = tmp_path / "c.db"
    shutil.copyfile(src, db)
    before = {c: content(db, c) for c in chains}
    check(db, chains, before, "nothing")
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE events SET written_at = 0")
    check(db, chains, before, "written_at")
    key = conn.execute("SELECT key FROM chains WHERE id = ?", (chains[0],)).fetchone()[0]
    (data,) = conn.execute("SELECT data FROM events WHERE chain = ? AND seq = 1", (key,)).fetchone()
    conn.execute("UPDATE events SET data = ? WHERE chain = ? AND seq = 1", (flip(data, random.Random(1)), key))
    conn.close()
    with Store(db, create=False) as s:
        res = verify_chain(s, chains[0])
    assert not res.ok and res.problem is not None and res.problem.kind == FailureKind.HASH_MISMATCH
    assert math.isnan(f64(0x7FF80000DEADBEEF)) and math.isnan(f32(0x7FC00001))
