"""Hostile text from an actor or a database never drives the terminal (issue 11 item 6),
and `theater chains` shows the format and whole actor names (issue 11 item 14, chains).

Real recordings of a real WAT actor that logs control sequences, a manifest whose name
is rich markup plus an OSC 52 clipboard write, and databases tampered with sqlite3.
Every text output point is run through the real CLI in a subprocess (a pipe: click
strips CSI sequences there by itself, not OSC, BEL or CR, which is what the checks use).
"""

from __future__ import annotations

import os
import sqlite3

import orjson
import pytest
from actors import wat_path
from conftest import run_cli
from tamper import rename_chain, set_event

from theater.legacy import build_legacy
from theater.text import inert, inert_line

#: an OSC 52 clipboard write, a screen clear, a bell, a carriage return, rich markup
HOSTILE = "\x1b]52;c;aGk=\x07\x1b[2J\rX[/bold][link=http://e]y"
NAME = "[/bold] evil\x1b]0;pwned\x07"
#: control characters that must never reach a terminal raw
RAW = ("\x1b", "\x07", "\r", "\x9b")


def assert_inert(text: str) -> None:
    for c in RAW:
        assert c not in text, f"raw {c!r} in {text!r}"


def hostile_wat(tmp_path, message: str = HOSTILE, name: str = "h.wat"):
    """counter.wat whose init logs ``message`` (and handle-send logs it too)."""
    src = wat_path("counter").read_text()
    data = message.encode()
    escaped = "".join(f"\\{b:02x}" for b in data)
    src = src.replace('(data (i32.const 64) "init")', f'(data (i32.const 64) "{escaped}")')
    src = src.replace("(call $log (i32.const 64) (i32.const 4))", f"(call $log (i32.const 64) (i32.const {len(data)}))")
    src = src.replace('(data (i32.const 68) "handle-send")', '(data (i32.const 512) "handle-send")')
    src = src.replace("(call $log (i32.const 68) (i32.const 11))", "(call $log (i32.const 512) (i32.const 11))")
    path = tmp_path / name
    path.write_text(src)
    return path


def hostile_manifest(tmp_path, wat, name: str = NAME):
    toml_name = name.replace("\x1b", "\\u001b").replace("\x07", "\\u0007")
    path = tmp_path / "h.toml"
    path.write_text(f'name = "{toml_name}"\nversion = "0.1.0"\ncomponent = "{wat}"\n'
                    '[[handler]]\ntype = "runtime"\n[[handler]]\ntype = "random"\nseed = 1\n')
    return path


@pytest.fixture
def recorded(tmp_path):
    db = tmp_path / "h.db"
    m = hostile_manifest(tmp_path, hostile_wat(tmp_path))
    r = run_cli("record", str(m), "--db", str(db), "--send", "x", "--init-param", HOSTILE)
    return db, m, r


def test_inert_escapes_controls_and_keeps_newline_and_tab():
    """issue 11 item 6: the one function every output point uses."""
    assert inert("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert inert("\x07\r\x00\x7f\x9b") == "\\x07\\x0d\\x00\\x7f\\x9b"
    assert inert("line\n\tindented") == "line\n\tindented"
    assert inert("\u202eevil") == "\\u202eevil"  # a bidi override reorders what is read
    assert inert("café [/bold] ✓") == "café [/bold] ✓"  # printable text, markup and all, is untouched
    assert inert_line("a\nb\tc") == "a\\x0ab\\x09c"
    assert inert(42) == "42"


def test_record_log_lines_are_inert(recorded):
    """issue 11 item 6: record's live [log] lines on stderr."""
    db, m, r = recorded
    assert r.returncode == 0, r.stderr
    assert_inert(r.stderr + r.stdout)
    logs = [line for line in r.stderr.splitlines() if line.startswith("[log] ")]
    assert logs[0] == "[log] " + inert(HOSTILE)
    assert "\\x1b]52;c;aGk=\\x07" in logs[0]


def test_chains_events_show_verify_are_inert(recorded):
    """issue 11 item 6: chains, events, show and verify on a hostile recording."""
    db, m, r = recorded
    assert r.returncode == 0, r.stderr
    out = run_cli("chains", "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert_inert(out.stdout)
    assert inert_line(NAME) in out.stdout  # the whole name, escaped, markup shown as text
    out = run_cli("events", "last", "--db", str(db))
    assert out.returncode == 0 and out.stdout.count("\n") == 7  # a header row and 6 events
    for seq in range(6):
        out = run_cli("show", "last", str(seq), "--db", str(db))
        assert out.returncode == 0, out.stderr
        assert_inert(out.stdout + out.stderr)
    out = run_cli("verify", "--db", str(db))
    assert out.returncode == 0 and out.stdout.startswith("ok ")


def test_json_outputs_stay_valid_and_exact(recorded):
    """issue 11 item 6: --json is valid JSON, control characters escaped by the JSON
    rules, and decodes to the exact recorded strings. A guard, not a fix: orjson already
    escaped C0 controls on main, and this keeps it so."""
    db, m, r = recorded
    out = run_cli("chains", "--db", str(db), "--json")
    assert_inert(out.stdout)
    assert orjson.loads(out.stdout)[0]["actor"] == NAME
    out = run_cli("events", "last", "--db", str(db), "--json")
    assert_inert(out.stdout)
    evs = orjson.loads(out.stdout)
    assert evs[0]["data"]["args"]["msg"] == HOSTILE
    assert evs[1]["data"]["args"]["params"] == [HOSTILE]
    out = run_cli("show", "last", "0", "--db", str(db), "--json")
    assert_inert(out.stdout)
    assert orjson.loads(out.stdout)["data"]["args"]["msg"] == HOSTILE


def tamper_type(db, seq: int, type_: str, chain: str | None = None) -> None:
    conn = sqlite3.connect(db)
    with conn:
        row = conn.execute("SELECT id FROM chains ORDER BY created DESC LIMIT 1").fetchone()
        set_event(conn, chain or row[0], seq, type=type_)
    conn.close()


def test_tampered_type_in_events_show_verify_diff_replay(recorded, tmp_path):
    """issue 11 item 6: a type rewritten in the database (C1 CSI, OSC, CR) is escaped by
    events, show, verify, diff and replay's divergence report."""
    db, m, r = recorded
    assert r.returncode == 0, r.stderr
    good = run_cli("record", str(m), "--db", str(db), "--send", "x", "--init-param", HOSTILE)
    assert good.returncode == 0, good.stderr
    ids = [c["id"] for c in orjson.loads(run_cli("chains", "--db", str(db), "--json").stdout)]
    evil = "host:theater:simple/runtime#log\x9b2J\x1b]52;c;aGk=\x07\r"
    tamper_type(db, 0, evil, ids[1])
    out = run_cli("events", ids[1], "--db", str(db))
    assert out.returncode == 0 and inert_line(evil) in out.stdout
    assert_inert(out.stdout)
    out = run_cli("show", ids[1], "0", "--db", str(db))
    assert out.returncode == 0 and inert_line(evil) in out.stdout
    assert_inert(out.stdout)
    out = run_cli("verify", ids[1], "--db", str(db))
    assert out.returncode == 1 and "FAILED" in out.stderr
    assert_inert(out.stdout + out.stderr)
    out = run_cli("diff", ids[0], ids[1], "--db", str(db))
    assert out.returncode == 1, out.stderr
    assert inert_line(evil) in out.stdout
    assert_inert(out.stdout + out.stderr)
    out = run_cli("replay", ids[1], "--db", str(db))
    assert_inert(out.stdout + out.stderr)
    assert "diverged at event 0: " in out.stdout and inert_line(evil) in out.stdout, out.stdout


def test_error_lines_quoting_the_database_are_inert(recorded):
    """issue 11 item 6: an error message that quotes database content (a chain id)."""
    db, m, r = recorded
    conn = sqlite3.connect(db)
    with conn:
        old = conn.execute("SELECT id FROM chains").fetchone()[0]
        new = "\x1b]52;c;aGk=\x07" + old
        rename_chain(conn, old, new)
    conn.close()
    out = run_cli("show", "last", "99", "--db", str(db))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "\\x1b]52" in out.stderr and "has no event 99" in out.stderr
    assert_inert(out.stderr)
    out = run_cli("chains", "--db", str(db))
    assert_inert(out.stdout)
    assert inert_line(new) in out.stdout


def test_chains_shows_format_and_whole_actor_names(tmp_path):
    """issue 11 item 14 (chains): a FORMAT column (v1, legacy) and actor names in full
    when printed into a pipe (today cut to 20 characters without a mark)."""
    db = tmp_path / "f.db"
    long_name = "an-actor-whose-name-is-much-longer-than-twenty-characters"
    m = hostile_manifest(tmp_path, wat_path("counter"), name=long_name)
    assert run_cli("record", str(m), "--db", str(db)).returncode == 0
    legacy = tmp_path / "up.json"
    legacy.write_bytes(orjson.dumps(build_legacy([("wasm\x1b]0;x\x07", b'{"a":1}')])))
    r = run_cli("import", str(legacy), "--db", str(db))
    assert r.returncode == 0, r.stderr
    out = run_cli("chains", "--db", str(db))
    assert out.returncode == 0
    header, *rows = out.stdout.splitlines()
    assert header.split()[:3] == ["ID", "ACTOR", "FORMAT"]
    assert len(rows) == 2
    assert rows[0].split()[1:3] == [long_name, "v1"]
    assert rows[1].split()[2] == "legacy"
    assert "…" not in out.stdout
    out = run_cli("events", "last", "--db", str(db))
    assert inert_line("wasm\x1b]0;x\x07") in out.stdout
    assert_inert(out.stdout)


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_chains_cuts_a_name_only_to_fit_the_terminal(tmp_path):
    """issue 11 item 14 (chains): on a terminal a long name is cut to fit its width,
    with an ellipsis; a short one is never cut."""
    from tui_helpers import Terminal

    db = tmp_path / "f.db"
    long_name = "x" * 150
    m = hostile_manifest(tmp_path, wat_path("counter"), name=long_name)
    assert run_cli("record", str(m), "--db", str(db)).returncode == 0
    m = hostile_manifest(tmp_path, wat_path("counter"), name="short")
    assert run_cli("record", str(m), "--db", str(db)).returncode == 0
    term = Terminal("chains", "--db", str(db), size=(130, 24))
    assert term.read_until(b"short")
    assert term.close() == 0
    lines = [line for line in term.output.decode().splitlines() if line.strip()]
    assert len(lines) == 3 and all(len(line) <= 130 for line in lines), lines
    cut = lines[1].split()[1]
    assert cut.endswith("…") and cut[:-1] == "x" * (len(cut) - 1) and len(cut) >= 12
    assert lines[2].split()[1] == "short"
