"""Make tests/data/v1.db: a small database in the first storage layout (schema v1), made
by theater's own CLI as it was before storage v2 (issue 18 item 2), kept so that the
migration is tested against a file that code really wrote, not one a test imitates.

What it holds: a recording of fixtures/wat/counter.wat (seed 7, three messages), a
signed checkpoint of it (key in tests/data/v1.key / v1.pub), and a replay of it with
``--verify`` (a replay chain and its stored outcome). The file is vacuumed and left in
rollback-journal mode, so it is one self-contained file.

Run from the repository root, with the code of the layout to capture checked out:

    .venv/bin/python tests/data/make_v1_db.py

It was run at commit 0fbb63e (the last commit before storage v2).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from theater.cli import cli  # noqa: E402  (after the path is set)


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"theater {' '.join(args)} failed ({result.exit_code}): {result.output}")
    return result.output


def main() -> None:
    db = HERE / "v1.db"
    for p in (db, db.with_name("v1.db-wal"), db.with_name("v1.db-shm")):
        p.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "counter.toml"
        manifest.write_text(
            'name = "counter"\nversion = "0.1.0"\n'
            f'component = "{ROOT / "fixtures" / "wat" / "counter.wat"}"\n'
            '[[handler]]\ntype = "runtime"\n\n[[handler]]\ntype = "random"\nseed = 7\n'
        )
        if not (HERE / "v1.key").exists():
            run("keygen", "--out", str(HERE / "v1"), "--name", "v1-fixture")
        rec = json.loads(run("record", str(manifest), "--db", str(db), "-q", "--json",
                             "--send", "a", "--send", "bb", "--send", "ccc"))
        run("checkpoint", rec["chain"], "--key", str(HERE / "v1.key"), "--db", str(db))
        run("replay", rec["chain"], "--verify", "--db", str(db))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA page_size = 512")  # a few KB: small pages for a small file
    conn.execute("VACUUM")
    conn.close()
    print(f"wrote {db} ({db.stat().st_size} bytes): chain {rec['chain']}")


if __name__ == "__main__":
    main()
