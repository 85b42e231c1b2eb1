"""Chain format v1: the header, the genesis hash and the event hash.

The byte layout is specified in docs/chain-format.md; this module is its reference
implementation. Only deterministic content is hashed: the wall-clock time at which an
event was written is unauthenticated metadata kept beside it by the store.

    genesis = SHA-256("theater/genesis/v1" || u64be(len(header)) || header)
    hash    = SHA-256("theater/event/v1" || u64be(seq) || parent[32]
                      || u32be(len(type)) || type || u64be(len(data)) || data)
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any

import orjson

from .canonical import canonical_json as canonical_json  # re-exported: the chain format names it

FORMAT_VERSION = 1
GENESIS_TAG = b"theater/genesis/v1"
EVENT_TAG = b"theater/event/v1"
HASH_SIZE = 32

END_TYPE = "end"
HOST_PREFIX = "host:"
EXPORT_PREFIX = "export:"

_Q = struct.Struct(">Q")
_I = struct.Struct(">I")
_sha256 = hashlib.sha256


def header_bytes(header: dict[str, Any]) -> bytes:
    """The canonical bytes of a header object (what is stored and hashed)."""
    return canonical_json(header)


def genesis_hash(header: bytes) -> bytes:
    """The genesis hash: the parent of event 0, binding the header into every hash."""
    return _sha256(GENESIS_TAG + _Q.pack(len(header)) + header).digest()


def event_hash(seq: int, parent: bytes, type_: str, data: bytes) -> bytes:
    """The hash of one event, over exactly the stored fields."""
    t = type_.encode()
    return _sha256(
        b"".join(
            (EVENT_TAG, _Q.pack(seq), parent, _I.pack(len(t)), t, _Q.pack(len(data)), data)
        )
    ).digest()


def type_field(type_: str) -> bytes:
    """The hashed type field, ``u32be(len(type)) || type``."""
    t = type_.encode()
    return _I.pack(len(t)) + t


def host_type(interface: str, function: str) -> str:
    """The event type of a host import crossing, e.g. ``host:wasi:random/random@0.2.3#get-random-u64``."""
    return f"{HOST_PREFIX}{interface}#{function}"


def export_type(interface: str, function: str) -> str:
    """The event type of a guest export call, e.g. ``export:theater:simple/actor#init``."""
    return f"{EXPORT_PREFIX}{interface}#{function}"


def split_type(type_: str) -> tuple[str, str, str]:
    """Split an event type into (kind, interface, function); kind is host, export or end."""
    if type_ == END_TYPE:
        return ("end", "", "")
    kind, _, rest = type_.partition(":")
    interface, _, function = rest.rpartition("#")
    return (kind, interface, function)


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event. ``written_at`` is unauthenticated metadata (not hashed)."""

    seq: int
    parent: bytes
    type: str
    data: bytes
    hash: bytes
    written_at: float | None = None

    def payload(self) -> Any:
        """The data decoded as JSON, or None when it is not JSON."""
        try:
            return orjson.loads(self.data)
        except orjson.JSONDecodeError:
            return None


def make_header(
    *,
    actor: str,
    component_sha256: str,
    manifest: dict[str, Any] | None = None,
    seed: int | None = None,
    handlers: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build a v1 header object. Every field must be deterministic for the run."""
    header: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "actor": actor,
        "component_sha256": component_sha256,
        "manifest": manifest or {},
        "seed": seed,
        "handlers": handlers or [],
    }
    header.update(extra)
    return header


class ChainBuilder:
    """Compute hashes for a growing chain (no storage): the core of the recorder."""

    __slots__ = ("header", "genesis", "head", "seq", "_types")

    def __init__(self, header: bytes) -> None:
        self.header = header
        self.genesis = genesis_hash(header)
        self.head = self.genesis
        self.seq = 0
        self._types: dict[str, bytes] = {}

    def append(self, type_: str, data: bytes) -> tuple[int, bytes, bytes]:
        """Hash the next event; returns (seq, parent, hash) and advances the head.

        :func:`event_hash`, inlined (the recorder's hot path), with each type's field
        encoded once: a recorder's types are the few functions it binds."""
        seq, parent = self.seq, self.head
        tf = self._types.get(type_)
        if tf is None:
            tf = self._types[type_] = type_field(type_)
        h = _sha256(b"".join((EVENT_TAG, _Q.pack(seq), parent, tf, _Q.pack(len(data)), data))).digest()
        self.seq = seq + 1
        self.head = h
        return seq, parent, h
