"""Actors from two more toolchains, built for real (issue 14 item 5): a JavaScript
actor built with componentize-js (default features) and a Rust actor (std on
wasm32-wasi, adapted with `jco new --wasi-reactor`). Built once per machine and cached
by source hash (fixtures/toolchains.py); `make test` installs their tools, and these
tests skip, saying which tool is missing, where it could not."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import run_cli

from fixtures.toolchains import ToolchainMissing, build_js_actor, build_rust_actor

HANDLERS = """
[[handler]]
type = "runtime"

[[handler]]
type = "random"
seed = 7

[[handler]]
type = "timing"
start_time = 1767225600

[[handler]]
type = "environment"
"""


def _built(build: Any, what: str) -> Path:
    try:
        return build()  # type: ignore[no-any-return]
    except ToolchainMissing as e:
        pytest.skip(f"the {what} fixture cannot be built here: {e}")


@pytest.fixture(scope="module")
def js_actor() -> Path:
    return _built(build_js_actor, "componentize-js")


@pytest.fixture(scope="module")
def rust_actor() -> Path:
    return _built(build_rust_actor, "Rust")


def _manifest(folder: Path, name: str, wasm: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    m = folder / f"{name}.toml"
    m.write_text(f'name = "{name}"\nversion = "0.1.0"\ncomponent = "{wasm}"\n' + HANDLERS + extra)
    return m


def _record(m: Path, db: Path, *args: str) -> dict[str, Any]:
    res = run_cli("record", str(m), "--db", str(db), "--json", *args)
    out = orjson.loads(res.stdout)
    out["returncode"], out["stderr"] = res.returncode, res.stderr
    return out


def _events(db: Path) -> list[tuple[str, Any]]:
    from theater.store import Store

    with Store(db) as s:
        return [(e.type, orjson.loads(e.data)) for e in s.events(s.resolve("last").id, 0, None)]


def _written(events: list[tuple[str, Any]]) -> str:
    """Everything the actor wrote to its output streams, in order."""
    out = []
    for t, d in events:
        if t.endswith("output-stream.blocking-write-and-flush") or t.endswith("output-stream.write"):
            out.append(base64.b64decode(d["args"]["contents"].removeprefix("base64:")).decode())
    return "".join(out)


def _replays_and_verifies(db: Path) -> None:
    rep = run_cli("replay", "last", "--db", str(db), "--verify")
    assert rep.returncode == 0 and "verified" in rep.stdout, rep.stdout + rep.stderr
    ver = run_cli("verify", "last", "--db", str(db), "--audit-random")
    assert ver.returncode == 0, ver.stdout + ver.stderr
    assert "random draw(s) match the seed" in ver.stdout


@pytest.fixture(scope="module")
def js_recordings(js_actor: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for n in range(2):
        folder = tmp_path_factory.mktemp(f"js{n}")
        db = folder / "js.db"
        rec = _record(_manifest(folder, "js-actor", js_actor), db, "--send", "hello", "--send", "world!")
        out.append((db, rec))
    return out


def test_js_actor_records_and_replays(js_recordings: list[tuple[Path, dict[str, Any]]]) -> None:
    """issue 14 item 5: the componentize-js actor (console.log,
    crypto.getRandomValues, Date.now, an awaited setTimeout) records, replays
    --verify, passes verify --audit-random, and two recordings have one head."""
    (db, rec), (_, again) = js_recordings
    assert rec["returncode"] == 0 and rec["outcome"] == "completed", rec
    assert rec["head"] == again["head"]
    events = _events(db)
    printed = _written(events)
    assert "init js-actor: random " in printed and " at 1767225600" in printed  # Date.now: the virtual clock
    assert "total 11 after waiting 25" in printed  # the awaited 250 ms timer, in virtual time
    _replays_and_verifies(db)


def test_js_actor_timer_is_a_recorded_poll(js_recordings: list[tuple[Path, dict[str, Any]]]) -> None:
    """issue 14 item 5: the awaited setTimeout is a monotonic-clock timer waited for
    with wasi:io/poll, recorded, and the replay returns the recorded wake-up."""
    db, _ = js_recordings[0]
    types = [t for t, _ in _events(db)]
    subscribe = [i for i, t in enumerate(types) if "monotonic-clock" in t and "#subscribe-" in t]
    polls = [i for i, t in enumerate(types) if t.startswith("host:wasi:io/poll") and t.endswith("#poll")]
    assert len(subscribe) >= 2 and len(polls) >= 2  # one timer per handle-send
    assert subscribe[0] < polls[0]


def test_rust_actor_records_and_replays(rust_actor: Path, tmp_path: Path) -> None:
    """issue 14 item 5: the Rust actor (std: println!, HashMap's random keys,
    SystemTime) records, replays --verify, passes verify --audit-random, and two
    recordings have one head."""
    heads = []
    for n in range(2):
        db = tmp_path / f"rs{n}.db"
        rec = _record(_manifest(tmp_path / str(n), "rust-actor", rust_actor), db, "--send", "hello")
        assert rec["returncode"] == 0 and rec["outcome"] == "completed", rec
        heads.append(rec["head"])
    assert heads[0] == heads[1]
    printed = _written(_events(db))
    assert "init rust-actor at 1767225600001 ms: 4 distinct words\n" in printed
    assert 'got "hello", total 5\n' in printed
    _replays_and_verifies(db)


def test_rust_actor_panic_message_is_kept(rust_actor: Path, tmp_path: Path) -> None:
    """issue 14 item 2 and 5: a Rust panic's message reaches stderr (recorded) before
    the trap, instead of a trap on wasi:cli/stdin; the trapped run replays."""
    db = tmp_path / "panic.db"
    rec = _record(_manifest(tmp_path, "rust-actor", rust_actor), db, "--send", "panic")
    assert rec["returncode"] == 1 and rec["outcome"] == "trapped"
    assert "panicked at 'asked to panic after 5 bytes'" in rec["stderr"]
    assert "panicked at 'asked to panic after 5 bytes'" in _written(_events(db))
    rep = run_cli("replay", "last", "--db", str(db), "--verify")
    assert rep.returncode == 0, rep.stdout + rep.stderr


def test_rust_actor_std_fs_through_the_filesystem_handler(rust_actor: Path, tmp_path: Path) -> None:
    """issue 14 item 3: Rust's std::fs, through the preview-1 adapter, writes and reads
    under the filesystem handler's root via wasi:filesystem; `..` is refused; the
    replay, with the folder gone, reproduces the chain."""
    import shutil

    root = tmp_path / "data"
    root.mkdir()
    (root / "given.txt").write_text("from the host")
    m = _manifest(tmp_path, "rust-actor", rust_actor, '\n[[handler]]\ntype = "filesystem"\npath = "data"\n')
    db = tmp_path / "fs.db"
    rec = _record(m, db, "--send", "write out.txt hello file", "--send", "read out.txt",
                  "--send", "read given.txt", "--send", "read ../fs.db")
    assert rec["returncode"] == 0, rec
    assert (root / "out.txt").read_text() == "hello file"
    printed = _written(_events(db))
    assert 'out.txt holds "hello file"' in printed and 'given.txt holds "from the host"' in printed
    assert "cannot read ../fs.db: Operation not permitted" in printed
    types = {t.partition("@")[0] for t, _ in _events(db)}
    assert "host:wasi:filesystem/types" in types
    shutil.rmtree(root)
    rep = run_cli("replay", "last", "--db", str(db), "--verify")
    assert rep.returncode == 0 and "verified" in rep.stdout, rep.stdout + rep.stderr
