"""Tamper corpus: every mutant of a chain fails with its expected class and first bad seq;
the unmutated chain and 1,000 clean generated chains pass.

Source chains: a synthetic recording built with the library (random results from
ChaCha20Rng in the recorder's exact formats, see test_random_audit.synth_events) and
a real recording of fixtures/wat/counter.wat made with `theater record`.
Expected outcomes are derived from what each mutation does (the rules in
docs/verification.md), never from running the verifier; seed forgeries are located by
an independent oracle that regenerates each draw's canonical bytes.

Storage v2 (issue 18 item 1) keeps no parent: rows here are the interchange shape
``(seq, hash, parent, type, data, written_at)`` that exports and imports carry, and
the walk never reads their parent. So there is no parent to flip, and a moved,
removed or spliced event re-hashed on its own parent is a ``hash_mismatch`` where it
no longer follows the hash before it (the v1 layout called that ``parent_mismatch``,
and ``header_mismatch`` at seq 0).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from conftest import run_cli
from tamper import insert_rows, loose_events
from test_random_audit import OPS, rows_of, synth_events, synth_header

from theater import ChaCha20Rng
from theater.chain import canonical_json, event_hash, genesis_hash, host_type
from theater.checkpoint import checkpoint_body, generate_key, parse_checkpoint, sign_checkpoint, sign_note
from theater.store import Store
from verify.audit import audit_chain, audit_rows
from verify.checkpoints import CheckpointItem
from verify.results import FailureKind

ORDER = list(FailureKind)
KEY = generate_key("corpus")
STRANGER = generate_key("stranger")


@dataclass
class Ctx:
    """A source chain: id, header, stored rows, seed, and the sizes it has checkpoints at."""

    chain: str
    header: bytes
    rows: list[tuple]
    seed: int
    mid: int
    other: list[tuple] = field(default_factory=list)  # rows of another chain, for splices

    @property
    def n(self) -> int:
        return len(self.rows)

    def cp(self, size: int, head: bytes | None = None, keys=(KEY,), source: str = "") -> CheckpointItem:
        head = head if head is not None else (self.rows[size - 1][1] if size else genesis_hash(self.header))
        note = sign_note(checkpoint_body(self.chain, size, head), list(keys))
        return CheckpointItem(parse_checkpoint(note), source or f"cp@{size}")

    def cps(self) -> list[CheckpointItem]:
        return [self.cp(self.mid), self.cp(self.n)]


@dataclass
class Mutant:
    name: str
    rows: list[tuple]
    kind: FailureKind
    seq: int | None
    header: bytes | None = None
    cps: list[CheckpointItem] | None = None
    audit: bool = True


# -- row surgery ---------------------------------------------------------------------


def stored_order(rows: list[tuple]) -> list[tuple]:
    """What the store returns: ORDER BY seq, rowid (insertion order breaks ties)."""
    return [r for _, r in sorted(enumerate(rows), key=lambda p: (p[1][0], p[0]))]


def rehash(rows: list[tuple], start: int, header: bytes) -> list[tuple]:
    """Renumber from ``start`` and re-hash to the end: a consistent rewrite."""
    out = list(rows[:start])
    head = out[-1][1] if out else genesis_hash(header)
    for i, r in enumerate(rows[start:], start):
        h = event_hash(i, head, r[3], r[4])
        out.append((i, h, head, r[3], r[4], r[5]))
        head = h
    return out


def self_consistent(r: tuple, seq: int) -> tuple:
    """Row re-hashed at ``seq`` keeping its own parent (it verifies alone, not in place)."""
    return (seq, event_hash(seq, r[2], r[3], r[4]), r[2], r[3], r[4], r[5])


def flip(b: bytes, i: int, bit: int = 0) -> bytes:
    b = bytearray(b)
    b[i % len(b)] ^= 1 << bit
    return bytes(b)


def is_draw(r: tuple) -> bool:
    return r[3].startswith("host:wasi:random/") and b'"result"' in r[4]


def first_forged_draw(seed: int, rows: list[tuple]) -> int | None:
    """Oracle: regenerate each draw's canonical bytes from the seed; first seq that differs."""
    rng = ChaCha20Rng.seed_from_u64(seed)
    for r in rows:
        if not is_draw(r):
            continue
        body = orjson.loads(r[4])
        fn = r[3].rsplit("#", 1)[1]
        if fn.endswith("bytes"):
            n = body["args"]["len"]
            want: Any = "base64:" + base64.b64encode(rng.fill_bytes(n)).decode()
        elif fn == "insecure-seed":
            want = [rng.next_u64(), rng.next_u64()]
        else:
            want = rng.next_u64()
        if canonical_json({"args": body["args"], "result": want}) != r[4]:
            return r[0]
    return None


def expect_rewrite(ctx: Ctx, rows: list[tuple], first_changed: int, *, seed: int | None = None,
                   audit: bool = True, cps: bool = True,
                   integrity: tuple[FailureKind, int] | None = None) -> tuple[FailureKind, int]:
    """The first finding for a chain whose events from ``first_changed`` on were rewritten
    (docs/verification.md). The walk verifies up to an integrity failure (if any);
    within what it verified: a forged draw -> random_mismatch there; a checkpoint at or
    after the first changed event -> fork at size - 1. A checkpoint beyond a chain that
    verified to its end -> truncated at its length."""
    found: list[tuple[int, FailureKind]] = []
    verified = len(rows)
    if integrity is not None:
        found.append((integrity[1], integrity[0]))
        verified = integrity[1]
    if audit:
        k = first_forged_draw(ctx.seed if seed is None else seed, rows[:verified])
        if k is not None:
            found.append((k, FailureKind.RANDOM_MISMATCH))
    if cps:
        for size in (ctx.mid, ctx.n):
            if size > verified:
                if integrity is None:
                    found.append((verified, FailureKind.TRUNCATED))
            elif first_changed < size:
                found.append((size - 1, FailureKind.FORK))
    seq, kind = min(found, key=lambda f: (f[0], ORDER.index(f[1])))
    return kind, seq


def doctor_draw(r: tuple) -> tuple:
    body = orjson.loads(r[4])
    res = body["result"]
    if isinstance(res, str):
        raw = base64.b64decode(res[7:])
        body["result"] = "base64:" + base64.b64encode(flip(raw, len(raw) // 2) if raw else b"\0").decode()
        if not raw:
            body["args"]["len"] = 1
    elif isinstance(res, list):
        body["result"] = [res[0] ^ 1, res[1]]
    else:
        body["result"] = res ^ (1 << 40)
    return (r[0], r[1], r[2], r[3], canonical_json(body), r[5])


# -- the corpus --------------------------------------------------------------------------


def make_mutants(ctx: Ctx, sample: list[int]) -> list[Mutant]:
    rows, n, hdr = ctx.rows, ctx.n, ctx.header
    M: list[Mutant] = []
    add = M.append
    for k in sample:
        r = rows[k]
        for bit in (0, 3, 7):
            add(Mutant(f"data bit {bit} @{k}", _put(rows, k, (r[0], r[1], r[2], r[3], flip(r[4], k + bit, bit), r[5])),
                       FailureKind.HASH_MISMATCH, k))
            add(Mutant(f"hash bit {bit} @{k}", _put(rows, k, (r[0], flip(r[1], k, bit), *r[2:])),
                       FailureKind.HASH_MISMATCH, k))
        for i in (0, len(r[3]) // 2, len(r[3]) - 1):  # bit 0 of an ASCII byte keeps it ASCII
            t = flip(r[3].encode(), i).decode()
            add(Mutant(f"type byte {i} @{k}", _put(rows, k, (r[0], r[1], r[2], t, r[4], r[5])),
                       FailureKind.HASH_MISMATCH, k))
        for bit in (0, 1, 4, 20):
            new = k ^ (1 << bit)
            kind, seq = (FailureKind.SEQUENCE_GAP, k) if new > k else (FailureKind.DUPLICATE, new)
            add(Mutant(f"seq bit {bit} @{k}", stored_order(_put(rows, k, (new, *r[1:]))), kind, seq))
        add(Mutant(f"hash cut @{k}", _put(rows, k, (r[0], r[1][:31], *r[2:])), FailureKind.MALFORMED, k))
        add(Mutant(f"data as text @{k}", _put(rows, k, (*r[:4], r[4].decode("latin-1"), r[5])),
                   FailureKind.MALFORMED, k))
        add(Mutant(f"empty type @{k}", _put(rows, k, (*r[:3], "", *r[4:])), FailureKind.MALFORMED, k))
        add(Mutant(f"seq as text @{k}", _put(rows, k, (str(k), *r[1:])), FailureKind.MALFORMED, k))
        add(Mutant(f"duplicate same seq @{k}", stored_order(rows + [r]), FailureKind.DUPLICATE, k))
        if k + 1 < n:
            a, b = rows[k], rows[k + 1]
            add(Mutant(f"swap @{k}", rows[:k] + [(k, *b[1:]), (k + 1, *a[1:])] + rows[k + 2:],
                       FailureKind.HASH_MISMATCH, k))
            link = FailureKind.HASH_MISMATCH  # v2: no stored parent to disagree with
            add(Mutant(f"swap re-hashed rows @{k}",
                       rows[:k] + [self_consistent(b, k), self_consistent(a, k + 1)] + rows[k + 2:], link, k))
            sw = rehash(rows[:k] + [b, a] + rows[k + 2:], k, hdr)
            after_end = (FailureKind.MALFORMED, k + 1) if b[3] == "end" else None  # the end moved up
            add(Mutant(f"swap rewritten @{k}", sw, *expect_rewrite(ctx, sw, k, integrity=after_end)))
            add(Mutant(f"delete @{k}", rows[:k] + rows[k + 1:], FailureKind.SEQUENCE_GAP, k))
            add(Mutant(f"delete renumbered @{k}", rows[:k] + [(i, *x[1:]) for i, x in enumerate(rows[k + 1:], k)],
                       FailureKind.HASH_MISMATCH, k))
            add(Mutant(f"delete re-hashed rows @{k}",
                       rows[:k] + [self_consistent(x, i) for i, x in enumerate(rows[k + 1:], k)], link, k))
            de = rehash(rows[:k] + rows[k + 1:], k, hdr)
            add(Mutant(f"delete rewritten @{k}", de, *expect_rewrite(ctx, de, k)))
            dup = rows[:k + 1] + [(i, *x[1:]) for i, x in enumerate(rows[k:], k + 1)]
            add(Mutant(f"duplicate shifted @{k}", dup, FailureKind.DUPLICATE, k + 1))
            if k + 1 < len(ctx.other) and ctx.other[k][3:5] != r[3:5]:  # a different event
                o = ctx.other[k]
                add(Mutant(f"splice @{k}", _put(rows, k, o), FailureKind.HASH_MISMATCH, k))
                sp = rehash(_put(rows, k, o), k, hdr)
                add(Mutant(f"splice rewritten @{k}", sp, *expect_rewrite(ctx, sp, k)))
        ins_type = host_type("theater:simple/runtime", "log")
        ins_data = canonical_json({"args": {"msg": "inserted"}, "result": None})
        parent = rows[k - 1][1] if k else genesis_hash(hdr)
        ins = (k, event_hash(k, parent, ins_type, ins_data), parent, ins_type, ins_data, None)
        ir = rows[:k] + [ins] + [(i, *x[1:]) for i, x in enumerate(rows[k:], k + 1)]
        # the inserted event itself verifies: a checkpoint over it can see it first
        add(Mutant(f"insert @{k}", ir, *expect_rewrite(ctx, ir, k, integrity=(FailureKind.HASH_MISMATCH, k + 1))))
        add(Mutant(f"insert same seq @{k}", stored_order(rows + [ins]), FailureKind.DUPLICATE, k))
        it = rehash(rows[:k] + [ins] + rows[k:], k, hdr)
        add(Mutant(f"insert rewritten @{k}", it, *expect_rewrite(ctx, it, k)))
        if k < n - 1:
            add(Mutant(f"tail cut @{k}", rows[:k], FailureKind.TRUNCATED, k))
        if is_draw(r):
            fr = rehash(_put(rows, k, doctor_draw(r)), k, hdr)
            add(Mutant(f"forged draw rewritten @{k}", fr, *expect_rewrite(ctx, fr, k)))
            add(Mutant(f"forged draw, audit only @{k}", fr, FailureKind.RANDOM_MISMATCH, k, cps=[]))
            add(Mutant(f"forged draw, checkpoint only @{k}", fr, *expect_rewrite(ctx, fr, k, audit=False),
                       audit=False))
    # the header
    hobj = orjson.loads(hdr)
    other_actor = canonical_json({**hobj, "actor": hobj["actor"] + "!"})
    add(Mutant("header changed", rows, FailureKind.HASH_MISMATCH, 0, header=other_actor))
    hr = rehash(rows, 0, other_actor)
    add(Mutant("header changed, rewritten", hr, *expect_rewrite(ctx, hr, 0), header=other_actor))
    other_seed = canonical_json({**hobj, "seed": ctx.seed ^ 1})
    sr = rehash(rows, 0, other_seed)
    add(Mutant("seed changed, rewritten", sr, *expect_rewrite(ctx, sr, 0, seed=ctx.seed ^ 1), header=other_seed))
    # after the end, and the checkpoints themselves
    last = rows[-1]
    extra = (n, event_hash(n, last[1], "host:x#y", b"{}"), last[1], "host:x#y", b"{}", None)
    add(Mutant("event after end", rows + [extra], FailureKind.MALFORMED, n))
    good = ctx.cps()
    bad_sig = good[0].checkpoint.text[:-20] + ("A" if good[0].checkpoint.text[-20] != "A" else "B") + \
        good[0].checkpoint.text[-19:]
    add(Mutant("checkpoint signature bit", rows, FailureKind.BAD_SIGNATURE, None,
               cps=[CheckpointItem(parse_checkpoint(bad_sig), "bad"), good[1]]))
    resized = good[0].checkpoint.text.replace(f"\n{ctx.mid}\n", f"\n{ctx.mid - 1}\n", 1)
    add(Mutant("checkpoint size edited", rows, FailureKind.BAD_SIGNATURE, None,
               cps=[CheckpointItem(parse_checkpoint(resized), "edited"), good[1]]))
    add(Mutant("checkpoint by a stranger", rows, FailureKind.BAD_SIGNATURE, None,
               cps=[ctx.cp(ctx.n, keys=(STRANGER,))]))
    add(Mutant("no checkpoint at all", rows, FailureKind.BAD_SIGNATURE, None, cps=[]))
    add(Mutant("two heads for one size", rows, FailureKind.FORK, ctx.mid - 1,
               cps=good + [ctx.cp(ctx.mid, head=bytes(32), source="rival")]))
    add(Mutant("smaller checkpoint off the chain", rows, FailureKind.FORK, 2,
               cps=good + [ctx.cp(3, head=rows[3][1], source="off")]))
    foreign = sign_note(checkpoint_body("f" * 16, n, last[1]), [KEY])
    add(Mutant("checkpoint of another chain", rows, FailureKind.MALFORMED, None,
               cps=good + [CheckpointItem(parse_checkpoint(foreign), "foreign")]))
    return M


def _put(rows: list[tuple], k: int, row: tuple) -> list[tuple]:
    return rows[:k] + [row] + rows[k + 1:]


def run(ctx: Ctx, m: Mutant):
    cps = ctx.cps() if m.cps is None else m.cps
    return audit_rows(ctx.chain, "v1", m.header or ctx.header, m.rows, keys=[KEY.public()],
                      checkpoints=cps, audit_random=m.audit, require_checkpoint=True)


def check_corpus(ctx: Ctx, sample: list[int], report: Callable[[str], None]) -> int:
    clean = run(ctx, Mutant("clean", ctx.rows, FailureKind.MALFORMED, None))
    assert clean.ok, clean.problem
    assert clean.random_checked and [c["status"] for c in clean.checkpoints] == ["ok", "ok"]
    mutants = make_mutants(ctx, sample)
    missed = []
    for m in mutants:
        r = run(ctx, m)
        got = None if r.problem is None else (r.problem.kind, r.problem.seq)
        if got != (m.kind, m.seq):
            missed.append(f"{m.name}: expected {m.kind}@{m.seq}, got {got}")
    report(f"tamper corpus ({ctx.chain}): {len(mutants)} mutants tried, "
           f"{len(mutants) - len(missed)} caught with the expected class and seq")
    assert not missed, "\n".join(missed[:20])
    return len(mutants)


@pytest.fixture(scope="module")
def synthetic() -> Ctx:
    seed = 4242
    header = synth_header(seed)
    rows = rows_of(header, synth_events(seed, OPS + OPS))
    other = rows_of(synth_header(seed + 1, actor="other"), synth_events(seed + 1, OPS + OPS))
    return Ctx("c0ffee00c0ffee00", header, rows, seed, mid=12, other=other)


def test_synthetic_chain_corpus(synthetic, capsys):
    ctx = synthetic
    n = check_corpus(ctx, list(range(ctx.n)), lambda s: _say(capsys, s))
    assert n > 1000


def _say(capsys, text: str) -> None:
    with capsys.disabled():
        print("\n" + text)


def test_mutants_through_the_store_and_cli(synthetic, tmp_path):
    """A sample of mutants written to a real SQLite file, verified by the real CLI."""
    ctx = synthetic
    names = {"data bit 0 @5", "seq bit 1 @12", "swap re-hashed rows @7", "delete @20",
             "splice @0", "forged draw rewritten @1", "delete rewritten @13", "header changed"}
    picked = [m for m in make_mutants(ctx, [0, 1, 5, 7, 12, 13, 20]) if m.name in names]
    assert len(picked) == len(names)
    db = tmp_path / "m.db"
    pub = tmp_path / "k.pub"
    pub.write_text(KEY.public().encode() + "\n")
    ids = []
    with Store(db) as s:
        for m in picked:
            cid = _store_rows(s, m.header or ctx.header, m.rows, length=ctx.n)
            for size in (ctx.mid, ctx.n):  # the honest writer's checkpoints, over the clean chain
                note = sign_note(checkpoint_body(cid, size, ctx.rows[size - 1][1]), [KEY])
                s.conn.execute("INSERT INTO checkpoints (chain, size, head, key_id, note, created)"
                               " VALUES (?, ?, ?, ?, ?, 0)", (cid, size, ctx.rows[size - 1][1], "", note))
            ids.append(cid)
            r = audit_chain(s, cid, keys=[KEY.public()], audit_random=True)
            assert (r.problem.kind, r.problem.seq) == (m.kind, m.seq), m.name
    for m, cid in list(zip(picked, ids, strict=True))[:4]:
        r = run_cli("verify", cid, "--db", str(db), "--key", str(pub), "--audit-random", "--json")
        assert r.returncode == 1, m.name
        p = orjson.loads(r.stdout)["problem"]
        assert (p["class"], p["seq"]) == (str(m.kind), m.seq), m.name


def _store_rows(s: Store, header: bytes, rows: list[tuple], *, length: int) -> str:
    cid = s.create_chain(header).chain_id
    if len({r[0] for r in rows}) < len(rows):
        loose_events(s)  # a tamperer can drop constraints (the primary key on chain and seq)
    insert_rows(s, cid, rows)
    s.conn.execute("UPDATE chains SET length=?, status='complete' WHERE id=?", (min(length, len(rows)), cid))
    return cid


def test_real_recording_corpus(tmp_path, capsys, synthetic):
    """The same corpus over a chain `theater record` made from fixtures/wat/counter.wat."""
    from actors import wat_manifest

    manifest = wat_manifest(tmp_path, "counter", seed=99)
    db = tmp_path / "rec.db"
    sends = [f"--send={m}" for m in ("a", "bb", "ccc", "dddd", "e")]
    r = run_cli("record", str(manifest), "--db", str(db), "-q", "--json", *sends)
    assert r.returncode == 0, r.stderr
    cid = orjson.loads(r.stdout)["chain"]
    with Store(db) as s:
        info = s.chain(cid)
        rows = list(s.event_rows(cid))
        sign_checkpoint(s, cid, KEY)
    assert orjson.loads(info.header)["seed"] == 99 and len(rows) == 18
    ctx = Ctx(cid, info.header, rows, 99, mid=9, other=synthetic.rows)
    check_corpus(ctx, list(range(ctx.n)), lambda s: _say(capsys, s))
    pub = tmp_path / "k.pub"
    pub.write_text(KEY.public().encode() + "\n")
    r = run_cli("verify", cid, "--db", str(db), "--key", str(pub), "--audit-random")
    assert r.returncode == 0 and "5 random draw(s) match the seed" in r.stdout


def test_a_thousand_clean_chains_pass(tmp_path):
    rnd = random.Random(1000)
    kinds = ["bytes", "u64", "insecure-bytes", "insecure-u64", "seed", "refused", "log", "export"]
    ifaces = ["wasi:random/random@0.2.3", "wasi:random/random@0.2.9"]
    store = Store(tmp_path / "clean.db")
    through_store = 0
    for i in range(1000):
        ops: list[tuple] = []
        for _ in range(rnd.randrange(0, 9)):
            k = rnd.choice(kinds)
            if k in ("bytes", "refused"):
                ops.append((k, rnd.choice(ifaces), rnd.randrange(0, 70)))
            elif k == "u64":
                ops.append((k, rnd.choice(ifaces)))
            elif k == "insecure-bytes":
                ops.append((k, rnd.randrange(0, 70)))
            elif k == "log":
                ops.append((k, f"m{i}"))
            else:
                ops.append((k,))
        seed = rnd.getrandbits(64)
        header, events = synth_header(seed, actor=f"a{i}"), synth_events(seed, ops)
        if i % 40 == 0:  # some through a real SQLite file, with stored checkpoints
            w = store.create_chain(header)
            for t, d in events[: rnd.randrange(1, len(events) + 1)]:
                w.append(t, d)
            w.flush()
            sign_checkpoint(store, w.chain_id, KEY, size=rnd.randrange(0, w.length + 1))
            sign_checkpoint(store, w.chain_id, KEY)
            r = audit_chain(store, w.chain_id, keys=[KEY.public()], audit_random=True)
            through_store += 1
        else:
            rows = rows_of(header, events)
            size = rnd.randrange(0, len(rows) + 1)
            ctx = Ctx(f"{i:016x}", header, rows, seed, mid=size)
            # signed at a random size and at the end (a complete chain's end must be signed)
            r = audit_rows(ctx.chain, "v1", header, rows, keys=[KEY.public()],
                           checkpoints=[ctx.cp(size), ctx.cp(len(rows))], audit_random=True)
        assert r.ok, (i, r.problem)
    store.close()
    assert through_store == 25
