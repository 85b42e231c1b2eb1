"""One canonical JSON, one tagged-bytes decoder, one calling convention, no dead code
(issue 12 item 5).

The source scans read the real tree (ast), so a fifth copy of the canonical JSON or a
fourth tagged-bytes decoder added anywhere fails here.
"""

from __future__ import annotations

import ast
import base64
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

import theater.boundary
import theater.chain
import theater.codec
import theater.convention as convention
import theater.recorder
from theater.canonical import BYTES_TAG, canonical_json, decode_tagged_bytes, encode_tagged_bytes
from theater.errors import CodecError, UsageError

ROOT = Path(__file__).resolve().parent.parent

# Files outside this item's reach, each with its reason; the lead wires them.
NOT_YET: dict[str, str] = {}


def sources() -> list[tuple[str, ast.AST]]:
    out = []
    for package in ("theater", "replay", "verify", "tui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in NOT_YET:
                out.append((rel, ast.parse(path.read_text(), rel)))
    return out


def _names(node: ast.AST) -> set[str]:
    return {n.attr if isinstance(n, ast.Attribute) else n.id
            for n in ast.walk(node) if isinstance(n, ast.Attribute | ast.Name)}


def test_one_canonical_json() -> None:
    """issue 12 item 5: chain.py, codec.py, boundary.py and replay/divergence.py each had
    their own sorted-keys orjson.dumps; only theater/canonical.py may have one now."""
    copies = []
    for rel, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "dumps":
                if "OPT_SORT_KEYS" in _names(node) and rel != "theater/canonical.py":
                    copies.append((rel, node.lineno))
        for node in ast.walk(tree):  # an option constant kept aside (codec's _DUMP_OPTS)
            if isinstance(node, ast.Assign) and "OPT_SORT_KEYS" in _names(node.value) and rel != "theater/canonical.py":
                copies.append((rel, node.lineno))
    assert copies == []
    # the names the rest of theater uses are that one function
    assert theater.chain.canonical_json is canonical_json
    assert theater.boundary.dumps is canonical_json


def test_one_tagged_bytes_decoder() -> None:
    """issue 12 item 5: codec.py and tui/data.py decoded "base64:" strings themselves."""
    copies = []
    for rel, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == BYTES_TAG and rel != "theater/canonical.py":
                copies.append((rel, node.lineno))
    assert copies == []


def test_canonical_forms() -> None:
    """issue 12 item 5: what the one functions compute (and what codec keeps saying)."""
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    assert canonical_json({"x": (1, 2)}) == b'{"x":[1,2]}'
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert canonical_json({"t": when}) == b'{"t":"2026-01-01T00:00:00+00:00"}'
    with pytest.raises(TypeError):  # strict: only JSON's own types
        canonical_json({"t": when}, strict=True)
    with pytest.raises(CodecError, match="dumps"):
        theater.codec.dumps({"t": when})  # type: ignore[dict-item]
    blob = bytes(range(256))
    tagged = encode_tagged_bytes(blob)
    assert tagged == "base64:" + base64.b64encode(blob).decode()
    assert decode_tagged_bytes(tagged) == blob
    for bad in ("base64:!!", "base64:abc", "plain", 7, None, "base64:é"):
        assert decode_tagged_bytes(bad) is None
    # non-canonical padding decodes here, and codec still refuses it
    assert decode_tagged_bytes("base64:AB==") == b"\x00"
    from theater.wittypes import ListT, Prim

    u8s = ListT(Prim("u8"))
    assert theater.codec.decode(u8s, "base64:AA==") == b"\x00"
    with pytest.raises(CodecError, match="non-canonical base64"):
        theater.codec.decode(u8s, "base64:AB==")
    with pytest.raises(CodecError, match="invalid base64"):
        theater.codec.decode(u8s, "base64:!!")
    with pytest.raises(CodecError, match="expected 'base64:...'"):
        theater.codec.decode(u8s, "AA==")


def test_one_calling_convention() -> None:
    """issue 12 item 5: export_args, apply_result, end_detail lived in recorder.py and the
    replayer imported them from there; now both take them from theater/convention.py."""
    import replay.replayer

    defined = [(rel, node.name) for rel, tree in sources() for node in getattr(tree, "body", [])
               if isinstance(node, ast.FunctionDef)  # module-level (a TUI screen has a method apply_result)
               and node.name in {"export_args", "apply_result", "end_detail", "end_data", "is_shutdown_call"}]
    assert sorted(defined) == sorted(("theater/convention.py", n) for n in
                                     ("export_args", "apply_result", "end_detail", "end_data", "is_shutdown_call"))
    assert replay.replayer.apply_result is convention.apply_result
    assert theater.recorder.apply_result is convention.apply_result
    assert theater.recorder.export_args is convention.export_args
    assert convention.export_args("request", b"s", b"p", 3) == (convention.MESSAGES, "handle-request",
                                                                  (b"s", ("request-3", b"p")))
    assert convention.export_args("init", None, "x", 0) == (convention.ACTOR, "init", (None, ("x",)))
    with pytest.raises(UsageError, match="unknown input kind 'poke'"):
        convention.export_args("poke", None, b"", 0)
    assert convention.apply_result("handle-request", (b"s2", (b"r",))) == (True, b"s2", b"r", None)
    assert convention.apply_result("init", "boom") == (False, None, None, "boom")
    assert orjson.loads(convention.end_data("trapped", "wasm trap")) == {"outcome": "trapped", "error": "wasm trap"}
    assert convention.end_data("completed", None) == b'{"outcome":"completed"}'
    assert convention.is_shutdown_call("host:theater:simple/runtime@0.1.0#shutdown")
    assert not convention.is_shutdown_call("host:theater:simple/runtime@0.1.0#log")


def test_dead_code_is_gone() -> None:
    """issue 12 item 5: Crossing (boundary.py) and event_hasher (chain.py) had no user."""
    assert not hasattr(theater.boundary, "Crossing")
    assert not hasattr(theater.chain, "event_hasher")
