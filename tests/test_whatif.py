"""`theater replay --override SEQ=JSON` (issue 13 item 3): what if a host call had
returned something else? coin.wat draws a second u64 when its first draw is odd, so
overriding the parity of a draw changes its branch. Real wasmtime, real SQLite, the CLI."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from actors import wat_manifest
from conftest import run_cli

from replay.whatif import replay_overrides
from theater.errors import UsageError
from theater.manifest import load_manifest
from theater.recorder import Input, record
from theater.rng import ChaCha20Rng
from theater.store import Store
from verify.integrity import verify_chain

SEED = 42


def recorded(tmp_path: Path) -> tuple[Store, str, int, int]:
    """A coin recording; returns (store, chain, seq of the 1st handle-send's draw, its value)."""
    store = Store(tmp_path / "r.db")
    r = record(load_manifest(wat_manifest(tmp_path, "coin", seed=SEED)), store, init_param="0",
               inputs=[Input("send", b"a"), Input("send", b"b"), Input("send", b"c")])
    draw = next(e for e in store.events(r.chain) if e.type.endswith("#get-random-u64"))
    return store, r.chain, draw.seq, orjson.loads(draw.data)["result"]


def flipped(v: int) -> int:
    """The value of the other parity (so the other branch)."""
    return v - 1 if v & 1 else v + 1


def test_an_override_changes_the_branch_and_stops_there(tmp_path: Path) -> None:
    """issue 13 item 3: the override is fed instead of the recorded draw; the run stops
    at the first difference (the second draw appears or disappears) and reports it; the
    new chain's header records the override."""
    store, chain, seq, value = recorded(tmp_path)
    new = flipped(value)
    res = replay_overrides(store, chain, overrides={seq: new})
    d = res.difference
    assert d is not None and d.seq == seq + 1
    # odd now: the actor draws again where the recording returned; even now: it returns
    # where the recording drew again
    assert d.kind == ("extra_call" if new & 1 else "missing_call")
    assert res.outcome == "diverged" and res.live_from is None
    header = orjson.loads(store.chain(res.chain).header)
    assert header["overrides"] == [{"seq": seq, "result": new}]
    assert header["fork_of"]["chain"] == chain and header["fork_of"]["seq"] == seq - 1
    ev = store.event(res.chain, seq)
    assert ev is not None and orjson.loads(ev.data)["result"] == new
    assert [e.data for e in store.events(res.chain, 0, seq)] == [e.data for e in store.events(chain, 0, seq)]
    assert verify_chain(store, res.chain).ok
    v = run_cli("verify", res.chain, "--db", str(store.path))
    assert v.returncode == 0, v.stdout + v.stderr  # its prefix is the source's (fork_of)


def test_then_live_records_the_rest_on_live_handlers(tmp_path: Path) -> None:
    """issue 13 item 3: --then-live: from the first difference on, live handlers answer,
    resumed to the recorded stream position, and the rest of the inputs run."""
    store, chain, seq, value = recorded(tmp_path)
    new = flipped(value)
    db = str(store.path)
    store.close()
    r = run_cli("replay", chain, "--db", db, "--override", f"{seq}={new}", "--then-live", "--json")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert out["live_from"] == seq + 1 and out["outcome"] == "completed"
    assert out["overrides"] == [{"seq": seq, "result": new}]
    with Store(db, create=False) as s:
        events = list(s.events(out["chain"]))
        assert events[-1].type == "end" and orjson.loads(events[-1].data) == {"outcome": "completed"}
        assert sum(e.type.startswith("export:") for e in events) == 4  # init and the three sends
        # every live draw is the seeded stream's next value after the recorded ones
        rng = ChaCha20Rng.seed_from_u64(SEED)
        draws = [e for e in events if e.type.endswith("#get-random-u64")]
        for e in draws:
            want = rng.next_u64()
            got = orjson.loads(e.data)["result"]
            assert got == (new if e.seq == seq else want)
        assert verify_chain(s, out["chain"]).ok
    text = run_cli("replay", chain, "--db", db, "--override", f"{seq}={new}")
    assert text.returncode == 0 and f"first difference at event {seq + 1}, stopped there" in text.stdout


@pytest.mark.parametrize("arg,message", [
    ("{seq}=\"abc\"", "returns u64"),
    ("{seq}=-1", "returns u64"),
    ("{export}=1", "not a host call"),
    ("x=1", "expected SEQ=JSON"),
    ("{seq}=nope", "is not JSON"),
    ("999=1", "has no event 999"),
])
def test_a_bad_override_is_exit_2_naming_the_type(tmp_path: Path, arg: str, message: str) -> None:
    """issue 13 item 3: a value that does not fit the WIT result type (or no host call
    there) is exit 2, one line, and no chain is written."""
    store, chain, seq, _ = recorded(tmp_path)
    export = next(e.seq for e in store.events(chain) if e.type.startswith("export:"))
    n = len(store.chains())
    db = str(store.path)
    store.close()
    r = run_cli("replay", chain, "--db", db, "--override", arg.format(seq=seq, export=export))
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    with Store(db, create=False) as s:
        assert len(s.chains()) == n
        with pytest.raises(UsageError):
            replay_overrides(s, chain, overrides={seq: "abc"})
