"""SVG snapshots of each screen (pytest-textual-snapshot), on fixed data at a fixed size.

Chain ids, creation and written-at times are pinned (tests/tui_helpers.py), the
terminal is 120x36, no input cursor blinks, toasts are cleared before the shot.
Regenerate with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and review
the SVGs in tests/__snapshots__/.
"""

import pytest
from tui_helpers import SIZE, demo_db, settle

pytest.importorskip("textual")

from tui.app import TheaterApp  # noqa: E402


@pytest.fixture
def demo(tmp_path):
    path = tmp_path / "demo.db"
    return path, demo_db(path)


def shot(*keys: str, action=None):
    """A run_before that presses keys, lets workers finish and clears the toasts."""

    async def run_before(pilot):
        await pilot.pause()
        if action is not None:
            action(pilot.app)
            await pilot.pause()
        if keys:
            await pilot.press(*keys)
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


def test_chains_screen(snap_compare, demo):
    path, _ = demo
    assert snap_compare(TheaterApp(path, cursor_blink=False), terminal_size=SIZE, run_before=shot("j"))


def test_chain_screen(snap_compare, demo):
    path, ids = demo
    app = TheaterApp(path, ids["recording"], cursor_blink=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=shot(*"jjjjjjjjj"))


def test_event_detail_screen(snap_compare, demo):
    path, ids = demo
    app = TheaterApp(path, ids["recording"], cursor_blink=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=shot("j", "enter"))


def test_verify_failure(snap_compare, demo):
    path, ids = demo
    app = TheaterApp(path, ids["tampered"], cursor_blink=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=shot("v"))


def test_diff_screen(snap_compare, demo):
    path, ids = demo
    app = TheaterApp(path, cursor_blink=False)
    assert snap_compare(app, terminal_size=SIZE,
                        run_before=shot(action=lambda a: a.open_diff(ids["recording"], ids["replay"])))
