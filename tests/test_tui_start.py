"""The chain browser's start-up and last night's leftovers (round s5, t-start): the
footer built once per set of keys (item 1), the ``t`` view following into the event
screen, the diff's decoded rendering and ``l`` found off the main thread (item 3)."""

import pytest
from tui_helpers import CREATED, LOG, SEND, actor_events, b64, demo_db, drive, pin, screen_text, settle, write_events

from theater.decode import View
from theater.store import Store

pytest.importorskip("textual")

from textual.widgets._footer import FooterKey  # noqa: E402

import tui.data  # noqa: E402
from tui.app import TheaterApp  # noqa: E402
from tui.detail import EventDetail  # noqa: E402
from tui.footer import KeysFooter  # noqa: E402
from tui.screens.diff import DiffScreen  # noqa: E402
from tui.screens.event import EventScreen  # noqa: E402

REC = "0a1b2c3d4e5f6071"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("start") / "demo.db"
    return path, demo_db(path)


def footer_keys(screen):
    return list(screen.query_one(KeysFooter).query(FooterKey))


def test_footer_is_built_once_per_set_of_keys(demo):
    """t-start item 1 (TUI first paint): a refresh of the bindings that changes no key
    keeps the footer's keys (Textual's footer rebuilt and restyled them all on every
    focus change); a change of keys (the detail focused) still rebuilds it; every key is
    compact from the start."""
    path, _ = demo

    async def scenario(pilot):
        await settle(pilot)
        screen = pilot.app.screen
        before = footer_keys(screen)
        assert {k.key for k in before} >= {"slash", "v", "escape", "enter"}
        assert all(k.has_class("-compact") for k in before)
        screen.refresh_bindings()
        await settle(pilot)
        after = footer_keys(screen)
        assert [id(k) for k in after] == [id(k) for k in before], "rebuilt though nothing changed"
        await pilot.press("tab")  # the detail: its scroll keys replace the list's moves
        await settle(pilot)
        detail = footer_keys(screen)
        assert "home" in {k.key for k in detail} and "j,down" not in {k.key for k in detail}
        await pilot.press("shift+tab")
        await settle(pilot)
        assert [k.key for k in footer_keys(screen)] == [k.key for k in before]

    drive(TheaterApp(path, REC, cursor_blink=False), scenario, size=(160, 45))


def test_screen_under_another_builds_its_footer_when_resumed(demo):
    """t-start item 1: the chains screen under a chain opened at start builds no footer
    keys until it is shown, then shows its own keys."""
    path, _ = demo

    async def scenario(pilot):
        await settle(pilot)
        chains = pilot.app.screen_stack[0]
        assert footer_keys(chains) == []
        await pilot.press("escape")
        await settle(pilot)
        assert pilot.app.screen is chains
        assert {"s", "v", "d", "R"} <= {k.key for k in footer_keys(chains)}
        assert "Sort" in screen_text(pilot.app).splitlines()[-1]

    drive(TheaterApp(path, REC, cursor_blink=False), scenario, size=(160, 45))


# -- item 3: last night's leftovers ---------------------------------------------------


def test_the_dead_find_type_of_the_browser_is_gone():
    """t-start item 3: tui/data.find_type had no caller but its own test (find and
    filter by content are theater/store/search.py; time travel uses Store.find_type)."""
    assert not hasattr(tui.data, "find_type")


def test_the_view_chosen_with_t_follows_into_the_event_screen_and_back(demo):
    """t-start item 3: `t` in the chain screen's detail, then enter: the event screen
    shows byte values in that view (it started in auto); a view chosen there comes back
    to the chain screen's detail on escape."""
    path, _ = demo

    async def scenario(pilot):
        await settle(pilot)
        chain = pilot.app.screen
        await pilot.press("end", "k", "t")  # the last send: its message and state are bytes
        await settle(pilot)
        assert chain.query_one(EventDetail).view is View.TEXT
        await pilot.press("enter")
        await settle(pilot)
        event = pilot.app.screen
        assert isinstance(event, EventScreen)
        assert event.query_one(EventDetail).view is View.TEXT
        assert "bytes · text" in screen_text(pilot.app)
        await pilot.press("t")  # json
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert pilot.app.screen is chain
        assert chain.query_one(EventDetail).view is View.JSON
        assert "bytes · JSON" in screen_text(pilot.app)

    drive(TheaterApp(path, REC, cursor_blink=False), scenario, size=(160, 45))


def diff_db(path):
    """Two chains that differ in a long log message (words, so that it wraps) and in a
    sent message's bytes."""
    a, b = actor_events(), actor_events()
    a[5] = (LOG, {"args": {"msg": " ".join(f"a{i:03d}" for i in range(120))}, "result": None})
    b[5] = (LOG, {"args": {"msg": " ".join(f"b{i:03d}" for i in range(120))}, "result": None})
    assert b[7][0] == SEND
    b[7][1]["args"]["msg"] = b64(b"pong 0")
    with Store(path) as store:
        ia = pin(store, write_events(store, a), "7a1b2c3d4e5f6071", created=CREATED)
        ib = pin(store, write_events(store, b, replay_of=ia), "8b2c3d4e5f607182", created=CREATED + 60)
    return ia, ib


def test_the_diff_folds_long_strings_and_decodes_bytes(tmp_path):
    """t-start item 3: the diff's payloads are rendered as the chain screen's detail
    (theater/decode.py): a long string folds onto the next lines to its last word (the
    old JSON renderer cut it at the column's edge) and a sent message's bytes read as
    their text beside their base64."""
    path = tmp_path / "diff.db"
    a, b = diff_db(path)

    async def scenario(pilot):
        pilot.app.open_diff(a, b)
        await settle(pilot)
        assert isinstance(pilot.app.screen, DiffScreen)
        text = screen_text(pilot.app)
        assert "differs" in text and "a000" in text and "b000" in text
        assert "a119" in text and "b119" in text, text  # the ends of both messages
        await pilot.press("n")  # the send
        await settle(pilot)
        text = screen_text(pilot.app)
        assert "args.msg · 6 bytes · text" in text, text
        assert "ping 0" in text and "pong 0" in text

    drive(TheaterApp(path, cursor_blink=False), scenario, size=(160, 45))
