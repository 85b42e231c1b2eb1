"""`theater tui` as a user runs it, in tmux at 80x24 (issue 17 item 4): the real
binary in a real terminal; the footer keeps its labels apart and the type column
keeps the function. Skips, saying why, where tmux is not installed (`make test`
installs it where apt-get runs as root: fixtures/toolchains.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tui_helpers import demo_db

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (Debian: apt-get install tmux)")
REC = "0a1b2c3d4e5f6071"


def theater_binary() -> list[str]:
    script = Path(sys.executable).with_name("theater")
    return [str(script)] if script.exists() else [sys.executable, "-m", "theater"]


class Tmux:
    """A tmux server of our own (its own socket), one window of a fixed size."""

    def __init__(self, tmp: Path, cmd: list[str], *, width: int, height: int) -> None:
        self.base = [str(TMUX), "-S", str(tmp / "tmux.sock"), "-f", os.devnull]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        env["TERM"] = "xterm-256color"
        subprocess.run([*self.base, "new-session", "-d", "-x", str(width), "-y", str(height),
                        " ".join(cmd)], check=True, env=env)

    def screen(self) -> str:
        proc = subprocess.run([*self.base, "capture-pane", "-p"], capture_output=True, text=True)
        return proc.stdout

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)  # polling the pane, not waiting a fixed time
        raise AssertionError(f"{text!r} never appeared:\n{screen}")

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", *keys], check=True)

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


def test_real_binary_at_80x24_footer_and_type_column(tmp_path):
    """issue 17 item 4: at 80x24 the panes stack, the footer reads `PgUp PgDn Page ⏎ Open`
    (not `Page⏎ Open`), each row's type keeps its function (`…random#get-random-bytes`)."""
    db = tmp_path / "demo.db"
    demo_db(db)
    cmd = [*theater_binary(), "tui", REC, "--db", str(db)]
    term = Tmux(tmp_path, [f"'{c}'" for c in cmd], width=80, height=24)
    try:
        screen = term.wait_for("PgUp PgDn Page ⏎ Open")
        screen = term.wait_for("get-random-bytes(16) -> 16 B")
        lines = screen.splitlines()
        footer = lines[-1]
        assert "jk Move  gG Start/End  PgUp PgDn Page ⏎ Open" in footer, footer
        rows = [line for line in lines if "get-random-bytes(16)" in line]
        assert len(rows) == 3 and all("…random#get-random-bytes" in r for r in rows), screen
        assert all(len(r) <= 80 for r in lines)
        term.keys("q")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and subprocess.run(
                [*term.base, "has-session"], capture_output=True).returncode == 0:
            time.sleep(0.1)
    finally:
        term.close()
