"""The chain browser under a Pilot, on real database files: every screen, every key."""

import re

import pytest
from conftest import run_cli
from tamper import delete_events, set_event
from tui_helpers import RANDOM_BYTES, SEND, Terminal, demo_db, drive, screen_text, settle

from theater.store import Store

pytest.importorskip("textual")

from textual.binding import Binding  # noqa: E402
from textual.command import CommandPalette  # noqa: E402
from textual.widgets import HelpPanel  # noqa: E402

from tui.app import TheaterApp  # noqa: E402
from tui.chain_table import ChainTable  # noqa: E402
from tui.detail import EventDetail  # noqa: E402
from tui.diff_list import DiffList  # noqa: E402
from tui.event_list import EventList  # noqa: E402
from tui.screens.chain import ChainScreen  # noqa: E402
from tui.screens.chains import ChainsScreen  # noqa: E402
from tui.screens.dialogs import PickChainScreen, PromptScreen  # noqa: E402
from tui.screens.diff import DiffScreen  # noqa: E402
from tui.screens.event import EventScreen  # noqa: E402
from tui.virtual_list import VirtualList  # noqa: E402


@pytest.fixture
def demo(tmp_path):
    path = tmp_path / "demo.db"
    return path, demo_db(path)


def app_for(path, chain=None):
    return TheaterApp(path, chain, cursor_blink=False)


def test_chains_screen_lists_every_chain(demo):
    path, ids = demo

    async def scenario(pilot):
        app = pilot.app
        assert isinstance(app.screen, ChainsScreen)
        table = app.screen.query_one(ChainTable)
        assert [r.key.value for r in table.ordered_rows] == [ids[k] for k in
                                                             ("recording", "replay", "other", "tampered")]
        text = screen_text(app)
        assert "4 chains in demo.db" in text
        assert "complete, replay of 0a1b2c3d" in text and "incomplete" in text
        assert "2bc7ce34" in text  # short head hash
        assert "2025-06-15 15:06:40 UTC" in text

    drive(app_for(path), scenario)


def test_open_chain_move_and_open_event(demo):
    path, ids = demo

    async def scenario(pilot):
        app = pilot.app
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, ChainScreen) and screen.info.id == ids["recording"]
        events = screen.query_one(EventList)
        assert events.has_focus and events.cursor == 0 and events.row_count == 24
        await pilot.press("j", "j", "j", "k")
        assert events.cursor == 2
        assert f"#2 {RANDOM_BYTES}" in screen_text(app)
        await pilot.press("G")
        assert events.cursor == 23 and "#23 end" in screen_text(app)
        await pilot.press("g")
        assert events.cursor == 0
        await pilot.press("pagedown")
        assert events.cursor == min(events.page_height, 23)
        await pilot.press("g", "j")
        await pilot.press("enter")
        assert isinstance(app.screen, EventScreen) and app.screen.seq == 1
        text = screen_text(app)
        assert '"len": 16' in text and "unauthenticated: not part of the hash" in text
        # the base64 result again as a hex dump: the first bytes of sha256("7/0")
        import hashlib

        first = hashlib.sha256(b"7/0").digest()[:4]
        assert " ".join(f"{b:02x}" for b in first) in text
        await pilot.press("j", "j")
        assert app.screen.seq == 3
        await pilot.press("escape")
        assert isinstance(app.screen, ChainScreen) and events.cursor == 3
        await pilot.press("escape")
        assert isinstance(app.screen, ChainsScreen)

    drive(app_for(path), scenario)


def test_click_selects_a_row(demo):
    path, ids = demo

    async def scenario(pilot):
        events = pilot.app.screen.query_one(EventList)
        await pilot.click(EventList, offset=(10, 5))
        assert events.cursor == 5

    drive(app_for(path, ids["recording"]), scenario)


@pytest.mark.slow
def test_go_to_seq_and_find_by_type(demo):
    path, ids = demo

    async def scenario(pilot):
        app = pilot.app
        events = app.screen.query_one(EventList)
        await pilot.press("colon")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("1", "2", "enter")
        assert events.cursor == 12
        await pilot.press("slash")
        await pilot.press(*"handle-send", "enter")
        await settle(pilot)
        assert events.cursor == 13 and app.screen.source.event(13).type == SEND
        await pilot.press("n")
        await settle(pilot)
        assert events.cursor == 16
        await pilot.press("N")
        await settle(pilot)
        assert events.cursor == 13
        await pilot.press("slash", "ctrl+u", *"nothing-like-this", "enter")
        await settle(pilot)
        assert events.cursor == 13
        assert any("nothing-like-this" in n.message for n in app._notifications)
        await pilot.press("colon", "escape")
        assert isinstance(app.screen, ChainScreen) and events.cursor == 13

    drive(app_for(path, ids["recording"][:6]), scenario)


def test_verify_tampered_chain_lands_on_the_bad_event(demo):
    path, ids = demo
    with Store(path) as s:
        stored = s.event(ids["tampered"], 6).hash.hex()

    async def scenario(pilot):
        app = pilot.app
        screen = app.screen
        events = screen.query_one(EventList)
        assert events.cursor == 0
        await pilot.press("v")
        await settle(pilot)
        result = app.verified[ids["tampered"]]
        assert not result.ok and result.problem.kind == "hash_mismatch" and result.problem.seq == 6
        assert events.cursor == 6 and events.bad == {6: "hash_mismatch"}
        banner = screen.query_one("#problem")
        assert banner.display
        text = screen_text(app)
        assert "✗ hash_mismatch at seq 6" in text
        assert f"expected  {stored}" in text and f"computed  {result.problem.computed}" in text
        # the row (its type keeps the function: issue 17 item 4), banner, info, pane
        assert re.search(r"^✗ +6  …#get-random-u64", text, re.M) and text.count("✗ ") == 4
        await pilot.press("escape")
        assert "✗ hash_mismatch @6" in screen_text(app)

    drive(app_for(path, ids["tampered"]), scenario)


def test_verify_from_chains_screen_and_a_clean_chain(demo):
    path, ids = demo

    async def scenario(pilot):
        app = pilot.app
        await pilot.press("v")
        await settle(pilot)
        assert app.verified[ids["recording"]].ok
        assert "✓ ok" in screen_text(app)
        await pilot.press("enter")
        screen = app.screen
        assert not screen.query_one("#problem").display and screen.query_one(EventList).bad == {}
        assert "✓ ok" in screen_text(app)

    drive(app_for(path), scenario)


def test_verify_sequence_gap_shows_the_missing_row(demo):
    path, ids = demo
    with Store(path) as s:
        delete_events(s, ids["recording"], 5)

    async def scenario(pilot):
        app = pilot.app
        await pilot.press("v")
        await settle(pilot)
        events = app.screen.query_one(EventList)
        assert events.cursor == 5 and app.verified[ids["recording"]].problem.kind == "sequence_gap"
        text = screen_text(app)
        assert "(no event stored at this seq)" in text and "No event is stored at seq 5." in text

    drive(app_for(path, ids["recording"]), scenario)


def test_diff_recording_against_its_diverging_replay(demo):
    path, ids = demo

    async def scenario(pilot):
        app = pilot.app
        await pilot.press("d")
        assert isinstance(app.screen, PickChainScreen)
        assert app.screen.query_one(ChainTable).highlighted_id == ids["replay"]  # the replay_of link
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        assert (screen.a.id, screen.b.id) == (ids["recording"], ids["replay"])
        rows = screen.query_one(DiffList)
        assert screen.diff.common_prefix == 9 and rows.current_seq() == 9
        text = screen_text(app)
        assert "first difference at seq 9" in text and "result: expected 2, got 42" in text
        assert "6 identical events (seq 0–5)" in text
        await pilot.press("n")
        await settle(pilot)
        assert rows.current_seq() == 13
        assert "result: expected" in screen_text(app) and "got 99" in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert rows.current_seq() == 13  # no further difference
        await pilot.press("N")
        await settle(pilot)
        assert rows.current_seq() == 9
        await pilot.press("g")
        assert rows.seq_at(rows.cursor) is None  # the folded prefix
        await pilot.press("enter")
        assert rows.fold == 0 and rows.row_count == 24
        await pilot.press("escape")
        assert isinstance(app.screen, ChainsScreen)

    drive(app_for(path), scenario)


@pytest.mark.slow
def test_diff_picked_from_the_replay_puts_the_recording_first(demo):
    path, ids = demo

    async def scenario(pilot):
        app = pilot.app
        await pilot.press("d")
        await settle(pilot)  # the picker fills its table in a worker: slow under load
        assert app.screen.query_one(ChainTable).highlighted_id == ids["recording"]
        await pilot.press("enter")
        await settle(pilot)
        assert (app.screen.a.id, app.screen.b.id) == (ids["recording"], ids["replay"])
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ChainScreen)
        await pilot.press("d", "escape")  # cancel the pick
        await settle(pilot)
        assert isinstance(app.screen, ChainScreen)

    drive(app_for(path, ids["replay"]), scenario)


def test_diff_two_seeds_reports_the_header(demo):
    path, ids = demo

    async def scenario(pilot):
        app = pilot.app
        app.open_diff(ids["recording"], ids["other"])
        await settle(pilot)
        text = screen_text(app)
        assert "headers differ (seed: expected 7, got 8" in text
        assert app.screen.diff.common_prefix == 1

    drive(app_for(path), scenario)


def test_help_and_command_palette(demo):
    path, ids = demo

    async def scenario(pilot):
        app = pilot.app
        await pilot.press("f1")
        assert app.screen.query(HelpPanel)
        await pilot.press("f1")
        assert not app.screen.query(HelpPanel)
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*f"open chain {ids['replay']}")
        await settle(pilot)  # the palette's search is a worker: wait for it, not for a fixed time
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ChainScreen) and app.screen.info.id == ids["replay"]
        await pilot.press("q")

    drive(app_for(path), scenario)


BOUND = [TheaterApp, ChainsScreen, ChainScreen, EventScreen, DiffScreen, PromptScreen, PickChainScreen,
         VirtualList, ChainTable, EventDetail]


@pytest.mark.parametrize("cls", BOUND, ids=lambda c: c.__name__)
def test_every_binding_has_an_id_and_shows(cls):
    bindings = [b for b in cls.BINDINGS if isinstance(b, Binding)]
    assert len(bindings) == len(cls.BINDINGS) and bindings
    for b in bindings:
        assert b.id, f"{cls.__name__}: {b.key} has no id"
        # the command palette key is shown by the footer on its right
        assert b.show or b.action == "command_palette", f"{b.id} is hidden"


def test_footer_shows_the_keys(demo):
    path, ids = demo

    async def scenario(pilot):
        await settle(pilot)  # the footer is composed once the screen's focus is set
        footer = screen_text(pilot.app).splitlines()[-1]
        for label in ("Move", "Start/End", "Open", "Find", "Filter", "Tree", "Noise", "Go to", "Verify", "Diff",
                      "Back", "Quit", "Help", "^p Commands"):
            assert label in footer, label

    drive(app_for(path, ids["recording"]), scenario, size=(160, 30))


def test_detail_of_non_json_data_shows_hex(demo):
    path, ids = demo
    with Store(path) as s:
        set_event(s, ids["other"], 2, data=b"\x00\xff\x10")

    async def scenario(pilot):
        await pilot.press("j", "j")
        text = screen_text(pilot.app)
        assert "(not JSON)" in text and "00 ff 10" in text  # the label of issue 17 item 1
        assert pilot.app.screen.query_one(EventDetail)

    drive(app_for(path, ids["other"]), scenario)


def test_cli_tui_errors_before_taking_the_screen(tmp_path):
    r = run_cli("tui", "--db", str(tmp_path / "missing.db"))
    assert r.returncode == 2 and "no database at" in r.stderr
    path = tmp_path / "demo.db"
    demo_db(path)
    r = run_cli("tui", "ffff", "--db", str(path))
    assert r.returncode == 2 and "no chain matches 'ffff'" in r.stderr
    r = run_cli("tui", "--help")
    assert r.returncode == 0 and "Browse the chains" in r.stdout


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a POSIX pseudo-terminal")
def test_cli_tui_runs_in_a_terminal(demo):
    path, ids = demo
    term = Terminal("tui", ids["recording"][:4], "--db", str(path))
    assert term.read_until(b"get-environment"), term.output[-2000:]
    term.press(b"G")
    assert term.read_until(b"#23")
    term.press(b"q")
    assert term.close() == 0
