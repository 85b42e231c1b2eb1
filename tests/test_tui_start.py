"""The chain browser's start-up and last night's leftovers (round s5, t-start): the
footer built once per set of keys (item 1), the ``t`` view following into the event
screen, the diff's decoded rendering and ``l`` found off the main thread (item 3)."""

import pytest
from tui_helpers import demo_db, drive, screen_text, settle

pytest.importorskip("textual")

from textual.widgets._footer import FooterKey  # noqa: E402

from tui.app import TheaterApp  # noqa: E402
from tui.footer import KeysFooter  # noqa: E402

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
