"""Signed checkpoints: ``(chain, size, head)`` as a C2SP-style signed note (Ed25519).

A checkpoint says "chain C had ``size`` events and the hash of event ``size - 1``
was ``head``", signed by a key. A hash chain alone cannot show that its tail was cut
off or that it was rewritten and re-hashed from the start; a checkpoint held
elsewhere can. The text follows c2sp.org/tlog-checkpoint over c2sp.org/signed-note::

    theater/<chain id>\\n               origin
    <size>\\n                           decimal, no leading zeros
    <base64(head)>\\n                   standard base64 of the head hash
    \\n                                 blank line
    — <key name> <base64(key id || signature)>\\n    one or more

The signature covers the text up to and including the head line's newline. The key
id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key), as in
signed-note (0x01 is the Ed25519 signature type). For size 0 the head is the chain's
genesis hash. Key files use the signed-note (Go ``sumdb/note``) encodings:

    public   <name>+<key id hex>+<base64(0x01 || public key)>
    private  PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || private seed)>

``cryptography`` is imported only inside the functions that sign or verify. One module
an idea: :mod:`.keys` (the keys and their files), :mod:`.note` (the signed note and
checkpoint text), :mod:`.stored` (signing a stored chain, the stored notes).
"""

from __future__ import annotations

from ..errors import BadSignature, CheckpointError
from .keys import (
    MAX_NOTE_BYTES,
    SIG_ED25519,
    PrivateKey,
    PublicKey,
    check_key_name,
    generate_key,
    key_id,
    load_private_key,
    load_public_key,
    parse_private_key,
    parse_public_key,
    write_key_pair,
)
from .note import (
    EM_DASH,
    MAX_SIGNATURES,
    ORIGIN_PREFIX,
    Checkpoint,
    Signature,
    checkpoint_body,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_note,
    read_checkpoint,
    sign_note,
)
from .stored import sign_checkpoint, sign_verified, store_checkpoint, stored_checkpoints

__all__ = [
    "EM_DASH",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "ORIGIN_PREFIX",
    "SIG_ED25519",
    "BadSignature",
    "Checkpoint",
    "CheckpointError",
    "PrivateKey",
    "PublicKey",
    "Signature",
    "check_key_name",
    "checkpoint_body",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint",
    "parse_note",
    "parse_private_key",
    "parse_public_key",
    "read_checkpoint",
    "sign_checkpoint",
    "sign_note",
    "sign_verified",
    "store_checkpoint",
    "stored_checkpoints",
    "write_key_pair",
]
