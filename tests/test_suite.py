"""The suite itself: the order its files run in and the command that runs it (issue 12 item 8)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_files_with_slow_tests_come_first_and_stay_whole(request: pytest.FixtureRequest) -> None:
    """issue 12 item 8: this session's collection (every xdist worker collects the same)
    puts the files holding ``slow`` tests before the others, each file's tests together,
    so ``--dist loadfile`` starts the long files first instead of last."""
    items = request.session.items
    files = [item.path for item in items]
    order = list(dict.fromkeys(files))
    runs = sum(1 for i, f in enumerate(files) if i == 0 or files[i - 1] != f)
    assert runs == len(order), "a file's tests are split up"
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    flags = [f in slow for f in order]
    assert flags == sorted(flags, reverse=True), [f.name for f in order if f in slow]


class _Item:
    """What the ordering hook reads of a collected test: its file and its ``slow`` mark."""

    def __init__(self, path: str, slow: bool = False) -> None:
        self.path = Path(path)
        self.slow = slow

    def get_closest_marker(self, name: str) -> object | None:
        return "slow" if name == "slow" and self.slow else None


def test_the_hook_moves_files_with_slow_tests_forward_most_first() -> None:
    """issue 12 item 8: the ordering itself, on a collection of four files (xdist's
    default would put ``a`` first, the file with the most tests)."""
    from conftest import pytest_collection_modifyitems

    items = [_Item("a"), _Item("a"), _Item("a"), _Item("b", True), _Item("b"), _Item("c"),
             _Item("d", True), _Item("d", True)]
    pytest_collection_modifyitems(None, items)  # type: ignore[arg-type]
    assert [(str(i.path), i.slow) for i in items] == [
        ("d", True), ("d", True), ("b", True), ("b", False), ("a", False), ("a", False), ("a", False),
        ("c", False)]


def test_make_test_keeps_the_order_and_reports_the_slowest() -> None:
    """issue 12 item 8: `make test` runs a file per worker in the order above (xdist's own
    most-tests-first reorder off) and ends with the 15 slowest tests."""
    make = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", make, re.M)
    assert recipe is not None
    command = recipe.group(1)
    for option in ("--durations=15", "--dist loadfile", "--no-loadscope-reorder"):
        assert option in command, f"`make test` lacks {option}"


def test_a_notification_outlives_a_slow_step_under_drive(tmp_path: Path) -> None:
    """issue 12 item 8: under ``drive`` a toast with the default lifetime stays until the
    test reads it (it expired after 5 s on a loaded machine: a failure of the suite, not
    of the app)."""
    pytest.importorskip("textual")
    from tui_helpers import demo_db, drive

    from tui.app import TheaterApp

    path = tmp_path / "demo.db"
    demo_db(path)
    seen: list[float] = []

    async def scenario(pilot: object) -> None:
        app = pilot.app  # type: ignore[attr-defined]
        app.notify("still here")
        await pilot.pause()  # type: ignore[attr-defined]
        seen.extend(n.timeout for n in app._notifications if n.message == "still here")

    drive(TheaterApp(path, cursor_blink=False), scenario)
    assert seen and min(seen) >= 600
