"""`make demo`: the main job end to end, with the real CLI.

Builds the example Python actor (componentize-py, cached outside git), then:
``theater record`` it with a few messages, ``theater replay --verify`` the chain, and
``theater verify`` it. Everything lands in ./demo/ (demo.db, example.wasm, manifest).
``python -m theater.demo new-build`` (``make new-build``) builds the changed example
(fixtures/actors/example_v2) into demo/new-build.wasm, to replay the recording on it.

The example actor's sources and their builder live in ``fixtures/`` of the checkout,
which the wheel does not install (a PyPI package named ``fixtures`` exists): the demo
imports them from the checkout beside this package, and says so if there is none.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from theater.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> None:
    cmd = [sys.executable, "-m", "theater", *args]
    print("$ theater " + " ".join(args), flush=True)
    code = subprocess.call(cmd)
    if code != 0:
        print(f"demo: `theater {args[0]}` exited with {code}", file=sys.stderr)
        sys.exit(code)


def use_checkout_fixtures() -> None:
    """Put the checkout's ``fixtures/`` first on the path, or say there is none and exit 2."""
    if not (ROOT / "fixtures" / "build.py").is_file():
        print(f"demo: no fixtures/ in {ROOT}: the demo runs from a checkout of theater (`make demo`), "
              "not from an installed wheel", file=sys.stderr)
        sys.exit(ExitCode.USAGE)
    if sys.path[:1] != [str(ROOT)]:  # the checkout's fixtures/, before any installed namesake
        sys.path.insert(0, str(ROOT))


def build_example() -> Path:
    """Build the example actor with the checkout's ``fixtures/build.py`` (cached)."""
    use_checkout_fixtures()
    from fixtures.build import build_actor

    print("building the example actor with componentize-py (cached after the first time)...", flush=True)
    return build_actor("example")


def how_to_run() -> str:
    """How to run ``theater`` from here: the venv's script, which is not on PATH until the
    venv is activated (issue 17 item 8)."""
    script = Path(sys.prefix) / "bin" / "theater"
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        shown = str(script)
    activate = Path(shown).parent / "activate"
    return f"run theater as {shown} (or `. {activate}` first, then plain `theater`)"


def new_build() -> int:
    """``make new-build``: the changed example actor (example_v2 asks for 16 random bytes,
    not 8, on its second message) as demo/new-build.wasm."""
    use_checkout_fixtures()
    from fixtures.build import build_actor

    print("building fixtures/actors/example_v2 with componentize-py (cached after the first time)...", flush=True)
    out = Path("demo")
    out.mkdir(exist_ok=True)
    shutil.copyfile(build_actor("example_v2"), out / "new-build.wasm")
    print(f"demo: built {out / 'new-build.wasm'}; replay the recording on it with\n"
          f"  theater replay last --db {out / 'demo.db'} --verify --component {out / 'new-build.wasm'}\n"
          f"({how_to_run()})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["new-build"]:
        return new_build()
    if args:
        print(f"demo: unknown arguments {' '.join(args)!r}: give none, or new-build", file=sys.stderr)
        return ExitCode.USAGE
    root = ROOT
    wasm = build_example()
    out = Path("demo")
    out.mkdir(exist_ok=True)
    shutil.copyfile(wasm, out / "example.wasm")
    shutil.copyfile(root / "fixtures" / "actors" / "example" / "manifest.toml", out / "manifest.toml")
    db = str(out / "demo.db")
    run("record", str(out / "manifest.toml"), "--db", db, "--send", "hello", "--request", "status",
        "--send", "world")
    run("replay", "last", "--db", db, "--verify")
    run("verify", "last", "--db", db)
    print(f"demo: recorded, replayed and verified; browse it with `theater tui --db {db}`\n"
          f"({how_to_run()}; `make new-build` builds demo/new-build.wasm to replay it on)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
