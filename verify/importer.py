"""``theater import``: read a chain from a file, verify it, and only then store it.

Two kinds of file are read:

- ``legacy-json``: a chain saved by the Rust Theater runtime (theater/legacy.py),
  verified with upstream's SHA-1 rule and stored with ``chains.format = 'legacy'``;
- ``jsonl``: a ``theater export`` (theater/bundle.py) of a v1 or legacy chain,
  verified by its format's rule and stored with identical header, events and hashes
  under a new chain id.

Verification and storing are one pass inside one transaction: rows are inserted as
the verifier accepts them and the transaction is rolled back at the first failure,
so a chain that does not verify leaves no trace.
"""

from __future__ import annotations

import hashlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from theater.bundle import ChainFile, read_jsonl
from theater.chain import END_TYPE
from theater.errors import UsageError
from theater.legacy import FORMAT as LEGACY
from theater.legacy import legacy_header, legacy_rows, parse_legacy
from theater.store import ChainImport, Store, sqlite_errors

from .blobs import blob_problem
from .integrity import verify_format_rows
from .results import FailureKind, Problem, VerifyResult

KINDS = ("auto", "legacy-json", "jsonl")


@dataclass
class ImportResult:
    """What an import did: ``chain`` is the new id, or None when the file was refused."""

    chain: str | None
    kind: str
    format: str
    result: VerifyResult

    @property
    def ok(self) -> bool:
        return self.chain is not None


def detect(start: bytes, name: str) -> str:
    """``legacy-json`` for a JSON array, ``jsonl`` for an export (first byte decides)."""
    start = start.lstrip()
    if start.startswith(b"["):
        return "legacy-json"
    if start.startswith(b"{"):
        return "jsonl"
    raise UsageError(f"{name} is neither a legacy Theater chain (JSON array) nor a theater export (JSON lines)")


def import_file(store: Store, path: str | Path, *, kind: str = "auto", actor: str | None = None) -> ImportResult:
    """Verify the chain in ``path`` (``-`` for stdin) and store it when it verifies."""
    if kind not in KINDS:
        raise UsageError(f"unknown import format {kind!r} (one of {', '.join(KINDS)})")
    name = "stdin" if str(path) == "-" else Path(path).name
    try:
        f: IO[bytes] = io.BytesIO(sys.stdin.buffer.read()) if str(path) == "-" else open(path, "rb")
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from e
    try:
        with f, sqlite_errors(f"cannot write the imported chain to {store.path}"):
            if kind == "auto":
                kind = detect(f.read(4096), str(path))
                f.seek(0)
            if kind == "legacy-json":
                return _import_legacy(store, f.read(), name, actor)
            return _import_jsonl(store, f)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from e


def _import_legacy(store: Store, raw: bytes, name: str, actor: str | None) -> ImportResult:
    from .legacy import verify_legacy_rows

    events = parse_legacy(raw)
    header = legacy_header(events, source=name, source_sha256=hashlib.sha256(raw).hexdigest(),
                           actor=actor or Path(name).stem)
    imp = store.begin_import(header, LEGACY)
    try:
        rows = ((*row, None) for row in legacy_rows(events))
        result = verify_legacy_rows(imp.chain_id, header, imp.tee(rows))
        if not result.ok:
            imp.rollback()
            return ImportResult(None, "legacy-json", LEGACY, result)
        return ImportResult(imp.commit("complete"), "legacy-json", LEGACY, result)
    finally:
        imp.rollback()


def _import_jsonl(store: Store, f: IO[bytes]) -> ImportResult:
    cf = read_jsonl(f)
    imp = store.begin_import(cf.header, cf.format)
    try:
        result = verify_format_rows(cf.format, imp.chain_id, cf.header, imp.tee(cf.rows))
        if result.ok:
            result = _check_declared(result, cf.meta)
        if result.ok:
            result = _store_blobs(store, imp, cf, result)
        if not result.ok:
            imp.rollback()
            return ImportResult(None, "jsonl", cf.format, result)
        done = cf.format == LEGACY or imp.last_type == END_TYPE
        return ImportResult(imp.commit("complete" if done else "incomplete"), "jsonl", cf.format, result)
    finally:
        imp.rollback()


def _store_blobs(store: Store, imp: ChainImport, cf: ChainFile, result: VerifyResult) -> VerifyResult:
    """Store the blobs the imported events refer to, each checked against its
    reference: from the file, or already in the database (else ``missing_blob``)."""
    for seq, sha in imp.refs:
        row: tuple[object, object, object] | None
        if sha in cf.blobs:
            raw = cf.blobs[sha]
            row = None if raw is None else (len(raw), "raw", raw)
            if raw is None:
                return result.with_problems(Problem(
                    kind=FailureKind.BLOB_MISMATCH, seq=seq, expected=sha.hex(),
                    message=f"the export's line for blob {sha.hex()} (event {seq}) has no readable bytes"))
        else:
            row = store.blob_row(sha)
        problem = blob_problem(sha, row, seq)
        if problem is not None:
            return result.with_problems(problem)
        if sha in cf.blobs and cf.blobs[sha] is not None:
            imp.add_blob(sha, cf.blobs.pop(sha) or b"")
    return result


def _check_declared(result: VerifyResult, meta: dict[str, object]) -> VerifyResult:
    """An export says how many events it has and its head: a file cut short shows (the
    result with the problem found, or ``result`` itself)."""
    declared, head = meta.get("events"), meta.get("head")
    if type(declared) is int and result.events < declared:
        return result.with_problems(Problem(
            kind=FailureKind.TRUNCATED, seq=result.events,
            message=f"the export declares {declared} events but holds {result.events} (file cut short)",
            expected=str(declared), computed=str(result.events),
        ))
    elif declared != result.events or head != (None if result.head is None or not result.events
                                               else result.head.hex()):
        return result.with_problems(Problem(
            kind=FailureKind.MALFORMED, seq=None,
            message="the export's first line does not describe its events (events, head)",
            expected=f"{declared} events, head {head}",
            computed=f"{result.events} events, head {result.head.hex() if result.head and result.events else None}",
        ))
    return result
