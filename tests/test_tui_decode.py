"""The event detail's decoded byte values, `t` and `y`, under a Pilot and as SVG snapshots
(issue 17 items 1 and 6), on real database files (tests/tui_helpers.py).

Regenerate the snapshots with ``pytest tests/test_tui_decode.py --snapshot-update`` and
look at the SVGs in tests/__snapshots__/test_tui_decode/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from tamper import set_event
from tui_helpers import LOG, demo_db, drive, pin, screen_text, settle, write_events

from theater.decode import event_to_json
from theater.legacy import build_legacy
from theater.store import Store

pytest.importorskip("textual")

from tui.app import TheaterApp  # noqa: E402
from tui.detail import EventDetail  # noqa: E402
from tui.screens.event import EventScreen  # noqa: E402

SMALL, LARGE = (80, 24), (160, 45)
INIT, SEND_0 = 4, 7  # in the demo recording: init returns {"count":0}; handle-send gets "ping 0"


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "demo.db"
    return path, demo_db(path)


def app_for(path: Path, chain: str) -> TheaterApp:
    return TheaterApp(path, chain, cursor_blink=False)


def test_t_switches_every_byte_value_between_views(demo: tuple[Path, dict[str, str]]) -> None:
    """issue 17 item 1: auto (JSON when it parses, text when printable, hex otherwise),
    then `t`: text, JSON, hex, auto again, on every byte value of the event."""
    path, ids = demo

    async def scenario(pilot: Any) -> None:
        await pilot.press(*"j" * SEND_0)
        await settle(pilot)
        text = screen_text(pilot.app)
        assert "args.msg · 6 bytes · text" in text and "ping 0" in text
        assert "args.state.some.· 11 bytes · JSON".replace(".·", " ·") in text and '"count": 1' in text
        await pilot.press("t")  # text
        text = screen_text(pilot.app)
        assert "args.state.some · 11 bytes · text" in text and '{"count":1}' in text
        await pilot.press("t")  # JSON: the message is not JSON, and says so
        text = screen_text(pilot.app)
        assert "args.msg · 6 bytes · text (not JSON)" in text and "args.state.some · 11 bytes · JSON" in text
        await pilot.press("t")  # hex
        text = screen_text(pilot.app)
        assert "args.msg · 6 bytes · hex" in text and "70 69 6e 67 20 30" in text
        assert "7b 22 63 6f" in text
        await pilot.press("t")  # auto again
        assert pilot.app.screen.query_one(EventDetail).view == "auto"
        assert "args.msg · 6 bytes · text" in screen_text(pilot.app)

    drive(app_for(path, ids["recording"]), scenario, size=LARGE)


def test_random_bytes_hexdump_fits_the_pane(demo: tuple[Path, dict[str, str]]) -> None:
    """issue 17 item 1: the hex dump is as wide as the pane, at 80 and 160 columns (at 80
    the panes stack, issue 17 item 4, so the detail is the full width there too)."""
    from theater.decode import hex_width

    path, ids = demo
    for size in (SMALL, LARGE):

        async def scenario(pilot: Any) -> None:
            await pilot.press("j")  # 16 random bytes
            await settle(pilot)
            detail = pilot.app.screen.query_one(EventDetail)
            text = screen_text(pilot.app)
            assert "result · 16 bytes · hex" in text
            dump = [line for line in text.splitlines() if "00000000  " in line][0]
            row = dump[dump.index("00000000"):].rstrip()
            width = detail.scrollable_content_region.width
            assert len(row) <= width
            assert len(row.split("  ")[1].split()) == hex_width(width) >= 4

        drive(app_for(path, ids["recording"]), scenario, size=size)


def test_long_strings_wrap_instead_of_being_cut(tmp_path: Path) -> None:
    """issue 17 item 1: a long string wraps at the pane edge; its end is on screen."""
    path = tmp_path / "long.db"
    long = "start-" + "x" * 150 + "-the-end"
    with Store(path) as store:
        chain = pin(store, write_events(store, [(LOG, {"args": {"msg": long}, "result": None})]),
                    "0a1b2c3d4e5f6071")

    async def scenario(pilot: Any) -> None:
        await settle(pilot)
        text = screen_text(pilot.app)
        assert "start-xxx" in text and "-the-end" in text
        pane = "".join(line.split("│", 1)[-1].strip().rstrip(" ▁▂▃▄▅▆▇█") for line in text.splitlines())
        assert long in pane, text  # folded over lines, nothing cut

    drive(app_for(path, chain), scenario, size=SMALL)


def test_a_tampered_row_that_is_not_json_is_labelled(demo: tuple[Path, dict[str, str]]) -> None:
    """issue 17 item 1: data that is not JSON is labelled `(not JSON)` and shown as hex
    (text when printable), with no control sequence reaching the terminal."""
    path, ids = demo
    with Store(path) as store:
        set_event(store, ids["tampered"], 2, data=b"\x00\xffnot json\x1b[2J")
        set_event(store, ids["tampered"], 3, data=b"plain words")

    async def scenario(pilot: Any) -> None:
        await pilot.press("j", "j")
        await settle(pilot)
        text = screen_text(pilot.app)
        assert "(not JSON)" in text and "not JSON · hex" in text and "00 ff 6e 6f" in text
        assert '"hex"' not in text
        await pilot.press("j")
        await settle(pilot)
        text = screen_text(pilot.app)
        assert "not JSON · text" in text and "plain words" in text

    drive(app_for(path, ids["tampered"]), scenario, size=LARGE)


def test_legacy_byte_arrays_are_decoded(tmp_path: Path) -> None:
    """issue 17 item 1: a legacy chain's byte arrays show as text or JSON, not one decimal a line."""
    from verify.importer import import_file

    f = tmp_path / "legacy.json"
    f.write_bytes(orjson.dumps(build_legacy([
        ("wasi:random/random@0.2.3/get-random-bytes",
         b'{"category":"HostFunction","input":[49,48],"output":[91,55,57,44,50,50,50,93],"note":[104,105]}')])))
    path = tmp_path / "l.db"
    with Store(path) as store:
        chain = import_file(store, f).chain
    assert chain is not None

    async def scenario(pilot: Any) -> None:
        await settle(pilot)
        text = screen_text(pilot.app)
        assert "input · 2 bytes · JSON" in text and "note · 2 bytes · text" in text
        assert "output · 8 bytes · JSON" in text and "[79, 222]" in text
        assert '"input": [49, 48],' in text  # the payload keeps an array on one line
        lines = [line.split("│")[-1].strip().rstrip(",") for line in text.splitlines()]
        assert not any(line.isdigit() for line in lines if line not in ("10",))

    drive(app_for(path, chain), scenario, size=LARGE)


def test_y_copies_hash_then_event_json_then_decoded_values(demo: tuple[Path, dict[str, str]]) -> None:
    """issue 17 item 6: `y` copies the hash, again the event JSON, again the decoded
    values, then the hash again (OSC 52 via App.copy_to_clipboard), with a toast saying
    what was copied; in the chain screen and in the event screen."""
    path, ids = demo
    with Store(path) as store:
        ev = store.event(ids["recording"], INIT)
    assert ev is not None

    async def scenario(pilot: Any) -> None:
        app = pilot.app
        await pilot.press(*"j" * INIT)
        await settle(pilot)
        await pilot.press("y")
        assert app.clipboard == ev.hash.hex()
        toast = list(app._notifications)[-1]
        assert toast.message.startswith(f"Copied the hash of event {INIT} (64 characters")
        assert toast.message.endswith("y again: the event JSON")
        await pilot.press("y")
        assert orjson.loads(app.clipboard) == orjson.loads(orjson.dumps(event_to_json(ev)))
        await pilot.press("y")
        assert app.clipboard == '{\n  "count": 0\n}'
        assert "Copied the decoded result.ok[0].some of event 4" in list(app._notifications)[-1].message
        await pilot.press("y")
        assert app.clipboard == ev.hash.hex()
        await pilot.press("enter")  # the event screen: the detail has the focus
        await settle(pilot)
        assert isinstance(app.screen, EventScreen)
        await pilot.press("t", "y", "y", "y")  # text view: the state as its bytes read
        assert app.clipboard == '{"count":0}'
        await pilot.press("j", "y")  # another event starts again at its hash
        nxt = app.screen.source.event(INIT + 1)
        assert app.clipboard == nxt.hash.hex()

    drive(app_for(path, ids["recording"]), scenario, size=LARGE)


# -- snapshots: the event screen in each view, at 80x24 and 160x45 --------------------


def shot(*keys: str) -> Any:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        await pilot.press(*keys)
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x45"])
@pytest.mark.parametrize("presses", [0, 1, 2, 3], ids=["auto", "text", "json", "hex"])
def test_event_detail_views_snapshot(snap_compare: Any, demo: tuple[Path, dict[str, str]],
                                     size: tuple[int, int], presses: int) -> None:
    """issue 17 item 1: the event screen of a handle-send (a text message, a JSON state)
    in each view."""
    path, ids = demo
    keys = ["j"] * SEND_0 + ["enter"] + ["t"] * presses
    assert snap_compare(app_for(path, ids["recording"]), terminal_size=size, run_before=shot(*keys))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x45"])
def test_event_detail_not_json_snapshot(snap_compare: Any, demo: tuple[Path, dict[str, str]],
                                        size: tuple[int, int]) -> None:
    """issue 17 item 1: a tampered row that is not JSON, labelled so, beside the list."""
    path, ids = demo
    with Store(path) as store:
        set_event(store, ids["tampered"], 2, data=b"\x00\xffnot json at all")
    assert snap_compare(app_for(path, ids["tampered"]), terminal_size=size, run_before=shot("j", "j"))
