"""Time travel and runs in the browser (issue 13 item 4, issue 19 item 8): an export
call's state before and after with a structural diff, `[`/`]` between export calls,
"Fork here" in the palette (its line, run as given, forks), the run view with `v`
verifying the run with its links, and `l` following a link to the other chain and back.

Real SQLite files; the runs are real recordings of the stage.wat actor (WAT: compiled
in milliseconds) through the real CLI; snapshots at 80x24 and 160x45, ids pinned."""

from __future__ import annotations

import shlex
from pathlib import Path

import orjson
import pytest
from conftest import run_cli
from system_helpers import stage_manifest
from tamper import reforge
from tui_helpers import CREATED, b64, drive, pin, screen_text, settle, write_events

from theater.chain import export_type
from theater.store import Store
from theater.store.runs import run_chains

pytest.importorskip("textual")

from textual.binding import Binding  # noqa: E402
from textual.command import CommandPalette  # noqa: E402
from textual.widgets import Tree  # noqa: E402

from tui.app import TheaterApp  # noqa: E402
from tui.commands import ForkLineScreen  # noqa: E402
from tui.linking import PickLinkScreen, link_targets  # noqa: E402
from tui.screens.chain import ChainScreen  # noqa: E402
from tui.screens.chains import ChainsScreen  # noqa: E402
from tui.screens.event import EventScreen, StatePane  # noqa: E402
from tui.screens.run import RunScreen  # noqa: E402
from tui.time_travel import fork_line, next_export, state_change  # noqa: E402

SMALL, LARGE = (80, 24), (160, 45)
INIT = export_type("theater:simple/actor", "init")
SEND = export_type("theater:simple/message-server-client", "handle-send")
LOG = "host:theater:simple/runtime#log"


def some(state: dict | str | bytes) -> dict:
    raw = state if isinstance(state, bytes) else (state.encode() if isinstance(state, str) else orjson.dumps(state))
    return {"some": b64(raw)}


STATES = [{"count": 1, "items": ["a"]}, {"count": 2, "items": ["a", "b"], "last": "b"}, "plain text", b"\x00\xff"]


def state_db(path: Path) -> str:
    """A chain whose export calls change a JSON state, then turn it to text and bytes."""
    evs = [(INIT, {"args": {"params": ["x"], "state": None}, "result": {"ok": [some(STATES[0])]}})]
    for before, after in zip(STATES, STATES[1:], strict=False):
        evs.append((LOG, {"args": {"msg": "step"}, "result": None}))
        evs.append((SEND, {"args": {"params": [b64(b"m")], "state": some(before)},
                           "result": {"ok": [some(after)]}}))
    with Store(path) as store:
        return pin(store, write_events(store, evs, actor="stateful"), "5a7e000000000001")


def app_for(path: Path, chain: str | None = None, **kw) -> TheaterApp:
    return TheaterApp(path, chain, cursor_blink=False, **kw)


# -- state before and after ---------------------------------------------------------


def test_state_change_decodes_with_the_state_decoder(tmp_path):
    """issue 13 item 4: before/after of an export call, decoded by theater.state's
    decoder (JSON, text, bytes) with a structural diff by path."""
    db = tmp_path / "s.db"
    chain = state_db(db)
    with Store(db) as store:
        init, first, second, third = (state_change(store.event(chain, s)) for s in (0, 2, 4, 6))
        assert state_change(store.event(chain, 1)) is None  # a host call has no state
        assert init.before is None and init.decoded()[1] == ("json", STATES[0])
        assert [(d.path, d.kind) for d in first.differences()] == [("count", "changed"), ("items[1]", "added"),
                                                                   ("last", "added")]
        assert second.decoded()[1] == ("text", "plain text")
        assert [d.path for d in second.differences()] == [""]  # the encoding changed: the whole state
        assert third.decoded()[1] == ("binary", "00ff") and third.changed
        assert next_export(store, chain, 2) == 4 and next_export(store, chain, 2, backwards=True) == 0
        assert next_export(store, chain, 6) is None


def test_event_view_shows_state_diff_and_steps_between_export_calls(tmp_path):
    """issue 13 item 4: the event view of an export call shows the state before and
    after and what changed; `[` and `]` step to the previous and next export call; a
    host call shows no state pane."""
    db = tmp_path / "s.db"
    chain = state_db(db)

    async def scenario(pilot):
        app = pilot.app
        await pilot.press("j", "j", "enter")
        screen = app.screen
        assert isinstance(screen, EventScreen) and screen.seq == 2
        text = screen_text(app)
        assert "state at #2 · before → after" in text
        assert '~ count: 1 → 2' in text and '+ items[1]: "b"' in text and '+ last: "b"' in text
        assert screen.query_one(StatePane).has_class("shown")
        await pilot.press("right_square_bracket")
        assert screen.seq == 4 and '~ (whole state): {"count":2' in screen_text(app)
        await pilot.press("right_square_bracket")
        assert screen.seq == 6 and "binary · 2 bytes" in screen_text(app) and "00ff" in screen_text(app)
        await pilot.press("right_square_bracket")  # no export call after: stays, says so
        assert screen.seq == 6 and any("no export call after" in n.message for n in app._notifications)
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
        assert screen.seq == 0 and "none" in screen_text(app)
        await pilot.press("j")
        assert screen.seq == 1 and not screen.query_one(StatePane).has_class("shown")
        await pilot.press("escape")
        assert isinstance(app.screen, ChainScreen) and app.screen.events.cursor == 1

    drive(app_for(db, chain), scenario)


def shot(*keys: str):
    async def run_before(pilot):
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x45"])
def test_snapshot_event_state_diff(snap_compare, tmp_path, size):
    """issue 13 item 4: the event view of an export call, the state diff above the event."""
    db = tmp_path / "s.db"
    chain = state_db(db)
    assert snap_compare(app_for(db, chain), terminal_size=size, run_before=shot("j", "j", "enter"))


# -- fork here ----------------------------------------------------------------------


def counter_recording(tmp_path: Path) -> tuple[Path, str]:
    from actors import wat_manifest

    m = wat_manifest(tmp_path, "counter", seed=9)
    db = tmp_path / "f.db"
    r = run_cli("record", str(m), "--db", str(db), "-q", "--send", "abc", "--send", "de", "--send", "f", "--json")
    assert r.returncode == 0, r.stderr
    return db, orjson.loads(r.stdout)["chain"]


@pytest.mark.slow
def test_fork_here_shows_a_line_that_forks_when_run(tmp_path):
    """issue 13 item 4: "Fork here" in the palette shows (and copies) the exact `theater
    fork` line for the event in view; that line, run as given through the CLI, forks
    the chain after the export call at or before the event."""
    db, chain = counter_recording(tmp_path)
    seen: dict[str, str] = {}

    async def scenario(pilot):
        app = pilot.app
        await pilot.press(*"jjjjjj", "enter")  # seq 6: after the 1st handle-send (seq 4)
        assert app.screen.seq == 6
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"fork here")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ForkLineScreen)
        line = app.screen.fork.line
        assert line is not None and app.clipboard == line
        assert line in screen_text(app).replace("\n", "") or line[:40] in screen_text(app)
        seen["line"] = line
        await pilot.press("escape")
        assert isinstance(app.screen, EventScreen)

    drive(app_for(db, chain), scenario, size=LARGE)
    argv = shlex.split(seen["line"])
    assert argv[:5] == ["theater", "fork", chain, "--at", "6"]
    r = run_cli(*argv[1:], "--send", "xyz", "--json")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert out["seq"] == 4 and out["outcome"] == "completed"
    with Store(db, create=False) as store:
        header = orjson.loads(store.chain(out["chain"]).header)
        assert header["fork_of"]["chain"] == chain and header["fork_of"]["seq"] == 4


def test_fork_here_before_any_export_call_says_why_not(tmp_path):
    """issue 13 item 4: no export call at or before the event: no line, a reason."""
    db = tmp_path / "s.db"
    with Store(db) as store:
        chain = write_events(store, [(LOG, {"args": {"msg": "x"}, "result": None})])
        f = fork_line(store, db, chain, 0)
    assert f.line is None and "nothing to fork from" in f.note


# -- runs ---------------------------------------------------------------------------

INPUTS = ("Pworker.toml", "Sworker hello", "Rworker ping")


def record_run(tmp_path: Path, *inputs: str) -> tuple[Path, dict]:
    """A run of stage.wat whose hashes do not depend on where the checkout or the
    temporary folder is (the component is named relative to the manifests), so the
    snapshots that show hashes are the same in every clone."""
    import shutil

    from fixtures.build import wat_path

    shutil.copy(wat_path("stage"), tmp_path / "stage.wat")
    for name in ("worker", "root"):
        path = stage_manifest(tmp_path, name)
        path.write_text(path.read_text().replace(f'"{wat_path("stage")}"', '"stage.wat"'))
    m = tmp_path / "root.toml"
    db = tmp_path / "r.db"
    args = [a for i in inputs for a in ("--send", i)]
    r = run_cli("record", str(m), "--db", str(db), "-q", *args, "--json")
    assert r.returncode == 0, r.stderr
    return db, orjson.loads(r.stdout)


def pin_run(db: Path, out: dict) -> list[str]:
    """Give a run's chains fixed ids and times (for snapshots); returns the new ids."""
    ids = [f"{i}a00000000000000"[:16] for i in range(len(out["chains"]))]
    with Store(db) as store:
        c = store.conn
        for i, (old, new) in enumerate(zip([ch["chain"] for ch in out["chains"]], ids, strict=True)):
            pin(store, old, new, created=CREATED + i)
            c.execute("UPDATE run_chains SET chain = ?, created = ? WHERE chain = ?", (new, CREATED, old))
            c.execute("UPDATE run_chains SET run = ? WHERE run = ?", (new, old))
            c.execute("UPDATE run_chains SET parent = ? WHERE parent = ?", (new, old))
        c.commit()
    return ids


def test_run_view_shows_the_supervision_tree_and_verifies(tmp_path):
    """issue 19 item 8: `theater tui --run` opens the run view: each actor under the
    one that spawned it, with its events and status; `v` verifies the run with its links."""
    db, out = record_run(tmp_path, *INPUTS)

    async def scenario(pilot):
        app = pilot.app
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.run.id == out["run"]
        tree = screen.query_one(Tree)
        root = tree.root.children
        assert [n.data for n in root] == [out["chain"]]
        assert [n.data for n in root[0].children] == [out["chains"][1]["chain"]]
        text = screen_text(app)
        assert "root" in text and "worker" in text and "8 events" in text and "4 events" in text
        assert "complete (completed)" in text
        await pilot.press("v")
        await settle(pilot)
        text = screen_text(app)
        assert "ok run" in text and "links hold" in text and text.count("✓ verified") == 2
        await pilot.press("j", "enter")  # the worker's chain
        assert isinstance(app.screen, ChainScreen) and app.screen.info.id == out["chains"][1]["chain"]

    drive(app_for(db, run=out["run"][:6]), scenario)


def test_run_view_names_broken_links_by_chain_and_seq(tmp_path):
    """issue 19 item 8: a forged message in the receiver's chain (re-hashed, so the
    chain alone verifies): `v` marks the actor and names both chains and seqs."""
    db, out = record_run(tmp_path, *INPUTS)
    worker = out["chains"][1]["chain"]
    with Store(db) as store:
        evs = list(store.events(worker))
        target = next(e for e in evs if e.type.endswith("#handle-send"))
        send = next(e.seq for e in store.events(out["chain"]) if e.type.endswith("#send"))
        reforge(store, worker, [(e.type, e.data.replace(b"aGVsbG8=", b"aGVsbG9=") if e.seq == target.seq
                                 else e.data) for e in evs])
        store.conn.commit()

    async def scenario(pilot):
        app = pilot.app
        await pilot.press("v")
        await settle(pilot)
        text = screen_text(app)
        assert "FAILED run" in text and "✗ 1 link problem" in text
        assert f"broken_link  {worker} seq {target.seq}  ↔  {out['chain']} seq {send}" in text

    drive(app_for(db, run="last"), scenario, size=LARGE)


def test_chains_screen_R_opens_the_run_and_tui_run_errors_cleanly(tmp_path):
    """issue 19 item 8: `R` on the chains screen opens the highlighted chain's run; a
    chain of no run says so; `theater tui --run` with an unknown run is exit 2."""
    db, out = record_run(tmp_path, *INPUTS)
    with Store(db) as store:
        lone = write_events(store, [(LOG, {"args": {"msg": "x"}, "result": None})])

    async def scenario(pilot):
        app = pilot.app
        assert isinstance(app.screen, ChainsScreen)
        await pilot.press("R")
        assert isinstance(app.screen, RunScreen) and app.screen.run.id == out["run"]
        await pilot.press("escape")
        await pilot.press("G", "R")  # the lone chain, newest, last
        assert isinstance(app.screen, ChainsScreen)
        assert any("not part of a run" in n.message for n in app._notifications)
        assert lone

    drive(app_for(db), scenario)
    r = run_cli("tui", "--db", str(db), "--run", "ffffffff")
    assert r.returncode == 2 and "no run matches" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x45"])
def test_snapshot_run_view(snap_compare, tmp_path, size):
    """issue 19 item 8: the run view, verified."""
    db, out = record_run(tmp_path, *INPUTS)
    ids = pin_run(db, out)
    assert snap_compare(app_for(db, run=ids[0]), terminal_size=size, run_before=shot("v"))


# -- following links ----------------------------------------------------------------


def test_link_targets_of_sends_requests_and_spawns(tmp_path):
    """issue 19 item 8: a send goes to the event that received it (found by its cause),
    a request to the event that answered it, a spawn to the child's first event; a
    received message back to the sending event."""
    db, out = record_run(tmp_path, *INPUTS)
    root, worker = out["chain"], out["chains"][1]["chain"]
    with Store(db) as store:
        t = {e.seq: e.type.rpartition("#")[2] for e in store.events(root)}
        spawn, send, request = (next(s for s, f in t.items() if f == name) for name in ("spawn", "send", "request"))
        assert [(x.chain, x.seq) for x in link_targets(store, root, spawn)] == [(worker, 0)]
        got = link_targets(store, root, send)
        assert [(x.chain, x.type.rpartition("#")[2]) for x in got] == [(worker, "handle-send")]
        assert [(x.chain, x.seq) for x in link_targets(store, worker, got[0].seq)] == [(root, send)]
        answered = link_targets(store, root, request)
        assert [x.type.rpartition("#")[2] for x in answered] == ["handle-request"]
        assert [(x.chain, x.seq) for x in link_targets(store, worker, answered[0].seq)] == [(root, request)]
        assert link_targets(store, root, 0) == []  # init links nothing


def test_l_follows_a_link_and_L_or_escape_returns(tmp_path):
    """issue 19 item 8: in the chain screen and the event screen, `l` on an event that
    sends or receives opens the other chain's event; `L` (or escape) comes back."""
    db, out = record_run(tmp_path, *INPUTS)
    root, worker = out["chain"], out["chains"][1]["chain"]
    with Store(db) as store:
        send = next(e.seq for e in store.events(root) if e.type.endswith("#send"))

    async def scenario(pilot):
        app = pilot.app
        chain_screen = app.screen
        assert isinstance(chain_screen, ChainScreen)
        chain_screen.events.move_to(send)
        await pilot.pause()
        await pilot.press("l")
        await settle(pilot)  # the links are found in a worker
        linked = app.screen
        assert isinstance(linked, EventScreen) and linked.info.id == worker and linked.linked
        assert linked.source.event(linked.seq).type.endswith("#handle-send")
        assert "worker · chain" in linked.sub_title
        await pilot.press("l")  # and from the receiver back to the sender, one more level
        await settle(pilot)  # the links are found in a worker
        assert isinstance(app.screen, EventScreen) and app.screen.info.id == root and app.screen.seq == send
        await pilot.press("L")
        assert app.screen is linked
        await pilot.press("escape")
        assert app.screen is chain_screen and chain_screen.events.cursor == send
        chain_screen.events.move_to(0)
        await pilot.pause()
        await pilot.press("l")  # init links nothing: stays, says so
        await settle(pilot)  # the links are found in a worker
        assert app.screen is chain_screen
        assert any("links to no other chain" in n.message for n in app._notifications)

    drive(app_for(db, root), scenario)


def test_l_finds_the_receiver_in_a_worker_by_one_query(tmp_path, monkeypatch):
    """t-start item 3: `l` on a sent message finds the receiving event off the main
    thread (it read and decoded the receiver's whole chain there); the events that hold
    the sending event's hash are found by one SQL scan, and only those are decoded."""
    import threading

    import tui.linking as linking

    db, out = record_run(tmp_path, *INPUTS)
    root, worker = out["chain"], out["chains"][1]["chain"]
    with Store(db) as store:
        send = next(e.seq for e in store.events(root) if e.type.endswith("#send"))
    threads: list[bool] = []
    real_targets = linking.link_targets

    def spying_targets(store, chain_id, seq):
        threads.append(threading.current_thread() is threading.main_thread())
        return real_targets(store, chain_id, seq)

    whole: list[str] = []  # the receiver's chain read to its end
    real_events = Store.events

    def spying_events(self, chain_id, start=0, stop=None):
        if chain_id == worker and stop is None:
            whole.append(chain_id)
        return real_events(self, chain_id, start, stop)

    monkeypatch.setattr(linking, "link_targets", spying_targets)
    monkeypatch.setattr(Store, "events", spying_events)

    async def scenario(pilot):
        app = pilot.app
        app.screen.events.move_to(send)
        await pilot.pause()
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, EventScreen) and app.screen.info.id == worker
        assert threads == [False]
        # the one candidate checked, and the target read once for its type
        assert whole == []

    drive(app_for(db, root), scenario)


def test_l_under_a_filter_follows_the_highlighted_event(tmp_path):
    """t-start item 3: `l` follows the highlighted row's event, not the event whose seq
    is the row's index (they differ as soon as a filter hides rows)."""
    db, out = record_run(tmp_path, *INPUTS)
    root, worker = out["chain"], out["chains"][1]["chain"]

    async def scenario(pilot):
        app = pilot.app
        chain_screen = app.screen
        await pilot.press("backslash")
        await pilot.pause()
        await pilot.press(*"#send", "enter")
        await settle(pilot)
        seq = chain_screen.events.cursor_seq
        assert seq is not None and seq != chain_screen.events.cursor  # row 0 is not seq 0
        assert chain_screen.source.event(seq).type.endswith("#send")
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, EventScreen) and app.screen.info.id == worker

    drive(app_for(db, root), scenario)


def test_an_event_with_several_links_asks_which(tmp_path):
    """issue 19 item 8: a restart-child links the fresh chain and the stopped one's end:
    `l` asks which to follow, and follows the one picked."""
    db, out = record_run(tmp_path, "Pworker.toml", "Tworker")
    root, old, new = (c["chain"] for c in out["chains"])
    with Store(db) as store:
        restart = next(e.seq for e in store.events(root) if e.type.endswith("#restart-child"))
        assert [(x.chain, x.type) for x in link_targets(store, root, restart)] == [
            (new, INIT), (old, "end")]

    async def scenario(pilot):
        app = pilot.app
        app.screen.events.move_to(restart)
        await pilot.pause()
        await pilot.press("l")
        await settle(pilot)  # the links are found in a worker
        assert isinstance(app.screen, PickLinkScreen)
        assert "Follow which link?" in screen_text(app)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, EventScreen) and (app.screen.info.id, app.screen.seq) == (old, 1)
        await pilot.press("L", "l")
        await settle(pilot)  # the links are found in a worker
        await pilot.press("escape")  # asked again, cancelled: back on the chain screen
        assert isinstance(app.screen, ChainScreen)

    drive(app_for(db, root), scenario)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x45"])
def test_snapshot_followed_link(snap_compare, tmp_path, size):
    """issue 19 item 8: the receiver's event, reached by `l` from the root's send."""
    db, out = record_run(tmp_path, *INPUTS)
    ids = pin_run(db, out)
    with Store(db) as store:
        send = next(e.seq for e in store.events(ids[0]) if e.type.endswith("#send"))
    assert snap_compare(app_for(db, ids[0]), terminal_size=size, run_before=shot(*("j" * send), "l"))


def test_run_index_is_what_the_view_reads(tmp_path):
    """issue 19 item 8: the tree is the run index's parent links (theater/store/runs.py)."""
    db, out = record_run(tmp_path, *INPUTS)
    with Store(db) as store:
        chains = run_chains(store, out["run"])
    assert [(c.chain, c.parent) for c in chains] == [(out["chain"], None), (out["chains"][1]["chain"], out["chain"])]


@pytest.mark.parametrize("cls", [EventScreen, RunScreen, PickLinkScreen, ForkLineScreen], ids=lambda c: c.__name__)
def test_every_new_binding_has_an_id_and_shows(cls):
    """issues 13 item 4 and 19 item 8: the new keys can be remapped (ids) and are shown."""
    assert cls.BINDINGS
    for b in cls.BINDINGS:
        assert isinstance(b, Binding) and b.id and b.show and b.tooltip, b


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a POSIX pseudo-terminal")
def test_cli_tui_run_opens_the_run_view_in_a_terminal(tmp_path):
    """issue 19 item 8: `theater tui --run last`, as a user runs it, opens the run view."""
    from tui_helpers import Terminal

    db, out = record_run(tmp_path, *INPUTS)
    term = Terminal("tui", "--run", "last", "--db", str(db))
    assert term.read_until(f"run {out['run']}".encode()), term.output[-2000:]
    assert term.read_until(b"worker"), term.output[-2000:]
    term.press(b"q")
    assert term.close() == 0


def test_hostile_text_stays_inert_in_the_run_view_and_the_state_pane(tmp_path):
    """issue 19 item 8, issue 13 item 4: an actor name of markup and controls (from its
    manifest), a chain of the run renamed away (a tampered file) and a state of control
    bytes: shown as inert text, never markup or terminal sequences, and no crash."""
    from test_inert_text import HOSTILE, hostile_manifest, hostile_wat
    from test_tui_inert import EVIL_ID, no_raw_controls

    m = hostile_manifest(tmp_path, hostile_wat(tmp_path))
    db = tmp_path / "h.db"
    r = run_cli("record", str(m), "--db", str(db), "--send", "x", "--init-param", HOSTILE, "--json")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    with Store(db) as store:
        store.conn.execute("UPDATE run_chains SET name = ? WHERE chain = ?", (EVIL_ID, out["chain"]))
        store.conn.commit()
        export = next(e.seq for e in store.events(out["chain"]) if e.type.startswith("export:"))

    async def scenario(pilot):
        app = pilot.app
        assert isinstance(app.screen, RunScreen)
        no_raw_controls(app)
        await pilot.press("v")
        await settle(pilot)
        no_raw_controls(app)
        app.open_event(out["chain"], export)
        await pilot.pause()
        assert isinstance(app.screen, EventScreen)
        no_raw_controls(app)

    drive(app_for(db, run="last"), scenario)
