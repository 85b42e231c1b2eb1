"""One shape of result (issue 12 item 4): RecordResult and ReplayResult are frozen,
keyword-only dataclasses whose ``ok`` / ``verified`` is derived; end outcomes, chain
statuses and divergence kinds are StrEnums with today's values; ``record --json`` is
``RecordResult.to_json()``; ``replay(..., raise_on_divergence=True)`` raises
``DivergenceError`` carrying the ``Divergence``.

Real WAT components, real SQLite files, the real CLI (in process).
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from pathlib import Path

import orjson
import pytest
from actors import wat_manifest
from click.testing import CliRunner

import replay
import theater
import verify
from fixtures.build import wat_path
from replay import Divergence, DivergenceError, ReplayResult
from replay.replayer import replay as do_replay
from theater.errors import ExitCode
from theater.manifest import load_manifest
from theater.outcomes import ChainStatus, DivergenceKind, EndOutcome
from theater.recorder import Input, RecordResult, record
from theater.store import ReplayOutcome, Store


def recorded(tmp_path: Path, name: str = "counter") -> tuple[Store, RecordResult]:
    store = Store(tmp_path / "r.db")
    r = record(load_manifest(wat_manifest(tmp_path, name)), store,
               inputs=[Input("send", s) for s in (b"abc", b"xy", b"z")])
    return store, r


def test_record_result_is_frozen_keyword_only_and_derives_ok(tmp_path: Path) -> None:
    """issue 12 item 4: RecordResult was a mutable dataclass with positional fields."""
    store, r = recorded(tmp_path)
    assert r.outcome is EndOutcome.COMPLETED and r.outcome == "completed" and r.ok
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.outcome = EndOutcome.TRAPPED  # type: ignore[misc]
    with pytest.raises(TypeError):
        RecordResult(r.chain, r.events, r.head, EndOutcome.ERROR)  # type: ignore[misc]
    # ok follows the outcome: it is not a field that could disagree with it
    assert "ok" not in {f.name for f in dataclasses.fields(RecordResult)}
    for outcome, ok in [(EndOutcome.COMPLETED, True), (EndOutcome.STOPPED, True),
                        (EndOutcome.TRAPPED, False), (EndOutcome.ERROR, False)]:
        assert dataclasses.replace(r, outcome=outcome).ok is ok
    (tmp_path / "t").mkdir()
    _, trapped = recorded(tmp_path / "t", "counter_trap")
    assert trapped.outcome is EndOutcome.TRAPPED and not trapped.ok and trapped.error
    assert trapped.to_json() == {"chain": trapped.chain, "events": trapped.events,
                                 "head": trapped.head.hex(), "outcome": "trapped", "error": trapped.error}


def test_record_json_is_to_json(tmp_path: Path) -> None:
    """issue 12 item 4: `theater record --json` prints RecordResult.to_json() and the db."""
    from theater.cli import cli
    from theater.commands import register

    register(cli)
    db = tmp_path / "c.db"
    res = CliRunner().invoke(cli, ["record", str(wat_manifest(tmp_path, "counter")), "--db", str(db),
                                   "-q", "--json", "--send", "abc"])
    assert res.exit_code == 0, res.output
    out = orjson.loads(res.stdout)
    with Store(db) as store:
        info = store.resolve(out["chain"])
        last = store.last_event(info.id)
    assert last is not None
    # issue 19 item 2: a single recording is a run of one chain, and --json says so
    one = {"chain": info.id, "actor": "counter", "events": info.length, "head": last.hash.hex(),
           "outcome": "completed"}
    assert out == {"chain": info.id, "events": info.length, "head": last.hash.hex(), "outcome": "completed",
                   "error": None, "db": str(db), "run": info.id, "chains": [one]}


def test_replay_result_is_frozen_and_derives_verified(tmp_path: Path) -> None:
    """issue 12 item 4: ReplayResult stored `verified` beside the fields it follows from."""
    store, r = recorded(tmp_path)
    ok = do_replay(store, r.chain)
    assert ok.verified and ok.outcome is ReplayOutcome.VERIFIED
    assert "verified" not in {f.name for f in dataclasses.fields(ReplayResult)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        ok.head = b"x"  # type: ignore[misc]
    assert not dataclasses.replace(ok, head=bytes(32)).verified
    assert not dataclasses.replace(ok, recorded_head=bytes(32)).verified
    assert dataclasses.replace(ok, recorded_head=bytes(32), until=3).verified  # a prefix needs no whole head
    assert ok.to_json()["verified"] is True
    part = do_replay(store, r.chain, until=3)
    assert part.verified and part.outcome is ReplayOutcome.STOPPED and part.note
    bad = do_replay(store, r.chain, component=wat_path("counter_args"))
    assert not bad.verified and bad.to_json()["verified"] is False
    assert bad.divergence is not None and bad.divergence.kind is DivergenceKind.ARGUMENTS
    with pytest.raises(dataclasses.FrozenInstanceError):
        bad.divergence.seq = 0  # type: ignore[misc]


def test_raise_on_divergence(tmp_path: Path) -> None:
    """issue 12 item 4: replay(..., raise_on_divergence=True) raises DivergenceError with
    the Divergence; the diverged replay is stored first; a faithful replay returns."""
    store, r = recorded(tmp_path)
    assert do_replay(store, r.chain, raise_on_divergence=True).verified
    with pytest.raises(DivergenceError) as caught:
        do_replay(store, r.chain, component=wat_path("counter_args"), raise_on_divergence=True)
    e = caught.value
    assert isinstance(e.divergence, Divergence) and (e.divergence.seq, e.divergence.kind) == (5, "arguments")
    assert isinstance(e.result, ReplayResult) and e.result.divergence is e.divergence
    assert "diverged at event 5 (arguments)" in str(e) and e.exit_code == ExitCode.FAILED
    stored = store.replays(r.chain)[-1]
    assert stored.outcome == ReplayOutcome.DIVERGED and stored.chain == e.result.chain
    # the default keeps returning the divergence as a result
    assert do_replay(store, r.chain, component=wat_path("counter_args")).divergence is not None


def test_named_values_are_str_enums_with_todays_values() -> None:
    """issue 12 item 4: "completed" (an end outcome) and "complete" (a status) were bare
    strings; both are kept, as members of two named enums; JSON is unchanged."""
    assert [e.value for e in EndOutcome] == ["completed", "stopped", "trapped", "error", "diverged"]
    assert [s.value for s in ChainStatus] == ["recording", "complete", "incomplete"]
    assert EndOutcome.COMPLETED == "completed" and ChainStatus.COMPLETE == "complete"
    assert orjson.dumps({"outcome": EndOutcome.STOPPED, "status": ChainStatus.INCOMPLETE}) == \
        b'{"outcome":"stopped","status":"incomplete"}'
    from replay.divergence import KINDS

    assert set(KINDS) | {DivergenceKind.HEAD} == set(DivergenceKind)
    assert all(issubclass(e, StrEnum) for e in (EndOutcome, ChainStatus, DivergenceKind))


def test_public_api_of_each_package() -> None:
    """issue 12 item 4: each package exports a curated API with __all__, and importing
    theater stays light (the names that need wasmtime load on first use)."""
    for package in (theater, replay, verify):
        assert package.__all__, package.__name__
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
    assert {"record", "Store", "Manifest", "RecordResult", "TheaterError", "EndOutcome"} <= set(theater.__all__)
    assert {"replay", "ReplayResult", "Divergence", "DivergenceError"} <= set(replay.__all__)
    assert {"verify_chain", "audit_chain", "VerifyResult"} <= set(verify.__all__)
    assert theater.record is record and replay.replay is do_replay
    with pytest.raises(AttributeError):
        _ = theater.no_such_name  # type: ignore[attr-defined]
