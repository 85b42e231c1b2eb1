"""The TUI's diff aligned by content (issue 17 item 5): a Pilot test and snapshots."""

import pytest
from tui_helpers import CREATED, LOG, RANDOM_U64, actor_events, drive, pin, screen_text, settle, write_events

from theater.store import Store

pytest.importorskip("textual")

from tui.app import TheaterApp  # noqa: E402
from tui.diff_list import DiffList  # noqa: E402
from tui.screens.diff import DiffScreen  # noqa: E402


def shifted_db(path):
    """A recording and a replay-like chain with one call inserted (after seq 7) and one
    missing (the recording's seq 15, a random draw), pinned for stable snapshots."""
    events = actor_events()
    other = list(events)
    other.insert(8, (LOG, {"args": {"msg": "an extra call"}, "result": None}))
    del other[16]
    assert events[15][0] == RANDOM_U64
    with Store(path) as store:
        a = pin(store, write_events(store, events), "5a1b2c3d4e5f6071", created=CREATED)
        b = pin(store, write_events(store, other, replay_of=a), "6b2c3d4e5f607182", created=CREATED + 60)
    return a, b


def test_inserted_and_missing_call_realign_the_rest(tmp_path):
    """issue 17 item 5: after an inserted call the rows line up again (A seq n beside B
    seq n+1), after the missing one A and B are back in step; n/N visit both."""
    path = tmp_path / "shift.db"
    a, b = shifted_db(path)

    async def scenario(pilot):
        app = pilot.app
        app.open_diff(a, b)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DiffScreen) and screen.alignment is not None
        rows = screen.query_one(DiffList)
        text = screen_text(app)
        assert "aligned by content: 1 missing, 1 inserted" in text
        assert "first difference at seq 8" in text  # the seq-by-seq verdict, beside
        assert rows.pair_at(rows.cursor) == (rows.alignment.row(8)[0], None, 8)  # the inserted call
        assert "B seq 8, not in A" in text and "inserted: only in B" in text
        await pilot.press("j")
        assert rows.pair_at(rows.cursor)[1:] == (8, 9)  # realigned: A 8 beside B 9
        assert "A seq 8 · B seq 9" in screen_text(app) and "equal in both chains" in screen_text(app)
        await pilot.press("n")
        assert rows.pair_at(rows.cursor)[1:] == (15, None)
        assert "A seq 15, not in B" in screen_text(app) and "missing: only in A" in screen_text(app)
        await pilot.press("j")
        assert rows.pair_at(rows.cursor)[1:] == (16, 16)  # back in step
        await pilot.press("n")
        assert rows.pair_at(rows.cursor)[1:] == (16, 16)  # no further difference
        await pilot.press("N")
        assert rows.pair_at(rows.cursor)[1:] == (15, None)
        await pilot.press("N", "N")
        assert rows.pair_at(rows.cursor)[1:] == (None, 8)
        # every row but those two pairs equal events
        kinds = [rows.alignment.row(r)[0] for r in range(rows.alignment.rows)]
        assert sum(k != "equal" for k in kinds) == 2 and rows.alignment.rows == len(actor_events()) + 2

    drive(TheaterApp(path, cursor_blink=False), scenario)


def _shot(a, b):
    async def run_before(pilot):
        await pilot.pause()
        pilot.app.open_diff(a, b)
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_aligned_diff_snapshot(snap_compare, tmp_path, size):
    """issue 17 item 5: the aligned diff at 80x24 and 160x45 (cursor on the missing call)."""
    path = tmp_path / "shift.db"
    a, b = shifted_db(path)
    assert snap_compare(TheaterApp(path, cursor_blink=False), terminal_size=size, run_before=_shot(a, b))
