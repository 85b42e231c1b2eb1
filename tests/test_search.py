"""Finding events by content in SQL (issue 17 item 3): theater/store/search.py, and
`theater events --grep/--type/--jsonl/--from -N` and its header row (issue 17 item 8),
on real database files written through the library and the CLI."""

from __future__ import annotations

import base64
import shutil

import orjson
import pytest
from conftest import run_cli
from tui_helpers import LOG, RANDOM_BYTES, SEND, b64, write_events

from theater.blobs import blob_header
from theater.chain import canonical_json, export_type, make_header
from theater.errors import UsageError
from theater.store import Store
from theater.store.search import base64_forms, matching_rows, matching_seqs, parse_pattern, seqs_of_types

INIT = export_type("theater:simple/actor", "init")


def events_with_text():
    return [
        (LOG, {"args": {"msg": 'say "hi" to Bob'}, "result": None}),  # 0
        (RANDOM_BYTES, {"args": {"len": 12}, "result": b64(b"xxHELLO world")}),  # 1: inside base64
        (RANDOM_BYTES, {"args": {"len": 13}, "result": b64(b"xhello world!")}),  # 2: another alignment
        (RANDOM_BYTES, {"args": {"len": 14}, "result": b64(b"xyhello there")}),  # 3: the third
        (SEND, {"args": {"msg": b64(b"ping"), "state": None}, "result": {"ok": [None]}}),  # 4
        (LOG, {"args": {"msg": "100% done_now"}, "result": None}),  # 5
    ]


@pytest.fixture
def chain(tmp_path):
    db = tmp_path / "s.db"
    with Store(db) as store:
        cid = write_events(store, events_with_text())
    return db, cid


def seqs(db, cid, grep=None, type_pattern=None):
    with Store(db) as s:
        return list(matching_seqs(s, cid, grep=grep, type_pattern=type_pattern))


def test_plain_text_in_data_types_and_decoded_bytes(chain):
    """issue 17 item 3: log text, types, bytes inside base64 at every alignment."""
    db, cid = chain
    assert seqs(db, cid, "hello") == [1, 2, 3]  # lowercase: any case, in decoded bytes
    assert seqs(db, cid, "HELLO") == [1]  # a capital: exactly
    assert seqs(db, cid, 'say "hi"') == [0]  # a quote is looked for as JSON writes it
    assert seqs(db, cid, "ping") == [4]
    assert seqs(db, cid, "get-random") == [1, 2, 3]
    assert seqs(db, cid, "end") == [4, 6]  # handle-send, and the end
    assert seqs(db, cid, "100%") == [5] and seqs(db, cid, "done_now") == [5]  # LIKE's wildcards escaped
    assert seqs(db, cid, "o_e") == []  # an unescaped _ would match "one" in "done"
    assert seqs(db, cid, "*") == []  # GLOB's too


def test_base64_text_itself_is_not_a_match(chain):
    """issue 17 item 3: the characters of a base64 string are not content."""
    db, cid = chain
    encoded = base64.b64encode(b"xhello world!").decode()
    assert encoded[2:8] not in "xhello world!"
    assert seqs(db, cid, encoded[2:8]) == []
    assert seqs(db, cid, "re:" + encoded[2:8]) == []


def test_the_base64_forms_cover_every_alignment():
    for prefix in (b"", b"a", b"ab", b"abc", b"abcd"):
        text = base64.b64encode(prefix + b"needle" + b"tail").decode()
        assert any(f in text for f in base64_forms(b"needle")), prefix


def test_regex_and_bad_patterns(chain):
    """issue 17 item 3: `re:` is a regular expression (smart case too); a bad one is a
    usage error naming the fix."""
    db, cid = chain
    assert seqs(db, cid, r"re:hel+o (world|there)") == [1, 2, 3]
    assert seqs(db, cid, r"re:^say") == []  # the data is JSON: the log text is inside quotes
    assert seqs(db, cid, r"re:HELLO") == [1]
    with pytest.raises(UsageError, match="not a regular expression"):
        parse_pattern("re:(")
    with pytest.raises(UsageError, match="empty pattern"):
        parse_pattern("")


def test_type_pattern_and_streamed_rows(chain):
    db, cid = chain
    assert seqs(db, cid, type_pattern="runtime#log") == [0, 5]
    assert seqs(db, cid, "done", type_pattern="log") == [5]
    with Store(db) as s:
        assert list(matching_rows(s, cid, grep="hello", start=2)) == [2, 3]
        assert list(seqs_of_types(s, cid, keep=lambda t: t.startswith("export:"))) == [4]


def test_a_state_stored_as_a_blob_is_searched(tmp_path):
    """issue 17 item 3: decoded state, also where it is stored once as a blob."""
    db = tmp_path / "b.db"
    big = b'{"notes":"' + b"z" * 400 + b'","secret":"rosebud"}'
    with Store(db) as store:
        header = make_header(actor="blobby", component_sha256="c0" * 32, seed=1) | blob_header()
        w = store.create_chain(header)
        w.append(INIT, canonical_json({"args": {"params": ["x"], "state": None},
                                       "result": {"ok": [{"some": b64(big)}]}}))
        w.finish("completed")
        cid = w.chain_id
        stored = store.reader.execute("SELECT data FROM events").fetchone()[0]
    assert b"blob:" in stored and b"base64" not in stored  # the state is a blob reference
    assert seqs(db, cid, "rosebud") == [0]


def test_a_layout_1_file_is_searched_as_it_is(tmp_path):
    """The first layout (events keep their type as text) answers the same queries."""
    db = tmp_path / "v1.db"
    shutil.copy("tests/data/v1.db", db)
    with Store(db, create=False) as s:
        assert s.layout == 1
        cid = s.chains()[0].id
        logs = list(matching_seqs(s, cid, type_pattern="runtime#log"))
        assert logs and all(s.event(cid, q).type.endswith("#log") for q in logs)
        assert list(matching_seqs(s, cid, grep="handle-send")) == [
            e.seq for e in s.events(cid) if "handle-send" in e.type or b"handle-send" in e.data]


# -- the CLI -----------------------------------------------------------------------------


def test_events_header_grep_type_and_jsonl(chain):
    """issue 17 items 3 and 8: a header row like `chains`; --grep and --type; --jsonl."""
    db, cid = chain
    r = run_cli("events", cid, "--db", str(db))
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines[0].split() == ["SEQ", "HASH", "SIZE", "TYPE"] and len(lines) == 8
    r = run_cli("events", cid, "--db", str(db), "--grep", "hello")
    assert [int(line.split()[0]) for line in r.stdout.splitlines()[1:]] == [1, 2, 3]
    r = run_cli("events", cid, "--db", str(db), "--grep", "re:hel+o", "--type", "random", "--jsonl", "--limit", "2")
    rows = [orjson.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 0 and [e["seq"] for e in rows] == [1, 2]
    r = run_cli("events", cid, "--db", str(db), "--jsonl")
    assert [orjson.loads(line)["seq"] for line in r.stdout.splitlines()] == list(range(7))


def test_events_from_a_negative_seq_is_the_last_n(chain):
    """issue 17 item 8: `--from -5` means the last five events (documented in --help)."""
    db, cid = chain
    r = run_cli("events", cid, "--db", str(db), "--from", "-5", "--json")
    assert [e["seq"] for e in orjson.loads(r.stdout)] == [2, 3, 4, 5, 6]
    r = run_cli("events", cid, "--db", str(db), "--from", "-100", "--json")
    assert [e["seq"] for e in orjson.loads(r.stdout)] == list(range(7))
    assert "--from -5 shows the last 5 events" in " ".join(run_cli("events", "--help").stdout.split())


@pytest.mark.parametrize("args, says", [
    (("--grep", "re:("), "is not a regular expression"),
    (("--grep", ""), "empty pattern"),
    (("--json", "--jsonl"), "give one"),
    (("--grep", "x", "--follow"), "do not combine with --follow"),
])
def test_events_bad_input_is_one_line_and_exit_2(chain, args, says):
    db, cid = chain
    r = run_cli("events", cid, "--db", str(db), *args)
    assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stdout == "" and "Traceback" not in r.stderr
