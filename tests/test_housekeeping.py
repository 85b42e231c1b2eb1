"""`theater rm`, `theater gc` and importing a file twice (issue 17 item 7)."""

import base64
import hashlib

import orjson
from conftest import run_cli
from tui_helpers import SEND, actor_events, write_events

from theater.blobs import blob_header
from theater.chain import canonical_json, make_header
from theater.store import Store
from theater.store.runs import add_run_chain


def _b64(b: bytes) -> str:
    return "base64:" + base64.b64encode(b).decode()


def _state_chain(store: Store, n: int = 4, size: int = 1200, component: str = "ab" * 32) -> str:
    """A chain whose states (``size`` bytes, over the blob threshold) are stored as blobs."""
    w = store.create_chain(make_header(actor="stateful", component_sha256=component, seed=1, **blob_header()))
    state = None
    for i in range(n):
        new = (b"%06d" % i) * (size // 6)
        w.append(SEND, canonical_json({"args": {"params": [_b64(b"m")],
                                                "state": None if state is None else {"some": _b64(state)}},
                                       "result": {"ok": [{"some": _b64(new)}]}}))
        state = new
    w.finish("completed")
    return w.chain_id


def _rows(db, chain_id):
    """Rows naming ``chain_id`` left in every table theater writes."""
    with Store(db, create=False) as s:
        c = s.conn
        out = {
            "chains": c.execute("SELECT count(*) FROM chains WHERE id = ?", (chain_id,)).fetchone()[0],
            "events": c.execute("SELECT count(*) FROM events e JOIN chains k ON k.key = e.chain WHERE k.id = ?",
                                (chain_id,)).fetchone()[0],
            "checkpoints": c.execute("SELECT count(*) FROM checkpoints WHERE chain = ?", (chain_id,)).fetchone()[0],
        }
        if c.execute("SELECT 1 FROM sqlite_master WHERE name = 'replays'").fetchone():
            out["replays"] = c.execute("SELECT count(*) FROM replays WHERE source = ? OR chain = ?",
                                       (chain_id, chain_id)).fetchone()[0]
        if c.execute("SELECT 1 FROM sqlite_master WHERE name = 'run_chains'").fetchone():
            out["run_chains"] = c.execute("SELECT count(*) FROM run_chains WHERE chain = ?",
                                          (chain_id,)).fetchone()[0]
        return out


def test_rm_removes_a_chain_and_all_its_rows(store):
    """issue 17 item 7: `theater rm` removes the chain, its events, checkpoints and replay outcomes."""
    a, b = write_events(store, actor_events()), write_events(store, actor_events())
    store.add_checkpoint(a, 3, b"\0" * 32, "k", "note")
    db = str(store.path)
    r = run_cli("rm", a[:10], "--db", db)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [a] and "removed 1 chain (" in r.stderr
    assert set(_rows(db, a).values()) == {0}
    assert _rows(db, b)["events"] == len(actor_events()) + 1  # the other chain is untouched


def test_rm_refuses_linked_chains_and_removes_nothing(store):
    """issue 17 item 7: a chain a replay, a fork or a run links to is refused (exit 2,
    one line, nothing removed, not even the other chains named), unless --force."""
    rec = write_events(store, actor_events())
    replay = write_events(store, actor_events(), replay_of=rec)
    other = write_events(store, actor_events())
    db = str(store.path)
    r = run_cli("rm", other, rec, "--db", db)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        f"theater: error: chain {rec} is linked to: {replay} is a replay of it; remove those chains too, "
        "or pass --force; nothing was removed"]
    assert _rows(db, other)["chains"] == 1 and _rows(db, rec)["events"] == len(actor_events()) + 1
    # removing the replay with it is fine: nothing outside the set links to them
    r = run_cli("rm", rec, replay, "--db", db)
    assert r.returncode == 0, r.stderr
    assert set(_rows(db, rec).values()) == set(_rows(db, replay).values()) == {0}


def test_rm_refuses_forks_and_run_members_then_force(store):
    """issue 17 item 7: fork_of and a run's chains count as links; --force removes anyway."""
    src = write_events(store, actor_events())
    fork_header = make_header(actor="counter", component_sha256="c0" * 32, seed=7,
                              fork_of={"chain": src, "seq": 3, "head": "00" * 32})
    fork = store.create_chain(fork_header)
    fork.finish("completed")
    root, child = write_events(store, actor_events()), write_events(store, actor_events())
    add_run_chain(store, run=root, chain=root, ord=0, actor_id="r", name="root", parent=None)
    add_run_chain(store, run=root, chain=child, ord=1, actor_id="c", name="child", parent=root)
    db = str(store.path)
    r = run_cli("rm", src, "--db", db)
    assert r.returncode == 2 and f"{fork.chain_id} is a fork of it" in r.stderr
    r = run_cli("rm", child, "--db", db)
    assert r.returncode == 2 and f"{root} is in the same run" in r.stderr
    r = run_cli("rm", root, "--json", "--db", db)
    assert r.returncode == 2 and f"{child} is a child of it in a run" in r.stderr
    r = run_cli("rm", root, "--force", "--json", "--db", db)
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert out["removed"] == [root] and out["links"] == [{"source": child, "target": root, "how": "parent"}]
    assert set(_rows(db, root).values()) == {0} and _rows(db, child)["chains"] == 1
    r = run_cli("rm", root, "--db", db)
    assert r.returncode == 2 and "no chain" in r.stderr


def test_gc_frees_unused_components_and_blobs(store):
    """issue 17 item 7: `theater gc` removes what no chain uses and says what was freed."""
    used = store.put_component(b"\0asm used component")
    unused = store.put_component(b"\0asm nobody runs this" * 10)
    keep = _state_chain(store, component=used)
    gone = _state_chain(store, size=2400, component=used)
    db = str(store.path)
    assert run_cli("rm", gone, "--db", db).returncode == 0
    with Store(db, create=False) as s:
        before = s.conn.execute("SELECT count(*) FROM blobs").fetchone()[0]
    dry = run_cli("gc", "--dry-run", "--json", "--db", db)
    assert dry.returncode == 0 and orjson.loads(dry.stdout)["blobs"] == 4
    r = run_cli("gc", "--db", db)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["component", unused]
    assert r.stderr.startswith("freed 1 component (210 B) and 4 blobs (")
    with Store(db, create=False) as s:
        assert s.conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == before - 4 == 4
        assert [r[0] for r in s.conn.execute("SELECT sha256 FROM components")] == [used]
    assert run_cli("verify", keep, "--db", db).returncode == 0  # its blobs are all still there
    again = run_cli("gc", "--json", "--db", db)
    assert orjson.loads(again.stdout) == {"components": [], "component_bytes": 0, "blobs": 0, "blob_bytes": 0,
                                          "dry_run": False}
    assert hashlib.sha256(b"\0asm used component").hexdigest() == used


def test_import_twice_says_it_is_already_there(store, tmp_path):
    """issue 17 item 7: importing the same export twice keeps one copy and says so."""
    cid = write_events(store, actor_events())
    db = str(store.path)
    out = tmp_path / "c.jsonl"
    assert run_cli("export", cid, "--out", str(out), "--db", db).returncode == 0
    other = tmp_path / "other.db"
    first = run_cli("import", str(out), "--db", str(other))
    assert first.returncode == 0, first.stderr
    new = first.stdout.strip()
    second = run_cli("import", str(out), "--db", str(other))
    assert second.returncode == 0 and second.stdout.strip() == new
    assert second.stderr.strip() == (f"{out} is already in the database as {new} "
                                     "(the same header and head hash); nothing imported")
    j = run_cli("import", str(out), "--json", "--db", str(other))
    assert orjson.loads(j.stdout)["already"] is True and orjson.loads(j.stdout)["chain"] == new
    with Store(other, create=False) as s:
        assert [c.id for c in s.chains()] == [new]
    # into the database it came from: the original is already there
    back = run_cli("import", str(out), "--db", db)
    assert back.returncode == 0 and back.stdout.strip() == cid


def test_rm_refuses_a_chain_being_recorded(store):
    """issue 17 item 7: a chain a live process (this one) is recording is refused unless --force."""
    w = store.create_chain(make_header(actor="live", component_sha256="ab" * 32, seed=1))
    w.append(SEND, canonical_json({"args": {}, "result": None}))
    w.flush()
    db = str(store.path)
    r = run_cli("rm", w.chain_id, "--db", db)
    assert r.returncode == 2 and f"chain {w.chain_id} is being recorded (process " in r.stderr
    assert _rows(db, w.chain_id)["events"] == 1
    assert run_cli("rm", w.chain_id, "--force", "--db", db).returncode == 0
    assert set(_rows(db, w.chain_id).values()) == {0}
