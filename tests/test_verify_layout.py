"""verify/ in files of one idea (issue 12 item 2, and the verify part of item 4).

The results (verify/results.py) are frozen, keyword-only dataclasses whose ``ok`` and
``problem`` follow from ``problems``; the walk is verify/walk.py; verify/parallel.py
takes the page size as an argument; no module imports at its bottom; no two modules
define the same public function.
"""

from __future__ import annotations

import ast
import dataclasses
from enum import StrEnum
from pathlib import Path

import orjson
import pytest
from conftest import write_chain

from theater.store import PAGE, Store

VERIFY = Path(__file__).resolve().parent.parent / "verify"

TODAYS_CLASSES = [
    "hash_mismatch", "parent_mismatch", "sequence_gap", "duplicate", "header_mismatch", "malformed",
    "truncated", "bad_signature", "fork", "random_mismatch", "unsigned_tail",
    # issue 19 item 5 (the links between the chains of a run) and issue 13 item 2 (a fork's prefix)
    "broken_link", "undelivered",
    "missing_blob", "blob_mismatch",  # issue 18 item 4: the blobs a chain refers to
]


def test_failure_kind_is_a_str_enum_of_todays_classes():
    """issue 12 item 4 (verify): failure classes are a StrEnum whose values are the JSON's."""
    from verify.results import FailureKind

    assert issubclass(FailureKind, StrEnum)
    assert [str(k) for k in FailureKind] == TODAYS_CLASSES
    assert orjson.dumps({"class": FailureKind.FORK}) == b'{"class":"fork"}'


def test_results_are_frozen_keyword_only_and_ok_is_derived():
    """issue 12 item 4 (verify): VerifyResult and Problem are frozen, keyword-only
    dataclasses; ``ok`` and ``problem`` are not stored beside ``problems``."""
    from verify.results import FailureKind, Problem, VerifyResult

    for cls in (Problem, VerifyResult):
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen, cls
        assert all(f.kw_only for f in dataclasses.fields(cls)), cls
    assert {"ok", "problem"}.isdisjoint(f.name for f in dataclasses.fields(VerifyResult))
    with pytest.raises(TypeError):
        VerifyResult("c", 0, False, None)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Problem(FailureKind.FORK, 1, "m")  # type: ignore[misc]

    clean = VerifyResult(chain="c", events=3, complete=True, head=b"\x01" * 32)
    assert clean.ok and clean.problem is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        clean.events = 4  # type: ignore[misc]
    late = Problem(kind=FailureKind.TRUNCATED, seq=3, message="cut")
    early = Problem(kind=FailureKind.HASH_MISMATCH, seq=1, message="flipped")
    unsigned = Problem(kind=FailureKind.BAD_SIGNATURE, seq=None, message="no signature")
    bad = clean.with_problems(late, unsigned).with_problems(early).with_notes("a note")
    assert clean.ok and clean.problems == () and clean.notes == ()  # the original is unchanged
    assert not bad.ok and bad.problem == early and bad.problems == (early, late, unsigned)
    out = bad.to_json()
    assert out["ok"] is False and out["problem"]["class"] == "hash_mismatch"
    assert [p["class"] for p in out["problems"]] == ["hash_mismatch", "truncated", "bad_signature"]
    assert out["notes"] == ["a note"] and out["checkpoints"] == []


def test_the_walk_has_its_own_module(tmp_path):
    """issue 12 item 2: verify/walk.py walks rows; verify_chain's result is the walk's."""
    from verify.integrity import verify_chain
    from verify.results import FailureKind
    from verify.walk import verify_rows

    with Store(tmp_path / "w.db") as s:
        cid = write_chain(s, 6)
        info = s.chain(cid)
        rows = list(s.event_rows(cid))
        assert verify_rows(cid, info.header, rows).to_json() == verify_chain(s, cid).to_json()
    seq, h, parent, type_, data, *rest = rows[3]
    rows[3] = (seq, h, parent, type_, data + b" ", *rest)
    r = verify_rows(cid, info.header, rows)
    assert not r.ok and (r.problem.kind, r.problem.seq) == (FailureKind.HASH_MISMATCH, 3)


def test_parallel_takes_the_page_size_as_an_argument(tmp_path):
    """issue 12 item 2: part_bounds and verify_chain take ``page``; no private page global."""
    from verify import integrity, parallel
    from verify.integrity import verify_chain

    assert not hasattr(integrity, "_PAGE") and not hasattr(parallel, "_PAGE")
    assert parallel.part_bounds(1000, 2, page=100) == [0, 600]
    assert parallel.part_bounds(1000, 2) == [0, 0]  # default: the store's page
    assert all(b % PAGE == 0 for b in parallel.part_bounds(10 * PAGE, 3))
    with Store(tmp_path / "p.db") as s:
        cid = write_chain(s, 40)
        serial = verify_chain(s, cid, workers=1, page=8).to_json()
        assert serial["ok"] and serial["events"] == 41
        assert verify_chain(s, cid, workers=2, page=8).to_json() == serial


def _module_imports_after_code(path: Path) -> list[int]:
    """Line numbers of module-level imports that follow other module-level code."""
    body = ast.parse(path.read_text()).body
    late: list[int] = []
    seen_code = False
    for i, node in enumerate(body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if seen_code:
                late.append(node.lineno)
        elif isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        else:
            seen_code = True
    return late


def test_no_module_of_verify_imports_at_its_bottom():
    """issue 12 item 2: every module-level import of verify/ comes before the code."""
    late = {p.name: lines for p in sorted(VERIFY.glob("*.py")) if (lines := _module_imports_after_code(p))}
    assert late == {}


def test_no_two_verify_modules_define_the_same_public_function():
    """issue 12 item 2: the random-draw audit has names of its own (audit.py and
    random_audit.py both defined audit_rows, with different types)."""
    owners: dict[str, list[str]] = {}
    for p in sorted(VERIFY.glob("*.py")):
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                owners.setdefault(node.name, []).append(p.name)
    assert {name: files for name, files in owners.items() if len(files) > 1} == {}
    assert "audit_draws" in owners and "audit_rows" in owners
    assert not (VERIFY / "random_audit.py").exists()
