"""The theme remembered in $XDG_CONFIG_HOME/theater/config.toml (issue 17 item 7)."""

import tomllib

import pytest
from tui_helpers import demo_db, drive, settle

from theater.config import config_path, load_config, save_setting
from theater.errors import UsageError

pytest.importorskip("textual")

from tui.app import TheaterApp  # noqa: E402


def test_theme_is_remembered_across_two_app_runs(tmp_path, monkeypatch):
    """issue 17 item 7: a theme chosen in one run of the app is the theme of the next."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    path = tmp_path / "demo.db"
    demo_db(path)
    seen = {}

    async def choose(pilot):
        seen["default"] = pilot.app.theme
        pilot.app.theme = "nord"  # what the command palette's "Change theme" does
        await settle(pilot)

    drive(TheaterApp(path, cursor_blink=False), choose)
    cfg = tmp_path / "cfg" / "theater" / "config.toml"
    assert config_path() == cfg and tomllib.loads(cfg.read_text()) == {"theme": "nord"}
    assert seen["default"] != "nord"

    async def check(pilot):
        seen["second"] = pilot.app.theme

    drive(TheaterApp(path, cursor_blink=False), check)
    assert seen["second"] == "nord"


def test_a_broken_config_is_reported_not_overwritten(tmp_path, monkeypatch):
    """issue 17 item 7: a config that is not TOML: the app starts with its default theme,
    says what is wrong, and leaves the file alone."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    cfg = config_path()
    cfg.parent.mkdir(parents=True)
    cfg.write_text("theme = nord\n")  # not TOML: the string is unquoted
    path = tmp_path / "demo.db"
    demo_db(path)
    notes = []

    async def scenario(pilot):
        notes.extend(n.message for n in pilot.app._notifications)
        pilot.app.theme = "nord"
        await settle(pilot)
        notes.extend(n.message for n in pilot.app._notifications)

    drive(TheaterApp(path, cursor_blink=False), scenario)
    assert any("is not a TOML file" in n and "fix or remove it" in n for n in notes)
    assert cfg.read_text() == "theme = nord\n"


def test_save_setting_keeps_other_keys_and_refuses_tables(tmp_path):
    """issue 17 item 7: the file keeps its other keys; one it cannot write back is left alone."""
    cfg = tmp_path / "c" / "config.toml"
    save_setting("theme", "gruvbox", path=cfg)
    cfg.write_text(cfg.read_text() + 'editor = "vi \\"quoted\\""\ncount = 3\n')
    save_setting("theme", "nord", path=cfg)
    assert load_config(cfg) == {"theme": "nord", "editor": 'vi "quoted"', "count": 3}
    cfg.write_text('theme = "x"\n[colours]\nred = 1\n')
    with pytest.raises(UsageError, match="cannot write back"):
        save_setting("theme", "nord", path=cfg)
    assert cfg.read_text() == 'theme = "x"\n[colours]\nred = 1\n'
