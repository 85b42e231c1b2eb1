"""`make demo`: the main job end to end, with the real CLI.

Builds the example Python actor (componentize-py, cached outside git), then:
``theater record`` it with a few messages, ``theater replay --verify`` the chain, and
``theater verify`` it. Everything lands in ./demo/ (demo.db, example.wasm, manifest).

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


def build_example() -> Path:
    """Build the example actor with the checkout's ``fixtures/build.py`` (cached)."""
    if not (ROOT / "fixtures" / "build.py").is_file():
        print(f"demo: no fixtures/ in {ROOT}: the demo runs from a checkout of theater (`make demo`), "
              "not from an installed wheel", file=sys.stderr)
        sys.exit(ExitCode.USAGE)
    if sys.path[:1] != [str(ROOT)]:  # the checkout's fixtures/, before any installed namesake
        sys.path.insert(0, str(ROOT))
    from fixtures.build import build_actor

    print("building the example actor with componentize-py (cached after the first time)...", flush=True)
    return build_actor("example")


def main() -> int:
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
    print(f"demo: recorded, replayed and verified; browse it with `theater tui --db {db}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
