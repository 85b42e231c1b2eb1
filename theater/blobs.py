"""Large values stored once: the actor's state as a content-addressed blob (issue 18 item 4).

Every export call of the calling convention (theater/convention.py) passes the state
in and returns the new one, and the state passed in is the one the previous call
returned. Stored inline, each state would be written twice per call, base64 inside
JSON. Instead, a state of more than :data:`THRESHOLD` bytes is written in the event
data as a reference,

    {"some": "blob:<64 lowercase hex digits: SHA-256 of the state's bytes>"}

in place of ``{"some": "base64:..."}``, at the two places a state is: ``args.state``
and ``result.ok[0]``. The bytes themselves are a row of the ``blobs`` table, stored
once however many events refer to them. The event hash is over the data as stored,
with the reference, so it binds the bytes through their SHA-256; a verifier checks
that every referenced blob is present and hashes to its reference
(docs/chain-format.md, "Blob references", with test vectors).

A chain uses references only when its header says so: ``"blobs": <threshold>`` (a
recording made since storage v2 has it; :func:`blob_header`). The header is hashed,
so which form a chain takes is part of the chain; a replay keeps the recording's
header, so it makes the same references, or none for a recording made before.

Only the state of the convention's exports is ever a reference: there the type is
``option<list<u8>>`` by the convention, whose canonical form is never a ``"blob:"``
string, so a reference cannot be mistaken for a value. A reader that shows or
replays an event puts the bytes back (:func:`internalize`), which gives the data the
codec produced, byte for byte (:func:`externalize` checks that before it stores a
reference).

This module is pure (hashing, JSON, zlib): the store writes and reads the table.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from typing import Any

import orjson

from .canonical import BYTES_TAG, canonical_json, decode_tagged_bytes, encode_tagged_bytes
from .convention import ACTOR, MESSAGES

#: states of more bytes than this are stored as blobs (a reference costs 69 bytes of
#: data and a row of the blobs table; below this the base64 is about as small)
THRESHOLD = 256
REF_PREFIX = "blob:"
#: the ``blobs.codec`` of zlib-compressed bytes (level 6) and of bytes stored as they are
ZLIB, RAW = "zlib", "raw"

#: the export types whose state may be a blob reference (the calling convention's)
STATE_EXPORTS = frozenset({f"export:{ACTOR}#init", f"export:{MESSAGES}#handle-send",
                           f"export:{MESSAGES}#handle-request"})

_MARK = b'"blob:'
_B64_MARK = b'"' + BYTES_TAG.encode()
# an event's data is only parsed when it can hold a state above the threshold
MIN_DATA = THRESHOLD * 4 // 3


#: the header field naming the threshold of a chain that stores states as blobs
HEADER_FIELD = "blobs"


def blob_header() -> dict[str, int]:
    """The header field of a new recording: its states above :data:`THRESHOLD` are blobs."""
    return {HEADER_FIELD: THRESHOLD}


def threshold_of(header: Any) -> int | None:
    """The blob threshold a header (its decoded object) declares; None: no references."""
    value = header.get(HEADER_FIELD) if isinstance(header, dict) else None
    return value if type(value) is int and value >= 0 else None


def ref(sha256: bytes) -> str:
    """The reference to the bytes whose SHA-256 is ``sha256``."""
    return REF_PREFIX + sha256.hex()


def parse_ref(value: Any) -> bytes | None:
    """The SHA-256 a reference names, or None when ``value`` is not a reference."""
    if not isinstance(value, str) or not value.startswith(REF_PREFIX) or len(value) != len(REF_PREFIX) + 64:
        return None
    digits = value[len(REF_PREFIX):]
    if digits != digits.lower():
        return None
    try:
        return bytes.fromhex(digits)
    except ValueError:
        return None


def _slots(obj: Any) -> list[tuple[dict[str, Any], str]]:
    """The ``{"some": ...}`` objects that hold a state in an export's data (and their key)."""
    out: list[tuple[dict[str, Any], str]] = []
    if not isinstance(obj, dict):
        return out
    args, result = obj.get("args"), obj.get("result")
    if isinstance(args, dict) and isinstance(args.get("state"), dict) and "some" in args["state"]:
        out.append((args["state"], "some"))
    if isinstance(result, dict) and isinstance(result.get("ok"), list) and result["ok"]:
        first = result["ok"][0]
        if isinstance(first, dict) and "some" in first:
            out.append((first, "some"))
    return out


def externalize(type_: str, data: bytes, *, threshold: int = THRESHOLD) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """``(data as stored, [(sha256, bytes), ...])``: ``data`` with each state above
    ``threshold`` bytes replaced by its reference, and the blobs to store. Data with
    nothing to replace is returned as it is (the same object), with no blobs."""
    if len(data) <= threshold * 4 // 3 or type_ not in STATE_EXPORTS or _B64_MARK not in data:
        return data, []
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data, []
    blobs: list[tuple[bytes, bytes]] = []
    for holder, key in _slots(obj):
        value = holder[key]
        if not isinstance(value, str) or len(value) <= threshold * 4 // 3:
            continue
        raw = decode_tagged_bytes(value)
        if raw is None or len(raw) <= threshold:
            continue
        sha = hashlib.sha256(raw).digest()
        holder[key] = ref(sha)
        blobs.append((sha, raw))
    if not blobs:
        return data, []
    stored = canonical_json(obj)
    # the reference form must give back exactly the codec's bytes (it always does for
    # canonical JSON; a value that does not round-trip is simply stored inline)
    if internalize(type_, stored, dict(blobs).__getitem__) != data:
        return data, []
    return stored, blobs


def refs(type_: str, data: bytes) -> list[bytes]:
    """The SHA-256s an event's stored data refers to (none for most events)."""
    if type_ not in STATE_EXPORTS or _MARK not in data:
        return []
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return []
    return [sha for holder, key in _slots(obj) if (sha := parse_ref(holder[key])) is not None]


def internalize(type_: str, data: bytes, get: Callable[[bytes], bytes]) -> bytes:
    """The data with every reference replaced by its bytes (``get(sha256)``, which
    raises ``KeyError`` for a blob that is not there): what the codec produced."""
    if type_ not in STATE_EXPORTS or _MARK not in data:
        return data
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data
    changed = False
    for holder, key in _slots(obj):
        sha = parse_ref(holder[key])
        if sha is not None:
            holder[key] = encode_tagged_bytes(get(sha))
            changed = True
    return canonical_json(obj) if changed else data


def compress(raw: bytes) -> tuple[str, bytes]:
    """``(codec, stored bytes)`` of a blob: zlib when it saves space, else the bytes as they are."""
    packed = zlib.compress(raw, 6)
    return (ZLIB, packed) if len(packed) < len(raw) else (RAW, raw)


def decompress(codec: str, stored: bytes) -> bytes:
    """A blob's bytes from its stored form; ``ValueError`` for an unknown codec or damaged bytes."""
    if codec == RAW:
        return stored
    if codec == ZLIB:
        try:
            return zlib.decompress(stored)
        except zlib.error as e:
            raise ValueError(f"damaged zlib data ({e})") from None
    raise ValueError(f"unknown blob codec {codec!r}")
