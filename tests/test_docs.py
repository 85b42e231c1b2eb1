"""The README's command list matches the CLI (sqlite-utils' test_docs habit)."""

import ast
import re
from pathlib import Path

import click

from theater.cli import cli
from theater.commands import register

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = README + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))


def commands() -> dict[str, click.Command]:
    register(cli)
    return dict(cli.commands)


def test_every_command_is_in_the_readme_with_its_arguments():
    block = README.split("## Commands", 1)[1].split("```")[1]
    for name, cmd in commands().items():
        args = " ".join(p.name.upper() if p.required else f"[{p.name.upper()}]"
                        for p in cmd.params if isinstance(p, click.Argument))
        expected = f"theater {name} {args}".strip()
        assert expected in block, f"README's command list lacks `{expected}`"


def test_every_option_is_documented():
    for name, cmd in commands().items():
        for p in cmd.params:
            if isinstance(p, click.Option):
                longs = [o for o in p.opts if o.startswith("--")]
                assert any(o in DOCS for o in longs), f"`theater {name} {longs[0]}` is not in README.md or docs/"
        assert cmd.help and len(cmd.help) > 20, f"`theater {name}` has no help text"


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    assert re.search(r"^make demo\b", README, re.M) and re.search(r"^make test\b", README, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


ARCHITECTURE = ROOT / "docs" / "architecture.md"
# `theater/boundary.py::Boundary.call_export`, `theater/handlers/`, `theater/chain.py`
REFERENCE = re.compile(r"`((?:theater|replay|verify|tui|tests)/[\w/]*?(?:\.py)?/?)(?:::([\w.]+))?`")


def _defines(tree: ast.Module, dotted: str) -> bool:
    scope: list[ast.stmt] = tree.body
    for name in dotted.split("."):
        found = next((n for n in scope if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == name), None)
        if found is None:
            return False
        scope = found.body
    return True


def test_architecture_names_files_and_functions_that_exist():
    """issue 12 (docs): every `file.py::name` in docs/architecture.md is a real file and definition."""
    refs = REFERENCE.findall(ARCHITECTURE.read_text())
    assert len(refs) >= 25, "docs/architecture.md names the places in the code one hop away"
    assert {"theater/boundary.py", "theater/recorder.py", "replay/replayer.py", "verify/integrity.py"} <= {
        path for path, _ in refs}
    for path, name in refs:
        assert (ROOT / path).exists(), f"docs/architecture.md names {path}, which does not exist"
        if name:
            tree = ast.parse((ROOT / path).read_text())
            assert _defines(tree, name), f"docs/architecture.md names {path}::{name}, which {path} does not define"


def test_architecture_places_the_crossing_in_one_hop():
    """issue 12 (docs): the page says where a crossing is recorded, replayed and verified."""
    table = ARCHITECTURE.read_text().split("## Where a crossing is recorded, replayed and verified", 1)[1]
    for step, entry in (("recorded", "theater/recorder.py::record"), ("replayed", "replay/replayer.py::replay"),
                        ("verified", "verify/integrity.py::verify_chain")):
        assert re.search(rf"^\| {step} \| `{re.escape(entry)}` \|", table, re.M), f"no one-hop entry for {step}"
    assert "`theater/boundary.py::Boundary`" in ARCHITECTURE.read_text()
