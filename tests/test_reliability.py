"""Bad input, limits and damaged databases, through the real CLI (docs/reliability.md).

Every case runs ``theater`` in a subprocess against a real SQLite file that already
holds a recorded chain, and checks: the documented exit code, exactly one line on
stderr that names the problem, no traceback, and that the chain already in the
database is still there, still verifies, with the same head (or, for a file theater
cannot use at all, that the file was not changed by a single byte).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from actors import wat_manifest
from conftest import run_cli, write_chain

from fixtures.build import wat_path
from theater.errors import ExitCode
from theater.store import Store
from verify.integrity import verify_chain

USAGE, FAILED = int(ExitCode.USAGE), int(ExitCode.FAILED)

MAX_BYTES_2 = '[[handler]]\ntype = "runtime"\n\n[[handler]]\ntype = "random"\nseed = {seed}\nmax_bytes = 2\n'


@dataclass(frozen=True)
class Base:
    """A database holding one recorded chain, made once per module."""

    db: Path
    chain: str
    head: str
    events: int


def record_base(d: Path) -> Base:
    """Record the base chain (counter, two sends) into d/base.db through the CLI: the
    one helper behind this module's ``base`` fixture and tests/test_trust_input.py's."""
    db = d / "base.db"
    r = run_cli("record", str(wat_manifest(d, "counter")), "--db", str(db), "--send", "abc", "--send", "de",
                "-q", "--json")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0
    return Base(db, out["chain"], out["head"], out["events"])


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    return record_base(tmp_path_factory.mktemp("base"))


def copy_db(base: Base, to: Path) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    db = to / "t.db"
    shutil.copyfile(base.db, db)
    return db


def one_line_error(r: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The exit code, exactly one diagnostic line naming the problem, no traceback."""
    assert r.returncode == code, f"exit {r.returncode}, want {code}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, f"want one line on stderr, got:\n{r.stderr}"
    line = lines[0]
    assert line.startswith("theater: "), line
    for n in needles:
        assert n in line, f"{n!r} not in {line!r}"
    return line


def chain_ids(db: Path) -> list[str]:
    with Store(db, create=False) as s:
        return [c.id for c in s.chains()]


def assert_intact(db: Path, base: Base, *, all_chains: bool = True) -> None:
    """The base chain is still there, verifies, and has the same head and length; every
    other chain in the file verifies too (unless ``all_chains`` is False)."""
    with Store(db, create=False) as s:
        info = s.chain(base.chain)
        res = verify_chain(s, info)
        assert res.ok and res.complete, res.summary()
        assert res.head is not None and res.head.hex() == base.head and res.events == base.events
        for other in s.chains() if all_chains else []:
            assert verify_chain(s, other).ok, other.id


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ the table

@dataclass
class Case:
    """One bad input: how to make it, what theater must answer.

    ``args(tmp, db)`` returns the CLI arguments. ``chain`` says what the run may add
    to the database: None (nothing), or the outcome of the one new chain it records
    (it must verify and end with that outcome).
    """

    id: str
    code: int
    needles: tuple[str, ...]
    args: Callable[[Path, Path], list[str]]
    chain: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def manifest_text(tmp: Path, text: str, name: str = "m.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def record_args(manifest: Path, db: Path, *more: str) -> list[str]:
    return ["record", str(manifest), "--db", str(db), "-q", *more]


def _malformed_toml(tmp: Path, db: Path) -> list[str]:
    return record_args(manifest_text(tmp, 'name = "x"\ncomponent = \n'), db)


def _unknown_handler(tmp: Path, db: Path) -> list[str]:
    m = manifest_text(tmp, f'name = "x"\ncomponent = "{wat_path("counter")}"\n[[handler]]\ntype = "telepathy"\n')
    return record_args(m, db)


def _setting_type(tmp: Path, db: Path) -> list[str]:
    m = manifest_text(tmp, f'name = "x"\ncomponent = "{wat_path("counter")}"\n'
                           '[[handler]]\ntype = "random"\nseed = "forty-two"\n')
    return record_args(m, db)


def _limit_type(tmp: Path, db: Path) -> list[str]:
    m = manifest_text(tmp, f'name = "x"\ncomponent = "{wat_path("counter")}"\n[limits]\nmemory = "1 GiB"\n')
    return record_args(m, db)


def _missing_manifest(tmp: Path, db: Path) -> list[str]:
    return record_args(tmp / "nowhere.toml", db)


def _missing_component(tmp: Path, db: Path) -> list[str]:
    return record_args(manifest_text(tmp, 'name = "x"\ncomponent = "gone.wasm"\n'), db)


def _core_module(tmp: Path, db: Path) -> list[str]:
    # a valid core module (one exported function), not a component
    (tmp / "core.wasm").write_bytes(bytes.fromhex("0061736d01000000010401600000030201000a040102000b"))
    return record_args(manifest_text(tmp, 'name = "x"\ncomponent = "core.wasm"\n'), db)


def _not_wasm(tmp: Path, db: Path) -> list[str]:
    (tmp / "notes.wasm").write_bytes(b"#!/bin/sh\necho this is not wasm\n")
    return record_args(manifest_text(tmp, 'name = "x"\ncomponent = "notes.wasm"\n'), db)


def _broken_component(tmp: Path, db: Path) -> list[str]:
    (tmp / "cut.wasm").write_bytes(b"\0asm\x0d\x00\x01\x00" + b"\x07\xff\xff\xff")  # component header, junk
    return record_args(manifest_text(tmp, 'name = "x"\ncomponent = "cut.wasm"\n'), db)


def _no_init(tmp: Path, db: Path) -> list[str]:
    return record_args(wat_manifest(tmp, "no_init", handlers=""), db)


def _ungranted(tmp: Path, db: Path) -> list[str]:
    return record_args(wat_manifest(tmp, "needs_fs"), db)


def _trap(tmp: Path, db: Path) -> list[str]:
    return record_args(wat_manifest(tmp, "counter_trap"), db, "--send", "a", "--send", "b")


def _fuel(tmp: Path, db: Path) -> list[str]:
    return record_args(wat_manifest(tmp, "spin", extra="[limits]\nfuel = 1000000\n"), db)


def _memory_grow(tmp: Path, db: Path) -> list[str]:
    m = wat_manifest(tmp, "grow", extra="[limits]\nmemory = 1048576\n", handlers="")
    return record_args(m, db, "--init-param", "64")


def _memory_below_initial(tmp: Path, db: Path) -> list[str]:
    return record_args(wat_manifest(tmp, "counter", extra="[limits]\nmemory = 1000\n"), db)


def _max_bytes(tmp: Path, db: Path) -> list[str]:
    return record_args(wat_manifest(tmp, "counter", handlers=MAX_BYTES_2), db, "--send", "a")


def _bad_inputs(tmp: Path, db: Path) -> list[str]:
    (tmp / "in.jsonl").write_text('{"kind": "send", "text": "ok"}\n{"kind": "shout", "text": "no"}\n')
    return record_args(wat_manifest(tmp, "counter"), db, "--inputs", str(tmp / "in.jsonl"))


def _unknown_chain(tmp: Path, db: Path) -> list[str]:
    return ["verify", "0123456789abcdef", "--db", str(db)]


def _unknown_chain_replay(tmp: Path, db: Path) -> list[str]:
    return ["replay", "zz", "--db", str(db)]


def _missing_db(tmp: Path, db: Path) -> list[str]:
    return ["chains", "--db", str(tmp / "never-made.db")]


CASES = [
    Case("malformed-toml", USAGE, ("m.toml", "not valid TOML"), _malformed_toml),
    Case("missing-manifest", USAGE, ("no manifest at", "nowhere.toml"), _missing_manifest),
    Case("unknown-handler", USAGE, ("handler[0]", "'telepathy' is unknown", "supported:"), _unknown_handler),
    Case("handler-setting-type", USAGE, ("handler[0] (random)", "`seed`", "must be int", "str"), _setting_type),
    Case("limit-type", USAGE, ("[limits]", "`memory` must be int"), _limit_type),
    Case("missing-component", USAGE, ("component file not found", "gone.wasm"), _missing_component),
    Case("core-module", USAGE, ("core.wasm", "core WebAssembly module, not a component"), _core_module),
    Case("not-wasm", USAGE, ("notes.wasm", "not a WebAssembly component"), _not_wasm),
    Case("broken-component", USAGE, ("cut.wasm", "cannot compile the component"), _broken_component),
    Case("no-init-export", USAGE, ("no_init.wat", "does not export theater:simple/actor#init"), _no_init),
    Case("ungranted-import", USAGE, ("theater:simple/supervisor", "does not grant"), _ungranted),
    Case("actor-traps", FAILED, ("the actor trapped", "unreachable"), _trap, chain="trapped"),
    Case("infinite-loop-fuel", FAILED, ("the actor trapped", "all fuel consumed", "[limits] fuel is 1000000"),
         _fuel, chain="trapped"),
    Case("memory-growth-limit", FAILED, ("the actor returned an error", "memory.grow refused"), _memory_grow,
         chain="error"),
    Case("memory-limit-below-initial", USAGE,
         ("cannot instantiate", "exceeds memory limits", "[limits] memory is 1000 bytes"),
         _memory_below_initial, chain="error"),
    Case("random-above-max-bytes", FAILED, ("the actor trapped", "requested 4 random bytes", "max_bytes = 2"),
         _max_bytes, chain="trapped"),
    Case("bad-inputs-line", USAGE, ("in.jsonl:2", '"kind"'), _bad_inputs),
    Case("unknown-chain-id", USAGE, ("no chain matches '0123456789abcdef'",), _unknown_chain),
    Case("unknown-chain-replay", USAGE, ("no chain matches 'zz'",), _unknown_chain_replay),
    Case("missing-database", USAGE, ("no database at", "never-made.db"), _missing_db),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, base: Base, tmp_path: Path) -> None:
    db = copy_db(base, tmp_path / "db")
    before = chain_ids(db)
    r = run_cli(*case.args(tmp_path, db))
    one_line_error(r, case.code, *case.needles)
    assert_intact(db, base)
    after = chain_ids(db)
    assert after[: len(before)] == before  # nothing removed or reordered
    new = after[len(before):]
    if case.chain is None:
        assert new == [], "nothing may be stored for input that was refused before the actor ran"
        return
    assert len(new) == 1
    with Store(db, create=False) as s:
        res = verify_chain(s, new[0])
        assert res.ok and res.complete, res.summary()
        end = s.last_event(new[0])
        assert end is not None and end.type == "end" and end.payload()["outcome"] == case.chain
        assert s.chain(new[0]).display_status == "complete"


def test_memory_limit_is_what_refuses_the_grow(base: Base, tmp_path: Path) -> None:
    """The control for the memory cases: the same grow succeeds under the limit and
    without one, so the refusal above is the limit's doing."""
    db = copy_db(base, tmp_path / "db")
    limited = wat_manifest(tmp_path, "grow", extra="[limits]\nmemory = 1048576\n", handlers="")
    r = run_cli(*record_args(limited, db, "--init-param", "15", "--json"))
    assert r.returncode == 0, r.stderr
    assert orjson.loads(r.stdout)["outcome"] == "completed"
    r = run_cli(*record_args(limited, db, "--init-param", "16", "--json"))
    assert r.returncode == FAILED and orjson.loads(r.stdout)["error"] == "memory.grow refused"
    free = manifest_text(tmp_path, f'name = "grow"\ncomponent = "{wat_path("grow")}"\n', "free.toml")
    r = run_cli(*record_args(free, db, "--init-param", "1000", "--json"))
    assert r.returncode == 0, r.stderr
    chain = orjson.loads(r.stdout)["chain"]
    with Store(db, create=False) as s:
        init = [e for e in s.events(chain) if e.type.startswith("export:")][0].payload()
        header = s.chain(chain).header_json()
    assert init["result"]["ok"][0]["some"] == "base64:" + __import__("base64").b64encode(
        (1001).to_bytes(8, "little")).decode()
    assert header["limits"]["memory"] == 1 << 30  # the default, recorded in the header
    assert_intact(db, base)


def test_ambiguous_prefix(base: Base, tmp_path: Path) -> None:
    db = copy_db(base, tmp_path / "db")
    with Store(db) as s:
        for i in range(16):  # 17 chains: two must share a first hex digit
            write_chain(s, 3, seed=i)
        ids = [c.id for c in s.chains()]
    first = [i[0] for i in ids]
    prefix = next(c for c in first if first.count(c) > 1)
    for cmd in (["events", prefix], ["verify", prefix], ["show", prefix, "0"], ["replay", prefix]):
        r = run_cli(*cmd, "--db", str(db))
        one_line_error(r, USAGE, f"chain prefix {prefix!r} is ambiguous", "give more characters")
    assert chain_ids(db) == ids
    assert_intact(db, base)


# ------------------------------------------------------------- damaged files

def garbage_file(tmp: Path) -> Path:
    p = tmp / "garbage.db"
    p.write_bytes(random.Random(8).randbytes(64 * 1024))
    return p


def truncated_file(base: Base, tmp: Path) -> Path:
    """A database of several chains cut short in the middle (a partial copy)."""
    db = copy_db(base, tmp / "full")
    r = run_cli("record", str(wat_manifest(tmp, "random_loop")), "--db", str(db), "-q",
                "--init-param", "3000")
    assert r.returncode == 0, r.stderr
    data = db.read_bytes()
    p = tmp / "truncated.db"
    p.write_bytes(data[: len(data) // 2 + 1000])
    return p


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_unusable_database_file_is_refused_and_left_alone(kind: str, base: Base, tmp_path: Path) -> None:
    db = garbage_file(tmp_path) if kind == "garbage" else truncated_file(base, tmp_path)
    digest = sha(db)
    needle = "not a database" if kind == "garbage" else "malformed"
    m = wat_manifest(tmp_path, "counter")
    for cmd in (["record", str(m), "-q"], ["chains"], ["verify", "--all"], ["events", "last"],
                ["replay", "last"], ["export", "last"], ["tui"]):
        r = run_cli(*cmd, "--db", str(db))
        one_line_error(r, USAGE, f"cannot open {db} as a theater database", needle,
                       "(the file is damaged or not a database)")
    assert sha(db) == digest, "a failed command changed the file"
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0


def test_damaged_pages_inside_a_database_that_opens(base: Base, tmp_path: Path) -> None:
    """Pages of the events table overwritten: the file opens (chains lists), but no
    command that reads the events passes or shows a traceback."""
    db = copy_db(base, tmp_path / "db")
    r = run_cli("record", str(wat_manifest(tmp_path, "random_loop")), "--db", str(db), "-q",
                "--init-param", "4000", "--json")
    assert r.returncode == 0, r.stderr
    big = orjson.loads(r.stdout)["chain"]
    data = bytearray(db.read_bytes())
    rng = random.Random(3)
    pages = len(data) // 4096
    for page in range(pages * 2 // 5, pages * 3 // 5, 3):  # events live in the middle of the file
        data[page * 4096 : (page + 1) * 4096] = rng.randbytes(4096)
    db.write_bytes(bytes(data))
    r = run_cli("chains", "--db", str(db), "--json")
    assert r.returncode == 0 and big in r.stdout, "precondition: the chains table must still be readable"
    r = run_cli("verify", big, "--db", str(db))
    assert r.returncode in (FAILED, USAGE) and "ok " not in r.stdout
    if r.returncode == USAGE:
        one_line_error(r, USAGE, "cannot read chain", "whole")
    for cmd in (["events", big], ["export", big], ["replay", big], ["diff", big, base.chain]):
        r = run_cli(*cmd, "--db", str(db))
        one_line_error(r, USAGE, "database disk image is malformed", "(the file is damaged")


# --------------------------------------------------------- read-only databases

def _unprivileged_runner() -> tuple[list[str], str] | None:
    """(prefix, why) to run the CLI as a user that file modes apply to, or None.

    As root, chmod does not stop writes; there the CLI runs as `nobody` through
    setpriv (util-linux). As any other user, file modes already apply."""
    if os.geteuid() != 0:
        return [], "running unprivileged"
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import theater.cli, wasmtime"],
                           capture_output=True, timeout=60)
    if probe.returncode != 0:
        return None
    return prefix, "root: the CLI runs as nobody via setpriv"


@pytest.fixture(scope="module")
def unprivileged() -> Iterator[tuple[list[str], Path]]:
    runner = _unprivileged_runner()
    if runner is None:
        pytest.skip("running as root without a way to drop privileges (no setpriv, or the user nobody "
                    "cannot run this checkout's Python, e.g. a clone inside a 0700 folder): file modes "
                    "would not apply, so a read-only test could not fail")
    prefix, _ = runner
    # pytest's tmp_path is under a 0700 folder of root's: use one nobody can reach
    top = Path(tempfile.mkdtemp(prefix="theater-ro-"))
    top.chmod(0o755)
    yield prefix, top
    for p in top.rglob("*"):
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(top, ignore_errors=True)


def run_as(prefix: list[str], home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("THEATER_DB", None)
    env.update(HOME=str(home), THEATER_CACHE_DIR=str(home / "cache"), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([*prefix, sys.executable, "-m", "theater", *args], capture_output=True, text=True,
                          env=env, cwd=str(home), timeout=120)


@pytest.mark.parametrize("where", ["file-0444", "folder-0555"])
def test_read_only_database(where: str, base: Base, unprivileged: tuple[list[str], Path]) -> None:
    """Recording fails with one line and changes nothing; reading still works.

    file-0444: the database file is read-only in a writable folder (SQLite opens it
    read-only). folder-0555: the file is writable but its folder is not, so SQLite
    cannot create the -wal/-shm files a WAL database needs even to read; theater then
    reads it immutable (safe: with no -wal file, everything committed is in the file).
    """
    prefix, top = unprivileged
    d = Path(tempfile.mkdtemp(dir=top))
    home = Path(tempfile.mkdtemp(dir=top))
    home.chmod(0o777)
    db = d / "ro.db"
    shutil.copyfile(base.db, db)
    manifest = wat_manifest(home, "counter")
    manifest.chmod(0o644)
    if where == "file-0444":
        d.chmod(0o777)
        db.chmod(0o444)
    else:
        db.chmod(0o644)
        d.chmod(0o555)
    digest = sha(db)
    r = run_as(prefix, home, "record", str(manifest), "--db", str(db), "-q")
    one_line_error(r, USAGE, str(db), "readonly", "(the file or its folder is read-only)")
    r = run_as(prefix, home, "replay", base.chain, "--db", str(db))
    one_line_error(r, USAGE, "readonly", "read-only")
    r = run_as(prefix, home, "chains", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    assert [c["id"] for c in orjson.loads(r.stdout)] == [base.chain]
    r = run_as(prefix, home, "verify", "--all", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert out["ok"] and out["chains"][0]["head"] == base.head
    r = run_as(prefix, home, "export", base.chain, "--db", str(db))
    assert r.returncode == 0 and r.stdout.count("\n") == base.events + 1, r.stderr
    assert sha(db) == digest
    if where == "folder-0555":
        assert sorted(p.name for p in d.iterdir()) == ["ro.db"]  # nothing created beside it
        r = run_as(prefix, home, "record", str(manifest), "--db", str(d / "new.db"), "-q")
        one_line_error(r, USAGE, "new.db", "unable to open database file")


def test_tampered_chains_row_is_reported_not_crashed_on(base: Base, tmp_path: Path) -> None:
    """Values of the wrong type in the chains table (SQLite does not enforce types):
    listing still works and verification fails that chain with a reason."""
    db = copy_db(base, tmp_path / "db")
    r = run_cli("record", str(wat_manifest(tmp_path, "counter")), "--db", str(db), "-q", "--json")
    victim = orjson.loads(r.stdout)["chain"]
    import sqlite3

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE chains SET header = CAST(header AS TEXT) || 'x', created = 1e300, writer_pid = 'pid',"
                 " actor = x'00ff', head = 2.5, length = 'many', status = 7 WHERE id = ?", (victim,))
    conn.close()
    r = run_cli("chains", "--db", str(db))
    assert r.returncode == 0 and victim in r.stdout and base.chain in r.stdout, r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("chains", "--db", str(db), "--json")
    assert r.returncode == 0 and {c["id"] for c in orjson.loads(r.stdout)} == {victim, base.chain}
    r = run_cli("verify", "--all", "--db", str(db))
    assert r.returncode == FAILED and "Traceback" not in r.stderr
    assert f"ok {base.chain}" in r.stdout and f"FAILED {victim}: malformed" in r.stderr
    r = run_cli("events", victim, "--db", str(db))
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert_intact(db, base, all_chains=False)
