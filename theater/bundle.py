"""A chain as a bundle of JSON lines: what ``theater export`` writes and ``theater import`` reads.

The import itself (verify, then store in one transaction) is verify/importer.py over
:class:`theater.store.ChainImport`.

The export format (docs/verification.md), one JSON object per line, keys sorted:

    {"kind": "theater-chain", "version": 1, "format": "v1" | "legacy", "id": ..., "actor": ...,
     "status": ..., "events": N, "head": hex | null, "header": {...}}
    {"seq": 0, "hash": hex, "parent": hex, "type": "...", "data": hex, "written_at": t | null}
    ...

Before the first event that refers to a blob (a state stored once, theater/blobs.py),
a line ``{"blob": hex sha256, "bytes": "base64:..."}`` carries its bytes, once per
export; event data is written as stored, with its references, which is what is hashed.

``header`` is the stored header object; when the stored header bytes are not the
canonical JSON of an object, ``header_hex`` carries the exact bytes instead. Hashes,
parents and data are the stored bytes in lowercase hex, so an export read back gives
the identical header, events and hashes (under a new chain id). ``events`` and
``head`` let a reader see that a file was cut short. ``written_at`` is
unauthenticated metadata, carried along.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from .blobs import STATE_EXPORTS, refs
from .canonical import decode_tagged_bytes, encode_tagged_bytes
from .chain import canonical_json
from .errors import UsageError
from .store import ChainInfo, Row, Store

KIND = "theater-chain"
VERSION = 1
FORMATS = ("v1", "legacy")

def _dumps(obj: Any) -> bytes:
    return canonical_json(obj) + b"\n"


def chain_line(info: ChainInfo, events: int, head: bytes | None) -> dict[str, Any]:
    """The first line of an export: what the chain is, and its header."""
    obj: dict[str, Any] = {
        "kind": KIND,
        "version": VERSION,
        "format": info.format,
        "id": info.id,
        "actor": info.actor,
        "status": info.display_status,
        "events": events,
        "head": None if head is None else head.hex(),
    }
    try:
        header = orjson.loads(info.header)
    except orjson.JSONDecodeError:
        header = None
    if isinstance(header, dict) and canonical_json(header) == info.header:
        obj["header"] = header
    else:
        obj["header_hex"] = info.header.hex()
    return obj


def event_line(row: tuple[Any, ...]) -> dict[str, Any]:
    seq, h, parent, type_, data, written_at = row[:6]
    return {
        "seq": seq,
        "hash": bytes(h).hex(),
        "parent": bytes(parent).hex(),
        "type": type_,
        "data": bytes(data).hex(),
        "written_at": written_at,
    }


def write_jsonl(store: Store, info: ChainInfo, out: IO[bytes], *, start: int = 0,
                stop: int | None = None) -> int:
    """Write one chain as JSON lines (streamed); returns the number of events written.

    The chain is written as stored, without verifying it: export a tampered chain to
    examine it elsewhere; ``theater import`` will refuse it. ``start``/``stop`` (seqs,
    ``stop`` exclusive) write an excerpt (issue 17 item 6): its first line says so
    (``"excerpt": {"from", "to"}``) beside the whole chain's length and head, and
    ``theater import`` refuses it.
    """
    # The first line names the chain's last event; the events are then read up to it
    # only, in short read transactions (Store.event_rows), so the first line agrees with
    # the events even while another process appends to this chain, and no long read
    # holds up that writer. A tampered row (a value of the wrong type) is one line naming
    # its seq, before any output.
    store.check_event_types(info.id)
    last = store.last_event(info.id)
    n = 0 if last is None else last.seq + 1
    line = chain_line(info, n, None if last is None else last.hash)
    end = n if stop is None else min(stop, n)
    if start > 0 or end < n:
        line["excerpt"] = {"from": start, "to": max(start, end) - 1}
    out.write(_dumps(line))
    count = 0
    sent: set[bytes] = set()
    # their types were checked just above
    for row in store.event_rows(info.id, start, None if last is None else end, as_stored=True):
        if row[3] in STATE_EXPORTS:
            for sha in refs(row[3], row[4]):
                raw = None if sha in sent else store.blob(sha)
                if raw is not None:  # a missing blob is not invented: the import reports it
                    out.write(_dumps(blob_line(sha, raw)))
                    sent.add(sha)
        out.write(_dumps(event_line(row)))
        count += 1
    return count


def blob_line(sha256: bytes, raw: bytes) -> dict[str, Any]:
    """A line carrying one blob's bytes."""
    return {"blob": sha256.hex(), "bytes": encode_tagged_bytes(raw)}


@dataclass
class ChainFile:
    """A parsed export: the first line, the exact header bytes, and the event rows."""

    meta: dict[str, Any]
    header: bytes
    format: str
    rows: Iterator[Row]
    #: the blob lines read so far: SHA-256 -> bytes (None when a line's bytes cannot be read)
    blobs: dict[bytes, bytes | None] = field(default_factory=dict)


def _hex(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def _parse_line(line: bytes, lineno: int) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise UsageError(f"line {lineno} of the export is not JSON ({e})") from None


def read_jsonl(lines: Iterable[bytes]) -> ChainFile:
    """Parse an export. Rows are yielded lazily; a field that does not fit comes out as
    None so the verifier reports that event as malformed."""
    it = iter(lines)
    first = next(it, b"")
    meta = _parse_line(first, 1)
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise UsageError("not a theater chain export (the first line has no \"kind\": \"theater-chain\")")
    if meta.get("version") != VERSION:
        raise UsageError(f"theater chain export version {meta.get('version')!r} is not supported")
    if "excerpt" in meta:
        part = meta["excerpt"] if isinstance(meta["excerpt"], dict) else {}
        raise UsageError(f"the file is an excerpt (events {part.get('from')} to {part.get('to')} of chain "
                         f"{meta.get('id')}), not a whole chain: import a `theater export` made without "
                         "--from/--to")
    fmt = meta.get("format")
    if fmt not in FORMATS:
        raise UsageError(f"unknown chain format {fmt!r} in the export")
    if "header_hex" in meta:
        header = _hex(meta["header_hex"])
        if header is None:
            raise UsageError("the export's header_hex is not hex")
    elif isinstance(meta.get("header"), dict):
        header = canonical_json(meta["header"])
    else:
        raise UsageError("the export has no header object")

    blobs: dict[bytes, bytes | None] = {}

    def rows() -> Iterator[Row]:
        for lineno, line in enumerate(it, start=2):
            if not line.strip():
                continue
            obj = _parse_line(line, lineno)
            if isinstance(obj, dict) and "blob" in obj and "seq" not in obj:
                sha, value = _hex(obj.get("blob")), obj.get("bytes")
                if sha is not None:
                    blobs[sha] = decode_tagged_bytes(value)
                continue
            if not isinstance(obj, dict):
                yield (None, None, None, None, None, None)
                continue
            t = obj.get("type")
            w = obj.get("written_at")
            yield (
                obj.get("seq") if type(obj.get("seq")) is int else None,
                _hex(obj.get("hash")),
                _hex(obj.get("parent")),
                t if isinstance(t, str) else None,
                _hex(obj.get("data")),
                w if isinstance(w, (int, float)) and not isinstance(w, bool) else None,
            )

    return ChainFile(meta, header, str(fmt), rows(), blobs)
