"""Fleet replay in batches (issue 16, `replay --all --jobs 2` >= 1.7x `--jobs 1`): local
workers take several chains per task and read them from the database themselves, the
coordinator stores each batch's outcomes in one transaction; the faults of issue 16
item 4 still hold per chain. Real worker processes (task functions that really kill
or stall their worker), real SQLite files, real components (WAT fixtures)."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from actors import wat_manifest

from replay.fleet import ReplayTask, _readable_source, replay_all, replay_task
from replay.replayer import replay
from theater import engine, fleet
from theater.errors import StoreError
from theater.manifest import load_manifest
from theater.outcomes import ReplayOutcome
from theater.recorder import Input, record
from theater.store import Store

DATA = Path(__file__).resolve().parent / "data"


def _got(fn: fleet.TaskFn, keys: list[str], marker: Path, *, jobs: int, timeout: float = 60.0,
         grace: float | None = None, start_grace: float | None = None) -> dict[str, tuple[object, int]]:
    tasks = [fleet.Task(key=k, args=(k, str(marker))) for k in keys]
    got: dict[str, tuple[object, int]] = {}

    def on_result(task: fleet.Task, result: object, attempts: int) -> None:
        assert task.key not in got, f"{task.key} delivered twice"
        got[task.key] = (result, attempts)

    old = fleet.GRACE, fleet.START_GRACE
    fleet.GRACE = old[0] if grace is None else grace
    fleet.START_GRACE = old[1] if start_grace is None else start_grace
    try:
        fleet.run_local(fn, tasks, {}, jobs=jobs, timeout=timeout, retries=2, on_result=on_result,
                        failed=lambda task, reason, n: f"FAILED: {reason}")
    finally:
        fleet.GRACE, fleet.START_GRACE = old
    return got


def die_third(args: tuple[str, str], component: bytes | None) -> str:
    """``victim`` SIGKILLs its worker the first time (a marker file remembers); every
    task returns its key and the pid that ran it."""
    key, marker = args
    if key == "victim" and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return f"{key}:{os.getpid()}"


def test_batches_shrink_to_one_chain_and_cover_every_task() -> None:
    """issue 16 (--jobs 2 >= 1.7x): batch sizes take a quarter of each worker's share,
    at most MAX_BATCH, down to one chain at the end, so both workers stay busy to the end."""
    for n, jobs in ((200, 2), (200, 1), (7, 2), (1, 4), (5000, 8)):
        sizes, left = [], n
        while left:
            sizes.append(fleet._batch_size(left, jobs))
            left -= sizes[-1]
        assert sum(sizes) == n and max(sizes) <= fleet.MAX_BATCH and sizes[-1] == 1
        assert sizes == sorted(sizes, reverse=True)
    assert fleet._batch_size(200, 2) == fleet.MAX_BATCH
    sizes, left = [], 200
    while left:
        sizes.append(fleet._batch_size(left, 2))
        left -= sizes[-1]
    assert 20 <= len(sizes) <= 50  # 200 chains in a few dozen round trips, not 200


def test_a_worker_killed_mid_batch_reruns_the_batch_and_charges_only_its_chain(tmp_path: Path) -> None:
    """issue 16 item 4 with batches: the worker is killed while running the third chain
    of its batch: the two it had finished (their results died with it) and the ones
    after run again uncharged (attempts 1, on another worker), the one it was running
    is charged (attempts 2); every task gets exactly one result."""
    keys = ["a", "b", "victim", *[f"t{i}" for i in range(9)]]  # one worker, 12 tasks: batches of 3, 3, 2, ...
    assert fleet._batch_size(len(keys), 1) == 3
    got = _got(die_third, keys, tmp_path / "marker", jobs=1)
    killed = (tmp_path / "marker").read_text()
    assert set(got) == set(keys)
    for key, (result, attempts) in got.items():
        assert str(result).startswith(f"{key}:") and str(result) != f"{key}:{killed}"
        assert attempts == (2 if key == "victim" else 1), key


def slow_beside(args: tuple[str, str], component: bytes | None) -> str:
    """``slow`` runs until ``victim`` has killed its own worker (at most 20 s), then
    returns; ``victim`` dies the first time."""
    key, marker = args
    if key == "slow":
        deadline = time.monotonic() + 20
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # the pool notices the death meanwhile
    return die_third(args, component)


def test_only_the_chain_of_the_worker_that_died_is_charged(tmp_path: Path) -> None:
    """issue 16 item 4: when one of two workers dies, the pool stops the other too; the
    chain the other was running is run again uncharged (attempts 1): only the dead
    worker's chain counts an attempt (2)."""
    got = _got(slow_beside, ["slow", "victim"], tmp_path / "marker", jobs=2)
    assert got["victim"][1] == 2 and got["slow"][1] == 1
    assert str(got["slow"][0]).startswith("slow:") and str(got["victim"][0]).startswith("victim:")


def steady(args: tuple[str, str], component: bytes | None) -> str:
    """``long`` tasks take 0.9 s of waiting (inside their timeout + grace of 1.5 s), the
    others none."""
    if args[0].startswith("long"):
        time.sleep(0.9)
    return args[0]


def test_a_batch_waiting_behind_a_long_one_is_not_given_up(tmp_path: Path) -> None:
    """issue 16 item 4 with batches: a batch not begun waits behind one of two chains
    (1.8 s), longer than one chain's timeout + grace (1.5 s): once the pool runs, it is
    given up only if no worker has moved for that long (not counted from when it was
    sent), so nothing fails."""
    keys = ["long0", "long1", *[f"t{i}" for i in range(6)]]  # one worker: batches of 2, 2, 1, ...
    assert fleet._batch_size(len(keys), 1) == 2
    got = _got(steady, keys, tmp_path / "marker", jobs=1, timeout=1.0, grace=0.5, start_grace=60.0)
    assert {k: v[0] for k, v in got.items()} == {k: k for k in keys}


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 recordings of counter.wat (enough for batches of several chains)."""
    tmp = tmp_path_factory.mktemp("fleet-batches")
    store = Store(tmp / "many.db")
    m = load_manifest(wat_manifest(tmp, "counter"))
    for i in range(40):
        record(m, store, inputs=[Input("send", bytes([97 + i % 26]) * (1 + i % 5)), Input("send", b"xy")])
    store.close()
    return tmp / "many.db"


def test_local_workers_read_their_chains_and_equal_the_serial_replay(many: Path, tmp_path: Path) -> None:
    """issue 16 (--jobs 2 >= 1.7x): a local worker is sent the chain's id and the
    database's path (no rows) and reads the chain itself on a query-only connection;
    the replay equals the serial one. The outcomes are stored, one row each."""
    db = tmp_path / "many.db"
    shutil.copyfile(many, db)
    store = Store(db)
    info = store.chains()[0]
    source = _readable_source(store)
    assert source == str(db.resolve())
    from replay import fleet as replay_fleet

    saved = dict(fleet._SCRATCH)  # this process plays a worker for one task: put its state back after
    fleet._SCRATCH.clear()
    fleet._SCRATCH["root"] = str(tmp_path)
    sha, data = _component_of(store, info.id)
    try:
        got = replay_task(ReplayTask(rows=None, given=False, timeout=60, chain=info.id, source=source), data)
    finally:
        engine.keep_compiled(0)  # replay_task keeps compiled components, as a worker does
        fleet._SCRATCH["store"].close()
        fleet._SCRATCH.clear()
        fleet._SCRATCH.update(saved)
        for opened in replay_fleet._SOURCES.values():
            opened.close()
        replay_fleet._SOURCES.clear()
    serial = replay(store, info)  # stores its outcome too
    assert got.outcome == ReplayOutcome.VERIFIED and got.result is not None and got.component_sha256 == sha
    assert (got.result.head, got.result.events) == (serial.head, serial.events)
    res = replay_all(store=store, jobs=2)
    assert res.ok and len(res.results) == 40 and len(store.replays()) == 41
    assert {r.chain for r in res.results} == {i.id for i in store.chains()}
    store.close()


def _component_of(store: Store, chain_id: str) -> tuple[str, bytes]:
    sha = str(store.resolve(chain_id).header_json()["component_sha256"])
    data = store.get_component(sha)
    assert data is not None
    return sha, data


def test_a_first_layout_file_sends_the_rows_as_before(tmp_path: Path) -> None:
    """issue 16 (--jobs 2 >= 1.7x): workers never read a file in the first layout (the
    first stored outcome migrates it under them) nor one opened immutable: those get
    the chains' rows in their tasks, as a Dask task does."""
    db = tmp_path / "v1.db"
    shutil.copyfile(DATA / "v1.db", db)
    store = Store(db)
    assert store.layout == 1 and _readable_source(store) is None
    store.close()


def test_a_batch_of_outcomes_is_stored_all_or_none(many: Path, tmp_path: Path) -> None:
    """issue 16 (--jobs 2 >= 1.7x): a batch's outcomes go in one transaction: all of
    them, or (one cannot be stored) none, with StoreError."""
    db = tmp_path / "many.db"
    shutil.copyfile(many, db)
    store = Store(db)
    ids = [i.id for i in store.chains()[:3]]
    store.record_replays([{"source": c, "outcome": ReplayOutcome.VERIFIED, "seq": 9, "report": {"n": i}}
                          for i, c in enumerate(ids)])
    assert [(r.source, r.outcome, r.seq, r.report) for r in store.replays()] == [
        (c, "verified", 9, {"n": i}) for i, c in enumerate(ids)]
    with pytest.raises(StoreError):  # the second row breaks a constraint (source NOT NULL) inside the transaction
        store.record_replays([{"source": ids[0], "outcome": "failed"}, {"source": None, "outcome": "failed"}])
    assert len(store.replays()) == 3
    store.close()


def _old_folder(base: Path, name: str, files: dict[str, bytes], *, age: float) -> Path:
    """A scratch folder as a theater before the pid was in the name left it, ``age``
    seconds old."""
    folder = base / name
    folder.mkdir(mode=0o700)
    then = time.time() - age
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (then, then))
    for d in sorted({p.parent for p in folder.rglob("*")} | {folder}, key=lambda p: -len(p.parts)):
        os.utime(d, (then, then))
    return folder


def test_old_named_scratch_folders_are_swept_only_when_unused(tmp_path: Path) -> None:
    """issue 16: scratch folders named before the pid was in the name
    (theater-fleet-XXXXXXXX) are removed by the sweep when they are ours, hold only a
    scratch folder's files, nothing in them changed for LEGACY_AGE and no live process
    holds one of their files open; any other folder is left alone."""
    db = {"scratch.db": b"x", "scratch.db-wal": b"", "scratch.db-shm": b"", "ab" * 32 + ".wasm": b"\0asm"}
    hour = fleet.LEGACY_AGE + 60
    gone = _old_folder(tmp_path, "theater-fleet-03jxargd", db, age=hour)
    nested = _old_folder(tmp_path, "theater-fleet-k_rwodxb", {"theater-fleet-1234-abcdefgh/scratch.db": b"x"},
                         age=hour)
    empty = _old_folder(tmp_path, "theater-fleet-9plfvhvo", {}, age=hour)
    held = _old_folder(tmp_path, "theater-fleet-heldopen", db, age=hour)
    recent = _old_folder(tmp_path, "theater-fleet-recent00", db, age=60)
    foreign = _old_folder(tmp_path, "theater-fleet-notours0", {**db, "notes.txt": b"mine"}, age=hour)
    other = _old_folder(tmp_path, "theater-fleetwide-abcd", db, age=hour)
    link = tmp_path / "theater-fleet-alinkxyz"
    link.symlink_to(foreign)
    with open(held / "scratch.db", "rb"):  # a live process (this one) has its database open
        removed = fleet.sweep_scratch(str(tmp_path))
    assert sorted(removed) == sorted([gone, nested, empty])
    assert not gone.exists() and not nested.exists() and not empty.exists()
    for kept in (held, recent, foreign, other, link):
        assert kept.exists() or kept.is_symlink(), kept
    assert fleet.sweep_scratch(str(tmp_path)) == [held]  # closed now: the next sweep removes it
