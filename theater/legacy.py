"""Chains saved by the Rust Theater runtime (the legacy JSON format, SHA-1 hashes).

A legacy file is a JSON array of events ``{"hash", "parent_hash", "event_type",
"data"}`` with hashes and data as arrays of byte values. An event's hash is SHA-1 of
the compact JSON of the event with ``hash`` replaced by ``[]``, keys in the order
``hash, parent_hash, event_type, data`` (../shared/theater-chains/README.md).

Stored in a theater database (``chains.format = 'legacy'``), an event is a row with
``hash`` and ``parent`` of 20 bytes, ``type`` the event_type and ``data`` the raw
payload bytes. The first event's ``null`` parent is stored as 20 zero bytes
(:data:`NULL_PARENT`), and a legacy hash is always computed with ``null`` for seq 0.
The header is a canonical JSON object describing the import (:func:`legacy_header`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import orjson

from .chain import canonical_json
from .errors import UsageError

FORMAT = "legacy"  # chains.format
HEADER_FORMAT = "legacy-sha1"  # the header's "format"
HASH_SIZE = 20
NULL_PARENT = bytes(HASH_SIZE)
KEYS = ("hash", "parent_hash", "event_type", "data")

Row = tuple[int, Any, Any, Any, Any]


def _byte_array(b: bytes) -> bytes:
    return b"[" + ",".join(map(str, b)).encode() + b"]"


def legacy_hash(parent: bytes | None, event_type: str, data: bytes) -> bytes:
    """SHA-1 of the event as upstream serializes it with an empty ``hash``."""
    return hashlib.sha1(
        b'{"hash":[],"parent_hash":'
        + (b"null" if parent is None else _byte_array(parent))
        + b',"event_type":'
        + orjson.dumps(event_type)
        + b',"data":'
        + _byte_array(data)
        + b"}"
    ).digest()


def stored_hash(seq: int, parent: bytes, event_type: str, data: bytes) -> bytes:
    """The legacy hash of a stored row (seq 0's parent is the null parent)."""
    return legacy_hash(None if seq == 0 and parent == NULL_PARENT else parent, event_type, data)


def _bytes_or_none(value: Any, size: int | None = None) -> bytes | None:
    if not isinstance(value, list) or (size is not None and len(value) != size):
        return None
    if not all(type(x) is int and 0 <= x <= 255 for x in value):
        return None
    return bytes(value)


def parse_legacy(raw: bytes) -> list[Any]:
    """The event list of a legacy file (JSON syntax errors are input errors)."""
    try:
        events = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise UsageError(f"not a legacy Theater chain: invalid JSON ({e})") from None
    if not isinstance(events, list):
        raise UsageError("not a legacy Theater chain: the file is not a JSON array of events")
    return events


def legacy_rows(events: list[Any]) -> Iterator[Row]:
    """Stored-form rows ``(seq, hash, parent, type, data)`` of a legacy event list.

    A field that does not fit the format comes out as None, so the verifier reports
    the event as malformed at its seq (see verify/legacy.py).
    """
    for seq, ev in enumerate(events):
        if not isinstance(ev, dict) or sorted(ev) != sorted(KEYS):
            yield (seq, None, None, None, None)
            continue
        h = _bytes_or_none(ev["hash"], HASH_SIZE)
        p = ev["parent_hash"]
        if p is None:
            parent = NULL_PARENT if seq == 0 else None
        else:
            parent = _bytes_or_none(p, HASH_SIZE)
            if parent == NULL_PARENT:
                parent = None  # would read back as the null parent
        t = ev["event_type"] if isinstance(ev["event_type"], str) else None
        yield (seq, h, parent, t, _bytes_or_none(ev["data"]))


def legacy_header(events: list[Any], *, source: str, source_sha256: str, actor: str) -> bytes:
    """The canonical header of an imported legacy chain.

    ``events`` and ``head`` record what was imported; the verifier checks the stored
    chain still ends there (unauthenticated, like all of the header: a checkpoint
    is what authenticates).
    """
    head = None
    if events and isinstance(events[-1], dict):
        h = _bytes_or_none(events[-1].get("hash"), HASH_SIZE)
        head = None if h is None else h.hex()
    return canonical_json({
        "actor": actor,
        "events": len(events),
        "format": HEADER_FORMAT,
        "head": head,
        "source": source,
        "source_sha256": source_sha256,
    })


def header_expectation(header: bytes) -> tuple[int, bytes | None] | None:
    """``(events, head)`` from a legacy header, or None when it is not one."""
    try:
        obj = orjson.loads(header)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or obj.get("format") != HEADER_FORMAT:
        return None
    n, head = obj.get("events"), obj.get("head")
    if type(n) is not int or n < 0 or not (head is None or isinstance(head, str)):
        return None
    try:
        return n, None if head is None else bytes.fromhex(head)
    except ValueError:
        return None


def build_legacy(events: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """Build a legacy event list (as upstream saves it) from ``(event_type, data)`` pairs."""
    out: list[dict[str, Any]] = []
    parent: bytes | None = None
    for event_type, data in events:
        h = legacy_hash(parent, event_type, data)
        out.append({
            "hash": list(h),
            "parent_hash": None if parent is None else list(parent),
            "event_type": event_type,
            "data": list(data),
        })
        parent = h
    return out
