"""`make demo`: the main job end to end, with the real CLI.

Builds the example Python actor (componentize-py, cached outside git), then:
``theater record`` it with a few messages, ``theater replay --verify`` the chain, and
``theater verify`` it. Everything lands in ./demo/ (demo.db, example.wasm, manifest).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def run(*args: str) -> None:
    cmd = [sys.executable, "-m", "theater", *args]
    print("$ theater " + " ".join(args), flush=True)
    code = subprocess.call(cmd)
    if code != 0:
        print(f"demo: `theater {args[0]}` exited with {code}", file=sys.stderr)
        sys.exit(code)


def main() -> int:
    from fixtures.build import build_actor

    root = Path(__file__).resolve().parent.parent
    out = Path("demo")
    out.mkdir(exist_ok=True)
    print("building the example actor with componentize-py (cached after the first time)...", flush=True)
    wasm = build_actor("example")
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
