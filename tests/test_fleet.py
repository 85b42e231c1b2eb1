"""Fleet replay and verify: ``replay --all`` and ``verify --all --jobs`` in local worker
processes (issue 16). Real components (WAT fixtures), real SQLite files, real spawned
worker processes, the real CLI in process. The Dask tests are in tests/test_fleet_dask.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import orjson
import pytest
from actors import wat_manifest
from conftest import run_cli
from tamper import set_event

from fixtures.build import wat_path
from replay.fleet import ReplayResults, replay_all
from replay.replayer import replay
from theater import fleet
from theater.errors import Interrupted, UsageError
from theater.manifest import load_manifest
from theater.outcomes import ReplayOutcome
from theater.recorder import Input, record
from theater.runtime import Interrupt
from theater.store import Store

INPUTS = [(b"abc", b"hello", b"xy"), (b"a", b"bb"), (b"one", b"two", b"three", b"four")]


def _manifest(tmp: Path, fixture: str, actor: str) -> Path:
    path = wat_manifest(tmp, fixture)
    text = path.read_text().replace(f'name = "{fixture}"', f'name = "{actor}"', 1)
    out = tmp / f"{actor}.toml"
    out.write_text(text)
    return out


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database of 6 recordings: 3 of actor `counter`, 3 of actor `other` (the same
    component under another name), each with its own inputs."""
    tmp = tmp_path_factory.mktemp("fleet")
    db = tmp / "rec.db"
    store = Store(db)
    for actor in ("counter", "other"):
        m = load_manifest(_manifest(tmp, "counter", actor))
        for inputs in INPUTS:
            record(m, store, inputs=[Input("send", s) for s in inputs])
    store.close()
    return db


@pytest.fixture
def db(recordings: Path, tmp_path: Path) -> Path:
    """A fresh copy of the recordings for one test (outcomes get stored in it)."""
    target = tmp_path / "rec.db"
    shutil.copyfile(recordings, target)
    return target


def _serial(db: Path, component: Path | None) -> dict[str, dict[str, object]]:
    """What `replay CHAIN` gives for each recording, one by one, in this process."""
    store = Store(db)
    out = {}
    for info in [i for i in store.chains() if i.replay_of is None]:
        r = replay(store, info, component=component)  # as `replay --verify` (and a fleet worker): not saved
        replay(store, info, component=component, save=True)  # a saved replay chain, which --all never selects
        d = r.divergence
        out[info.id] = {"outcome": r.outcome, "events": r.events, "head": r.head,
                        "divergence": None if d is None else d.to_json(),
                        "report": None if d is None else d.report()}
    store.close()
    return out


def _fleet(results: ReplayResults) -> dict[str, dict[str, object]]:
    out = {}
    for c in results.results:
        r = c.result
        assert r is not None, c.error
        d = r.divergence
        out[c.chain] = {"outcome": c.outcome, "events": r.events, "head": r.head,
                        "divergence": None if d is None else d.to_json(), "report": None if d is None else c.text()}
    return out


def test_replay_all_equals_the_serial_replays_chain_for_chain(db: Path, tmp_path: Path) -> None:
    """issue 16 item 1: replay_all in 2 worker processes gives, for every recording, what a
    single `replay --verify` gives (outcome, events, head, the whole divergence and its
    report), with the recorded builds and with a diverging build for one actor; each
    outcome is stored; replay chains already in the file are never replayed."""
    serial_db = tmp_path / "serial.db"
    shutil.copyfile(db, serial_db)
    args_build = wat_path("counter_args")
    serial_ok = _serial(serial_db, None)  # this also adds 6 replay chains to serial.db
    serial_bad = _serial(serial_db, args_build)

    store = Store(serial_db)  # the file now holds replay chains: none of them is selected
    ok = replay_all(store=store, jobs=2)
    assert len(store.chains()) == 18 and len(ok.results) == 6
    assert ok.ok and ok.count(ReplayOutcome.VERIFIED) == 6 and ok.workers == 2
    assert _fleet(ok) == serial_ok
    seen: list[str] = []
    bad = replay_all(store=store, jobs=2, components={"counter": args_build}, on_result=lambda r: seen.append(r.chain))
    fleet_bad = _fleet(bad)
    for info in store.chains():
        if info.replay_of is None and info.actor == "counter":
            assert fleet_bad[info.id] == serial_bad[info.id]
            assert fleet_bad[info.id]["outcome"] == ReplayOutcome.DIVERGED
        elif info.replay_of is None:
            assert fleet_bad[info.id] == serial_ok[info.id]
    assert not bad.ok and bad.count(ReplayOutcome.DIVERGED) == 3 and bad.count(ReplayOutcome.VERIFIED) == 3
    assert sorted(seen) == sorted(r.chain for r in bad.results)
    # stored: one row per recording and run, no replay chain of its own
    for r in bad.results:
        rows = store.replays(r.chain)
        last = rows[-1]
        assert (last.outcome, last.seq, last.kind, last.chain) == (r.outcome, r.seq, r.kind, None)
        if r.outcome == ReplayOutcome.DIVERGED:
            assert last.report["divergence"] == fleet_bad[r.chain]["divergence"]
            assert (last.seq, last.kind) == (5, "arguments")
    store.close()


def test_cli_replay_all_lines_summary_junit_and_json(db: Path, tmp_path: Path) -> None:
    """issue 16 items 1 and 3: one line per chain and a summary, exit 1 on a divergence;
    --junit writes JUnit XML (testsuites > testsuite > testcase per chain, classname the
    actor, a failure holding the divergence report); --json one object of every result."""
    junit = tmp_path / "report.xml"
    r = run_cli("replay", "--all", "--verify", "--db", str(db), "--jobs", "2",
                "--component", f"other={wat_path('counter_state')}", "--junit", str(junit))
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    chain_lines = [ln for ln in lines if ln.startswith(("verified  ", "DIVERGED  ", "FAILED  "))]
    assert len(chain_lines) == 6
    assert sum(ln.startswith("DIVERGED  ") and "  other: at seq " in ln for ln in chain_lines) == 3
    assert "replayed 6 recordings: 3 verified, 3 diverged, 0 failed" in lines[-1]
    assert "diverged at event" in r.stdout and "returned a different result" in r.stdout

    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "6" and root.get("failures") == "3"
    (suite,) = list(root)
    assert suite.tag == "testsuite" and suite.get("errors") == "0" and suite.get("failures") == "3"
    cases = suite.findall("testcase")
    assert len(cases) == 6 and {c.get("classname") for c in cases} == {"counter", "other"}
    assert all(float(c.get("time") or "x") >= 0 for c in cases)
    failed = [c for c in cases if c.find("failure") is not None]
    assert {c.get("classname") for c in failed} == {"other"} and len(failed) == 3
    text = failed[0].find("failure").text or ""  # type: ignore[union-attr]
    assert text.startswith("diverged at event 7: export:theater:simple/message-server-client#handle-send")

    j = run_cli("replay", "--all", "--db", str(db), "--jobs", "1", "--json", "--actor", "counter")
    assert j.returncode == 0, j.stderr
    out = orjson.loads(j.stdout)
    assert out["ok"] is True and out["total"] == out["verified"] == 3 and out["workers"] == 1
    assert {c["actor"] for c in out["chains"]} == {"counter"}
    assert all(c["report"]["verified"] is True and c["report"]["chain"] is None for c in out["chains"])


def test_selection_by_actor_and_chain(db: Path) -> None:
    """issue 16 item 1: --actor and --chain select recordings; a replay chain named is
    refused (never replays of replays); an unknown actor is exit 2."""
    store = Store(db)
    infos = [i for i in store.chains() if i.replay_of is None]
    first, second = infos[0].id, infos[4].id
    res = replay_all(store=store, chains=[first[:8], second], jobs=1)
    assert [r.chain for r in res.results] == [first, second]
    res = replay_all(store=store, actors=["other"], chains=[first, second], jobs=1)
    assert [r.chain for r in res.results] == [second] or [r.chain for r in res.results] == [first]
    rep = replay(store, first, save=True)  # a replay chain
    with pytest.raises(UsageError, match="is a replay of"):
        replay_all(store=store, chains=[rep.chain])
    store.close()
    r = run_cli("replay", "--all", "--db", str(db), "--actor", "nobody")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "nobody" in r.stderr


@pytest.mark.parametrize("what", ["missing", "not-a-component", "unknown-actor", "bad-cluster", "no-all"])
def test_bad_input_is_one_line_exit_2_before_any_work(db: Path, tmp_path: Path, what: str) -> None:
    """issue 16 item 4: a bad --component (missing, not a component, an actor with no
    recording), a bad --cluster address, fleet options without --all: one line on
    stderr, exit 2, no outcome stored, no report written."""
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"\0asm but not really")
    args = {
        "missing": ["--all", "--component", str(tmp_path / "nope.wasm")],
        "not-a-component": ["--all", "--component", f"counter={junk}"],
        "unknown-actor": ["--all", "--component", f"nobody={wat_path('counter')}"],
        "bad-cluster": ["--all", "--cluster", "127.0.0.1:8786"],
        "no-all": ["--jobs", "2", "last"],
    }[what]
    junit = tmp_path / "r.xml"
    r = run_cli("replay", "--db", str(db), "--junit", str(junit), *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and r.stdout == ""
    assert not junit.exists()
    store = Store(db)
    assert store.replays() == []
    store.close()


def test_a_replay_past_its_timeout_is_failed_and_the_rest_go_on(db: Path) -> None:
    """issue 16 item 4: a build that spins (spin.wat: a loop that would burn 10^10 fuel)
    is stopped at --timeout and reported failed with the reason; the command returns."""
    store = Store(db)
    begun = time.monotonic()
    res = replay_all(store=store, components={"other": wat_path("spin")}, timeout=0.5, jobs=2)
    assert time.monotonic() - begun < 60
    bad = [r for r in res.results if r.actor == "other"]
    assert all(r.outcome == ReplayOutcome.FAILED and r.kind == "timeout" for r in bad)
    assert all("timeout of 0.5 s" in (r.error or "") for r in bad)
    assert all(r.outcome == ReplayOutcome.VERIFIED for r in res.results if r.actor == "counter")
    assert [row.outcome for row in store.replays(bad[0].chain)] == ["failed"]
    store.close()


def test_interrupt_cancels_and_raises(db: Path) -> None:
    """issue 16 item 4: Ctrl-C (the CLI's Interrupt) cancels the work: Interrupted (exit
    130), the workers are stopped. What came back before it is stored and shown, a
    batch at a time (stored in one transaction, then each shown): what was shown is
    what was stored, and the rest was never replayed."""
    store = Store(db)
    stop = Interrupt()
    seen: list[str] = []

    def first(r: object) -> None:
        seen.append("x")
        stop.request()

    with pytest.raises(Interrupted):
        replay_all(store=store, jobs=1, on_result=first, interrupt=stop)
    assert 1 <= len(seen) == len(store.replays()) < 6
    store.close()


# -- the pool's faults, with task functions that really kill their worker ------------


def die_once(args: tuple[str, str], component: bytes | None) -> str:
    """A task that SIGKILLs its own worker process the first time it runs (a marker
    file remembers), then returns its key."""
    key, marker = args
    if key == "victim" and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return f"{key}:{os.getpid()}"


def die_always(args: tuple[str, str], component: bytes | None) -> str:
    key, _ = args
    if key == "victim":
        os.kill(os.getpid(), signal.SIGKILL)
    return key


def hang(args: tuple[str, str], component: bytes | None) -> str:
    key, _ = args
    if key == "victim":
        time.sleep(3600)
    return key


def _run(fn: fleet.TaskFn, tmp: Path, *, retries: int = 2, timeout: float = 60.0,
         grace: float | None = None) -> dict[str, object]:
    marker = str(tmp / "marker")
    tasks = [fleet.Task(key=k, args=(k, marker)) for k in ("a", "victim", "b", "c")]
    got: dict[str, object] = {}

    def on_result(task: fleet.Task, result: object, attempts: int) -> None:
        got[task.key] = (result, attempts)

    def failed(task: fleet.Task, reason: str, attempts: int) -> str:
        return f"FAILED: {reason}"

    old = fleet.GRACE
    if grace is not None:
        fleet.GRACE = grace
    try:
        fleet.run_local(fn, tasks, {}, jobs=2, timeout=timeout, retries=retries, on_result=on_result,
                        failed=failed)
    finally:
        fleet.GRACE = old
    return got


def test_a_killed_worker_has_its_chain_retried(tmp_path: Path) -> None:
    """issue 16 item 4: a worker process SIGKILLed mid-task: the pool is rebuilt and
    the chain it held is run again, elsewhere; every task has its result."""
    got = _run(die_once, tmp_path)
    assert set(got) == {"a", "victim", "b", "c"}
    result, attempts = got["victim"]  # type: ignore[misc]
    killed = (tmp_path / "marker").read_text()
    assert str(result).startswith("victim:") and str(result) != f"victim:{killed}" and attempts == 2


def test_a_worker_killed_every_time_is_reported_failed_with_the_reason(tmp_path: Path) -> None:
    """issue 16 item 4: retries exhausted: reported failed, naming the signal; the others finish."""
    got = _run(die_always, tmp_path, retries=1)
    result, attempts = got["victim"]  # type: ignore[misc]
    assert str(result) == "FAILED: a worker process was killed by SIGKILL while running it (2 attempts)"
    assert attempts == 2
    assert {k: v[0] for k, v in got.items() if k != "victim"} == {"a": "a", "b": "b", "c": "c"}  # type: ignore[index]


def test_a_task_that_never_returns_is_stopped_never_hangs(tmp_path: Path) -> None:
    """issue 16 item 4: a task stuck outside wasm (no worker-side timeout can stop it) is
    given up timeout + grace seconds after it started: its worker is killed, it is
    reported failed, and the tasks that shared the pool still finish."""
    begun = time.monotonic()
    got = _run(hang, tmp_path, timeout=0.2, grace=0.5)
    assert time.monotonic() - begun < 30
    assert str(got["victim"][0]).startswith("FAILED: no result within 0.7 s")  # type: ignore[index]
    assert {k: v[0] for k, v in got.items() if k != "victim"} == {"a": "a", "b": "b", "c": "c"}  # type: ignore[index]


def test_components_are_checked_by_their_hash_in_the_worker(tmp_path: Path) -> None:
    """issue 16 item 2: component bytes that do not hash to the name they were sent
    under are refused by the worker (ComponentMismatch), never used."""
    got: dict[str, object] = {}
    fleet.run_local(die_once, [fleet.Task(key="a", args=("a", str(tmp_path / "m")), component="00" * 32)],
                    {"00" * 32: b"not those bytes"}, jobs=1, timeout=30, retries=0,
                    on_result=lambda t, r, n: got.update({t.key: r}), failed=lambda t, reason, n: reason)
    assert str(got["a"]).startswith("ComponentMismatch: the component bytes sent as 0000")


def test_verify_all_jobs_equals_the_serial_verify(db: Path) -> None:
    """issue 16 item 2: `verify --all --jobs 2` prints and returns what `verify --all`
    does, chain for chain, also for a tampered chain (exit 1 both)."""
    store = Store(db)
    victim = store.chains()[2].id
    set_event(store, victim, 3, data=b"\x00")
    store.close()
    serial = run_cli("verify", "--all", "--db", str(db), "--json")
    par = run_cli("verify", "--all", "--db", str(db), "--json", "--jobs", "2")
    assert serial.returncode == par.returncode == 1
    assert orjson.loads(par.stdout) == orjson.loads(serial.stdout)
    chains = orjson.loads(par.stdout)["chains"]
    assert [c["ok"] for c in chains].count(False) == 1
    text = run_cli("verify", "--all", "--db", str(db), "--jobs", "2")
    assert text.returncode == 1 and victim in text.stderr and "hash_mismatch" in text.stderr


def worker_setting(args: tuple[str, str], component: bytes | None) -> tuple[str | None, str, int]:
    """What a local worker sees: the variable, its folder, and its parent process."""
    return os.environ.get("THEATER_TEST_FLEET_SETTING"), os.getcwd(), os.getppid()


def test_workers_see_the_callers_environment_and_folder_of_this_run(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """issue 16 (--jobs 2 >= 1.7x): local workers are forked from a fork server that
    imported the engine and the handlers once, at the process's first pool; each run's
    workers still see the caller's environment and working folder as they are at that
    run, as spawned workers did."""
    got: dict[str, object] = {}

    def go() -> object:
        fleet.run_local(worker_setting, [fleet.Task(key="a", args=("a", ""))], {}, jobs=1, timeout=30, retries=0,
                        on_result=lambda t, r, n: got.update({t.key: r}), failed=lambda t, reason, n: reason)
        return got.pop("a")

    monkeypatch.setenv("THEATER_TEST_FLEET_SETTING", "first")
    env, cwd, server = go()  # type: ignore[misc]
    assert (env, cwd) == ("first", os.getcwd()) and server != os.getpid()  # forked by the server, not by us
    monkeypatch.setenv("THEATER_TEST_FLEET_SETTING", "second")  # the fork server is running by now
    monkeypatch.chdir(tmp_path)
    assert go() == ("second", str(tmp_path), server)


def test_kept_components_load_once_and_their_signatures_are_walked_once() -> None:
    """issue 16 (--jobs 2 >= 1.7x): a fleet worker keeps its compiled components
    (engine.keep_compiled): the same bytes give the same component object, whose
    imports and exports are walked once and handed out as copies; off (the default),
    each load is a new object, as before; at most ``limit`` are kept."""
    from theater import engine
    from theater.wittypes import component_exports, component_imports

    data = wat_path("counter").read_bytes()
    assert engine._KEPT is None
    assert engine.load_component(data) is not engine.load_component(data)
    engine.keep_compiled(2)
    try:
        comp = engine.load_component(data)
        assert engine.load_component(data) is comp
        eng = engine.engine()
        exports, again = component_exports(eng, comp), component_exports(eng, comp)
        assert exports == again and exports is not again and exports
        assert component_imports(eng, comp) == component_imports(eng, engine.load_component(data, use_cache=False))
        engine.load_component(wat_path("random_loop").read_bytes())
        engine.load_component(wat_path("coin").read_bytes())  # past the limit: the oldest goes
        assert engine.load_component(data) is not comp
    finally:
        engine.keep_compiled(0)
    assert engine._KEPT is None


def test_the_progress_bar_shows_on_a_terminal_and_ends_cleanly(db: Path) -> None:
    """issue 16 item 1: on a terminal (a real pty: the process boundary is the point)
    `replay --all` draws a bar of chains done on stderr, then erases it and shows the
    cursor again: the per-chain lines and the summary are what remains, the exit is 0."""
    import pty
    import subprocess
    import sys

    from conftest import ROOT

    leader, follower = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="100", LINES="30", TERM="xterm-256color")
    env.pop("THEATER_DB", None)
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "theater", "replay", "--all", "--db", str(db), "--jobs", "1"],
                            stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0
    text = out.decode("utf-8", "replace")
    assert "chains" in text and "/6" in text  # the bar: its label, done of 6
    hide, show = text.find("\x1b[?25l"), text.rfind("\x1b[?25h")
    assert 0 <= hide < show  # the cursor is hidden while the bar runs, shown again after
    tail = text[show:]
    assert "replayed 6 recordings: 6 verified" in tail and "chains" not in tail  # the bar is gone
    assert text.count("verified  ") == 6 and "Traceback" not in text
