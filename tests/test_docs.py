"""The README's command list matches the CLI (sqlite-utils' test_docs habit)."""

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
