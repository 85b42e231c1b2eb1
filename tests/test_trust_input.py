"""Issue 11 (Trust), items 9, 10, 11 and 15, through the real CLI (docs/reliability.md).

Each bad input is one line on stderr with the documented exit code, no traceback, and
nothing is written: the database keeps exactly the chains it had, and they still verify.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from actors import HANDLERS, py_manifest, wat_manifest
from conftest import run_cli
from test_reliability import USAGE, Base, assert_intact, chain_ids, copy_db, one_line_error, record_base

from fixtures.build import wat_path
from theater.store import Store

BIG = str(2**64 + 1)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    """A database holding one recorded chain (test_reliability's, by its helper)."""
    return record_base(tmp_path_factory.mktemp("base"))


def _counter_variant(tmp: Path, old: str, new: str, name: str) -> Path:
    """counter.wat with one piece of text replaced (a type, a constant), in tmp."""
    text = wat_path("counter").read_text()
    assert text.count(old) >= 1, old
    p = tmp / f"{name}.wat"
    p.write_text(text.replace(old, new))
    return p


def _manifest(tmp: Path, component: Path | str, body: str = "", handlers: str = HANDLERS) -> Path:
    p = tmp / "m.toml"
    p.write_text(f'name = "x"\ncomponent = "{component}"\n{body}\n' + handlers.format(seed=1))
    return p


def _record(m: Path, db: Path, *more: str) -> list[str]:
    return ["record", str(m), "--db", str(db), "-q", *more]


@dataclass
class Case:
    id: str
    needles: tuple[str, ...]
    args: Callable[[Path, Path, str], list[str]]
    env: dict[str, str] = field(default_factory=dict)


def _int_in_table(tmp: Path, db: Path, chain: str) -> list[str]:
    return _record(_manifest(tmp, wat_path("counter"), f"[meta]\nx = {BIG}\n"), db)


def _int_in_limits(tmp: Path, db: Path, chain: str) -> list[str]:
    return _record(_manifest(tmp, wat_path("counter"), f"[limits]\nfuel = {BIG}\n"), db)


def _int_in_handler(tmp: Path, db: Path, chain: str) -> list[str]:
    return _record(_manifest(tmp, wat_path("counter"), handlers=HANDLERS + f"max_int = {BIG}\n"), db)


def _deep(depth: int) -> Callable[[Path, Path, str], list[str]]:
    def make(tmp: Path, db: Path, chain: str) -> list[str]:
        return _record(_manifest(tmp, wat_path("counter"), "x = " + "[" * depth + "]" * depth), db)

    return make


def _deep_inline_tables(tmp: Path, db: Path, chain: str) -> list[str]:
    return _record(_manifest(tmp, wat_path("counter"), "x = " + "{a = " * 300 + "1" + "}" * 300), db)


BAD_INIT = """(component
  (core module $main (func (export "init") (result i32) (i32.const 42)))
  (core instance $main (instantiate $main))
  (func $init (result u32) (canon lift (core func $main "init")))
  (instance $actor (export "init" (func $init)))
  (export "theater:simple/actor" (instance $actor))
)
"""


def _bad_init(tmp: Path, db: Path, chain: str) -> list[str]:
    (tmp / "bad_init.wat").write_text(BAD_INIT)
    return _record(_manifest(tmp, tmp / "bad_init.wat", handlers=""), db)


def _bad_handle_send(tmp: Path, db: Path, chain: str) -> list[str]:
    wat = _counter_variant(tmp, '(param "params" (tuple (list u8)))', '(param "params" (tuple (list u16)))', "bs")
    return _record(_manifest(tmp, wat), db, "--send", "a")


def _bad_import(tmp: Path, db: Path, chain: str) -> list[str]:
    wat = _counter_variant(tmp, '(param "len" u64) (result (list u8))', '(param "len" u64) (result (list u16))', "bi")
    return _record(_manifest(tmp, wat), db, "--send", "a")


def _huge_max_bytes(tmp: Path, db: Path, chain: str) -> list[str]:
    # the actor asks for 2**40 random bytes; with max_bytes = 2**62 that was a MemoryError
    wat = _counter_variant(tmp, "(call $get_random_bytes (i64.const 4)",
                           "(call $get_random_bytes (i64.const 0x10000000000)", "huge")
    return _record(_manifest(tmp, wat, handlers=HANDLERS + f"max_bytes = {2**62}\n"), db, "--send", "a")


def _dev_zero(tmp: Path, db: Path, chain: str) -> list[str]:
    return _record(_manifest(tmp, "/dev/zero"), db)


def _two_gb(tmp: Path, db: Path, chain: str) -> list[str]:
    big = tmp / "big.wasm"
    with big.open("wb") as f:  # sparse: costs no disk
        f.truncate(2 << 30)
    return _record(_manifest(tmp, big), db)


def _limit_in_manifest(tmp: Path, db: Path, chain: str) -> list[str]:
    return _record(_manifest(tmp, wat_path("counter"), "[limits]\ncomponent_bytes = 1000\n"), db)


def _limit_in_env(tmp: Path, db: Path, chain: str) -> list[str]:
    return _record(_manifest(tmp, wat_path("counter")), db)


def _missing_init_state(tmp: Path, db: Path, chain: str) -> list[str]:
    return _record(_manifest(tmp, wat_path("counter"), 'init_state = "state.bin"'), db)


def _init_state_dev_zero(tmp: Path, db: Path, chain: str) -> list[str]:
    return _record(_manifest(tmp, wat_path("counter"), 'init_state = "/dev/zero"'), db)


CASES = [
    Case("int-beyond-64-bits-in-a-table", ("m.toml", "`meta.x`", "does not fit in 64 bits"), _int_in_table),
    Case("int-beyond-64-bits-in-limits", ("`limits.fuel`", "does not fit in 64 bits"), _int_in_limits),
    Case("int-beyond-64-bits-in-a-handler", ("`handler[1].max_int`", "does not fit in 64 bits"), _int_in_handler),
    Case("toml-300-arrays-deep", ("`x[0][0]", "nested more than 32"), _deep(300)),
    Case("toml-5000-arrays-deep", ("not valid TOML", "nested more than 32"), _deep(5000)),
    Case("toml-300-inline-tables-deep", ("m.toml", "nested"), _deep_inline_tables),
    Case("export-init-wrong-signature", ("bad_init.wat", "exports theater:simple/actor#init as func() -> u32",
                                         "theater:simple signature"), _bad_init),
    Case("export-handle-send-wrong-signature", ("bs.wat", "handle-send as", "tuple<list<u16>>"), _bad_handle_send),
    Case("import-wrong-type", ("get-random-bytes as func(len: u64) -> list<u16>",
                               "the random handler provides func(len: u64) -> list<u8>"), _bad_import),
    Case("max-bytes-above-the-cap", ("handler[1] (random)", "`max_bytes` must be between 0 and 67108864"),
         _huge_max_bytes),
    Case("component-dev-zero", ("/dev/zero", "not a regular file"), _dev_zero),
    Case("component-2-gb", ("big.wasm", "2147483648 bytes, more than the limit of 268435456"), _two_gb),
    Case("component-limit-from-manifest", ("counter.wat", "more than the limit of 1000"), _limit_in_manifest),
    Case("component-limit-from-env", ("counter.wat", "6719 bytes, more than the limit of 100 "), _limit_in_env,
         env={"THEATER_MAX_COMPONENT_BYTES": "100"}),
    Case("events-from-out-of-range", ("'--from'", "not in the range"),
         lambda tmp, db, chain: ["events", chain, "--db", str(db), "--from", BIG]),
    # show's SEQ also takes -N and last (issue 17 item 8), so it is parsed by theater, not click
    Case("show-seq-out-of-range", ("SEQ 1", "larger than any seq"),
         lambda tmp, db, chain: ["show", chain, BIG, "--db", str(db)]),
    Case("replay-until-out-of-range", ("'--until'", "not in the range"),
         lambda tmp, db, chain: ["replay", chain, "--db", str(db), "--until", BIG]),
    Case("busy-timeout-inf", ("THEATER_BUSY_TIMEOUT='inf'", "unset it"),
         lambda tmp, db, chain: ["chains", "--db", str(db)], env={"THEATER_BUSY_TIMEOUT": "inf"}),
    Case("busy-timeout-junk", ("THEATER_BUSY_TIMEOUT='soon'",),
         lambda tmp, db, chain: ["replay", chain, "--db", str(db)], env={"THEATER_BUSY_TIMEOUT": "soon"}),
    Case("missing-init-state", ("init_state", "state.bin", "No such file"), _missing_init_state),  # item 10
    Case("init-state-dev-zero", ("init_state", "/dev/zero", "not a regular file"), _init_state_dev_zero),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(case: Case, base: Base, tmp_path: Path) -> None:
    """issue 11 item 9 (each case was a traceback on main) and item 10 (no stray chain:
    missing-init-state left a 0-event chain that became `last`)."""
    db = copy_db(base, tmp_path / "db")
    before = chain_ids(db)
    r = run_cli(*case.args(tmp_path, db, base.chain), env=case.env)
    one_line_error(r, USAGE, *case.needles)
    assert chain_ids(db) == before, "nothing may be stored for refused input"
    assert_intact(db, base)
    r = run_cli("events", "last", "--db", str(db))
    # a header row and the events: `last` is still the base chain
    assert r.returncode == 0 and r.stdout.count("\n") == base.events + 1, r.stderr


def test_bad_component_leaves_a_new_database_uncreated_chains(tmp_path: Path) -> None:
    """issue 11 item 10: a refused component leaves no chain row in a new database."""
    db = tmp_path / "new.db"
    (tmp_path / "bad_init.wat").write_text(BAD_INIT)
    r = run_cli(*_record(_manifest(tmp_path, tmp_path / "bad_init.wat", handlers=""), db))
    one_line_error(r, USAGE, "theater:simple/actor#init")
    if db.exists():
        with Store(db, create=False) as s:
            assert s.chains() == []


# ------------------------------------------------------------------ item 11: foreign triggers and views

FOREIGN = {
    "trigger": "CREATE TRIGGER rewrite AFTER INSERT ON events BEGIN"
               " UPDATE events SET data = x'00' WHERE rowid = new.rowid; DELETE FROM checkpoints; END",
    "view": "CREATE VIEW recent AS SELECT * FROM chains",
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_database_with_foreign_trigger_or_view_is_refused_for_writing(kind: str, base: Base,
                                                                      tmp_path: Path) -> None:
    """issue 11 item 11: a trigger theater did not create silently rewrote new
    recordings and deleted checkpoints while `record` reported success."""
    db = copy_db(base, tmp_path / "db")
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(FOREIGN[kind])
    conn.close()
    before = chain_ids(db)
    name = "rewrite" if kind == "trigger" else "recent"
    r = run_cli("record", str(wat_manifest(tmp_path, "counter")), "--db", str(db), "-q", "--send", "a")
    one_line_error(r, USAGE, str(db), f"{kind} '{name}'", "theater did not create", "refusing to write")
    r = run_cli("replay", base.chain, "--db", str(db))  # a replay writes a chain too
    one_line_error(r, USAGE, f"{kind} '{name}'")
    assert chain_ids(db) == before
    r = run_cli("verify", base.chain, "--db", str(db))  # reading is still allowed
    assert r.returncode == 0, r.stderr
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"DROP {kind.upper()} {name}")
    conn.close()
    r = run_cli("record", str(wat_manifest(tmp_path, "counter")), "--db", str(db), "-q")
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ item 15: input order

def _export_calls(db: Path, chain: str) -> list[tuple[str, bytes]]:
    """(function, message bytes) of every handle-send/handle-request call, in chain order."""
    import base64

    with Store(db, create=False) as s:
        out = []
        for ev in s.events(chain):
            if ev.type.startswith("export:") and "#handle-" in ev.type:
                msg = ev.payload()["args"]["params"][-1]
                out.append((ev.type.rsplit("#", 1)[1], base64.b64decode(msg.removeprefix("base64:"))))
        return out


def test_send_and_request_keep_the_order_given(tmp_path: Path) -> None:
    """issue 11 item 15: with `--init-param --send`, scanning sys.argv misread the flags
    and recorded the request after the send; click's own parse keeps R before S."""
    m = py_manifest(tmp_path)
    db = tmp_path / "o.db"
    r = run_cli("record", str(m), "--db", str(db), "-q", "--json",
                "--init-param", "--send", "--request", "RRR", "--send", "SSS", "--request=TTT")
    assert r.returncode == 0, r.stderr
    calls = _export_calls(db, orjson.loads(r.stdout)["chain"])
    assert calls == [("handle-request", b"RRR"), ("handle-send", b"SSS"), ("handle-request", b"TTT")], calls


def test_send_and_request_order_in_process(tmp_path: Path) -> None:
    """issue 11 item 15: in-process (CliRunner) sys.argv is pytest's, and the inputs
    were grouped sends first; the order now comes from click's parse."""
    from click.testing import CliRunner

    from theater.cli import cli
    from theater.commands import register

    register(cli)
    m = py_manifest(tmp_path)
    db = tmp_path / "p.db"
    res = CliRunner().invoke(cli, ["record", str(m), "--db", str(db), "-q", "--json",
                                   "--request", "A", "--send", "B", "--request", "C"])
    assert res.exit_code == 0, res.output
    calls = _export_calls(db, orjson.loads(res.stdout)["chain"])
    assert calls == [("handle-request", b"A"), ("handle-send", b"B"), ("handle-request", b"C")], calls


_ = subprocess  # run_cli runs the real CLI in a subprocess


# ------------------------------------------------------------------ item 9: tampered rows, replayed headers

KEY = "(SELECT key FROM chains WHERE id = ?)"  # storage v2 keys events by the chain's integer key
TAMPER = {
    "text-written-at": (f"UPDATE events SET written_at = 'yesterday' WHERE chain = {KEY} AND seq = 1",
                        "malformed event at seq 1: its written_at is text"),
    # in storage v2 an event's type is a row of event_types (seq 1 is the only init)
    "blob-type": (f"UPDATE event_types SET name = CAST(name AS BLOB) WHERE id ="
                  f" (SELECT type FROM events WHERE chain = {KEY} AND seq = 1)",
                  "malformed event at seq 1: its type is a BLOB"),
    "text-seq": (f"UPDATE events SET seq = 'one' WHERE chain = {KEY} AND seq = 1",
                 "malformed event at seq 'one': its seq is text"),
}


@pytest.mark.parametrize("kind", sorted(TAMPER))
def test_tampered_event_rows_are_reported_malformed_with_their_seq(kind: str, base: Base, tmp_path: Path) -> None:
    """issue 11 item 9: rows of the wrong type (SQLite does not enforce types) crashed
    `show`, the TUI data layer, `replay` or `export` with a traceback on main."""
    db = copy_db(base, tmp_path / "db")
    sql, needle = TAMPER[kind]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(sql, (base.chain,))
    conn.close()
    before = chain_ids(db)
    show = ["show", base.chain, "2" if kind == "text-seq" else "1"]
    for args in (["events", base.chain], ["export", base.chain], ["replay", base.chain], show):
        r = run_cli(*args, "--db", str(db))
        if args[0] == "show" and kind == "text-seq":
            assert r.returncode == 0, r.stderr  # seq 2 is intact
            continue
        one_line_error(r, USAGE, base.chain, needle)
        if args[0] in ("export", "replay"):  # `events` streams: the rows before the bad one are shown
            assert r.stdout == "", f"{args[0]} wrote output before refusing: {r.stdout!r}"
    assert chain_ids(db) == before, "the replay must not leave a replay chain behind"
    r = run_cli("verify", base.chain, "--db", str(db))
    # verify reports a hashed column of the wrong type; written_at is not hashed, so it passes
    assert r.returncode == (0 if kind == "text-written-at" else 1) and "Traceback" not in r.stderr, r.stderr
    from theater.store import MalformedEvent
    from tui.data import ChainSource

    with Store(db, create=False) as s:
        src = ChainSource(s, base.chain)
        if kind == "text-seq":  # not a row of the list: seq 1 shows as a gap
            assert src.rows == base.events and src.event(1) is None and src.event(2) is not None
        else:
            with pytest.raises(MalformedEvent, match="malformed event at seq 1"):
                src.event(1)


@pytest.mark.parametrize("limits", ['"lots"', "[1, 2]", '{"fuel": "x"}', '{"fuel": -1}',
                                    f'{{"memory": {2**64}}}'])
def test_replayed_header_with_limits_of_the_wrong_type(limits: str, base: Base, tmp_path: Path) -> None:
    """issue 11 item 9: a header whose `limits` is not a table of positive 64-bit
    integers crashed `replay` (AttributeError, ValueError); now one line, no replay chain."""
    import json

    db = copy_db(base, tmp_path / "db")
    with Store(db, create=False) as s:
        header = orjson.loads(s.chain(base.chain).header)
        header["limits"] = json.loads(limits)
        # stdlib json: it writes integers beyond 64 bits, as a hand-made file can hold
        w = s.create_chain(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
        w.finish("completed")
        victim = w.chain_id
    before = chain_ids(db)
    r = run_cli("replay", victim, "--db", str(db))
    one_line_error(r, USAGE, victim, "malformed header", "limits")
    assert chain_ids(db) == before
