"""Fleet replay and verify on a real Dask cluster (issue 16 item 2): one module-scoped
cluster, `dask scheduler` and two `dask worker` processes on 127.0.0.1, started as the
user would start them; the real CLI with --cluster."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from conftest import ROOT, run_cli
from tamper import set_event
from test_fleet import INPUTS, _manifest

from fixtures.build import wat_path
from theater import fleet
from theater.manifest import load_manifest
from theater.outcomes import ReplayOutcome
from theater.recorder import Input, record
from theater.store import Store

pytest.importorskip("distributed")

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two single-threaded workers (each with its nanny, which restarts
    a killed worker), on 127.0.0.1; yields the scheduler's address."""
    tmp = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                               "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
                              cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1",
                                           "--no-dashboard", "--local-directory", str(tmp)],
                                          cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
        client = _client(address)
        client.wait_for_workers(2, timeout=120)
        client.close()
        yield address
    finally:  # each in its own session: the nanny's worker goes with it
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGKILL)
        for p in procs:
            p.wait()


def _client(address: str) -> object:
    deadline = 60
    import time

    start = time.monotonic()
    while True:
        try:
            return fleet.connect_cluster(address)
        except Exception:
            if time.monotonic() - start > deadline:
                raise
            time.sleep(0.2)  # the scheduler process is still starting


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("dask-rec")
    db = tmp / "rec.db"
    store = Store(db)
    for actor in ("counter", "other"):
        m = load_manifest(_manifest(tmp, "counter", actor))
        for inputs in INPUTS:
            record(m, store, inputs=[Input("send", s) for s in inputs])
    store.close()
    return db


def _comparable(out: dict[str, object]) -> dict[str, object]:
    chains = out["chains"]
    assert isinstance(chains, list)
    return {c["chain"]: {k: v for k, v in c.items() if k not in ("seconds", "attempts")} for c in chains}


def test_cluster_replay_through_the_cli_equals_the_local_run(cluster: str, recordings: Path,
                                                            tmp_path: Path) -> None:
    """issue 16 item 2 (end to end): `replay --all --cluster tcp://127.0.0.1:PORT` with a
    diverging build for one actor gives the local pool's results chain for chain, the
    same JUnit failures, and stores every outcome in the local database."""
    local_db, dask_db = tmp_path / "local.db", tmp_path / "dask.db"
    shutil.copyfile(recordings, local_db)
    shutil.copyfile(recordings, dask_db)
    build = f"counter={wat_path('counter_args')}"
    local = run_cli("replay", "--all", "--db", str(local_db), "--jobs", "2", "--component", build, "--json")
    junit = tmp_path / "dask.xml"
    remote = run_cli("replay", "--all", "--db", str(dask_db), "--cluster", cluster, "--component", build,
                     "--json", "--junit", str(junit))
    assert local.returncode == remote.returncode == 1, remote.stderr
    lo, re = orjson.loads(local.stdout), orjson.loads(remote.stdout)
    assert _comparable(lo) == _comparable(re)
    assert re["diverged"] == 3 and re["verified"] == 3 and re["where"] == cluster and re["workers"] == 2
    import xml.etree.ElementTree as ET

    root = ET.parse(junit).getroot()
    assert root.get("failures") == "3" and len(root.findall("./testsuite/testcase/failure")) == 3
    store = Store(dask_db)
    assert sorted((r.source, r.outcome, r.seq, r.kind) for r in store.replays()) == sorted(
        (c["chain"], c["outcome"], c["seq"], c["kind"]) for c in re["chains"])
    store.close()


def test_verify_all_on_the_cluster_equals_the_serial_verify(cluster: str, recordings: Path,
                                                            tmp_path: Path) -> None:
    """issue 16 item 2: `verify --all --cluster` reports what `verify --all` does."""
    db = tmp_path / "v.db"
    shutil.copyfile(recordings, db)
    store = Store(db)
    set_event(store, store.chains()[1].id, 2, hash=bytes(32))
    store.close()
    serial = run_cli("verify", "--all", "--db", str(db), "--json")
    remote = run_cli("verify", "--all", "--db", str(db), "--json", "--cluster", cluster)
    assert serial.returncode == remote.returncode == 1, remote.stderr
    assert orjson.loads(remote.stdout) == orjson.loads(serial.stdout)


def die_once(args: tuple[str, str], component: bytes | None) -> str:
    """SIGKILL this worker process the first time (a marker file remembers)."""
    key, marker = args
    if key == "victim" and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return f"{key}:{os.getpid()}:{len(component or b'')}"


def test_a_killed_cluster_worker_is_survived_and_bad_bytes_refused(cluster: str, tmp_path: Path) -> None:
    """issue 16 items 2 and 4: a Dask worker killed mid-task: the scheduler reruns its
    task on a worker (the nanny restarted the dead one); component bytes travel to the
    workers and are checked by SHA-256 there (bytes under a wrong name are refused)."""
    import hashlib

    client = fleet.connect_cluster(cluster)
    data = wat_path("counter").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    marker = str(tmp_path / "marker")
    got: dict[str, object] = {}

    def run(tasks: list[fleet.Task], components: dict[str, bytes]) -> None:
        fleet.run_cluster(client, die_once, tasks, components, timeout=60, retries=1,
                          on_result=lambda t, r, n: got.update({t.key: r}),
                          failed=lambda t, reason, n: f"FAILED: {reason}")

    try:
        run([fleet.Task(key="forged", args=("forged", marker), component="00" * 32)], {"00" * 32: b"forged bytes"})
        run([fleet.Task(key=k, args=(k, marker), component=sha) for k in ("a", "victim", "b")], {sha: data})
    finally:
        client.close()
    killed = Path(marker).read_text()
    victim = str(got["victim"]).split(":")
    assert victim[0] == "victim", got
    assert victim[1] != killed and victim[2] == str(len(data))
    assert str(got["a"]).startswith("a:") and str(got["b"]).startswith("b:")
    assert str(got["forged"]).startswith("FAILED: ComponentMismatch: the component bytes sent as 0000")


# the scheduler's HTTP server (health, metrics) moves off a busy 8787 with a warning, and
# Dask's own sockets are closed by its event loop after the warning filter saw them
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use", "ignore::ResourceWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_local_cluster_of_processes_gives_the_serial_results(recordings: Path, tmp_path: Path) -> None:
    """issue 16 (done when): `replay_all` on a real `distributed.LocalCluster(processes=True,
    n_workers=2)` gives, chain for chain, what the serial `replay --verify` of each
    recording gives, divergences and their reports included, and stores every outcome."""
    import distributed
    from test_fleet import _fleet, _serial

    from replay.fleet import replay_all

    db, serial_db = tmp_path / "lc.db", tmp_path / "serial.db"
    shutil.copyfile(recordings, db)
    shutil.copyfile(recordings, serial_db)
    build = wat_path("counter_args")
    serial = _serial(serial_db, None)
    serial_build = _serial(serial_db, build)
    store = Store(db)
    counter = {i.id for i in store.chains() if i.actor == "counter" and i.replay_of is None}
    expected = {k: (serial_build[k] if k in counter else v) for k, v in serial.items()}
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None) as lc:
        client = fleet.connect_cluster(lc.scheduler_address)
        try:
            res = replay_all(store=store, cluster=client, components={"counter": build})
        finally:
            client.close()
    assert _fleet(res) == expected
    assert res.count(ReplayOutcome.DIVERGED) == 3 and res.workers == 2 and not res.ok
    assert sorted(r.source for r in store.replays()) == sorted(expected)
    store.close()


def test_ctrl_c_on_a_cluster_run_cancels_its_tasks_and_exits_130(cluster: str, recordings: Path,
                                                                  tmp_path: Path) -> None:
    """issue 16 item 4: SIGINT to `theater replay --all --cluster` (a process: the signal
    is the point) while builds that spin keep both workers busy: exit 130 at once with
    one line on stderr and no traceback, not after the replays' timeout; the
    scheduler keeps none of the run's tasks; what finished before is stored."""
    import time

    db = tmp_path / "int.db"
    shutil.copyfile(recordings, db)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("THEATER_DB", None)
    proc = subprocess.Popen([sys.executable, "-m", "theater", "replay", "--all", "--db", str(db), "--cluster",
                             cluster, "--component", f"other={wat_path('spin')}", "--timeout", "8"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    client = fleet.connect_cluster(cluster)
    try:
        def ours() -> list[str]:
            return [str(k) for k in client.run_on_scheduler(  # type: ignore[attr-defined]
                lambda dask_scheduler: [k for k, ts in dask_scheduler.tasks.items()
                                        if str(k).startswith("theater-") and ts.state == "processing"])]

        deadline = time.monotonic() + 120
        while len(ours()) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # polling the scheduler until both workers run a chain
        assert proc.poll() is None, proc.communicate()
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
        assert proc.returncode == 130, err
        assert took < 8, took  # cancelled, not waited for: each spin runs 8 s
        assert err.count("\n") == 1 and "Traceback" not in err and "interrupt" in err.lower(), err
        deadline = time.monotonic() + 30
        while client.run_on_scheduler(  # type: ignore[attr-defined]
                lambda dask_scheduler: [k for k in dask_scheduler.tasks if str(k).startswith("theater-")]):
            assert time.monotonic() < deadline, "the run's tasks stayed on the scheduler"
            time.sleep(0.1)
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
    store = Store(db)
    assert len(store.replays()) == out.count("verified  ")
    store.close()


def scratch_then_die(args: tuple[str, str], component: bytes | None) -> str:
    """Make this worker's scratch database, then SIGKILL the worker the first time (a
    marker file holds its pid): it dies holding its /dev/shm scratch folder."""
    key, marker = args
    fleet.scratch_store()
    if key == "victim" and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return f"{key}:{os.getpid()}"


def test_a_killed_cluster_worker_leaves_no_scratch_after_the_next_run(cluster: str, tmp_path: Path) -> None:
    """issue 16 item 4: a Dask worker SIGKILLed mid-task runs no exit handler, so its
    scratch folder (theater-fleet-<pid>-... in /dev/shm) outlives it; the next run
    removes it (each worker sweeps the folders of processes that no longer run), and
    leaves the live workers' folders alone."""
    client = fleet.connect_cluster(cluster)
    marker = str(tmp_path / "marker")
    got: dict[str, object] = {}

    def run(keys: tuple[str, ...]) -> None:
        fleet.run_cluster(client, scratch_then_die, [fleet.Task(key=k, args=(k, marker)) for k in keys], {},
                          timeout=60, retries=1, on_result=lambda t, r, n: got.update({t.key: r}),
                          failed=lambda t, reason, n: f"FAILED: {reason}")

    base = Path(fleet._scratch_base() or __import__("tempfile").gettempdir())
    try:
        run(("a", "victim", "b"))
        killed = Path(marker).read_text()
        assert str(got["victim"]).startswith("victim:") and not str(got["victim"]).endswith(f":{killed}")
        client.wait_for_workers(2, timeout=120)  # type: ignore[attr-defined]
        alive = {str(pid) for pid in client.run(os.getpid).values()}  # type: ignore[attr-defined]
        kept = [p for pid in alive for p in base.glob(f"theater-fleet-{pid}-*")]
        assert kept  # the worker that survived made one in the first run
        run(("c", "d"))
    finally:
        client.close()
    assert not list(base.glob(f"theater-fleet-{killed}-*"))
    assert all(p.is_dir() for p in kept)  # the live workers' folders are theirs still


def where_ran(args: tuple[str, str], component: bytes | None) -> str:
    """A task that returns its key, the worker process and the component's length."""
    return f"{args[0]}:{os.getpid()}:{len(component or b'')}"


def test_cluster_tasks_go_in_self_contained_batches(cluster: str) -> None:
    """issue 16 (the --cluster overhead row): a cluster run sends a few tasks per Dask
    task, sized as the local batches for the cluster's workers (a scheduler round
    trip per batch, not per chain); each batch carries its tasks and names the
    scattered component it needs; every task gets its own result, once."""
    import hashlib

    from distributed import get_task_stream

    client = fleet.connect_cluster(cluster)
    data = wat_path("counter").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    keys = [f"t{i}" for i in range(24)]
    got: dict[str, tuple[object, int]] = {}

    def on_result(t: fleet.Task, r: object, n: int) -> None:
        assert t.key not in got
        got[t.key] = (r, n)

    try:
        with get_task_stream(client=client) as stream:  # type: ignore[no-untyped-call]
            fleet.run_cluster(client, where_ran, [fleet.Task(key=k, args=(k, ""), component=sha) for k in keys],
                              {sha: data}, timeout=60, retries=1, on_result=on_result,
                              failed=lambda t, reason, n: f"FAILED: {reason}")
    finally:
        client.close()
    sizes, left = [], len(keys)
    while left:
        sizes.append(fleet._batch_size(left, 2))
        left -= sizes[-1]
    ran = {str(t["key"]) for t in stream.data if str(t["key"]).startswith("theater-")}
    assert len(ran) == len(sizes) < len(keys)
    assert {k: v[1] for k, v in got.items()} == dict.fromkeys(keys, 1)
    assert all(str(got[k][0]).startswith(f"{k}:") and str(got[k][0]).endswith(f":{len(data)}") for k in keys)
