"""Links between the chains of a run, and the ids derived from chains and events.

Pure (hashing and dicts only): the scheduler (theater/system.py) writes links into
the hashed event data, and ``theater verify --run`` (verify/links.py) checks them
without running code. The rule is in docs/chain-format.md ("Links between chains").

A chain is named in a link by its genesis hash (hex), never by its database id: the
genesis is deterministic, so two recordings of the same run link identically, and it
is what every event hash of that chain is built on. A link is one of

- ``{"chain": G, "seq": n, "hash": H}``: event ``n`` of chain ``G``, whose hash is ``H``;
- ``{"chain": G, "seq": n, "parent": P}``: event ``n`` of chain ``G``, not written yet
  when the link was made (a request is appended after its answer, a spawn after the
  child's init): that event's ``parent`` field (its chain's head before it) is ``P``,
  and the event itself must link back to the event holding this link with a full
  ``hash`` link.

Ids (actor, request, channel) are the first 16 hex digits of
``SHA-256(tag || genesis || u64be(seq))`` with the tag naming the kind:
derived from the chain and event that made them, so the same run gives the same ids.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

__all__ = [
    "ACTOR_ID_TAG", "CAUSE", "CHANNEL_ID_TAG", "REQUEST_ID_TAG", "TO", "derive_id", "full_link", "is_link",
    "pending_link", "root_actor_id",
]

ACTOR_ID_TAG = b"theater/actor-id/v1"
REQUEST_ID_TAG = b"theater/request-id/v1"
CHANNEL_ID_TAG = b"theater/channel-id/v1"

#: the key of a receiver's event data naming what caused it (the sender's event)
CAUSE = "cause"
#: the key of a sender's event data naming where it went (the receiver's chain, and
#: for a request or a spawn, the receiver's event)
TO = "to"

_Q = struct.Struct(">Q")


def derive_id(tag: bytes, genesis: bytes, seq: int) -> str:
    """The id made by event ``seq`` of the chain whose genesis hash is ``genesis``."""
    return hashlib.sha256(tag + genesis + _Q.pack(seq)).hexdigest()[:16]


def root_actor_id(genesis: bytes) -> str:
    """The root actor's id: derived from its own genesis (no event made it)."""
    return hashlib.sha256(ACTOR_ID_TAG + genesis).hexdigest()[:16]


def full_link(genesis: bytes, seq: int, hash_: bytes) -> dict[str, Any]:
    """A link to a written event."""
    return {"chain": genesis.hex(), "seq": seq, "hash": hash_.hex()}


def pending_link(genesis: bytes, seq: int, parent: bytes) -> dict[str, Any]:
    """A link to an event not written yet: the event ``seq`` whose parent is ``parent``."""
    return {"chain": genesis.hex(), "seq": seq, "parent": parent.hex()}


def is_link(obj: Any) -> bool:
    """Whether ``obj`` has the shape of a link (either form)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("chain"), str) or type(obj.get("seq")) is not int:
        return False
    ref = obj.get("hash", obj.get("parent"))
    return isinstance(ref, str) and len(ref) == 64 and ("hash" in obj) != ("parent" in obj)
