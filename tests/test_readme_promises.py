"""What the README and the Makefile promise a new user (issue 17 item 8): how to run
`theater` after `make demo`, how `new-build.wasm` is built, `make clean` removing what the
demo made, and an install without deprecation warnings (`project.license` as SPDX)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

from theater import demo

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def test_pyproject_license_is_spdx_and_setuptools_reads_it_without_deprecation() -> None:
    """issue 17 item 8: setuptools' own reading of pyproject.toml (what `pip install` runs
    in its build step) warns of no deprecation; the license is an SPDX string."""
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in meta["build-system"]["requires"]  # the first to read an SPDX license
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_configuration(Distribution(), ROOT / "pyproject.toml")
    deprecated = [str(w.message).splitlines()[0] for w in caught if "deprecat" in str(w.message).lower()]
    assert deprecated == []


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_clean_removes_what_the_demo_made(tmp_path: Path) -> None:
    """issue 17 item 8: `make clean` (the real make, on a copy of the Makefile) removes the
    venv, demo/ (database, components) and the build files, and nothing else."""
    shutil.copyfile(ROOT / "Makefile", tmp_path / "Makefile")
    made = [".venv/bin/theater", "demo/demo.db", "demo/example.wasm", "demo/new-build.wasm",
            "demo/manifest.toml", "build/lib/x.py", "theater.egg-info/PKG-INFO", ".import_linter_cache/x"]
    for rel in made + ["keep.txt", "fixtures/build.py"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    r = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["Makefile", "fixtures/build.py", "keep.txt"]


def test_readme_and_demo_say_how_to_run_theater(monkeypatch: pytest.MonkeyPatch) -> None:
    """issue 17 item 8: after `make demo`, `theater` is .venv/bin/theater or the activated
    venv's: the README and the demo's last lines say so."""
    assert "`.venv/bin/theater`" in README and "`. .venv/bin/activate`" in README
    monkeypatch.setattr(sys, "prefix", str(ROOT / ".venv"))
    monkeypatch.chdir(ROOT)
    assert demo.how_to_run() == ("run theater as .venv/bin/theater "
                                 "(or `. .venv/bin/activate` first, then plain `theater`)")


def test_new_build_is_built_where_the_readme_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """issue 17 item 8: the README's `--component demo/new-build.wasm` is what `make
    new-build` (python -m theater.demo new-build) writes: the example_v2 actor."""
    from fixtures.build import build_actor

    assert re.search(r"^new-build: \$\(STAMP\)\n\t\$\(BIN\)/python -m theater\.demo new-build$", MAKEFILE, re.M)
    assert "make new-build" in README and "--component demo/new-build.wasm" in README
    monkeypatch.chdir(tmp_path)
    assert demo.main(["new-build"]) == 0
    built = tmp_path / "demo" / "new-build.wasm"
    assert built.read_bytes() == build_actor("example_v2").read_bytes()
    out = capsys.readouterr().out
    assert "--component demo/new-build.wasm" in out and "run theater as" in out
    assert demo.main(["bogus"]) == 2
    assert "give none, or new-build" in capsys.readouterr().err
