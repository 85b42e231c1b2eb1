"""Checking the blobs a chain refers to (storage v2, issue 18 item 4).

An export's state above the threshold is stored once, in the ``blobs`` table, and the
event data holds its reference ``"blob:<sha256>"`` (theater/blobs.py,
docs/chain-format.md). The event hash binds the reference; this check binds the bytes:
every blob referred to by a verified event must be present (else ``missing_blob``)
and its bytes, decompressed, must hash to the reference and have the stored size
(else ``blob_mismatch``). Each blob is checked once, however many events refer to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from theater.blobs import decompress, refs
from theater.store import Store

from .results import FailureKind, Problem


def blob_problem(sha: bytes, row: tuple[object, object, object] | None, seq: int) -> Problem | None:
    """The problem with the stored blob ``row`` (``(size, codec, bytes)`` or None) that
    event ``seq`` refers to by ``sha``, or None when it holds."""
    if row is None:
        return Problem(kind=FailureKind.MISSING_BLOB, seq=seq,
                       message=f"event {seq} refers to blob {sha.hex()}, which the database does not hold",
                       expected=sha.hex(), computed=None)
    size, codec, packed = row
    try:
        if not isinstance(packed, bytes) or not isinstance(codec, str):
            raise ValueError("its row is malformed")
        raw = decompress(codec, packed)
    except ValueError as e:
        return Problem(kind=FailureKind.BLOB_MISMATCH, seq=seq,
                       message=f"blob {sha.hex()} that event {seq} refers to cannot be read: {e}",
                       expected=sha.hex(), computed=None)
    actual = hashlib.sha256(raw).digest()
    if actual != sha or size != len(raw):
        return Problem(kind=FailureKind.BLOB_MISMATCH, seq=seq,
                       message=f"blob {sha.hex()} that event {seq} refers to holds other bytes "
                       f"({len(raw)} bytes hashing to {actual.hex()[:16]}..., size column {size!r})",
                       expected=sha.hex(), computed=actual.hex())
    return None


def check_blob_rows(store: Store, rows: Iterable[tuple[Any, Any, Any]], verified: int) -> Problem | None:
    """The first problem with the blobs that the rows ``(seq, type, data)`` below seq
    ``verified`` refer to, in order: the rows of the verified events that may refer to
    a blob, as the walk passed them (``walk(blob_rows=...)``)."""
    seen: set[bytes] = set()
    for seq, type_, data in rows:
        if not isinstance(type_, str) or not isinstance(data, bytes) or not (type(seq) is int and seq < verified):
            continue  # the walk judged these rows; only verified ones are checked
        for sha in refs(type_, data):
            if sha in seen:
                continue
            seen.add(sha)
            problem = blob_problem(sha, store.blob_row(sha), int(seq))
            if problem is not None:
                return problem
    return None
