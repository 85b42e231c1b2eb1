"""The layers are enforced (issue 12 item 1) and the wheel holds only theater's packages
(issue 12 item 7).

The contracts live in pyproject.toml ``[tool.importlinter]`` and run as ``lint-imports``
in ``make lint`` and ``make test``. These tests prove that the real tree keeps them, that
each contract breaks on a real violation of its rule (a copy of the tree with one
offending import added), and that every ignore has its reason beside it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("theater", "replay", "verify", "tui")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PYPROJECT = ROOT / "pyproject.toml"


def contracts() -> list[dict[str, object]]:
    config = tomllib.loads(PYPROJECT.read_text())
    found: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return found


# For each contract (by id), one import that breaks it: (file, line to append).
VIOLATIONS: dict[str, tuple[str, str]] = {
    # replay and verify are lower than tui, even through a data module without textual
    "upper-layers": ("verify/diff.py", "import tui.data"),
    # a core module reaching up past the CLI
    "composition-root": ("theater/layer_probe_root.py", "import replay.divergence"),
    # the core importing the CLI (which may import everything)
    "cli-on-top": ("theater/layer_probe_cli.py", "import theater.commands"),
    # a command other than `theater tui` reaching textual through tui.app
    "textual-in-tui": ("theater/commands/layer_probe_tui.py", "import tui.app"),
    # verify reaching wasmtime indirectly, through the runtime
    "verify-runs-no-code": ("verify/layer_probe_run.py", "import theater.runtime"),
    "pure-core": ("theater/jsondiff.py", "import sqlite3"),
    "storage-runs-no-code": ("theater/store/writer.py", "import theater.engine"),
    "waist-without-sqlite": ("theater/engine.py", "import sqlite_utils"),
    # issue 12 item 2 (leftover): the CLI catching sqlite3.Error itself instead of the store's SQLiteError
    "sqlite-in-the-store": ("theater/cli.py", "import sqlite3"),
}


def run_lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    # the copy's packages before the editable install; wide, so a contract's name stays on one line
    env = dict(os.environ, PYTHONPATH=str(cwd), COLUMNS="250")
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_every_layer_contract():
    """issue 12 item 1: `lint-imports` on the checkout keeps every contract."""
    assert len(contracts()) >= 8
    r = run_lint_imports(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken." in r.stdout, r.stdout


def test_each_contract_breaks_on_a_violation_of_its_rule(tmp_path: Path):
    """issue 12 item 1: every contract can fail: one offending import per contract, in a copy."""
    assert {str(c["id"]) for c in contracts()} == set(VIOLATIONS), "each contract needs a probe violation"
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    for path, line in VIOLATIONS.values():
        f = tmp_path / path
        f.write_text((f.read_text() if f.exists() else "") + f"\n{line}  # layer probe\n")
    r = run_lint_imports(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"Contracts: 0 kept, {len(VIOLATIONS)} broken." in r.stdout, r.stdout
    report = r.stdout.split("Broken contracts", 1)[1]
    for c in contracts():
        path, line = VIOLATIONS[str(c["id"])]
        importer = path.removesuffix(".py").replace("/", ".")
        section = report.split(str(c["name"]), 1)[1].split("\n\n\n", 1)[0]
        assert importer in section, f"{c['id']} broke, but not for {importer}: {section}"


def test_every_ignored_import_has_its_reason_beside_it():
    """issue 12 item 1: an ignore in [tool.importlinter] says why, in a comment just above it."""
    lines = PYPROJECT.read_text().splitlines()
    ignores = [str(i) for c in contracts() for i in c.get("ignore_imports", [])]
    assert ignores, "no ignore to check: drop this test with the last ignore"
    for ignore in ignores:
        at = next(n for n, text in enumerate(lines) if f'"{ignore}"' in text)
        assert lines[at - 1].strip().startswith("#"), f"the ignore {ignore!r} has no reason above it"


def test_only_tui_imports_textual_and_only_the_cli_the_upper_layers():
    """issue 12 item 1: the rules the docs state are the ones the contracts check."""
    by_id = {str(c["id"]): c for c in contracts()}
    assert by_id["textual-in-tui"]["forbidden_modules"] == ["textual"]
    assert set(by_id["textual-in-tui"]["source_modules"]) == set(PACKAGES) - {"tui"}
    assert by_id["composition-root"]["protected_modules"] == ["replay", "verify", "tui"]
    allowed = set(by_id["composition-root"]["allowed_importers"])
    assert {a for a in allowed if a.startswith("theater")} == {"theater.cli", "theater.commands"}


def test_make_lint_and_make_test_run_the_contracts():
    """issue 12 item 1: `make lint` and `make test` (which CI runs) both run lint-imports."""
    make = (ROOT / "Makefile").read_text()
    for target in ("lint", "test"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", make, re.M)
        assert recipe and "lint-imports" in recipe.group(1), f"`make {target}` does not run lint-imports"
    test_recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", make, re.M)
    assert test_recipe and test_recipe.group(1).index("lint-imports") < test_recipe.group(1).index("pytest")
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
def test_the_wheel_installs_theaters_packages_and_not_fixtures(tmp_path: Path):
    """issue 12 item 7: `pip wheel .` holds theater, replay, verify and tui, and no `fixtures`."""
    src = tmp_path / "src"
    src.mkdir()
    for name in (*PACKAGES, "fixtures"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.wasm"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                        "--no-index", "-q", "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = out.glob("theater-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == set(PACKAGES), sorted(tops)
    top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == sorted(PACKAGES)
    for module in ("theater/cli.py", "theater/boundary.py", "theater/py.typed", "replay/replayer.py",
                   "verify/integrity.py", "tui/app.py"):
        assert module in names


def test_the_editable_install_is_a_plain_pth_naming_the_checkout():
    """issue 12 item 8 (make's install): with ``package-dir = {"" = "."}`` setuptools installs
    the checkout editable as a .pth naming it, not through the import hook it prints a
    "BuildBackendWarning: Editable installation" about (setuptools >= 77, every `make`)."""
    import importlib.metadata
    import json
    import sysconfig

    # the install in this interpreter's site-packages (not the checkout's theater.egg-info)
    found = list(importlib.metadata.distributions(name="theater", path=[sysconfig.get_path("purelib")]))
    if not found:
        pytest.skip("theater is not installed in this interpreter")
    dist = found[0]
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if not direct.get("dir_info", {}).get("editable"):
        pytest.skip("theater is not installed editable here (make's .venv is)")
    if Path(direct["url"].removeprefix("file://")).resolve() != ROOT:
        pytest.skip("the editable install is of another checkout")
    files = [str(f) for f in dist.files or []]
    assert not [f for f in files if f.endswith("_finder.py")], files
    (pth,) = [f for f in dist.files or [] if str(f).endswith(".pth")]
    assert Path(str(pth.locate())).read_text().split() == [str(ROOT)]


def test_tests_import_fixtures_from_the_checkout():
    """issue 12 item 7: with fixtures out of the wheel, tests still import it, from the checkout."""
    import fixtures.build

    assert Path(fixtures.build.__file__).resolve().parent == ROOT / "fixtures"


def test_the_demo_outside_a_checkout_says_so_in_one_line(tmp_path: Path):
    """issue 12 item 7: `python -m theater.demo` without fixtures/ beside it: one line, exit 2."""
    shutil.copytree(ROOT / "theater", tmp_path / "theater", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "theater.demo"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "checkout" in lines[0], r.stderr
    assert not (tmp_path / "demo").exists()


def test_docs_architecture_states_every_contract():
    """issue 12 item 1 (docs): docs/architecture.md lists each contract by id and by its exact rule."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    for c in contracts():
        assert f"| `{c['id']}` | {c['name']} |" in page, f"docs/architecture.md does not state {c['id']}"
    for c in contracts():
        for ignore in c.get("ignore_imports", []):
            assert f"`{ignore}`" in page, f"docs/architecture.md does not name the ignore {ignore}"
