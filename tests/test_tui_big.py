"""A chain of a million events opens at once and its last event is one key away.

The chain is generated once per BIG_VERSION into the temp dir (tests/tui_helpers.py).
Times are measured and reported (``-s`` shows them), never asserted; what is asserted
is that the browser read only a few pages of rows, not the chain.
"""

import time

import pytest
from tui_helpers import BIG_EVENTS, BIG_ID, Terminal, big_db, drive, screen_text, settle

pytest.importorskip("textual")

from tui.app import TheaterApp  # noqa: E402
from tui.event_list import EventList  # noqa: E402
from tui.screens.chain import ChainScreen  # noqa: E402


@pytest.mark.slow
def test_million_event_chain_reaches_the_last_event(record_property):
    path = big_db()
    times: dict[str, float] = {}
    start = time.perf_counter()
    app = TheaterApp(path, BIG_ID, cursor_blink=False)

    async def scenario(pilot):
        screen = pilot.app.screen
        assert isinstance(screen, ChainScreen)
        events = screen.query_one(EventList)
        assert events.row_count == BIG_EVENTS and "#0 host:" in screen_text(pilot.app)
        times["first_paint"] = time.perf_counter() - start
        fetched = screen.source.fetches

        t = time.perf_counter()
        await pilot.press("G")
        await pilot.pause()
        text = screen_text(pilot.app)
        times["jump_to_end"] = time.perf_counter() - t
        assert events.cursor == BIG_EVENTS - 1
        assert f"#{BIG_EVENTS - 1} end" in text and f"{BIG_EVENTS - 1}  end" in text
        assert screen.source.fetches - fetched <= 2  # the last page (and no other)

        t = time.perf_counter()
        await pilot.press("colon", *"500000", "enter")
        await pilot.pause()
        times["go_to_middle"] = time.perf_counter() - t
        assert events.cursor == 500_000 and "#500000 " in screen_text(pilot.app)

        t = time.perf_counter()
        await pilot.press("k", "k", "pageup", "g")
        await pilot.pause()
        times["move_and_back_to_start"] = time.perf_counter() - t
        assert events.cursor == 0
        assert screen.source.fetches <= 8  # pages, of BIG_EVENTS / 256

        t = time.perf_counter()
        await pilot.press("v")
        await settle(pilot)
        times["verify"] = time.perf_counter() - t
        result = pilot.app.verified[BIG_ID]
        assert result.ok and result.events == BIG_EVENTS

        # leaving the screen cancels a verification under way; the app forgets it
        await pilot.press("v")
        worker = next(w for w in pilot.app.workers if w.group == "verify")
        await pilot.press("escape")
        await settle(pilot)
        assert worker.is_cancelled and worker.result is None
        assert BIG_ID not in pilot.app.verified
        assert "not verified" in screen_text(pilot.app)

    drive(app, scenario)
    for name, seconds in times.items():
        record_property(name, round(seconds, 3))
    print("\n" + "  ".join(f"{k} {v * 1000:.0f} ms" for k, v in times.items()))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a POSIX pseudo-terminal")
def test_million_event_chain_in_a_real_terminal(record_property):
    """`theater tui CHAIN` as a user runs it: process start to the first event drawn, then `G`."""
    path = big_db()
    start = time.perf_counter()
    term = Terminal("tui", BIG_ID, "--db", str(path))
    try:
        assert term.read_until(b"#0 "), term.output[-2000:]
        first_paint = time.perf_counter() - start
        t = time.perf_counter()
        term.press(b"G")
        assert term.read_until(f"#{BIG_EVENTS - 1} ".encode())
        jump = time.perf_counter() - t
        # while a verification runs in its thread, keys still answer
        term.press(b"v")
        assert term.read_until(b"verifying")
        term.output = b""
        t = time.perf_counter()
        term.press(b"k")
        assert term.read_until(f"#{BIG_EVENTS - 2} ".encode())
        key_while_verifying = time.perf_counter() - t
        assert term.read_until("✓ ok".encode(), timeout=120)
        term.press(b"q")
    finally:
        code = term.close()
    assert code == 0
    record_property("cli_first_paint", round(first_paint, 3))
    record_property("cli_jump_to_end", round(jump, 3))
    record_property("cli_key_while_verifying", round(key_while_verifying, 3))
    print(f"\ncli: first paint {first_paint * 1000:.0f} ms  jump to end {jump * 1000:.0f} ms"
          f"  key while verifying {key_while_verifying * 1000:.0f} ms")
