"""The chain list sorted and filtered by actor, status and outcome (issue 17 item 7)."""

import pytest
from tui_helpers import CREATED, INIT, actor_events, demo_db, drive, pin, screen_text, settle, write_events

from theater.chain import canonical_json, make_header
from theater.errors import UsageError
from theater.store import Store

pytest.importorskip("textual")

from tui.app import TheaterApp  # noqa: E402
from tui.chain_filter import parse_filter  # noqa: E402
from tui.chain_table import ChainTable  # noqa: E402
from tui.screens.chains import ChainsScreen, FilterPrompt  # noqa: E402


def listing_db(path):
    """demo_db's four chains, an actor that trapped and one more counter."""
    ids = demo_db(path)
    with Store(path) as store:
        w = store.create_chain(make_header(actor="acrobat", component_sha256="c0" * 32, seed=3))
        w.append(INIT, canonical_json({"args": {"params": [], "state": None}, "result": {"err": "boom"}}))
        w.finish("trapped", message="unreachable")
        ids["trapped"] = pin(store, w.chain_id, "4e5f607182930415", created=CREATED + 240)
        ids["zebra"] = pin(store, write_events(store, actor_events(2), actor="zebra"), "5f60718293041526",
                           created=CREATED + 300)
    return ids


def order(app):
    return [r.key.value for r in app.screen.query_one(ChainTable).ordered_rows]


@pytest.mark.slow
def test_sort_and_filter_the_chain_list(tmp_path):
    """issue 17 item 7: `s` sorts by actor, status, outcome, length and back; `\\` filters
    by actor:, status:, outcome: or any column; the note says how many are shown."""
    path = tmp_path / "list.db"
    ids = listing_db(path)
    created = [ids[k] for k in ("recording", "replay", "other", "tampered", "trapped", "zebra")]

    async def scenario(pilot):
        app = pilot.app
        assert isinstance(app.screen, ChainsScreen) and order(app) == created
        assert "complete · trapped" in screen_text(app)  # the outcome shows where the run did not complete
        await pilot.press("s")
        assert order(app) == [ids[k] for k in ("trapped", "recording", "replay", "other", "tampered", "zebra")]
        assert "6 chains in list.db · sorted by actor" in screen_text(app)
        await pilot.press("s")  # status: complete < complete · trapped < complete, replay of < incomplete
        assert order(app) == [ids[k] for k in ("recording", "tampered", "zebra", "trapped", "replay", "other")]
        await pilot.press("s")  # outcome: "-" (no end event) < completed < trapped
        assert order(app) == [ids[k] for k in ("other", "recording", "replay", "tampered", "zebra", "trapped")]
        await pilot.press("s")  # events, longest first
        assert order(app)[:2] == [ids["recording"], ids["replay"]] and order(app)[-1] == ids["trapped"]
        await pilot.press("s")
        assert order(app) == created and "sorted by" not in screen_text(app)

        async def filt(*keys):
            await pilot.press("backslash")
            await pilot.pause()
            assert isinstance(app.screen, FilterPrompt)
            await pilot.press(*keys)
            await settle(pilot)

        await filt("end", *"actor:counter", "enter")
        assert order(app) == [ids[k] for k in ("recording", "replay", "other")]
        assert "3 of 6 chains in list.db · filter: actor:counter" in screen_text(app)
        await filt("end", *" status:replay", "enter")  # added to the prefilled filter: both must match
        assert order(app) == [ids["replay"]]
        await filt("end", "ctrl+u", *"outcome:trap", "enter")
        assert order(app) == [ids["trapped"]]
        await filt("end", "ctrl+u", *"colour:red", "enter")
        assert order(app) == [ids["trapped"]]  # an unknown field is refused, the filter kept
        assert isinstance(app.screen, ChainsScreen)
        await filt("escape")
        assert order(app) == [ids["trapped"]]  # escape keeps it
        await filt("end", "ctrl+u", *"zeb", "enter")  # a bare word: any column
        assert order(app) == [ids["zebra"]]
        await filt("end", "ctrl+u", "enter")  # empty: every chain again
        assert order(app) == created and "filter" not in screen_text(app)

    drive(TheaterApp(path, cursor_blink=False), scenario)


def test_parse_filter():
    """issue 17 item 7: the filter's words."""
    assert parse_filter("actor:Counter  trap") == [("actor", "counter"), (None, "trap")]
    with pytest.raises(UsageError, match="no field 'colour'"):
        parse_filter("colour:red")


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_sorted_filtered_chain_list_snapshot(snap_compare, tmp_path, size):
    """issue 17 item 7: the chain list sorted by actor and filtered to completed runs."""
    path = tmp_path / "list.db"
    listing_db(path)

    async def run_before(pilot):
        await pilot.pause()
        await pilot.press("s", "backslash")
        await pilot.pause()
        await pilot.press(*"outcome:completed", "enter")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(TheaterApp(path, cursor_blink=False), terminal_size=size, run_before=run_before)
