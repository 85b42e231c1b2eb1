"""Stored checkpoints: signing a chain's ``(size, head)`` and keeping the note in the
database's ``checkpoints`` table (its queries are in :mod:`theater.store`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError
from .keys import PrivateKey
from .note import Checkpoint, checkpoint_body, parse_checkpoint, sign_note

if TYPE_CHECKING:
    from ..store import Store


def store_checkpoint(store: Store, cp: Checkpoint) -> int:
    """Insert a checkpoint into the ``checkpoints`` table; returns its row id."""
    if cp.chain is None:
        raise UsageError(f"checkpoint origin {cp.origin!r} does not name a theater chain")
    return store.add_checkpoint(cp.chain, cp.size, cp.head, ",".join(cp.key_ids()), cp.text)


def stored_checkpoints(store: Store, chain_id: str | None = None) -> list[tuple[int, str, str]]:
    """Rows ``(id, chain, note)`` of stored checkpoints (all, or one chain's), by size."""
    return store.checkpoint_rows(chain_id)


def sign_verified(store: Store, chain_id: str, private_key: PrivateKey | list[PrivateKey], size: int,
                  head: bytes) -> Checkpoint:
    """Sign and store a checkpoint of ``(size, head)`` exactly as given: nothing is read.

    For a caller that has just verified the chain and holds the verified size and
    head (``theater checkpoint``, :func:`verify.checkpoints.verify_and_sign`): reading
    the head again could sign what a concurrent writer put there since.
    """
    if size < 0:
        raise UsageError(f"checkpoint size must be >= 0, got {size}")
    keys = private_key if isinstance(private_key, list) else [private_key]
    cp = parse_checkpoint(sign_note(checkpoint_body(chain_id, size, head), keys))
    store_checkpoint(store, cp)
    return cp


def sign_checkpoint(
    store: Store,
    chain_id: str,
    private_key: PrivateKey | list[PrivateKey],
    *,
    size: int | None = None,
    head: bytes | None = None,
) -> Checkpoint:
    """Sign a checkpoint of a stored chain at ``size`` (default: all stored events) and store it.

    ``head`` is the hash of event ``size - 1`` as the caller computed it (the recorder
    passes ``writer.head`` after ``writer.flush()``); it must equal the stored one.
    Without it the stored hash is used: verify the chain first (``theater checkpoint``
    does), since a checkpoint vouches for whatever it signs.
    """
    from ..chain import genesis_hash

    info = store.chain(chain_id)
    if size is None:
        last = store.last_event(chain_id)
        size = 0 if last is None else last.seq + 1
    if size < 0:
        raise UsageError(f"checkpoint size must be >= 0, got {size}")
    if size == 0:
        if info.format != "v1":
            raise UsageError("a checkpoint of an empty chain needs format v1 (genesis hash)")
        stored = genesis_hash(info.header)
    else:
        ev = store.event(chain_id, size - 1)
        if ev is None:
            raise UsageError(f"chain {chain_id} has no event {size - 1} stored (flush the writer first)")
        stored = ev.hash
    if head is not None and head != stored:
        raise UsageError(f"head {head.hex()[:16]} is not the stored hash of event {size - 1}")
    keys = private_key if isinstance(private_key, list) else [private_key]
    cp = parse_checkpoint(sign_note(checkpoint_body(chain_id, size, stored), keys))
    store_checkpoint(store, cp)
    return cp
