"""`theater state CHAIN [SEQ]` and `state_at` (issue 13 item 1): the actor's state after
the export call at or before SEQ, decoded as JSON, text or hex. Real components (the
counter WAT actor returns its init state unchanged), real SQLite files, the real CLI."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from actors import wat_manifest
from conftest import run_cli

from theater.errors import UsageError
from theater.manifest import load_manifest
from theater.recorder import Input, record
from theater.state import state_at
from theater.store import Store


def recorded(tmp_path: Path, init_state: bytes, sends: tuple[bytes, ...] = (b"abc",)) -> tuple[str, str]:
    (tmp_path / "s.bin").write_bytes(init_state)
    m = wat_manifest(tmp_path, "counter", extra='init_state = "s.bin"')
    db = tmp_path / "r.db"
    with Store(db) as store:
        r = record(load_manifest(m), store, inputs=[Input("send", s) for s in sends])
    return str(db), r.chain


@pytest.mark.parametrize("raw,encoding,shown", [
    (b'{"b":[1,2],"a":"x"}', "json", '"b": [\n    1,\n    2\n  ]'),
    (b"hello world\n", "text", "hello world"),
    # issue 17 item 1: text only when printable UTF-8; an ESC makes it bytes (no control
    # sequence reaches the terminal either way)
    (b"hello \x1b[2J world", "binary", "68656c6c6f201b5b324a20776f726c64"),
    (b"\xff\x00\x10", "binary", "ff0010"),
])
def test_state_decodes_json_text_and_binary(tmp_path: Path, raw: bytes, encoding: str, shown: str) -> None:
    """issue 13 item 1: pretty JSON, inert text, hex; --raw the bytes; --json."""
    db, chain = recorded(tmp_path, raw)
    # seq 0 log, 1 init (returns the init state), 2 random, 3 log, 4 handle-send, 5 end
    r = run_cli("state", chain, "1", "--db", db)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"state after seq 1 (export:theater:simple/actor#init): {len(raw)} bytes, {encoding}")
    assert shown in r.stdout and "\x1b" not in r.stdout
    r = run_cli("state", chain, "3", "--db", db, "--json")  # at or before 3: still init's
    out = orjson.loads(r.stdout)
    assert (out["seq"], out["asked"], out["encoding"], out["size"]) == (1, 3, encoding, len(raw))
    if encoding == "json":
        assert out["value"] == {"a": "x", "b": [1, 2]}
    with Store(db, create=False) as s:
        assert state_at(s, chain, 2).state == raw
        last = state_at(s, chain)  # the last export: handle-send returned the counter
        assert last.seq == 4 and last.state is not None and len(last.state) == 8


def test_state_raw_writes_the_bytes(tmp_path: Path) -> None:
    """issue 13 item 1: --raw writes exactly the state's bytes (here 8 bytes LE)."""
    from click.testing import CliRunner

    from theater.cli import cli

    db, chain = recorded(tmp_path, b"\x05" + bytes(7), sends=(b"abc",))
    res = CliRunner().invoke(cli, ["state", chain, "--db", db, "--raw"], prog_name="theater")
    assert res.exit_code == 0
    assert res.stdout_bytes == (5 + 3).to_bytes(8, "little")


def test_state_before_any_export_is_a_usage_error(tmp_path: Path) -> None:
    """issue 13 item 1: seq 0 is init's log call: no export at or before it (exit 2)."""
    db, chain = recorded(tmp_path, b"{}")
    r = run_cli("state", chain, "0", "--db", db)
    assert r.returncode == 2 and "no export call at or before seq 0" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    with Store(db, create=False) as s, pytest.raises(UsageError):
        state_at(s, chain, 0)
