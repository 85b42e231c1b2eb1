"""`make demo`: the main job end to end on a fresh machine.

Creates demo.db, writes a small chain through the library, and verifies it with the
real CLI. (Record and replay of an example actor replace the library write once the
runtime lands.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .chain import canonical_json, host_type, make_header
from .rng import ChaCha20Rng
from .store import Store


def main() -> int:
    db = Path("demo.db")
    with Store(db) as store:
        rng = ChaCha20Rng.seed_from_u64(42)
        w = store.create_chain(make_header(actor="demo", component_sha256="00" * 32, seed=42))
        for _ in range(5):
            w.append(host_type("wasi:random/random@0.2.3", "get-random-u64"),
                     canonical_json({"args": {}, "result": rng.next_u64()}))
        w.finish("completed")
        print(f"wrote chain {w.chain_id} ({w.length} events) to {db}")
    return subprocess.call([sys.executable, "-m", "theater", "verify", "last", "--db", str(db)])


if __name__ == "__main__":
    sys.exit(main())
