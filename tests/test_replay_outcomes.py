"""A replay's outcome is a stored fact (issue 11 item 5).

Every replay writes one row to the ``replays`` table (docs/storage.md): verified,
diverged (with seq, kind and the whole divergence report), stopped (``--until``),
failed, interrupted. ``theater chains`` (text and ``--json``) and the TUI chains table
show each replay chain's outcome and each recording's latest one; a diverged replay
chain is no longer listed ``complete``. Real components, real SQLite files, the real CLI.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from actors import wat_manifest
from conftest import run_cli

from fixtures.build import wat_path
from replay.replayer import replay
from theater.errors import Interrupted
from theater.manifest import load_manifest
from theater.recorder import Input, record
from theater.runtime import Interrupt
from theater.store import ReplayOutcome, Store


def recorded(tmp_path: Path) -> tuple[Store, str]:
    store = Store(tmp_path / "r.db")
    r = record(load_manifest(wat_manifest(tmp_path, "counter")), store,
               inputs=[Input("send", s) for s in (b"abc", b"xy", b"z")])
    return store, r.chain


def cli(*args: str) -> tuple[int, str]:
    """The real CLI in a subprocess; stderr must hold no traceback."""
    r = run_cli(*args)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, r.stdout


def test_each_replay_outcome_is_stored_with_seq_kind_and_report(tmp_path: Path) -> None:
    """issue 11 item 5: verified / diverged / stopped / interrupted rows, written by the replayer."""
    store, chain = recorded(tmp_path)
    ok = replay(store, chain, save=True)
    bad = replay(store, chain, component=wat_path("counter_args"), save=True)
    part = replay(store, chain, until=3, save=True)
    with pytest.raises(Interrupted):
        replay(store, chain, interrupt=Interrupt(requested=True), save=True)
    rows = store.replays(chain)
    assert [r.outcome for r in rows] == ["verified", "diverged", "stopped", "interrupted"]
    assert [r.outcome for r in rows] == [ReplayOutcome.VERIFIED, ReplayOutcome.DIVERGED,
                                         ReplayOutcome.STOPPED, ReplayOutcome.INTERRUPTED]
    assert (ok.outcome, bad.outcome, part.outcome) == ("verified", "diverged", "stopped")
    v, d, s, i = rows
    assert v.chain == ok.chain and v.seq is None and v.report["verified"] is True
    # the whole divergence report, as the replay command printed it with --json
    assert d.chain == bad.chain and (d.seq, d.kind) == (5, "arguments")
    assert bad.divergence is not None and d.report["divergence"] == bad.divergence.to_json()
    assert d.report["divergence"]["expected"] == {"args": {"len": 4}}
    assert d.component_sha256 is not None and d.component_sha256 != v.component_sha256
    assert s.chain == part.chain and s.seq == 3
    assert i.chain is not None and i.kind == "interrupted" and "interrupted" in i.report["error"]
    assert all(r.source == chain and r.created > 0 for r in rows)


def test_chains_lists_replay_outcomes_not_complete(tmp_path: Path) -> None:
    """issue 11 item 5: a diverged replay chain is listed `diverged`, not `complete`,
    and the recording shows its latest replay's outcome (text and --json)."""
    store, chain = recorded(tmp_path)
    good = replay(store, chain, save=True)
    bad = replay(store, chain, component=wat_path("counter_args"), save=True)
    store.close()
    code, out = cli("chains", "--db", str(tmp_path / "r.db"), "--json")
    assert code == 0
    by_id = {c["id"]: c for c in orjson.loads(out)}
    assert by_id[bad.chain]["status"] == "diverged"
    assert by_id[bad.chain]["chain_status"] == "complete"  # it has its end event
    assert by_id[bad.chain]["replay"]["seq"] == 5 and by_id[bad.chain]["replay"]["kind"] == "arguments"
    assert by_id[good.chain]["status"] == "verified"
    assert by_id[chain]["status"] == "complete" and by_id[chain]["replay"] is None
    assert by_id[chain]["last_replay"]["outcome"] == "diverged"
    assert by_id[chain]["last_replay"]["chain"] == bad.chain

    code, out = cli("chains", "--db", str(tmp_path / "r.db"))
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "LAST REPLAY" in out.splitlines()[0]
    assert f"diverged (replay of {chain[:8]})" in lines[bad.chain]
    assert "complete" not in lines[bad.chain]
    assert f"verified (replay of {chain[:8]})" in lines[good.chain]
    assert lines[chain].rstrip().endswith("diverged at 5")


def test_cli_replay_stores_its_outcome(tmp_path: Path) -> None:
    """issue 11 item 5: `theater replay` (the CLI) writes the row; --json names the outcome."""
    store, chain = recorded(tmp_path)
    store.close()
    db = str(tmp_path / "r.db")
    code, out = cli("replay", chain, "--db", db, "--json", "--component", str(wat_path("counter_missing")))
    assert code == 0 and orjson.loads(out)["outcome"] == "diverged"
    code, out = cli("replay", chain, "--db", db, "--json", "--until", "2")
    assert code == 0 and orjson.loads(out)["outcome"] == "stopped"
    with Store(db, create=False) as s:
        assert [(r.outcome, r.seq, r.kind) for r in s.replays(chain)] == [
            ("diverged", 5, "missing_call"), ("stopped", 2, None)]


def test_a_database_made_before_the_replays_table_gets_it_on_the_first_replay(tmp_path: Path) -> None:
    """issue 11 item 5: additive schema. Readers of an older file see no replays; the first
    replay creates the table; user_version is unchanged."""
    store, chain = recorded(tmp_path)
    store.conn.execute("DROP TABLE replays")
    store.close()
    db = str(tmp_path / "r.db")
    code, out = cli("chains", "--db", db, "--json")
    assert code == 0 and orjson.loads(out)[0]["last_replay"] is None
    with Store(db, create=False) as s:
        assert not s.has_replays_table() and s.replays() == []
        replay(s, chain)
        assert [r.outcome for r in s.replays(chain)] == ["verified"]
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # storage v2's, unchanged by the table
    finally:
        conn.close()


def test_an_outcome_row_needs_no_replay_chain(tmp_path: Path) -> None:
    """issue 11 item 5: a replay that stores no chain of its own (a later `--save`-less
    replay) is still listed as the recording's latest replay."""
    store, chain = recorded(tmp_path)
    store.record_replay(chain, ReplayOutcome.VERIFIED, chain=None, report={"verified": True})
    by_chain, latest = store.replay_outcomes()
    assert by_chain == {} and latest[chain].chain is None and latest[chain].outcome == "verified"
    with pytest.raises(ValueError):
        store.record_replay(chain, "fine", chain=None)  # type: ignore[arg-type]


def test_tui_chains_screen_shows_replay_outcomes(tmp_path: Path) -> None:
    """issue 11 item 5: the TUI chains table shows each replay's outcome."""
    pytest.importorskip("textual")
    from tui_helpers import drive, screen_text

    from tui.app import TheaterApp

    store, chain = recorded(tmp_path)
    bad = replay(store, chain, component=wat_path("counter_args"), save=True)
    store.close()

    async def scenario(pilot):  # type: ignore[no-untyped-def]
        text = screen_text(pilot.app)
        assert f"diverged at 5, replay of {chain[:8]}" in text
        assert "complete, last replay diverged at 5" in text
        assert f"complete, replay of {chain[:8]}" not in text
        assert bad.chain in text

    drive(TheaterApp(tmp_path / "r.db", cursor_blink=False), scenario)
