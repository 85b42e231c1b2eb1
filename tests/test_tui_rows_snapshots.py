"""SVG snapshots of the chain screen's rows (issue 17 items 2, 3, 4) at 80x24 and
160x45: the summary column, the call tree, a filter, and the narrow layout. Fixed
data (tests/tui_helpers.py); regenerate with ``pytest tests/test_tui_rows_snapshots.py
--snapshot-update`` and review the SVGs in tests/__snapshots__/."""

import pytest
from tui_helpers import demo_db, settle

pytest.importorskip("textual")

from tui.app import TheaterApp  # noqa: E402

REC = "0a1b2c3d4e5f6071"
SIZES = {"80x24": (80, 24), "160x45": (160, 45)}


@pytest.fixture
def demo(tmp_path):
    path = tmp_path / "demo.db"
    demo_db(path)
    return path


def shot(*keys: str):
    async def run_before(pilot):
        await settle(pilot)
        for k in keys:
            await pilot.press(k)
            await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_rows_summary(snap_compare, demo, size):
    """issue 17 items 2 and 4: the summary column; at 80 columns stacked, no hash."""
    app = TheaterApp(demo, REC, cursor_blink=False)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=shot("j", "j", "j", "j"))


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_rows_call_tree(snap_compare, demo, size):
    """issue 17 item 2: host calls nested under the export that made them."""
    app = TheaterApp(demo, REC, cursor_blink=False)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=shot("c"))


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_rows_filter(snap_compare, demo, size):
    """issue 17 item 3: only the rows matching `ping`, counted above the footer."""
    app = TheaterApp(demo, REC, cursor_blink=False)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=shot("backslash", *"ping", "enter"))
