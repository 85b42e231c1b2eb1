"""The chain screen's rows (issue 17 items 2, 3 and 4) under a Pilot, on real
database files: the summary column, find and filter by content, the call tree, the
noise toggle, narrow layouts, footers at 80 columns, toasts, `:N` past the end."""

import re

import pytest
from tui_helpers import demo_db, drive, screen_text, settle

pytest.importorskip("textual")

from tui.app import TheaterApp  # noqa: E402
from tui.event_list import EventList  # noqa: E402

REC = "0a1b2c3d4e5f6071"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("rows") / "demo.db"
    return path, demo_db(path)


def app_for(path, chain=REC):
    return TheaterApp(path, chain, cursor_blink=False)


def toasts(app):
    return [str(n.message) for n in app._notifications]


def find_bar(app):
    return str(app.screen.query_one("#find-status").render())


def test_rows_say_what_happened(demo):
    """issue 17 item 2: a summary column in words beside the type."""
    path, _ = demo

    async def scenario(pilot):
        await settle(pilot)
        text = screen_text(pilot.app)
        assert re.search(r"^ +5  \S*runtime#log +log \"message 0\"", text, re.M), text
        assert re.search(r"^ +1  …\S*#get-random-bytes +get-random-bytes\(16\) -> 16 B", text, re.M)
        assert re.search(r"^ +7  \S+ +handle-send\(\"ping 0\"\) -> ok", text, re.M)

    drive(app_for(path), scenario, size=(160, 45))


@pytest.mark.slow
def test_find_by_content_counts_matches_and_says_when_it_wraps(demo):
    """issue 17 item 3: `/` finds in log text and decoded bytes, "match k/N", wraps."""
    path, _ = demo

    async def scenario(pilot):
        app = pilot.app
        events = app.screen.query_one(EventList)
        await pilot.press("slash", *r"re:message \d", "enter")  # the log text, not message-server
        await settle(pilot)
        assert events.cursor == 5 and "match 1/6" in find_bar(app)
        await pilot.press("n")
        assert events.cursor == 8 and "match 2/6" in find_bar(app)
        await pilot.press("N", "N")
        assert events.cursor == 20 and "match 6/6" in find_bar(app)
        assert any("wrapped past the start" in t for t in toasts(app)), toasts(app)
        # inside base64: the message of a handle-send, never its base64 text
        await pilot.press("slash", "ctrl+u", *"ping 3", "enter")
        await settle(pilot)
        assert events.cursor_seq == 16 and "match 1/1" in find_bar(app)
        # plain text ignores case when it is lowercase
        await pilot.press("slash", "ctrl+u", *"MESSAGE 3".lower(), "enter")
        await settle(pilot)
        assert "match 1/1" in find_bar(app) and events.cursor_seq == 14
        await pilot.press("slash", "ctrl+u", *"Message 1", "enter")
        await settle(pilot)
        assert "nothing matches 'Message 1'" in toasts(app)[-1]  # a capital: the exact case
        await pilot.press("slash", "ctrl+u", *"re:(", "enter")
        await settle(pilot)
        assert "is not a regular expression" in toasts(app)[-1]
        assert len(toasts(app)) == 1  # each toast replaced the one before (issue 17 item 4)

    drive(app_for(path), scenario, size=(160, 45))


def test_filter_shows_only_matching_rows(demo):
    """issue 17 item 3: `\\` shows only the matching rows; an empty pattern shows all."""
    path, _ = demo

    async def scenario(pilot):
        app = pilot.app
        events = app.screen.query_one(EventList)
        await pilot.press("backslash", *"ping", "enter")
        await settle(pilot)
        assert events.row_count == 6 and [events.view.seq(r) for r in range(6)] == [7, 10, 13, 16, 19, 22]
        assert "6 of 24 shown" in find_bar(app)
        text = screen_text(app)
        assert 'handle-send("ping 5")' in text and "log \"message" not in text
        await pilot.press("backslash", "ctrl+u", "enter")
        await settle(pilot)
        assert events.row_count == 24

    drive(app_for(path), scenario, size=(160, 45))


def test_call_tree_and_noise_toggle(demo):
    """issue 17 item 2: `c` nests host calls under their export; `x` hides noise."""
    path, _ = demo

    async def scenario(pilot):
        app = pilot.app
        events = app.screen.query_one(EventList)
        await pilot.press("c")
        await settle(pilot)
        rows = [(events.view.seq(r), events.view.depth(r)) for r in range(events.row_count)]
        # init first, the calls made before it nested; then each send with its log and random draw
        assert rows[:6] == [(4, 0), (0, 1), (1, 1), (2, 1), (3, 1), (7, 0)]
        assert rows[6:8] == [(5, 1), (6, 1)] and rows[-1] == (23, 0)
        assert re.search(r"^ +4  \S+ +init", screen_text(app), re.M)
        assert re.search(r"^     +0  ", screen_text(app), re.M)  # indented
        await pilot.press("x", "x")  # every event -> wasi:io hidden -> exports only
        await settle(pilot)
        assert [events.view.seq(r) for r in range(events.row_count)] == [4, 7, 10, 13, 16, 19, 22, 23]
        assert "exports only, call tree: 8 of 24 shown" in find_bar(app)
        await pilot.press("x", "c")
        await settle(pilot)
        assert events.row_count == 24 and events.view.seq(5) == 5

    drive(app_for(path), scenario, size=(160, 45))


def test_narrow_layout_stacks_and_hides_the_hash(demo):
    """issue 17 item 4: below 100 columns the panes stack and the hash column hides."""
    path, _ = demo
    with __import__("theater.store", fromlist=["Store"]).Store(path) as s:
        h = s.event(REC, 1).hash.hex()[:8]

    async def wide(pilot):
        await settle(pilot)
        assert h in screen_text(pilot.app) and not pilot.app.screen.has_class("narrow")
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        screen = pilot.app.screen
        assert screen.has_class("narrow")
        lst, detail = screen.query_one(EventList).region, screen.query_one("#detail").region
        assert lst.width == detail.width == 80 and detail.y > lst.y  # stacked
        text = screen_text(pilot.app)
        assert h not in text.split("#0 ")[0]  # no hash column in the list
        assert re.search(r"^ +1  …\S*#get-random-bytes", text, re.M)

    drive(app_for(path), wide, size=(160, 45))


def test_goto_past_the_end_says_where_it_went(demo):
    """issue 17 item 4: `:999` on a chain of 24 events."""
    path, _ = demo

    async def scenario(pilot):
        await pilot.press("colon", *"999", "enter")
        await settle(pilot)
        assert pilot.app.screen.query_one(EventList).cursor == 23
        assert "the chain has 24 events (seq 0 to 23): moved to the last one, 23, not 999" in toasts(pilot.app)

    drive(app_for(path), scenario, size=(80, 24))


def test_seven_digit_seqs_fit():
    """issue 17 item 4: the seq column is as wide as the last seq."""
    from tui.event_list import EventList as EL

    class Source:
        rows = 12_345_678

    assert EL(Source()).seq_width == 8  # type: ignore[arg-type]


@pytest.mark.parametrize("keys", [(), ("enter",), ("enter", "enter"), ("enter", "slash"), ("enter", "d")],
                         ids=["chains", "chain", "event", "prompt", "pick"])
def test_footers_at_80_columns_keep_labels_apart(demo, keys):
    """issue 17 item 4: no screen's footer runs a label into the next key
    (`Pagev Verify`, `jk Eventesc Back`)."""
    path, _ = demo

    async def scenario(pilot):
        await settle(pilot)
        for k in keys:
            await pilot.press(k)
            await settle(pilot)
        footer = screen_text(pilot.app).splitlines()[-1]
        assert footer.strip(), "no footer"
        for glued in ("Page⏎", "Pagev", "Eventesc", "Find\\", "Findesc"):
            assert glued not in footer, footer
        # a group's label ends before the next key's space (it is followed by a space)
        assert not re.search(r"(Move|Start/End|Page|Find|Event|Scroll)(?=[^\s/])", footer), footer

    drive(TheaterApp(path, cursor_blink=False), scenario, size=(80, 24))
