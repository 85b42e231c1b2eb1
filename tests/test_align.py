"""Content alignment of two chains (issue 17 item 5): theater.align and `theater diff --all`."""

import random

import orjson
import pytest
from conftest import run_cli
from tamper import delete_events
from tui_helpers import LOG, RANDOM_U64, SEND, actor_events, write_events

from theater.align import AlignKind, align_chains, differences, edit_script


def _lcs_len(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _check_cover(hunks, a, b):
    """The hunks cover both sequences in order, and equal hunks hold equal keys."""
    ia = ib = 0
    for h in hunks:
        assert (h.a_start, h.b_start) == (ia, ib)
        if h.kind is AlignKind.EQUAL:
            assert a[h.a_start:h.a_stop] == b[h.b_start:h.b_stop]
        if h.kind in (AlignKind.EQUAL, AlignKind.CHANGED):
            assert h.a_stop - h.a_start == h.b_stop - h.b_start
        ia, ib = h.a_stop, h.b_stop
    assert (ia, ib) == (len(a), len(b))


def test_edit_script_is_a_longest_common_subsequence():
    """issue 17 item 5: the equal rows are an LCS (checked against a quadratic LCS)."""
    rng = random.Random(17)
    for _ in range(300):
        a = [rng.randrange(4) for _ in range(rng.randrange(0, 25))]
        b = [rng.randrange(4) for _ in range(rng.randrange(0, 25))]
        hunks, approx = edit_script(a, b)
        assert not approx
        _check_cover(hunks, a, b)
        equal = sum(h.rows for h in hunks if h.kind is AlignKind.EQUAL)
        assert equal == _lcs_len(a, b), (a, b)


def test_edit_script_pairs_same_type_as_changed_and_caps_edits():
    """issue 17 item 5: a replaced event of the same type is `changed`; beyond max_edits
    the middle is paired by position and flagged approximate."""
    hunks, _ = edit_script([1, 2, 3], [1, 9, 3], types_a=[0, 5, 0], types_b=[0, 5, 0])
    assert [h.kind for h in hunks] == [AlignKind.EQUAL, AlignKind.CHANGED, AlignKind.EQUAL]
    hunks, _ = edit_script([1, 2, 3], [1, 9, 3], types_a=[0, 5, 0], types_b=[0, 6, 0])
    assert [h.kind for h in hunks] == [AlignKind.EQUAL, AlignKind.MISSING, AlignKind.INSERTED, AlignKind.EQUAL]
    a, b = list(range(100)), list(range(100, 200))
    hunks, approx = edit_script(a, b, max_edits=10)
    assert approx
    _check_cover(hunks, a, b)


def _inserted_and_missing():
    events = actor_events()
    other = list(events)
    other.insert(8, (LOG, {"args": {"msg": "an extra call"}, "result": None}))
    del other[16]  # after the insert: events[15], a random draw
    return events, other


def test_inserted_and_missing_call_realigns_the_rest(store):
    """issue 17 item 5: one inserted and one missing call; every other event pairs up."""
    events, other = _inserted_and_missing()
    assert events[15][0] == RANDOM_U64
    a, b = write_events(store, events), write_events(store, other)
    al = align_chains(store, a, b)
    assert not al.identical and not al.approximate
    assert al.counts == {"inserted": 1, "missing": 1}
    diffs = list(differences(store, al))
    assert [(d.kind, d.seq_a, d.seq_b) for d in diffs] == [(AlignKind.INSERTED, None, 8),
                                                           (AlignKind.MISSING, 15, None)]
    assert diffs[0].type_b == LOG and diffs[1].type_a == RANDOM_U64
    assert al.rows == len(events) + 1 + 1  # every event of A, plus the inserted one (end events pair)
    kind, sa, sb = al.row(al.row_of_seq(20))
    assert kind is AlignKind.EQUAL and (sa, sb) == (20, 20)  # -1 +1: back in step
    assert al.row(al.row_of_seq(10))[1:] == (10, 11)


def test_changed_event_lists_structural_differences(store):
    """issue 17 item 5: a changed event says which field differs."""
    events = actor_events()
    other = list(events)
    other[9] = (RANDOM_U64, {"args": {}, "result": 42})
    other[13] = (SEND, dict(other[13][1], result={"err": "boom"}))
    a, b = write_events(store, events), write_events(store, other)
    diffs = list(differences(store, align_chains(store, a, b)))
    assert [(d.kind, d.seq_a, d.seq_b) for d in diffs] == [(AlignKind.CHANGED, 9, 9), (AlignKind.CHANGED, 13, 13)]
    assert diffs[0].describe().endswith("result: expected 2, got 42")


def test_gap_in_a_tampered_chain_aligns_by_content(store):
    """issue 17 item 5: a deleted row is one missing event, not a shifted chain."""
    a, b = write_events(store, actor_events()), write_events(store, actor_events())
    delete_events(store, b, 4)
    al = align_chains(store, a, b)
    assert [(d.kind, d.seq_a) for d in differences(store, al)] == [(AlignKind.MISSING, 4)]


def test_cli_diff_all_lists_every_difference(store, tmp_path):
    """issue 17 item 5: `theater diff --all` lists inserted, missing and changed, not only the first."""
    events, other = _inserted_and_missing()
    other[3] = (other[3][0], {"args": {"len": 16}, "result": "base64:AAAA"})
    a, b = write_events(store, events), write_events(store, other)
    db = str(store.path)
    r = run_cli("diff", a, b, "--all", "--db", db)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert [ln.split()[0] for ln in lines[2:-1]] == ["changed", "inserted", "missing"]
    assert f"inserted  B 8: {LOG} (not in A)" in lines
    assert lines[-1] == "3 differences (1 changed, 1 inserted, 1 missing)"
    j = run_cli("diff", a, b, "--all", "--json", "--db", db)
    assert j.returncode == 1
    out = orjson.loads(j.stdout)
    assert out["counts"] == {"changed": 1, "inserted": 1, "missing": 1} and not out["identical"]
    assert [(d["kind"], d["seq_a"], d["seq_b"]) for d in out["differences"]] == [
        ("changed", 3, 3), ("inserted", None, 8), ("missing", 15, None)]
    same = write_events(store, events)
    r = run_cli("diff", a, same, "--all", "--db", db)
    assert r.returncode == 0 and r.stdout.splitlines()[-1].startswith("identical: all")


@pytest.mark.parametrize("messages", [0, 3])
def test_identical_and_prefix_chains(store, messages):
    """issue 17 item 5: a chain cut short is missing its tail, in one hunk."""
    events = actor_events(messages)
    a, b = write_events(store, events), write_events(store, events[:4], finish=False)
    al = align_chains(store, a, b)
    assert al.counts == {"missing": len(events) + 1 - 4}
    assert [h.kind for h in al.hunks] == [AlignKind.EQUAL, AlignKind.MISSING]


def test_navigation_between_aligned_differences(store):
    """issue 17 item 5: n/N of the aligned view: the next and previous non-equal rows."""
    events, other = _inserted_and_missing()
    other[3] = (other[3][0], {"args": {"len": 16}, "result": "base64:AAAA"})
    al = align_chains(store, write_events(store, events), write_events(store, other))
    rows = list(al.differing_rows())
    assert len(rows) == 3 and [al.row(r)[0] for r in rows] == [AlignKind.CHANGED, AlignKind.INSERTED,
                                                               AlignKind.MISSING]
    assert al.next_difference(0) == rows[0] and al.next_difference(rows[0]) == rows[1]
    assert al.next_difference(rows[2]) is None and al.next_difference(al.rows - 1) is None
    assert al.previous_difference(rows[2]) == rows[1] and al.previous_difference(rows[0]) is None
    assert al.previous_difference(al.rows - 1) == rows[2]
    assert all(al.row(r)[0] is AlignKind.EQUAL for r in range(al.rows) if r not in rows)
