"""The core (theater, replay, verify) must work without textual (STYLE.md: harlequin)."""

import subprocess
import sys

import pytest

CORE = ["theater", "theater.cli", "theater.chain", "theater.store", "theater.commands",
        "replay", "verify", "verify.integrity", "verify.results", "verify.walk"]


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_textual(module):
    code = (
        f"import importlib, sys; importlib.import_module({module!r}); "
        "from theater.commands import modules; "
        "[importlib.import_module('theater.commands.' + m) for m in modules()]; "
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
