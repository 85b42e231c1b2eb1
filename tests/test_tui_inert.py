"""The TUI on hostile databases (issue 11 item 6) and its verified badge on a chain that
grows (issue 11 item 16), under a Pilot, on real recordings and real SQLite files."""

from __future__ import annotations

import sqlite3

import orjson
import pytest
from conftest import run_cli, write_chain
from tamper import rename_chain, set_event
from test_inert_text import HOSTILE, NAME, hostile_manifest, hostile_wat
from tui_helpers import drive, screen_text, settle

from theater.chain import canonical_json, host_type, make_header
from theater.store import Store
from theater.text import inert_line

pytest.importorskip("textual")

from textual.command import CommandPalette  # noqa: E402

from tui.app import TheaterApp  # noqa: E402
from tui.chain_table import ChainTable  # noqa: E402
from tui.screens.chain import ChainScreen  # noqa: E402
from tui.screens.chains import ChainsScreen  # noqa: E402
from tui.screens.diff import DiffScreen  # noqa: E402
from tui.screens.event import EventScreen  # noqa: E402

#: a chain id that is markup and a terminal title write (a tampered chains row)
EVIL_ID = "[/bold][link=http://e]\x1b]0;x\x07"


def no_raw_controls(app) -> str:
    text = screen_text(app)
    for c in ("\x1b", "\x07", "\r", "\x9b"):
        assert c not in text, f"raw {c!r} on screen"
    return text


@pytest.fixture
def hostile_db(tmp_path):
    db = tmp_path / "h.db"
    m = hostile_manifest(tmp_path, hostile_wat(tmp_path))
    for _ in range(2):
        r = run_cli("record", str(m), "--db", str(db), "--send", "x", "--init-param", HOSTILE)
        assert r.returncode == 0, r.stderr
    ids = [c["id"] for c in orjson.loads(run_cli("chains", "--db", str(db), "--json").stdout)]
    conn = sqlite3.connect(db)
    with conn:  # the second chain: an id of markup and controls, a type with a C1 CSI
        rename_chain(conn, ids[1], EVIL_ID)
        # storage v2: events are keyed by the chain's integer key, their type an event_types row
        key = conn.execute("SELECT key FROM chains WHERE id = ?", (EVIL_ID,)).fetchone()[0]
        (name,) = conn.execute("SELECT t.name FROM events e JOIN event_types t ON t.id = e.type"
                               " WHERE e.chain = ? AND e.seq = 3", (key,)).fetchone()
        set_event(conn, EVIL_ID, 3, type=name + "[/i]\x9b2J")
        conn.execute("UPDATE events SET data = CAST('{\"k\\u009b[/b]\":\"base64:AA==\"}' AS BLOB)"
                     " WHERE chain = ? AND seq = 2", (key,))
    conn.close()
    return db, ids[0]


@pytest.mark.slow
def test_tui_shows_hostile_names_types_and_payloads_as_text(hostile_db):
    """issue 11 item 6: `name = "[/bold] evil"` (today a MarkupError at start), markup
    and control characters in ids, types, payload keys, the verify notification, the
    command palette, the diff picker and the diff screen all show as inert text."""
    db, first = hostile_db

    async def scenario(pilot):
        app = pilot.app
        await settle(pilot)
        assert isinstance(app.screen, ChainsScreen)
        text = no_raw_controls(app)
        assert "[/bold] evil" in text and inert_line(NAME)[:20] in text
        assert "[/bold][link=http://e]\\x1b]0;x\\x07" in text
        table = app.screen.query_one(ChainTable)
        await pilot.press("j")  # the tampered chain: its verify summary quotes its id
        assert table.highlighted_id == EVIL_ID
        await pilot.press("v")
        await settle(pilot)
        notes = [n for n in app._notifications if n.title == "verification failed"]
        assert len(notes) == 1 and not notes[0].markup and EVIL_ID not in notes[0].message
        assert "FAILED [/bold][link=http://e]\\x1b]0;x\\x07" in notes[0].message
        assert "✗" in no_raw_controls(app)
        await pilot.press("enter")
        assert isinstance(app.screen, ChainScreen) and app.screen.info.id == EVIL_ID
        await pilot.press("j", "j")
        text = no_raw_controls(app)
        assert "k\\x9b[/b] · 1 bytes" in text  # a payload key as the hex dump's title
        await pilot.press("j")
        text = no_raw_controls(app)
        assert "#log[/i]\\x9b2J" in text
        await pilot.press("enter")
        assert isinstance(app.screen, EventScreen)
        no_raw_controls(app)
        await pilot.press("escape", "escape")
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"open")
        await settle(pilot)
        text = no_raw_controls(app)
        assert "[/bold] evil" in text
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert "Diff [/bold][link=http://e]\\x1b]0;x\\x07 with which chain?" in no_raw_controls(app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen)
        text = no_raw_controls(app)
        assert "first difference at seq" in text

    drive(TheaterApp(db, cursor_blink=False), scenario)


LOG = host_type("theater:simple/runtime", "log")


def test_verified_badge_is_tied_to_the_length_and_head_it_verified(tmp_path):
    """issue 11 item 16: a chain still being recorded (its writer alive: this process)
    shows `recording` and "verified through N" after a verification, never "ok"; when
    it grows, the badge still says how far the verification reached; "ok" only once the
    verified (length, head) is the chain's, complete."""
    db = tmp_path / "live.db"
    store = Store(db)
    done = write_chain(store, 4, actor="done")
    w = store.create_chain(make_header(actor="live", component_sha256="ab" * 32, seed=1), batch=1)
    for i in range(5):
        w.append(LOG, canonical_json({"args": {"msg": f"m{i}"}, "result": None}))
    w.flush()
    live = w.chain_id

    def badge(app, chain_id):
        table = app.screen.query_one(ChainTable)
        return str(table.get_cell(chain_id, "verified"))

    async def scenario(pilot):
        app = pilot.app
        table = app.screen.query_one(ChainTable)
        assert [r.key.value for r in table.ordered_rows] == [done, live]
        await pilot.press("v")
        await settle(pilot)
        assert badge(app, done) == "✓ ok"
        await pilot.press("j", "v")
        await settle(pilot)
        assert app.verified[live].ok and app.verified[live].events == 5
        assert badge(app, live) == "verified through 5"
        row = no_raw_controls(app)
        assert "recording" in row and "verified through 5" in row and row.count("✓ ok") == 1
        for i in range(5, 9):  # the recording goes on after the verification
            w.append(LOG, canonical_json({"args": {"msg": f"m{i}"}, "result": None}))
        w.flush()
        await pilot.pause(app.screen.LIVE_INTERVAL * 1.5)  # the table re-reads a live chain
        await settle(pilot)
        text = screen_text(app)
        assert badge(app, live) == "verified through 5" and "9" in str(table.get_cell(live, "events"))
        assert text.count("✓ ok") == 1
        w.finish("completed")
        await pilot.pause(app.screen.LIVE_INTERVAL * 1.5)
        await settle(pilot)
        assert "complete" in str(table.get_cell(live, "status"))
        assert badge(app, live) == "verified through 5"  # complete now, but not what was verified
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, ChainScreen)
        assert "verified through 5" in screen_text(app) and "✓ ok" not in screen_text(app)
        await pilot.press("v")
        await settle(pilot)
        assert app.verified[live].events == 10
        assert "✓ ok" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert badge(app, live) == "✓ ok"

    try:
        drive(TheaterApp(db, cursor_blink=False), scenario)
    finally:
        store.close()
