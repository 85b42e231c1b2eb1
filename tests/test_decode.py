"""The one decoder of byte values (theater/decode.py), `theater show` decoding them, seqs
counted from the end, and `theater export --from/--to` (issue 17 items 1, 6 and 8).

Chains are real SQLite files written through the library (tests/tui_helpers.py), a legacy
chain is imported through the real CLI, and a tampered row is written with SQL."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from conftest import run_cli
from tamper import set_event
from tui_helpers import demo_db

from theater.decode import Encoding, View, byte_values, decode_bytes, hex_width, pretty_json, render
from theater.legacy import build_legacy
from theater.state import StateEncoding, decode_state
from theater.store import Store


@pytest.fixture
def demo(tmp_path: Path) -> tuple[str, dict[str, str]]:
    path = tmp_path / "demo.db"
    return str(path), demo_db(path)


# -- the decoder ------------------------------------------------------------------


@pytest.mark.parametrize("raw,encoding", [
    (b'{"a": 1}', Encoding.JSON),
    (b"12", Encoding.JSON),
    (b"hello\nworld\t!", Encoding.TEXT),
    ("caf\u00e9".encode(), Encoding.TEXT),
    (b"hi \x1b[2J", Encoding.BINARY),  # UTF-8 but not printable
    (b"\xff\xfe", Encoding.BINARY),
    (None, Encoding.NONE),
])
def test_decode_bytes_picks_json_then_printable_text_then_hex(raw: bytes | None, encoding: Encoding) -> None:
    """issue 17 item 1: JSON when the bytes parse, text when printable UTF-8, hex otherwise;
    `decode_state` is the same decoder."""
    assert decode_bytes(raw)[0] == encoding
    assert decode_state(raw) == decode_bytes(raw) and StateEncoding is Encoding
    if encoding is Encoding.BINARY:
        assert decode_bytes(raw)[1] == raw.hex()  # type: ignore[union-attr]


def test_render_views_and_the_not_json_label() -> None:
    """issue 17 item 1: each view of the same bytes; JSON of non-JSON bytes says so."""
    state = b'{"count":3,"ids":[1,2,3]}'
    assert render(state).view == View.JSON and '"ids": [1, 2, 3]' in render(state).text
    assert render(state, View.TEXT).text == state.decode()
    assert render(state, View.HEX).text.startswith("00000000  7b 22 63 6f")
    r = render(b"plain words", View.JSON)
    assert (r.view, r.note, r.text, r.label) == (View.TEXT, "(not JSON)", "plain words", "text (not JSON)")
    r = render(b"\x00\xff\x1b", View.JSON)
    assert r.label == "hex (not JSON)" and "\x1b" not in r.text
    r = render(b"ok \xff\x1b[31m", View.TEXT)  # replaced, and no escape sequence survives
    assert r.note == "(not UTF-8)" and "\x1b" not in r.text and "\\x1b[31m" in r.text
    assert [v for v in View] == [View.AUTO, View.TEXT, View.JSON, View.HEX]
    assert View.HEX.next() is View.AUTO and View.AUTO.next() is View.TEXT


@pytest.mark.parametrize("cells", [24, 40, 58, 80, 160])
def test_hexdump_fits_the_width(cells: int) -> None:
    """issue 17 item 1: every hex-dump line fits the pane it is drawn in."""
    text = render(bytes(range(256)), View.HEX, width=cells).text
    assert all(len(line) <= max(cells, 10 + 3 * 4 + 1 + 4) for line in text.splitlines())
    assert len(text.splitlines()) == 256 // hex_width(cells)


def test_pretty_json_keeps_arrays_of_numbers_on_one_line() -> None:
    """issue 17 item 1: a list of numbers is not one number per line."""
    assert pretty_json({"a": [1, 2], "b": {"c": [{"d": None}]}}) == (
        '{\n  "a": [1, 2],\n  "b": {\n    "c": [\n      {\n        "d": null\n      }\n    ]\n  }\n}')


def test_byte_values_base64_everywhere_and_legacy_arrays() -> None:
    """issue 17 item 1: every base64 value is found; byte arrays only in legacy chains."""
    payload = {"args": {"msg": "base64:aGk=", "n": [1, 2]}, "result": [{"some": "base64:AAE="}]}
    assert list(byte_values(payload)) == [("args.msg", b"hi"), ("result[0].some", b"\x00\x01")]
    legacy = {"input": [49, 48], "output": [300], "params": []}
    assert list(byte_values(legacy, legacy=True)) == [("input", b"10")]
    assert list(byte_values(legacy)) == []


# -- theater show -----------------------------------------------------------------


def test_show_decodes_byte_values(demo: tuple[str, dict[str, str]]) -> None:
    """issue 17 item 1: `show` decodes each byte value (the state as JSON, a message as
    text, random bytes as hex); --view forces one view; --raw is the output before."""
    db, ids = demo
    r = run_cli("show", ids["recording"], "4", "--db", db)  # init: returns {"count":0}
    assert r.returncode == 0, r.stderr
    assert "data        " in r.stdout and "bytes, JSON" in r.stdout
    assert 'result.ok[0].some  11 bytes, JSON\n  {\n    "count": 0\n  }' in r.stdout
    r = run_cli("show", ids["recording"], "7", "--db", db)  # handle-send: msg "ping 0"
    assert "args.msg  6 bytes, text\n  ping 0\n" in r.stdout
    r = run_cli("show", ids["recording"], "1", "--db", db)  # 16 random bytes
    assert "result  16 bytes, hex\n  00000000  " in r.stdout
    r = run_cli("show", ids["recording"], "4", "--db", db, "--view", "hex")
    assert "result.ok[0].some  11 bytes, hex\n  00000000  7b 22 63 6f 75 6e 74 22" in r.stdout
    r = run_cli("show", ids["recording"], "4", "--db", db, "--raw")
    assert r.returncode == 0 and "bytes, JSON" not in r.stdout and "result.ok" not in r.stdout
    assert '"some": "base64:eyJjb3VudCI6MH0="' in r.stdout
    out = orjson.loads(run_cli("show", ids["recording"], "4", "--db", db, "--json").stdout)
    assert out["values"] == [{"path": "result.ok[0].some", "size": 11, "encoding": "json", "value": {"count": 0}}]
    assert out["not_json"] is None and out["data"]["result"]["ok"][0]["some"].startswith("base64:")


def test_show_labels_a_tampered_row_not_json(demo: tuple[str, dict[str, str]]) -> None:
    """issue 17 item 1: data that is not JSON is labelled `(not JSON)`, never `{"hex": ...}`."""
    db, ids = demo
    with Store(db) as store:
        set_event(store, ids["tampered"], 2, data=b"\x00\xffnot json\x1b]52;c;x\x07")
    r = run_cli("show", ids["tampered"], "2", "--db", db)
    assert r.returncode == 0, r.stderr
    assert "(not JSON), shown as hex" in r.stdout and '"hex"' not in r.stdout
    assert "\x1b" not in r.stdout and "00000000  00 ff 6e 6f 74" in r.stdout
    out = orjson.loads(run_cli("show", ids["tampered"], "2", "--db", db, "--json").stdout)
    assert out["data"] is None and out["not_json"]["encoding"] == "binary"
    assert out["not_json"]["value"].startswith("00ff6e6f74")
    for fmt in ("--json", "--jsonl"):  # events gives the same label, not a {"hex": ...} payload
        r = run_cli("events", ids["tampered"], "--db", db, "--from", "2", "--limit", "1", fmt)
        assert r.returncode == 0, r.stderr
        ev = orjson.loads(r.stdout)
        ev = ev[0] if isinstance(ev, list) else ev
        assert ev["data"] is None and ev["not_json"]["encoding"] == "binary", ev
        assert ev["not_json"]["value"].startswith("00ff6e6f74") and '"hex"' not in r.stdout
    with Store(db) as store:
        set_event(store, ids["tampered"], 2, data=b"plain words")
    r = run_cli("show", ids["tampered"], "2", "--db", db)
    assert "(not JSON), shown as text\nplain words" in r.stdout


def test_show_legacy_byte_arrays_as_text_not_decimals(tmp_path: Path) -> None:
    """issue 17 item 1: a legacy chain's byte arrays are decoded, not one decimal a line."""
    events = [("wasi:random/random@0.2.3/get-random-bytes",
               b'{"category":"HostFunction","input":[49,48],"output":[91,55,57,44,50,50,50,93],'
               b'"note":[104,105,33]}')]
    f = tmp_path / "legacy.json"
    f.write_bytes(orjson.dumps(build_legacy(events)))
    db = str(tmp_path / "l.db")
    assert run_cli("import", str(f), "--db", db).returncode == 0
    r = run_cli("show", "last", "0", "--db", db)
    assert r.returncode == 0, r.stderr
    assert '"input": [49, 48],' in r.stdout  # the payload: one line per array
    assert "input  2 bytes, JSON\n  10\n" in r.stdout
    assert "note  3 bytes, text\n  hi!\n" in r.stdout
    assert "output  8 bytes, JSON\n  [79, 222]\n" in r.stdout
    payload = r.stdout.split("\ninput  ")[0]
    assert not any(line.strip().rstrip(",").isdigit() for line in payload.splitlines())


@pytest.mark.parametrize("seq,expect", [("-1", 23), ("last", 23), ("LAST", 23), ("-24", 0), ("0", 0), ("5", 5)])
def test_show_last_and_negative_seqs(demo: tuple[str, dict[str, str]], seq: str, expect: int) -> None:
    """issue 17 item 8: `show CHAIN last` and `-N` counted from the end (-1 the last event)."""
    db, ids = demo  # the recording: 23 events and its end event, seqs 0 to 23
    r = run_cli("show", ids["recording"], seq, "--db", db, "--json")
    assert r.returncode == 0, r.stderr
    assert orjson.loads(r.stdout)["seq"] == expect


@pytest.mark.parametrize("seq,message", [
    ("-25", "SEQ -25: the chain has only 24 events (seqs 0 to 23)"),
    ("x1", "SEQ 'x1' is not a seq: give N, -N (from the end, -1 is the last event) or last"),
    ("99", "has no event 99 (it has 24)"),
])
def test_show_bad_seq_is_one_line(demo: tuple[str, dict[str, str]], seq: str, message: str) -> None:
    """issue 17 item 8: a seq out of range or not a seq: exit 2, one line saying what to give."""
    db, ids = demo
    r = run_cli("show", ids["recording"], seq, "--db", db)
    assert r.returncode == 2 and r.stdout == ""
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


# -- theater export --from/--to ---------------------------------------------------------------


def test_export_an_excerpt(demo: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    """issue 17 item 6: `export CHAIN --from SEQ --to SEQ` writes only those events, says
    it is an excerpt, and `theater import` refuses it in one line."""
    db, ids = demo
    r = run_cli("export", ids["recording"], "--from", "4", "--to", "7", "--db", db)
    assert r.returncode == 0, r.stderr
    lines = [orjson.loads(line) for line in r.stdout.splitlines()]
    assert lines[0]["excerpt"] == {"from": 4, "to": 7} and lines[0]["events"] == 24
    assert [line["seq"] for line in lines[1:]] == [4, 5, 6, 7]
    r = run_cli("export", ids["recording"], "--from", "-2", "--db", db)
    assert [orjson.loads(line).get("seq") for line in r.stdout.splitlines()] == [None, 22, 23]
    whole = run_cli("export", ids["recording"], "--db", db).stdout.splitlines()
    assert "excerpt" not in orjson.loads(whole[0]) and len(whole) == 25
    out = tmp_path / "part.jsonl"
    assert run_cli("export", ids["recording"], "--to", "2", "--out", str(out), "--db", db).returncode == 0
    r = run_cli("import", str(out), "--db", str(tmp_path / "other.db"))
    assert r.returncode == 2 and "is an excerpt (events 0 to 2 of chain" in r.stderr
    r = run_cli("export", ids["recording"], "--from", "5", "--to", "3", "--db", db)
    assert r.returncode == 2 and "--to 3 is before --from 5" in r.stderr and r.stdout == ""
