"""Chain diff: aligned by seq, compared on (type, data); the library and `theater diff`."""

import tracemalloc

import orjson
import pytest
from conftest import run_cli
from tamper import delete_events
from tui_helpers import RANDOM_U64, SEND, actor_events, write_events

from theater.chain import canonical_json, make_header
from verify.diff import (
    diff_chains,
    differing_seqs,
    event_diff,
    next_difference,
    previous_difference,
)


def diverging(at: int = 9, value: int = 42):
    events = actor_events()
    assert events[at][0] == RANDOM_U64
    events[at] = (RANDOM_U64, {"args": {}, "result": value})
    return events


def test_identical_chains(store):
    a, b = write_events(store, actor_events()), write_events(store, actor_events())
    d = diff_chains(store, a, b)
    assert d.identical and d.first is None
    assert d.common_prefix == d.length_a == d.length_b == len(actor_events()) + 1
    assert (d.tail_a, d.tail_b) == (0, 0)
    assert d.same_header and d.same_head and d.head_a == store.last_event(a).hash


def test_other_seed_same_events_compares_events_not_hashes(store):
    a = write_events(store, actor_events(), seed=1)
    b = write_events(store, actor_events(), seed=2)
    d = diff_chains(store, a, b)
    assert d.identical and not d.same_header and not d.same_head
    assert [x.describe() for x in d.header_differences] == ["seed: expected 1, got 2"]
    assert "headers: differ (seed: expected 1, got 2)" in d.summary()


def test_first_divergence_structural(store):
    a, b = write_events(store, actor_events()), write_events(store, diverging(9, 42))
    d = diff_chains(store, a, b)
    assert not d.identical and d.common_prefix == 9
    f = d.first
    assert (f.seq, f.type_a, f.type_b) == (9, RANDOM_U64, RANDOM_U64)
    assert [x.describe() for x in f.differences] == ["result: expected 2, got 42"]
    assert f.data_a == {"args": {}, "result": 2} and f.data_b["result"] == 42
    assert d.tail_a == d.tail_b == d.length_a - 9
    assert d.same_header and not d.same_head
    j = d.to_json()
    assert j["first"]["describe"] == ["result: expected 2, got 42"]
    assert j["tail_a"] == d.tail_a and orjson.loads(orjson.dumps(j)) == j


def test_one_chain_is_a_prefix(store):
    events = actor_events()
    a = write_events(store, events)
    b = write_events(store, events[:5], finish=False)
    d = diff_chains(store, a, b)
    assert d.common_prefix == 5 and (d.tail_a, d.tail_b) == (len(events) + 1 - 5, 0)
    assert d.first.seq == 5 and d.first.type_a == events[5][0] and d.first.type_b is None
    assert d.first.describe() == [f"event 5: only in A ({events[5][0]})"]


def test_type_difference_and_arguments(store):
    events = actor_events()
    other = list(events)
    other[7] = (SEND, {"args": {"msg": "base64:AA==", "state": None}, "result": {"ok": [None]}})
    a, b = write_events(store, events), write_events(store, other)
    d = diff_chains(store, a, b)
    assert d.first.seq == 7
    assert "argument msg: expected" in d.first.describe()[0]


def test_same_json_other_bytes_is_a_difference(store):
    header = make_header(actor="x", component_sha256="00" * 32)
    wa, wb = store.create_chain(header), store.create_chain(header)
    wa.append(RANDOM_U64, b'{"args":{},"result":1}')
    wb.append(RANDOM_U64, b'{"result":1,"args":{}}')
    wa.flush(), wb.flush()
    d = diff_chains(store, wa.chain_id, wb.chain_id)
    assert d.first.seq == 0 and d.first.same_json_other_bytes and not d.first.equal
    assert "encoded as different bytes" in d.first.describe()[0]


def test_gap_in_one_chain_still_aligns(store):
    a, b = write_events(store, actor_events()), write_events(store, actor_events())
    delete_events(store, b, 4)
    d = diff_chains(store, a, b)
    assert d.common_prefix == 4 and d.first.seq == 4 and d.first.type_b is None
    assert list(differing_seqs(store, a, b)) == [4]  # seq 5 onwards still lines up


def test_navigation_between_differences(store):
    events = diverging(9, 42)
    events[15] = (RANDOM_U64, {"args": {}, "result": 0})
    a, b = write_events(store, actor_events()), write_events(store, events)
    assert list(differing_seqs(store, a, b)) == [9, 15]
    assert next_difference(store, a, b, 9) == 15
    assert next_difference(store, a, b, 15) is None
    assert previous_difference(store, a, b, 15) == 9
    assert previous_difference(store, a, b, 9) is None
    assert event_diff(store, a, b, 15).describe() == ["result: expected 4, got 0"]
    assert event_diff(store, a, b, 3).equal


def test_diff_streams_in_constant_memory(store):
    header = canonical_json(make_header(actor="m", component_sha256="00" * 32))
    ids = []
    for _ in range(2):
        w = store.create_chain(header, batch=4096)
        for i in range(40_000):
            w.append(RANDOM_U64, canonical_json({"args": {}, "result": i}))
        w.finish("completed")
        ids.append(w.chain_id)
    tracemalloc.start()
    d = diff_chains(store, *ids)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert d.identical and d.common_prefix == 40_001
    assert peak < 8 * 1024 * 1024  # the chains' data alone is several MB


# -- the real CLI -----------------------------------------------------------------


@pytest.fixture
def db(tmp_path):
    from theater.store import Store

    path = tmp_path / "diff.db"
    with Store(path) as s:
        ids = (write_events(s, actor_events()), write_events(s, actor_events()),
               write_events(s, diverging(9, 42)))
    return path, ids


def test_cli_identical_exits_0(db):
    path, (a, b, _) = db
    r = run_cli("diff", a, b, "--db", str(path))
    assert r.returncode == 0, r.stderr
    assert "identical: all 24 events have equal type and data" in r.stdout


def test_cli_divergence_exits_1_with_structural_diff(db):
    path, (a, _, c) = db
    r = run_cli("diff", a[:6], c[:6], "--db", str(path))
    assert r.returncode == 1, r.stderr
    out = r.stdout
    assert "common prefix: 9 events" in out
    assert "first difference at seq 9:" in out
    assert "result: expected 2, got 42" in out
    assert "tails after the common prefix: A 15, B 15 events" in out


def test_cli_json(db):
    path, (a, _, c) = db
    r = run_cli("diff", a, c, "--db", str(path), "--json")
    assert r.returncode == 1
    j = orjson.loads(r.stdout)
    assert j["common_prefix"] == 9 and j["first"]["seq"] == 9 and not j["identical"]
    assert j["first"]["differences"] == [{"path": "result", "kind": "changed", "expected": 2, "actual": 42}]


def test_cli_unknown_chain_is_usage_error(db):
    path, (a, _, _) = db
    r = run_cli("diff", a, "ffffffff", "--db", str(path))
    assert r.returncode == 2 and "no chain matches 'ffffffff'" in r.stderr
